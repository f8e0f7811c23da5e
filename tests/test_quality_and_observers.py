"""Data-quality guards with their policy, and per-preset observers."""

from __future__ import annotations

import csv
from pathlib import Path

import anyio
import pytest

from tradehooks import DataError, Engine, PresetError, backtest
from tradehooks.model import Bar
from tradehooks.testing import RecordingObserver, run_backtest, synthetic_bars

from .conftest import preset_text

GOOD = synthetic_bars(60, seed=5)


def with_bad_bars() -> list[Bar]:
    bars = list(GOOD)
    bars[10] = bars[10]._replace(high=bars[10].low - 1)  # high < low
    bars[20] = bars[20]._replace(close=float("nan"))
    bars[30] = bars[30]._replace(ts=bars[29].ts)  # a repeated timestamp
    return bars


class TestDataQuality:
    def test_halt_stops_at_the_first_bad_bar_with_what_and_when(self):
        """The default policy raises a DataError naming the instrument, time and reason."""
        recorder = RecordingObserver()
        with pytest.raises(DataError, match=r"BTCUSDT: bar at 2024-01-01T00:10:00Z: high .* < low"):
            run_backtest(signal="sma_cross", bars=with_bad_bars(), plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["halt"]

    def test_skip_drops_each_bad_bar_and_reports_it(self):
        """Three bad bars are dropped, each reported with its reason; the rest are handled."""
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_bad_bars(), data_quality="skip", plugins=[recorder])
        rejected = recorder.of("data_rejected")
        assert [c["action"] for c in rejected] == ["skip"] * 3
        assert "high" in rejected[0]["reason"] and "NaN" in rejected[1]["reason"]
        assert "not after the previous" in rejected[2]["reason"]
        assert result.metrics.bars == 60 and len(result.equity) == 57

    def test_warn_uses_malformed_bars_but_never_a_repeated_timestamp(self):
        """With warn, the high < low and NaN bars are used; the repeated time is still dropped."""
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_bad_bars(), data_quality="warn", plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["warn"] * 3
        assert len(result.equity) == 59

    def test_a_bad_policy_is_a_located_preset_error(self, tmp_path: Path):
        """quality = 'ignore' names the key and the allowed values."""
        path = tmp_path / "p.toml"
        path.write_text(preset_text("x.csv").replace('timeframe = "1m"', 'timeframe = "1m"\nquality = "ignore"'))
        with pytest.raises(PresetError, match=r"data.quality: must be one of 'halt', 'skip', 'warn'"):
            Engine.from_preset(path)


class TestObservers:
    def test_fills_csv_writes_every_fill(self, preset_file: Path):
        """A preset's fills_csv observer writes one CSV line per fill, with the header."""
        preset_file.write_text(preset_file.read_text() + '\n[[observers]]\nname = "fills_csv"\n'
                               'params = { path = "fills.csv" }\n')

        async def main():
            async with Engine.from_preset(preset_file) as engine:
                await engine.run()
            return engine

        engine = anyio.run(main)
        rows = list(csv.DictReader((preset_file.parent / "fills.csv").open()))
        assert len(rows) == len(engine.fills) > 0
        assert rows[0]["trade_id"] == engine.fills[0].trade_id and rows[0]["price"] == str(engine.fills[0].price)

    def test_an_observer_belongs_to_its_engine_only(self, preset_file: Path, tmp_path: Path):
        """Two engines, one with the observer: only its fills are written."""
        other = tmp_path / "other.toml"
        other.write_text(preset_file.read_text())
        preset_file.write_text(preset_file.read_text() + '\n[[observers]]\nname = "fills_csv"\n'
                               'params = { path = "mine.csv" }\n')

        async def main():
            a, b = Engine.from_preset(preset_file), Engine.from_preset(other)
            async with a, b:
                await a.run()
                await b.run()
            return a

        a = anyio.run(main)
        assert len(list(csv.DictReader((tmp_path / "mine.csv").open()))) == len(a.fills)

    def test_a_reload_replaces_the_observers(self, preset_file: Path):
        """Applying a preset that switches the CSV file closes the first and writes the second."""
        base = preset_file.read_text()
        preset_file.write_text(base + '\n[[observers]]\nname = "fills_csv"\nparams = { path = "one.csv" }\n')

        async def main():
            async with Engine.from_preset(preset_file) as engine:
                second = preset_file.with_name("second.toml")
                second.write_text(base + '\n[[observers]]\nname = "fills_csv"\nparams = { path = "two.csv" }\n')
                diff = await engine.apply(second)
                await engine.run()
            return engine, diff

        engine, diff = anyio.run(main)
        assert diff.observers_changed and not (preset_file.parent / "one.csv").exists()
        assert len(list(csv.DictReader((preset_file.parent / "two.csv").open()))) == len(engine.fills)

    def test_an_unknown_observer_or_bad_parameter_is_located(self, preset_file: Path):
        """name = 'fills_cvs' lists the known observers; a missing folder names the key."""
        base = preset_file.read_text()
        preset_file.write_text(base + '\n[[observers]]\nname = "fills_cvs"\n')
        with pytest.raises(PresetError, match=r"observers\[0\].name: no observer named 'fills_cvs' "
                                              r"\(known: fills_csv\)"):
            Engine.from_preset(preset_file)
        preset_file.write_text(base + '\n[[observers]]\nname = "fills_csv"\nparams = { path = "no/such/x.csv" }\n')
        with pytest.raises(PresetError, match=r"observers\[0\].params.path: .*does not exist"):
            Engine.from_preset(preset_file)


