"""A real install: pip installs the kernel and the examples plugin into a fresh virtual environment,
and the engine finds the plugin's signals through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

from .conftest import EXAMPLES, ROOT, preset_text


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_pip_installed_examples_are_discovered_through_their_entry_point(tmp_path: Path):
    """After `pip install tradehooks tradehooks-examples`, `tradehooks plugins --json` lists the
    examples distribution and a backtest of sma_cross runs from the installed copies."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", str(ROOT), str(EXAMPLES))

    listed = json.loads(run(env_dir / "bin" / "tradehooks", "plugins", "--json").stdout)
    examples = next(row for row in listed if row["name"] == "examples")
    assert examples["distribution"] == "tradehooks-examples" and examples["version"] == "0.1.0"
    assert examples["provides"] == {"signal": ["range_trading", "rsi_reversion", "sma_cross"]}

    where = run(python, "-c", "import tradehooks_examples, tradehooks; "
                "print(tradehooks_examples.__file__); print(tradehooks.__file__)").stdout.split()
    assert all(Path(path).is_relative_to(env_dir) for path in where), where  # not the checkout's copy

    run(env_dir / "bin" / "tradehooks", "data", "generate", "--output", tmp_path / "bars.csv", "--bars", "3000")
    (tmp_path / "p.toml").write_text(preset_text("bars.csv"))
    metrics = json.loads(run(env_dir / "bin" / "tradehooks", "backtest", tmp_path / "p.toml", "--json").stdout)
    assert metrics["bars"] == 3000 and metrics["fills"] > 0


def test_the_running_interpreter_sees_the_examples_plugin():
    """The test environment itself has the examples installed (as `make test` does)."""
    listed = subprocess.run([sys.executable, "-m", "tradehooks", "plugins", "--json"], capture_output=True,
                            text=True, check=True).stdout
    assert "tradehooks-examples" in listed
