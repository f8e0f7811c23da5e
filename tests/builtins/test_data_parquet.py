"""The ``parquet`` data source: bars streamed from Parquet files one row group at a time, every row
checked, with the same parameters as the ``csv`` source."""

from __future__ import annotations

import decimal
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import structlog

from tradehooks import PluginManager, backtest
from tradehooks._registry import Factory, ParamsError, Registry
from tradehooks.builtins.data_csv import read_csv_bars
from tradehooks.builtins.data_parquet import (
    ParquetDataSource,
    read_parquet_bars,
    register_data_sources,
    write_parquet,
)
from tradehooks.builtins.data_synthetic import generate_bars, write_csv
from tradehooks.contracts import ComponentContext, DataSource
from tradehooks.exceptions import DataError
from tradehooks.model import Bar, Instrument, parse_timeframe, parse_ts

from ..conftest import preset_text

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MINUTE = parse_timeframe("1m")
T0 = parse_ts("2024-01-01T00:00:00Z")
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
ETH = Instrument(id="ETHUSDT", base="ETH", quote="USDT", tick_size="0.01", lot_size="0.001")
ROWS = {"open": [100.0, 101.0, 102.0], "high": [101.0, 102.0, 103.0], "low": [99.0, 100.0, 101.0],
        "close": [101.0, 102.0, 102.5], "volume": [1.5, 2.0, 0.0]}


class _Clock:
    def now(self) -> int:
        return T0


def make_ctx(base_dir: Path, *instruments: Instrument, timeframe: int = MINUTE) -> ComponentContext:
    return ComponentContext(
        engine_id="t", mode="backtest", clock=_Clock(), log=structlog.get_logger(), base_dir=base_dir,
        instruments={instrument.id: instrument for instrument in instruments}, timeframe=timeframe,
    )


def bars_of(instrument: Instrument, count: int, *, seed: int = 1, start: int = T0) -> list[Bar]:
    return list(generate_bars(instrument, seed=seed, start_ts=start, timeframe=MINUTE, count=count,
                              initial_price=30_000.0))


def write_table(path: Path, columns: dict[str, Any], **kwargs: Any) -> Path:
    """Write ``columns`` (name -> list or pyarrow array) as a Parquet file."""
    pq.write_table(pa.table(columns), path, **kwargs)
    return path


def ms_rows(**changes: Any) -> dict[str, Any]:
    """Three good one-minute rows with integer epoch-ms timestamps, with ``changes`` applied."""
    ms = T0 // 1_000_000
    return {"timestamp": [ms, ms + 60_000, ms + 120_000], **ROWS, **changes}


def batches_of(source: Any) -> list[Sequence[Bar]]:
    async def collect() -> list[Sequence[Bar]]:
        return [batch async for batch in source.stream()]

    return anyio.run(collect)


def history_of(source: Any, instrument_id: str, end: int, count: int) -> Sequence[Bar]:
    async def ask() -> Sequence[Bar]:
        return await source.history(instrument_id, end, count)  # type: ignore[no-any-return]

    return anyio.run(ask)


