"""``tradehooks indicators list`` and ``tradehooks indicators compute``, run as a user runs them: a real
subprocess (and, to show a plugin's indicator, in process with a plugin manager that has one)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from tradehooks import PluginManager, hookimpl
from tradehooks._indicators_cli import IndicatorsCommand, parse_params
from tradehooks.builtins.indicators import BollingerBands, SimpleMovingAverage
from tradehooks.exceptions import TradehooksError

from .test_indicators import ALL, BTC_FILE, _file_bars


def tradehooks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradehooks", *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The first 500 BTC/USDT bars as a CSV file."""
    if not BTC_FILE.exists():
        pytest.skip(f"{BTC_FILE} is absent")
    path = tmp_path / "btc.csv"
    path.write_text("".join(BTC_FILE.read_text().splitlines(keepends=True)[:501]))
    return path


def one_error_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


class TestList:
    def test_lists_every_indicator_with_class_parameters_outputs_and_warm_up(self) -> None:
        """One line per indicator: name, class, parameters with defaults, outputs and first-value index."""
        run = tradehooks("indicators", "list")
        assert run.returncode == 0, run.stderr
        lines = {line.split()[0]: line for line in run.stdout.splitlines()[1:]}
        assert set(lines) == {cls.name for cls in ALL}
        macd = lines["macd"].split()
        assert macd[1] == "MovingAverageConvergenceDivergence"
        assert "fast=12 slow=26 signal=9 source=close" in lines["macd"]
        assert "macd signal hist" in lines["macd"] and lines["macd"].endswith("slow + signal - 2 (33)")
        assert "period=none" in lines["vwap"] and "adx plus_di minus_di" in lines["adx"]

    def test_json_lists_the_same_as_objects(self) -> None:
        """--json: name, class, plugin, parameters (defaults), outputs, warm-up expression and lookback."""
        run = tradehooks("indicators", "list", "--json")
        assert run.returncode == 0, run.stderr
        rows = {row["name"]: row for row in json.loads(run.stdout)}
        assert rows["bbands"] == {
            "name": "bbands", "class": "BollingerBands", "plugin": "indicators",
            "parameters": {"period": 20, "stddev": 2.0, "source": "close"},
            "outputs": ["upper", "middle", "lower"], "warmup": "period - 1", "lookback": 19,
        }
        assert rows["stoch"]["lookback"] == 8 and rows["trange"]["parameters"] == {}

    def test_a_plugins_indicator_is_listed_too(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An indicator registered by a plugin appears beside the built-in ones, with its module path."""

        class Spread:
            name: ClassVar[str] = "spread"
            outputs: ClassVar[tuple[str, ...]] = ("value",)

            @attrs.frozen(kw_only=True)
            class Params:
                width: float = 1.0

            def __init__(self, params: Any) -> None:
                self.value = None

            def update(self, bar: Any) -> float:
                self.value = bar.high - bar.low
                return self.value

        class Plugin:
            @hookimpl
            def register_indicators(self) -> list[type]:
                return [Spread]

        args = argparse.Namespace(manager=PluginManager(plugins=[Plugin()], autoload=False),
                                  indicators_command="list", json=True)
        assert IndicatorsCommand.run(args) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
        assert rows["spread"]["plugin"] == "Plugin" and rows["spread"]["class"].endswith("Spread")
        assert rows["spread"]["parameters"] == {"width": 1.0} and rows["spread"]["warmup"] is None
        assert "sma" in rows


class TestCompute:
    def test_writes_the_timestamp_and_the_value_with_empty_cells_before_warm_up(self, data: Path) -> None:
        """To standard output: ``timestamp,value``, a row per bar, the SMA's values from index 19."""
        run = tradehooks("indicators", "compute", "sma", "--param", "period=20", "--data", str(data))
        assert run.returncode == 0, run.stderr
        rows = list(csv.reader(io.StringIO(run.stdout)))
        assert rows[0] == ["timestamp", "value"] and len(rows) == 501
        assert rows[1] == ["2023-01-02T16:45:00Z", ""] and all(row[1] == "" for row in rows[1:20])
        expected = SimpleMovingAverage.batch(SimpleMovingAverage.Params(period=20), _file_bars(data))
        assert [float(row[1]) for row in rows[20:]] == expected[19:]

    def test_writes_one_column_per_output_to_a_file(self, data: Path, tmp_path: Path) -> None:
        """--output: the bands in ``outputs`` order, and one line on standard output saying so."""
        out = tmp_path / "deep" / "bands.csv"
        run = tradehooks("indicators", "compute", "bbands", "--param", "period=10", "--param", "stddev=2.5",
                         "--data", str(data), "--output", str(out))
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == f"wrote 500 rows of bbands(period=10, stddev=2.5, source=close) to {out}"
        rows = list(csv.reader(out.open()))
        assert rows[0] == ["timestamp", "upper", "middle", "lower"]
        assert rows[9][1:] == ["", "", ""] and rows[10][1:] != ["", "", ""]
        expected = BollingerBands.batch(BollingerBands.Params(period=10, stddev=2.5), _file_bars(data))
        assert [float(row[2]) for row in rows[10:]] == expected["middle"][9:]

    def test_parameters_are_read_as_numbers_none_or_text(self) -> None:
        """``20`` is an integer, ``2.5`` a number, ``none`` None, ``high`` text."""
        assert parse_params(["period=20", "stddev=2.5", "source=high", "x=none", "y=true"]) == {
            "period": 20, "stddev": 2.5, "source": "high", "x": None, "y": True}

    def test_a_session_vwap_by_name(self, data: Path) -> None:
        """``--param period=none`` is the session VWAP, defined from the first bar."""
        run = tradehooks("indicators", "compute", "vwap", "--param", "period=none", "--data", str(data))
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[1] == "2023-01-02T16:45:00Z,16726.966666666667"


class TestComputeErrors:
    def test_a_bad_parameter_is_one_error_line(self, data: Path) -> None:
        """An out-of-range value exits 2 with the indicator, the parameter and the value."""
        run = tradehooks("indicators", "compute", "sma", "--param", "period=0", "--data", str(data))
        assert one_error_line(run) == "error: sma: period must be >= 1, got 0"
        assert run.stdout == ""

    def test_a_parameter_of_the_wrong_type_is_one_error_line(self, data: Path) -> None:
        run = tradehooks("indicators", "compute", "rsi", "--param", "period=fourteen", "--data", str(data))
        assert one_error_line(run) == "error: rsi: expected an integer, got str 'fourteen'"

    def test_an_unknown_parameter_is_one_error_line(self, data: Path) -> None:
        run = tradehooks("indicators", "compute", "macd", "--param", "fats=3", "--data", str(data))
        assert one_error_line(run) == "error: macd: unknown key 'fats'"

    def test_a_parameter_without_a_value_is_one_error_line(self, data: Path) -> None:
        run = tradehooks("indicators", "compute", "sma", "--param", "period", "--data", str(data))
        assert one_error_line(run) == "error: --param must be KEY=VALUE, got 'period'"

    def test_an_unknown_indicator_lists_the_known_ones(self, data: Path) -> None:
        line = one_error_line(tradehooks("indicators", "compute", "smaa", "--data", str(data)))
        assert line.startswith("error: no indicator named 'smaa' (known: adx, aroon, atr,")

    def test_a_missing_data_file_writes_nothing(self, tmp_path: Path) -> None:
        """A file that is not there is named, and no output file is created."""
        out = tmp_path / "out.csv"
        run = tradehooks("indicators", "compute", "sma", "--data", str(tmp_path / "nope.csv"), "--output", str(out))
        assert one_error_line(run) == f"error: {tmp_path / 'nope.csv'}: file not found"
        assert not out.exists()

    def test_a_repeated_parameter_is_refused(self) -> None:
        with pytest.raises(TradehooksError, match="--param period is given twice"):
            parse_params(["period=2", "period=3"])
