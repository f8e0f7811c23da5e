"""The tradehooks command, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import preset_text


def tradehooks(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradehooks", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


class TestBacktest:
    def test_backtest_json_prints_one_object_with_the_metrics(self, preset_file: Path):
        """--json prints total return, drawdown, Sharpe, trades, fees and final equity."""
        run = tradehooks("backtest", str(preset_file), "--json")
        assert run.returncode == 0, run.stderr
        metrics = json.loads(run.stdout)
        for key in ("total_return", "max_drawdown", "sharpe", "trades", "fees", "final_equity"):
            assert key in metrics
        assert metrics["bars"] == 5_000 and metrics["trades"] > 0

    def test_backtest_prints_a_table(self, preset_file: Path):
        """Without --json the metrics are an aligned table."""
        run = tradehooks("backtest", str(preset_file))
        assert run.returncode == 0, run.stderr
        assert "total return" in run.stdout and "final equity" in run.stdout


class TestBadInput:
    def run_error(self, *args: str) -> str:
        run = tradehooks(*args)
        assert run.returncode == 2, (run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    def test_a_missing_data_file_is_one_line_naming_it(self, tmp_path: Path):
        """A preset whose CSV does not exist exits 2 naming the file."""
        preset = tmp_path / "p.toml"
        preset.write_text(preset_text("missing.csv"))
        assert "missing.csv" in self.run_error("backtest", str(preset))

    def test_a_bar_with_high_below_low_names_file_and_line(self, tmp_path: Path):
        """A corrupt row stops the backtest with file:line and the reason."""
        data = tmp_path / "bad.csv"
        data.write_text(
            "timestamp,open,high,low,close,volume\n"
            "2024-01-01T00:00:00Z,100,101,99,100,1\n"
            "2024-01-01T00:01:00Z,100,98,99,100,1\n"
        )
        preset = tmp_path / "p.toml"
        preset.write_text(preset_text("bad.csv"))
        line = self.run_error("backtest", str(preset))
        assert "bad.csv:3" in line and "high" in line

    def test_a_timestamp_going_backwards_names_file_and_line(self, tmp_path: Path):
        """A non-increasing timestamp is refused at its line."""
        data = tmp_path / "back.csv"
        data.write_text(
            "timestamp,open,high,low,close,volume\n"
            "2024-01-01T00:01:00Z,100,101,99,100,1\n"
            "2024-01-01T00:00:00Z,100,101,99,100,1\n"
        )
        preset = tmp_path / "p.toml"
        preset.write_text(preset_text("back.csv"))
        assert "back.csv:3" in self.run_error("backtest", str(preset))

    def test_an_unknown_plugin_name_is_one_line(self, preset_file: Path):
        """A sizer nobody registers is named with the file and line."""
        preset_file.write_text(preset_file.read_text().replace('name = "fixed"', 'name = "fixd"'))
        line = self.run_error("backtest", str(preset_file))
        assert "strategies[0].sizer.name" in line and "fixd" in line and f"{preset_file}:" in line

    def test_a_quantity_below_the_lot_size_is_refused(self, preset_file: Path):
        """A fixed sizer quantity of 0.0001 with a 0.001 lot says so."""
        preset_file.write_text(preset_file.read_text().replace('quantity = "0.01"', 'quantity = "0.0001"'))
        line = self.run_error("backtest", str(preset_file))
        assert "0.0001" in line and "lot" in line

    def test_debug_shows_the_traceback(self, tmp_path: Path):
        """--debug adds the traceback for developers."""
        preset = tmp_path / "p.toml"
        preset.write_text(preset_text("missing.csv"))
        for args in (("--debug", "backtest", str(preset)), ("backtest", str(preset), "--debug")):
            run = tradehooks(*args)
            assert run.returncode == 2 and "Traceback" in run.stderr


class TestOtherCommands:
    def test_validate_accepts_a_good_preset(self, preset_file: Path):
        """validate builds every component and says the preset is valid."""
        run = tradehooks("validate", str(preset_file))
        assert run.returncode == 0 and "valid" in run.stdout

    def test_plugins_json_lists_builtins_with_what_they_provide(self):
        """plugins --json names every plugin, its distribution, version and hooks."""
        run = tradehooks("plugins", "--json")
        assert run.returncode == 0, run.stderr
        rows = {row["name"]: row for row in json.loads(run.stdout)}
        assert rows["paper"]["provides"] == {"broker": ["paper"]}
        assert rows["csv"]["hooks"] == ["register_data_sources"]
        assert rows["indicators"]["distribution"] == "tradehooks"

    def test_data_generate_writes_a_deterministic_file(self, tmp_path: Path):
        """The same seed writes byte-identical files."""
        first, second = tmp_path / "a.csv", tmp_path / "b.csv"
        for path in (first, second):
            run = tradehooks("data", "generate", "--output", str(path), "--bars", "500", "--seed", "9")
            assert run.returncode == 0, run.stderr
        assert first.read_bytes() == second.read_bytes()
        assert len(first.read_text().splitlines()) == 501


class TestDataTools:
    def test_resample_then_check_a_generated_file(self, tmp_path: Path):
        """1m bars resampled to 5m make a fifth as many bars with no gap; check reports the rows."""
        source, target = tmp_path / "m1.csv", tmp_path / "m5.parquet"
        assert tradehooks("data", "generate", "--output", str(source), "--bars", "600").returncode == 0
        run = tradehooks("data", "resample", "--input", str(source), "--timeframe", "5m", "--output", str(target))
        assert run.returncode == 0, run.stderr
        check = tradehooks("data", "check", "--input", str(target), "--timeframe", "5m")
        assert check.returncode == 0, check.stderr
        assert "120" in check.stdout and "gap" in check.stdout.lower()

    def test_check_of_an_unreadable_file_is_one_error_line(self, tmp_path: Path):
        """A missing input exits 2 naming it."""
        run = tradehooks("data", "check", "--input", str(tmp_path / "none.csv"), "--timeframe", "5m")
        assert run.returncode == 2 and "none.csv" in run.stderr and "Traceback" not in run.stderr