class TestWriteAndRead:
    def test_bars_round_trip_exactly(self, tmp_path: Path) -> None:
        """What ``write_parquet`` writes, ``read_parquet_bars`` reads back as the very same bars."""
        bars = bars_of(BTC, 1000)
        assert write_parquet(tmp_path / "b.parquet", bars, row_group_size=128) == 1000
        assert list(read_parquet_bars(tmp_path / "b.parquet", "BTCUSDT")) == bars

    def test_writes_row_groups_of_the_given_size_with_utc_nanosecond_timestamps(self, tmp_path: Path) -> None:
        """1000 bars in groups of 300 make four row groups; ``timestamp`` is a UTC ns timestamp."""
        write_parquet(tmp_path / "b.parquet", iter(bars_of(BTC, 1000)), row_group_size=300)
        meta = pq.ParquetFile(tmp_path / "b.parquet")
        assert meta.num_row_groups == 4
        assert meta.schema_arrow.field("timestamp").type == pa.timestamp("ns", tz="UTC")
        assert meta.schema_arrow.names == ["timestamp", "open", "high", "low", "close", "volume"]

    def test_an_empty_file_has_no_bars(self, tmp_path: Path) -> None:
        """No bars written: a valid file with the schema and no rows."""
        assert write_parquet(tmp_path / "e.parquet", []) == 0
        assert list(read_parquet_bars(tmp_path / "e.parquet", "X")) == []

    def test_the_real_eth_btc_file_round_trips_through_parquet(self, tmp_path: Path) -> None:
        """5760 real ETH/BTC bars with 8-decimal prices survive CSV -> Parquet -> bars unchanged."""
        source = SHARED_DATA / "ETH_BTC-5m.csv"
        if not source.exists():
            pytest.skip(f"{source} is not available")
        bars = list(read_csv_bars(source, "ETHBTC"))
        write_parquet(tmp_path / "eth.parquet", bars)
        assert list(read_parquet_bars(tmp_path / "eth.parquet", "ETHBTC")) == bars

    def test_reading_streams_one_row_group_at_a_time(self, tmp_path: Path) -> None:
        """Reading 200,000 bars in 10,000-row groups never holds more than a row group in Arrow memory,
        and Python memory stays at a few MB (the whole file as bars would be ~40 MB)."""
        path = tmp_path / "long.parquet"
        write_parquet(path, generate_bars(BTC, seed=3, start_ts=T0, timeframe=MINUTE, count=200_000),
                      row_group_size=10_000)
        arrow_peak = 0
        tracemalloc.start()
        try:
            count = 0
            for count, _bar in enumerate(read_parquet_bars(path, "BTCUSDT"), 1):
                if count % 1000 == 0:
                    arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
            _, python_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == 200_000
        assert arrow_peak < 200_000 * 6 * 8 // 4  # well under the 9.6 MB of the whole file's columns
        assert python_peak < 8_000_000

    def test_a_reader_opens_the_file_lazily(self, tmp_path: Path) -> None:
        """Creating the reader opens nothing; the first bar asked for raises 'file not found'."""
        bars = read_parquet_bars(tmp_path / "nope.parquet", "X")
        with pytest.raises(DataError, match="file not found") as caught:
            next(bars)
        assert caught.value.path == str(tmp_path / "nope.parquet")


class TestTimestamps:
    def test_integer_epoch_milliseconds(self, tmp_path: Path) -> None:
        """Integers under 10**15 are epoch milliseconds."""
        bars = list(read_parquet_bars(write_table(tmp_path / "ms.parquet", ms_rows()), "X"))
        assert [bar.ts for bar in bars] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
        assert bars[0] == Bar("X", T0, 100.0, 101.0, 99.0, 101.0, 1.5)

    def test_integer_epoch_nanoseconds(self, tmp_path: Path) -> None:
        """Integers of 10**15 and more are epoch nanoseconds."""
        path = write_table(tmp_path / "ns.parquet", ms_rows(timestamp=[T0, T0 + MINUTE, T0 + 2 * MINUTE]))
        assert [bar.ts for bar in read_parquet_bars(path, "X")] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]

    def test_an_explicit_unit_overrides_the_guess(self, tmp_path: Path) -> None:
        """``timestamp_unit="ns"`` reads small integers as nanoseconds after all."""
        path = write_table(tmp_path / "t.parquet", ms_rows(timestamp=[1, 2, 3]))
        assert [bar.ts for bar in read_parquet_bars(path, "X", timestamp_unit="ns")] == [1, 2, 3]
        assert [bar.ts for bar in read_parquet_bars(path, "X")] == [1_000_000, 2_000_000, 3_000_000]
        with pytest.raises(ValueError, match="timestamp_unit must be one of auto, ms, ns"):
            next(read_parquet_bars(path, "X", timestamp_unit="s"))

    @pytest.mark.parametrize("arrow_type", [pa.timestamp("s"), pa.timestamp("ms", tz="UTC"),
                                            pa.timestamp("us", tz="Europe/Paris"), pa.timestamp("ns")],
                             ids=str)
    def test_parquet_timestamps_of_any_unit_and_zone(self, tmp_path: Path, arrow_type: pa.DataType) -> None:
        """A timestamp column is read as the UTC instant it stands for, whatever its unit or zone."""
        seconds = T0 // 1_000_000_000
        utc = pa.array([seconds, seconds + 60, seconds + 120], pa.timestamp("s", tz="UTC"))
        stamps = utc.cast(arrow_type)
        path = write_table(tmp_path / "t.parquet", ms_rows(timestamp=stamps))
        assert [bar.ts for bar in read_parquet_bars(path, "X")] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]

    def test_columns_in_any_order_and_case_with_extra_columns_ignored(self, tmp_path: Path) -> None:
        """``Close``, ``TIMESTAMP``... match; a pandas index column or any other is left alone."""
        rows = ms_rows()
        columns = {"Volume": rows["volume"], "TIMESTAMP": rows["timestamp"], "close": rows["close"],
                   "__index_level_0__": [0, 1, 2], "Open": rows["open"], "high": rows["high"],
                   "low": rows["low"], "trades": ["a", "b", "c"]}
        bars = list(read_parquet_bars(write_table(tmp_path / "o.parquet", columns), "X"))
        assert bars[0] == Bar("X", T0, 100.0, 101.0, 99.0, 101.0, 1.5)

    def test_integer_and_decimal_value_columns_are_read_as_floats(self, tmp_path: Path) -> None:
        """Volumes stored as integers and prices as decimals are plain floats in the bars."""
        prices = {name: pa.array([decimal.Decimal(str(v)) for v in ROWS[name]], pa.decimal128(10, 2))
                  for name in ("open", "high", "low", "close")}
        path = write_table(tmp_path / "d.parquet", ms_rows(volume=[1, 2, 0], **prices))
        bars = list(read_parquet_bars(path, "X"))
        assert bars[2] == Bar("X", T0 + 2 * MINUTE, 102.0, 103.0, 101.0, 102.5, 0.0)
        assert all(type(value) is float for value in bars[2][2:])