def _preset(tmp_path: Path, data: Path, quality: str) -> Path:
    source = "parquet" if data.suffix == ".parquet" else "csv"
    text = preset_text(data.name).replace('timeframe = "1m"', f'timeframe = "1m"\nquality = "{quality}"')
    path = tmp_path / f"{quality}.toml"
    path.write_text(text.replace('source = "csv"', f'source = "{source}"'))
    return path


def bad_csv(tmp_path: Path, count: int = 3_000) -> tuple[Path, list[int]]:
    """``count`` good bars as CSV with three bad rows far apart (the last beyond the first blocks the
    file is parsed in): high < low (line 12), a close that is no number (line 1,502) and a repeated
    timestamp (line 2,902). Returns the file and those lines."""
    from tradehooks.builtins.data_synthetic import write_csv

    path = tmp_path / "bad.csv"
    write_csv(path, synthetic_bars(count, seed=5))
    lines = path.read_text().splitlines()
    ts, o, _, lo, c, v = lines[11].split(",")
    lines[11] = ",".join([ts, o, str(float(lo) - 1), lo, c, v])
    lines[1501] = ",".join(lines[1501].split(",")[:4] + ["abc", "1.0"])
    lines[2901] = lines[2900].split(",")[0] + "," + ",".join(lines[2901].split(",")[1:])
    path.write_text("\n".join(lines) + "\n")
    return path, [12, 1502, 2902]


def bad_parquet(tmp_path: Path, count: int = 3_000) -> tuple[Path, list[int]]:
    """The same bars as Parquet: high < low (row 11), a missing close (row 1,501), a repeated
    timestamp (row 2,901)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    bars = synthetic_bars(count, seed=5)
    columns = {name: [getattr(bar, "ts" if name == "timestamp" else name) for bar in bars]
               for name in ("timestamp", "open", "high", "low", "close", "volume")}
    columns["high"][10] = columns["low"][10] - 1
    columns["close"][1500] = None
    columns["timestamp"][2900] = columns["timestamp"][2899]
    path = tmp_path / "bad.parquet"
    table = pa.table({"timestamp": pa.array(columns.pop("timestamp"), pa.int64()).cast(pa.timestamp("ns", "UTC")),
                      **{name: pa.array(values, pa.float64()) for name, values in columns.items()}})
    pq.write_table(table, path, row_group_size=1_000)
    return path, [11, 1501, 2901]


@pytest.mark.parametrize("make", [bad_csv, bad_parquet], ids=["csv", "parquet"])
class TestFileSourceQuality:
    """``[data] quality`` applies to the rows a file source refuses itself."""

    def test_halt_stops_at_the_first_bad_row_naming_file_and_line(self, tmp_path: Path, make):
        """The DataError names the file and line of the first bad row; the hook hears of it first."""
        data, lines = make(tmp_path)
        recorder = RecordingObserver()
        with pytest.raises(DataError, match=r"high .* < low") as caught:
            backtest(_preset(tmp_path, data, "halt"), plugins=[recorder])
        assert (caught.value.path, caught.value.line) == (str(data), lines[0])
        rejected = recorder.of("data_rejected")
        assert [c["action"] for c in rejected] == ["halt"]
        assert rejected[0]["reason"] == str(caught.value) and rejected[0]["bar"].high < rejected[0]["bar"].low

    def test_skip_drops_each_bad_row_and_reports_it_with_its_line(self, tmp_path: Path, make):
        """The three bad rows are dropped, each reported once with file and line; the run goes on."""
        data, lines = make(tmp_path)
        recorder = RecordingObserver()
        result = backtest(_preset(tmp_path, data, "skip"), plugins=[recorder])
        rejected = recorder.of("data_rejected")
        assert [c["action"] for c in rejected] == ["skip"] * 3
        assert [c["reason"].split(": ")[0] for c in rejected] == [f"{data}:{line}" for line in lines]
        assert rejected[1]["bar"] is None  # not a bar at all: the value is no number or missing
        assert "not after the previous one" in rejected[2]["reason"]
        assert result.metrics.bars == 3_000 - 3

    def test_warn_uses_a_bar_with_bad_values_but_drops_what_is_no_bar_or_out_of_order(self, tmp_path: Path,
                                                                                       make):
        """With warn, the high < low bar is used; the unreadable row and the repeated time are not."""
        data, _ = make(tmp_path)
        recorder = RecordingObserver()
        result = backtest(_preset(tmp_path, data, "warn"), plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["warn"] * 3
        assert result.metrics.bars == 3_000 - 2
