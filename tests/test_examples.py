"""The programs in examples/ run as a user runs them (a real subprocess) and print what they promise;
the excerpts of them in the embedding guide match the files."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT

EXAMPLES = ROOT / "examples"
PROGRAMS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def run_example(name: str) -> str:
    run = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=False)
    assert run.returncode == 0, f"{name} exited with {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout


def test_every_program_is_listed_in_the_examples_readme():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert PROGRAMS, "examples/ has no program"
    for name in PROGRAMS:
        assert f"`.venv/bin/python examples/{name}`" in readme, f"{name} has no command in examples/README.md"
    for preset in sorted((EXAMPLES / "presets").glob("*.toml")):
        assert f"presets/{preset.name}" in readme, f"{preset.name} is not described in examples/README.md"


@pytest.mark.parametrize("name", PROGRAMS)
def test_programs_use_only_the_public_api(name: str):
    tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
    modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    private = [module for module in modules
               if module.split(".")[0] == "tradehooks"
               and any(part.startswith("_") for part in module.split("."))]
    assert private == []


def test_sync_script_prints_every_metric():
    out = run_example("sync_script.py")
    for field in ("initial_equity", "final_equity", "total_return", "max_drawdown", "sharpe", "trades",
                  "fills", "fees"):
        assert re.search(rf"^\s+{field}\s+\S+$", out, re.MULTILINE), f"{field} is missing:\n{out}"
    assert re.search(r"^\s+bars\s+2000$", out, re.MULTILINE), out
    assert "final position trend/BTCUSDT" in out


def test_trio_program_prints_metrics_and_loses_no_event():
    out = run_example("trio_program.py")
    assert "under trio" in out
    assert re.search(r"^\s+final_equity\s+\d", out, re.MULTILINE), out
    assert re.search(r"^\s+bars\s+2000$", out, re.MULTILINE), out
    assert "BarProcessed 2000" in out  # backpressure: one per bar, none dropped
    assert "EngineStopped 1" in out and "FillReceived" in out
    assert "same metrics as the same backtest under asyncio: True" in out


def test_asyncio_service_prints_the_fills_and_equity_of_both_engines():
    out = run_example("asyncio_service.py")
    lines = out.splitlines()
    for engine_id in ("btc-trend", "eth-revert"):
        fills = [line for line in lines if line.startswith(f"[{engine_id}] fill ")]
        assert fills, f"no fill printed for {engine_id}:\n{out}"
        assert any(line.startswith(f"[{engine_id}] final equity ") for line in lines), out
        assert f"[{engine_id}] stopped: stopped by host" in lines
    assert all("BTCUSDT" in line for line in lines if line.startswith("[btc-trend] fill "))
    assert all("ETHUSDT" in line for line in lines if line.startswith("[eth-revert] fill "))
    plugins = {line.split("]")[0][1:]: line for line in lines if "] plugins: " in line}
    assert "round-trips" in plugins["eth-revert"] and "round-trips" not in plugins["btc-trend"]
    assert "csv" in plugins["btc-trend"] and ", csv" not in plugins["eth-revert"]
    counted = re.search(r"round-trips observer counted (\d+) closed positions", out)
    trips = re.search(r"\[eth-revert\] final equity .* (\d+) round trips", out)
    assert counted and trips and counted.group(1) == trips.group(1), out


def test_thread_app_controls_the_engine_from_plain_code():
    out = run_example("thread_app.py")
    assert "runs in a background thread" in out
    assert "paused 'revert'" in out and "revert=paused" in out
    assert "resumed 'revert'" in out
    assert "refused: " in out and "still version 1" in out
    assert "applied version 2: changed=('trend',) unchanged=('revert',)" in out
    assert "PresetDiff(" in out and "trend params now {'fast': 30, 'slow': 240}" in out
    assert "engine stopped" in out
    assert re.search(r"^final equity: \d+\.\d+ USDT", out, re.MULTILINE), out


EXCERPT = re.compile(r"<!-- excerpt: (?P<path>[\w./-]+) -->\s*```python\n(?P<code>.*?)```", re.DOTALL)


def test_the_embedding_guide_quotes_the_examples_exactly():
    """A code block marked ``<!-- excerpt: examples/x.py -->`` is a verbatim slice of that file (taken
    from a function body, it may be shown dedented)."""
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    excerpts = list(EXCERPT.finditer(guide))
    assert len(excerpts) >= 4, "the guide quotes fewer than four excerpts of examples/"
    quoted = set()
    for match in excerpts:
        source = (ROOT / match["path"]).read_text(encoding="utf-8")
        found = any(textwrap.indent(match["code"], " " * indent) in source for indent in (0, 4, 8))
        assert found, f"an excerpt of {match['path']} in docs/embedding.md differs from it:\n{match['code']}"
        quoted.add(match["path"])
    assert {f"examples/{name}" for name in PROGRAMS} <= quoted, "some example is never quoted in the guide"