class TestValidation:
    def test_every_malformed_row_names_the_file_and_the_row(self, tmp_path: Path) -> None:
        """A high under the low in the third row: ``PATH:3: high 99.0 < low 101.0``."""
        path = write_table(tmp_path / "bad.parquet", ms_rows(high=[101.0, 102.0, 99.0]))
        bars = read_parquet_bars(path, "X")
        assert next(bars).ts == T0  # the good rows before it are yielded
        next(bars)
        with pytest.raises(DataError) as caught:
            next(bars)
        assert (caught.value.path, caught.value.line) == (str(path), 3)
        assert str(caught.value) == f"{path}:3: high 99.0 < low 101.0"

    def test_row_numbers_count_across_row_groups(self, tmp_path: Path) -> None:
        """With row groups of two rows, a bad fifth row is still row 5."""
        bars = bars_of(BTC, 6)
        bars[4] = bars[4]._replace(volume=-1.0)
        write_parquet(tmp_path / "g.parquet", bars, row_group_size=2)
        with pytest.raises(DataError, match=r"g.parquet:5: negative volume -1.0"):
            list(read_parquet_bars(tmp_path / "g.parquet", "BTCUSDT"))

    @pytest.mark.parametrize(("changes", "message"), [
        ({"open": [100.0, float("nan"), 102.0]}, ":2: a value is NaN or infinite"),
        ({"volume": [1.0, 1.0, float("inf")]}, ":3: a value is NaN or infinite"),
        ({"low": [0.0, 100.0, 101.0], "open": [0.0, 101.0, 102.0]}, ":1: non-positive price (low=0.0)"),
        ({"close": [100.0, 105.0, 102.5]}, ":2: open 101.0 or close 105.0 outside [low 100.0, high 102.0]"),
        ({"volume": [1.0, -2.0, 0.0]}, ":2: negative volume -2.0"),
        ({"close": [101.0, None, 102.5]}, ":2: close is missing (null)"),
        ({"timestamp": [1704067200000, 1704067320000, 1704067260000]},
         ":3: timestamp 2024-01-01T00:01:00Z is not after the previous one 2024-01-01T00:02:00Z"),
        ({"timestamp": [1704067200000, 1704067200000, 1704067260000]},
         ":2: timestamp 2024-01-01T00:00:00Z is not after the previous one 2024-01-01T00:00:00Z"),
    ], ids=["nan", "inf", "zero-price", "outside-range", "negative-volume", "null", "backwards", "duplicate"])
    def test_refuses_what_the_csv_source_refuses(self, tmp_path: Path, changes: dict[str, Any],
                                                 message: str) -> None:
        """Each malformed row is a ``DataError`` with the reason the engine's own check would give."""
        path = write_table(tmp_path / "bad.parquet", ms_rows(**changes))
        with pytest.raises(DataError) as caught:
            list(read_parquet_bars(path, "X"))
        assert str(caught.value) == f"{path}{message}"

    def test_without_the_order_check_duplicates_come_through(self, tmp_path: Path) -> None:
        """``check_order=False`` (for ``tradehooks data check``) yields repeated and earlier timestamps."""
        stamps = [1704067260000, 1704067260000, 1704067200000]
        path = write_table(tmp_path / "dup.parquet", ms_rows(timestamp=stamps))
        assert [bar.ts // MINUTE for bar in read_parquet_bars(path, "X", check_order=False)] == [
            T0 // MINUTE + 1, T0 // MINUTE + 1, T0 // MINUTE
        ]

    @pytest.mark.parametrize(("columns", "message"), [
        ({k: v for k, v in ms_rows().items() if k != "volume"}, "missing column 'volume'"),
        ({**ms_rows(), "Open": [1.0, 2.0, 3.0]}, "duplicate column 'open' ('open' and 'Open')"),
        (ms_rows(timestamp=["2024-01-01", "2024-01-02", "2024-01-03"]),
         "column 'timestamp' has type string; expected a timestamp or integer epoch ms or ns"),
        (ms_rows(close=["1", "2", "3"]), "column 'close' has type string; expected a number"),
    ], ids=["missing", "duplicate", "string-timestamp", "string-close"])
    def test_refuses_a_file_whose_columns_do_not_fit(self, tmp_path: Path, columns: dict[str, Any],
                                                     message: str) -> None:
        """The schema is checked before any row is read; the error names the file."""
        path = write_table(tmp_path / "cols.parquet", columns)
        with pytest.raises(DataError) as caught:
            next(read_parquet_bars(path, "X"))
        assert str(caught.value) == f"{path}: {message}"

    def test_refuses_a_file_that_is_not_parquet(self, tmp_path: Path) -> None:
        """A CSV file renamed .parquet is 'not a Parquet file'."""
        path = tmp_path / "fake.parquet"
        path.write_text("timestamp,open,high,low,close,volume\n")
        with pytest.raises(DataError, match=r"fake.parquet: not a Parquet file"):
            next(read_parquet_bars(path, "X"))


class TestParquetDataSource:
    def test_is_registered_by_its_own_builtin_plugin(self) -> None:
        """Plugin ``parquet`` registers source ``parquet``; disabling it removes only that source."""
        assert register_data_sources() == [ParquetDataSource]
        assert "parquet" in Registry(PluginManager(autoload=False)).names("data_source")
        without = Registry(PluginManager(disable=["parquet"], autoload=False)).names("data_source")
        assert "parquet" not in without and "csv" in without

    def test_satisfies_the_contract_and_validates_its_own_bars(self, tmp_path: Path) -> None:
        """It is a ``DataSource`` and sets ``validated``, sparing the engine the per-bar check."""
        write_parquet(tmp_path / "b.parquet", bars_of(BTC, 3))
        source = ParquetDataSource(ParquetDataSource.Params(path="b.parquet"), make_ctx(tmp_path, BTC))
        assert isinstance(source, DataSource) and ParquetDataSource.validated is True

    def test_streams_batches_of_batch_size(self, tmp_path: Path) -> None:
        """10,000 bars in batches of 4096: 4096, 4096, 1808, the bars of the file in order."""
        bars = bars_of(BTC, 10_000)
        write_parquet(tmp_path / "b.parquet", bars, row_group_size=3000)
        source = ParquetDataSource(ParquetDataSource.Params(path="b.parquet"), make_ctx(tmp_path, BTC))
        batches = batches_of(source)
        assert [len(batch) for batch in batches] == [4096, 4096, 1808]
        assert [bar for batch in batches for bar in batch] == bars

    def test_merges_several_files_by_timestamp(self, tmp_path: Path) -> None:
        """Two instruments' files come out interleaved in time order, ties in the order of ``paths``."""
        btc, eth = bars_of(BTC, 50), bars_of(ETH, 50, seed=2, start=T0 + 10 * MINUTE)
        write_parquet(tmp_path / "btc.parquet", btc)
        write_parquet(tmp_path / "eth.parquet", eth)
        paths = {"ETHUSDT": "eth.parquet", "BTCUSDT": "btc.parquet"}
        params = ParquetDataSource.Params(paths=paths, batch_size=7)
        merged = [bar for batch in batches_of(ParquetDataSource(params, make_ctx(tmp_path, BTC, ETH)))
                  for bar in batch]
        assert len(merged) == 100
        assert [bar.ts for bar in merged] == sorted(bar.ts for bar in merged)
        tied = [bar.instrument_id for bar in merged if bar.ts == T0 + 10 * MINUTE]
        assert tied == ["ETHUSDT", "BTCUSDT"]

    def test_history_is_the_last_bars_closed_by_end(self, tmp_path: Path) -> None:
        """Bars 3..5 (0-based) closed by the close of bar 5; unknown instruments get nothing."""
        bars = bars_of(BTC, 20)
        write_parquet(tmp_path / "b.parquet", bars, row_group_size=4)
        source = ParquetDataSource(ParquetDataSource.Params(path="b.parquet"), make_ctx(tmp_path, BTC))
        assert history_of(source, "BTCUSDT", T0 + 6 * MINUTE, 3) == bars[3:6]
        assert history_of(source, "BTCUSDT", T0, 3) == []
        assert history_of(source, "NOPE", T0 + 6 * MINUTE, 3) == []

    def test_refuses_a_missing_file_when_built(self, tmp_path: Path) -> None:
        """A file that is not there stops the engine from being built."""
        with pytest.raises(DataError, match="nope.parquet: file not found"):
            ParquetDataSource(ParquetDataSource.Params(path="nope.parquet"), make_ctx(tmp_path, BTC))

    def test_path_needs_a_symbol_with_several_instruments(self, tmp_path: Path) -> None:
        """As with ``csv``: 'path' is ambiguous when the preset has two instruments."""
        write_parquet(tmp_path / "b.parquet", bars_of(BTC, 3))
        with pytest.raises(ValueError, match="'path' needs 'symbol' when the preset has 2 instruments"):
            ParquetDataSource(ParquetDataSource.Params(path="b.parquet"), make_ctx(tmp_path, BTC, ETH))
        with pytest.raises(ValueError, match="'XRPUSDT' is not an instrument of the preset"):
            ParquetDataSource(ParquetDataSource.Params(path="b.parquet", symbol="XRPUSDT"),
                              make_ctx(tmp_path, BTC, ETH))

    def test_params_are_checked_like_the_csv_sources(self) -> None:
        """Exactly one of path and paths; a positive batch size; a known timestamp unit."""
        factory = Factory("data_source", "parquet", ParquetDataSource, "parquet", None)
        with pytest.raises(ParamsError, match="give exactly one of 'path'"):
            factory.params({})
        with pytest.raises(ParamsError, match="batch_size must be > 0"):
            factory.params({"path": "a.parquet", "batch_size": 0})
        with pytest.raises(ParamsError, match="timestamp_unit must be one of auto, ms, ns"):
            factory.params({"path": "a.parquet", "timestamp_unit": "us"})
        assert factory.params({"path": "a.parquet"}).timestamp_unit == "auto"

    def test_a_backtest_on_parquet_matches_the_same_backtest_on_csv(self, tmp_path: Path) -> None:
        """The engine runs a preset with ``source = "parquet"`` and gets the result the CSV file gives."""
        bars = bars_of(BTC, 3000)
        write_csv(tmp_path / "b.csv", bars)
        write_parquet(tmp_path / "b.parquet", bars, row_group_size=500)
        (tmp_path / "csv.toml").write_text(preset_text("b.csv"))
        text = preset_text("b.parquet").replace('source = "csv"', 'source = "parquet"')
        (tmp_path / "parquet.toml").write_text(text)
        from_csv = backtest(tmp_path / "csv.toml").metrics
        from_parquet = backtest(tmp_path / "parquet.toml").metrics
        assert from_parquet == from_csv and from_parquet.bars == 3000 and from_parquet.trades > 0
