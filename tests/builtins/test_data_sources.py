"""The built-in data sources: ``csv`` (streamed CSV files) and ``synthetic`` (seeded GBM)."""

from __future__ import annotations

import datetime as dt
import math
import tracemalloc
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from tradehooks._convert import make_converter, structure_problems
from tradehooks.builtins import data_csv, data_synthetic
from tradehooks.builtins.data_csv import CsvDataSource, read_csv_bars
from tradehooks.builtins.data_synthetic import SyntheticDataSource, generate_bars, write_csv
from tradehooks.contracts import ComponentContext, DataSource
from tradehooks.exceptions import DataError
from tradehooks.model import Bar, Instrument, check_bar, parse_timeframe, parse_ts

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HEADER = "timestamp,open,high,low,close,volume"
FIVE_MINUTES = parse_timeframe("5m")
MINUTE = parse_timeframe("1m")
T0 = parse_ts("2024-01-01T00:00:00Z")
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
ETH = Instrument(id="ETHBTC", base="ETH", quote="BTC", tick_size="0.00001", lot_size="0.0001")


class FixedClock:
    """A clock stopped at ``T0``."""

    def now(self) -> int:
        return T0


def make_ctx(base_dir: Path, *instruments: Instrument, timeframe: int = FIVE_MINUTES) -> ComponentContext:
    return ComponentContext(
        engine_id="t",
        mode="backtest",
        clock=FixedClock(),
        log=structlog.get_logger(),
        base_dir=base_dir,
        instruments={instrument.id: instrument for instrument in instruments},
        timeframe=timeframe,
    )


def batches_of(source: Any) -> list[Sequence[Bar]]:
    async def collect() -> list[Sequence[Bar]]:
        return [batch async for batch in source.stream()]

    return anyio.run(collect)


def history_of(source: Any, instrument_id: str, end: int, count: int) -> Sequence[Bar]:
    async def ask() -> Sequence[Bar]:
        return await source.history(instrument_id, end, count)  # type: ignore[no-any-return]

    return anyio.run(ask)


def write_rows(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def real_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


GOOD_1 = "2023-01-02T16:45:00Z,16727.3,16728.8,16726.0,16726.1,691.508"
GOOD_2 = "2023-01-02T16:50:00Z,16726.0,16726.8,16705.0,16707.5,1301.173"


class TestReadCsvBars:
    def test_the_real_file_parses_to_every_bar_with_the_values_of_the_file(self) -> None:
        """BTC_USDT-5m.csv reads as 10999 bars whose first and last rows match the file."""
        bars = list(read_csv_bars(real_file("BTC_USDT-5m.csv"), "BTCUSDT"))
        assert len(bars) == 10999
        first, last = parse_ts("2023-01-02T16:45:00Z"), parse_ts("2023-02-09T21:15:00Z")
        assert bars[0] == Bar("BTCUSDT", first, 16727.3, 16728.8, 16726.0, 16726.1, 691.508)
        assert bars[-1] == Bar("BTCUSDT", last, 21918.0, 21960.7, 21914.0, 21925.7, 2058.74)
        assert all(b.ts - a.ts == FIVE_MINUTES for a, b in zip(bars, bars[1:]))

    def test_columns_may_come_in_any_order(self, tmp_path: Path) -> None:
        """A header with the columns shuffled maps each value to its column."""
        path = write_rows(tmp_path / "a.csv", "691.508,16726.1,2023-01-02T16:45:00Z,16726.0,16728.8,16727.3",
                          header="volume,close,timestamp,low,high,open")
        assert list(read_csv_bars(path, "X")) == [
            Bar("X", parse_ts("2023-01-02T16:45:00Z"), 16727.3, 16728.8, 16726.0, 16726.1, 691.508)
        ]

    def test_epoch_milliseconds_and_other_iso_forms_are_accepted(self, tmp_path: Path) -> None:
        """Integer epoch milliseconds, offsets and zone-less times all parse to UTC nanoseconds."""
        rows = [
            "1672677900000,1,2,1,2,0",
            "2023-01-02T17:50:00+01:00,1,2,1,2,0",
            "2023-01-02T16:55:00,1,2,1,2,0",
        ]
        path = write_rows(tmp_path / "a.csv", *rows)
        expected = ["2023-01-02T16:45:00Z", "2023-01-02T16:50:00Z", "2023-01-02T16:55:00Z"]
        assert [bar.ts for bar in read_csv_bars(path, "X")] == [parse_ts(text) for text in expected]

    def test_blank_lines_are_skipped(self, tmp_path: Path) -> None:
        """Empty lines (a trailing one, say) yield no bar and no error."""
        path = write_rows(tmp_path / "a.csv", GOOD_1, "", GOOD_2, "")
        assert len(list(read_csv_bars(path, "X"))) == 2

    @pytest.mark.parametrize(
        ("row", "reason"),
        [
            ("2023-01-02T16:55:00Z,1,2,1,2", "expected 6 fields"),
            ("2023-01-02T16:55:00Z,1,2,1,2,3,4", "expected 6 fields"),
            ("2023-01-02T16:55:00Z,1,two,1,2,3", "high 'two' is not a number"),
            ("2023-01-02T16:55:00Z,1,2,1,,3", "close '' is not a number"),
            ("yesterday,1,2,1,2,3", "timestamp 'yesterday' is not an ISO-8601 time"),
            ("2023-13-02T16:55:00Z,1,2,1,2,3", "timestamp '2023-13-02T16:55:00Z'"),
            ("2023-01-02T16:55:00Z,nan,2,1,2,3", "NaN or infinite"),
            ("2023-01-02T16:55:00Z,1,inf,1,2,3", "NaN or infinite"),
            ("2023-01-02T16:55:00Z,1,2,1,2,nan", "NaN or infinite"),
            ("2023-01-02T16:55:00Z,0,0,0,0,3", "non-positive price"),
            ("2023-01-02T16:55:00Z,-1,2,-1,2,3", "non-positive price"),
            ("2023-01-02T16:55:00Z,2,1,3,2,3", "high 1.0 < low 3.0"),
            ("2023-01-02T16:55:00Z,5,4,1,2,3", "open 5.0 or close 2.0 outside [low 1.0, high 4.0]"),
            ("2023-01-02T16:55:00Z,2,4,1,0.5,3", "outside [low 1.0, high 4.0]"),
            ("2023-01-02T16:55:00Z,1,2,1,2,-3", "negative volume -3.0"),
            (
                "2023-01-02T16:50:00Z,1,2,1,2,3",
                "timestamp 2023-01-02T16:50:00Z is not after the previous one 2023-01-02T16:50:00Z",
            ),
            (
                "2023-01-02T16:40:00Z,1,2,1,2,3",
                "timestamp 2023-01-02T16:40:00Z is not after the previous one 2023-01-02T16:50:00Z",
            ),
        ],
    )
    def test_a_malformed_row_stops_the_stream_naming_the_file_and_line(
        self, tmp_path: Path, row: str, reason: str
    ) -> None:
        """Every kind of bad row raises DataError with the file, its 1-based line and the reason."""
        path = write_rows(tmp_path / "bad.csv", GOOD_1, GOOD_2, row, GOOD_1)
        bars = read_csv_bars(path, "X")
        assert next(bars).close == 16726.1 and next(bars).close == 16707.5
        with pytest.raises(DataError) as caught:
            next(bars)
        assert (caught.value.path, caught.value.line) == (str(path), 4)
        assert reason in caught.value.reason
        assert str(caught.value).startswith(f"{path}:4: ")

    def test_unusual_rows_deep_in_a_long_file_read_as_the_usual_ones(self, tmp_path: Path) -> None:
        """Blocks are parsed in bulk until one holds an unusual row (here an offset time, epoch
        milliseconds, a blank line, spaces); from there rows are read one by one: same bars."""
        bars = list(generate_bars(BTC, seed=4, start_ts=T0, timeframe=MINUTE, count=5_000))
        path = tmp_path / "a.csv"
        write_csv(path, bars)
        lines = path.read_text().splitlines()
        lines[3001] = lines[3001].replace("Z,", "+00:00,")
        lines[3500] = f"{bars[3499].ts // 1_000_000}," + lines[3500].split(",", 1)[1]
        lines[4000] = lines[4000].replace(",", " , ")
        lines.insert(2000, "")
        path.write_text("\n".join(lines) + "\n")
        assert list(read_csv_bars(path, "BTCUSDT")) == bars
        lines[4501] = lines[4501].replace(",", ",-", 1)  # a negative open, line 4,502
        path.write_text("\n".join(lines) + "\n")
        read = read_csv_bars(path, "BTCUSDT")
        assert [next(read) for _ in range(4_499)] == bars[:4_499]
        with pytest.raises(DataError, match=r"open -\S+ or close \S+ outside") as caught:
            next(read)
        assert caught.value.line == 4_502

    @pytest.mark.parametrize(
        "stamps",
        [
            [f"2024-02-{day:02d}T{hour:02d}:{minute:02d}:00Z" for day in (28, 29) for hour in range(24)
             for minute in range(0, 60, 5)],  # a leap day, read in bulk
            [f"2100-02-28T23:{minute:02d}:00Z" for minute in range(60)] + ["2100-03-01T00:00:00Z"],
            [str(1_704_067_200_000 + 60_000 * i) for i in range(600)],  # epoch milliseconds, in bulk
            [str(i) for i in range(1, 600)],  # short epoch milliseconds
            [str(99_999_999_999_000 + i) for i in range(5)],  # past int64 nanoseconds: read row by row
            ["1677-12-31T23:59:00Z", "1678-01-01T00:00:00Z", "2261-12-31T23:59:00Z", "2262-01-01T00:00:00Z"],
            ["2024-01-01 00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00+00:00", "2024-01-01T00:03:00"],
        ],
    )
    def test_the_bulk_path_reads_timestamps_as_the_row_reader(self, tmp_path: Path, stamps: list[str]) -> None:
        """Whatever form the timestamps take, in bulk or row by row, they read as parse_ts reads them."""
        path = write_rows(tmp_path / "a.csv", *(f"{stamp},1,2,1,2,3" for stamp in stamps))
        assert [bar.ts for bar in read_csv_bars(path, "X")] == [parse_ts(stamp) for stamp in stamps]

    @pytest.mark.parametrize(
        "stamp", ["2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:59:60Z",
                  "2024-00-10T00:00:00Z", "0000-01-01T00:00:00Z", "2024-01-01T00:00:00z"],
    )
    def test_an_impossible_time_in_a_bulk_block_is_found_on_its_line(self, tmp_path: Path, stamp: str) -> None:
        """A timestamp of the usual length that is no real time stops the stream at its line."""
        good = [f"2024-01-01T00:{minute:02d}:00Z,1,2,1,2,3" for minute in range(50)]
        path = write_rows(tmp_path / "a.csv", *good[:30], f"{stamp},1,2,1,2,3", *good[30:])
        bars = read_csv_bars(path, "X")
        assert len([next(bars) for _ in range(30)]) == 30
        with pytest.raises(DataError, match="timestamp") as caught:
            next(bars)
        assert caught.value.line == 32

    def test_line_numbers_count_blank_lines(self, tmp_path: Path) -> None:
        """The line number is the physical line of the file, blank lines included."""
        path = write_rows(tmp_path / "bad.csv", GOOD_1, "", "", "2023-01-02T16:50:00Z,1,2,1,2,-1")
        with pytest.raises(DataError) as caught:
            list(read_csv_bars(path, "X"))
        assert caught.value.line == 5

    @pytest.mark.parametrize("missing", ["timestamp", "volume", "high"])
    def test_a_missing_column_is_named_on_line_1(self, tmp_path: Path, missing: str) -> None:
        """A header without one of the six columns raises DataError naming it."""
        header = ",".join(column for column in HEADER.split(",") if column != missing)
        path = write_rows(tmp_path / "a.csv", header=header)
        with pytest.raises(DataError, match=f"missing column '{missing}'") as caught:
            list(read_csv_bars(path, "X"))
        assert (caught.value.path, caught.value.line) == (str(path), 1)

    def test_an_unknown_or_duplicate_column_is_refused(self, tmp_path: Path) -> None:
        """Extra and repeated columns are errors on line 1."""
        with pytest.raises(DataError, match="unexpected column 'vwap'"):
            list(read_csv_bars(write_rows(tmp_path / "a.csv", header=HEADER + ",vwap"), "X"))
        with pytest.raises(DataError, match="duplicate column 'open'"):
            list(read_csv_bars(write_rows(tmp_path / "b.csv", header=HEADER + ",open"), "X"))

    def test_unreadable_text_is_a_data_error(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 and oversized fields raise DataError, not a bare decode or csv error."""
        bad_row = b"2023-01-02T16:50:00Z,1,2,1,2,\xff\n"
        (tmp_path / "a.csv").write_bytes(f"{HEADER}\n{GOOD_1}\n".encode() + bad_row)
        with pytest.raises(DataError, match="not UTF-8 text"):
            list(read_csv_bars(tmp_path / "a.csv", "X"))
        path = write_rows(tmp_path / "b.csv", GOOD_1, f'{GOOD_2[:-8]},"{"9" * 200_000}"')
        with pytest.raises(DataError, match="field larger than field limit") as caught:
            list(read_csv_bars(path, "X"))
        assert caught.value.line == 3

    def test_an_empty_file_is_refused(self, tmp_path: Path) -> None:
        """A file without even a header raises DataError on line 1."""
        (tmp_path / "empty.csv").write_text("")
        with pytest.raises(DataError, match="empty file") as caught:
            list(read_csv_bars(tmp_path / "empty.csv", "X"))
        assert caught.value.line == 1

    def test_a_missing_file_raises_when_the_stream_starts(self, tmp_path: Path) -> None:
        """Creating the reader opens nothing; the first bar asked for raises 'file not found'."""
        bars = read_csv_bars(tmp_path / "nope.csv", "X")
        with pytest.raises(DataError, match="file not found") as caught:
            next(bars)
        assert caught.value.path == str(tmp_path / "nope.csv")

    def test_memory_stays_flat_over_a_long_file(self, tmp_path: Path) -> None:
        """Streaming a 200,000-row (12 MB) file peaks at a few MB: memory does not grow with the file."""
        path = tmp_path / "long.csv"
        start = dt.date(2020, 1, 1)
        days = [(start + dt.timedelta(days=d)).isoformat() for d in range(200_000 // 1440 + 1)]
        with path.open("w") as handle:
            handle.write(HEADER + "\n")
            for i in range(200_000):
                day, minute = divmod(i, 1440)
                clock = f"{minute // 60:02d}:{minute % 60:02d}:00"
                handle.write(f"{days[day]}T{clock}Z,100.5,101.25,99.75,100.0,{i}.5\n")
        assert path.stat().st_size > 10_000_000
        ctx = make_ctx(tmp_path, BTC, timeframe=MINUTE)
        source = CsvDataSource(CsvDataSource.Params(path=str(path)), ctx)

        async def count() -> int:
            return sum([len(batch) async for batch in source.stream()])

        tracemalloc.start()
        try:
            rows = anyio.run(count)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert rows == 200_000
        assert peak < 4_000_000  # two 4096-bar batches at most; the whole file as bars would be ~60 MB


class TestCsvParams:
    def test_exactly_one_of_path_and_paths_is_required(self) -> None:
        """Giving neither or both of path and paths is a ValueError that says so."""
        with pytest.raises(ValueError, match="exactly one of 'path'"):
            CsvDataSource.Params()
        with pytest.raises(ValueError, match="exactly one of 'path'"):
            CsvDataSource.Params(path="a.csv", paths={"X": "b.csv"})

    def test_preset_tables_are_validated_strictly(self) -> None:
        """The strict converter builds Params from a preset table and refuses unknown keys and bad sizes."""
        converter = make_converter()
        params = converter.structure({"paths": {"A": "a.csv"}, "batch_size": 10}, CsvDataSource.Params)
        assert (params.paths, params.batch_size) == ({"A": "a.csv"}, 10)
        with pytest.raises(Exception) as caught:
            converter.structure({"path": "a.csv", "file": "b.csv"}, CsvDataSource.Params)
        assert structure_problems(caught.value) == [(("file",), "unknown key 'file'")]
        with pytest.raises(ValueError, match="batch_size must be > 0"):
            CsvDataSource.Params(path="a.csv", batch_size=0)
        with pytest.raises(ValueError, match="'symbol' goes with 'path'"):
            CsvDataSource.Params(paths={"A": "a.csv"}, symbol="A")


class TestCsvDataSource:
    def test_it_is_registered_and_satisfies_the_protocol(self, tmp_path: Path) -> None:
        """The module registers CsvDataSource as 'csv', and an instance is a DataSource."""
        assert data_csv.register_data_sources() == [CsvDataSource]
        params = CsvDataSource.Params(path=str(real_file("BTC_USDT-5m.csv")))
        source = CsvDataSource(params, make_ctx(tmp_path, BTC))
        assert CsvDataSource.name == "csv" and isinstance(source, DataSource)

    def test_a_missing_file_refuses_the_preset_at_construction(self, tmp_path: Path) -> None:
        """A file that does not exist raises DataError before anything streams."""
        with pytest.raises(DataError, match="file not found") as caught:
            CsvDataSource(CsvDataSource.Params(path="nope.csv"), make_ctx(tmp_path, BTC))
        assert caught.value.path == str(tmp_path / "nope.csv")

    def test_a_file_removed_after_construction_fails_when_the_stream_starts(self, tmp_path: Path) -> None:
        """The file is opened lazily, so a vanished file raises DataError from stream()."""
        path = write_rows(tmp_path / "a.csv", GOOD_1)
        source = CsvDataSource(CsvDataSource.Params(path="a.csv"), make_ctx(tmp_path, BTC))
        path.unlink()
        with pytest.raises(DataError, match="file not found"):
            batches_of(source)

    def test_one_path_needs_a_symbol_when_the_preset_has_several_instruments(self, tmp_path: Path) -> None:
        """With two instruments, path alone is refused and symbol must name one of them."""
        write_rows(tmp_path / "a.csv", GOOD_1)
        ctx = make_ctx(tmp_path, BTC, ETH)
        with pytest.raises(ValueError, match="needs 'symbol'"):
            CsvDataSource(CsvDataSource.Params(path="a.csv"), ctx)
        with pytest.raises(ValueError, match="'XRP' is not an instrument"):
            CsvDataSource(CsvDataSource.Params(path="a.csv", symbol="XRP"), ctx)
        (bar,) = batches_of(CsvDataSource(CsvDataSource.Params(path="a.csv", symbol="ETHBTC"), ctx))[0]
        assert bar.instrument_id == "ETHBTC"

    @pytest.mark.parametrize(("batch_size", "sizes"), [(4096, [4096, 4096, 2807]), (5000, [5000, 5000, 999])])
    def test_the_real_file_streams_in_batches(
        self, tmp_path: Path, batch_size: int, sizes: list[int]
    ) -> None:
        """Batches hold batch_size bars, the last one the rest, in file order."""
        params = CsvDataSource.Params(path=str(real_file("BTC_USDT-5m.csv")), batch_size=batch_size)
        batches = batches_of(CsvDataSource(params, make_ctx(tmp_path, BTC)))
        assert [len(batch) for batch in batches] == sizes
        bars = [bar for batch in batches for bar in batch]
        assert bars == list(read_csv_bars(real_file("BTC_USDT-5m.csv"), "BTCUSDT"))

    def test_two_instruments_are_merged_by_timestamp_ties_in_paths_order(self, tmp_path: Path) -> None:
        """Bars of two files interleave by ts; equal timestamps keep the order of paths."""
        write_rows(tmp_path / "eth.csv", *(f"{1_000 + 300_000 * i},1,2,1,2,{i}" for i in range(0, 10, 2)))
        write_rows(tmp_path / "btc.csv", *(f"{1_000 + 300_000 * i},1,2,1,2,{i}" for i in range(0, 10, 3)))
        params = CsvDataSource.Params(paths={"ETHBTC": "eth.csv", "BTCUSDT": "btc.csv"}, batch_size=3)
        batches = batches_of(CsvDataSource(params, make_ctx(tmp_path, BTC, ETH)))
        assert [len(batch) for batch in batches] == [3, 3, 3]
        merged = [(bar.instrument_id[:3], int(bar.volume)) for batch in batches for bar in batch]
        assert merged == [("ETH", 0), ("BTC", 0), ("ETH", 2), ("BTC", 3), ("ETH", 4),
                          ("ETH", 6), ("BTC", 6), ("ETH", 8), ("BTC", 9)]

    def test_a_bad_row_in_one_of_several_files_names_that_file(self, tmp_path: Path) -> None:
        """A malformed row in the second file raises DataError naming that file and line."""
        write_rows(tmp_path / "a.csv", GOOD_1, GOOD_2)
        write_rows(tmp_path / "b.csv", GOOD_1, "2023-01-02T16:50:00Z,1,2,3,2,1")
        params = CsvDataSource.Params(paths={"BTCUSDT": "a.csv", "ETHBTC": "b.csv"})
        with pytest.raises(DataError) as caught:
            batches_of(CsvDataSource(params, make_ctx(tmp_path, BTC, ETH)))
        assert (caught.value.path, caught.value.line) == (str(tmp_path / "b.csv"), 3)

    def test_history_returns_the_last_bars_closed_by_end_oldest_first(self, tmp_path: Path) -> None:
        """history() keeps the last count bars whose close time is at or before end."""
        path = real_file("BTC_USDT-5m.csv")
        source = CsvDataSource(CsvDataSource.Params(path=str(path)), make_ctx(tmp_path, BTC))
        bars = list(read_csv_bars(path, "BTCUSDT"))
        end = bars[100].ts  # bar 99 closes exactly then
        assert history_of(source, "BTCUSDT", end, 50) == bars[50:100]
        assert history_of(source, "BTCUSDT", end - 1, 50) == bars[49:99]
        assert history_of(source, "BTCUSDT", end, 500) == bars[:100]
        assert history_of(source, "BTCUSDT", bars[0].ts, 10) == []
        assert history_of(source, "ETHBTC", end, 10) == []
        assert history_of(source, "BTCUSDT", end, 0) == []


class TestGenerateBars:
    def bars(self, instrument: Instrument = BTC, **overrides: Any) -> list[Bar]:
        args: dict[str, Any] = {
            "seed": 1, "start_ts": T0, "timeframe": FIVE_MINUTES, "count": 2_000, "initial_price": 20_000.0
        }
        return list(generate_bars(instrument, **(args | overrides)))

    def test_the_same_seed_gives_the_same_bars(self) -> None:
        """Two runs with one seed produce identical bars."""
        assert self.bars() == self.bars()

    def test_another_seed_or_symbol_gives_another_path(self) -> None:
        """A different seed, or an instrument with another id, produces different closes."""
        closes = [bar.close for bar in self.bars()]
        assert closes != [bar.close for bar in self.bars(seed=2)]
        other = Instrument(id="BTCUSD", tick_size="0.1", lot_size="0.001")
        assert closes != [bar.close for bar in self.bars(other)]

    def test_it_leaves_the_global_random_state_alone(self) -> None:
        """Generating bars does not consume numbers from the random module."""
        import random

        random.seed(5)
        expected = random.random()
        random.seed(5)
        self.bars()
        assert random.random() == expected

    def test_bars_are_contiguous_sound_and_chained(self) -> None:
        """Timestamps step by the timeframe, each open is the previous close, every bar passes check_bar."""
        bars = self.bars(volatility=3.0, count=5_000)
        assert bars[0].ts == T0 and bars[0].open == 20_000.0
        assert all(b.ts - a.ts == FIVE_MINUTES and b.open == a.close for a, b in zip(bars, bars[1:]))
        assert all(check_bar(bar) is None for bar in bars)
        assert any(bar.high > max(bar.open, bar.close) for bar in bars)
        assert any(bar.low < min(bar.open, bar.close) for bar in bars)

    @pytest.mark.parametrize(("tick", "lot", "price"), [("0.1", "0.001", 20_000.0), ("0.00001", "1", 0.05),
                                                        ("0.25", "0.5", 3.0), ("5", "0.01", 1000.0)])
    def test_prices_are_multiples_of_the_tick_and_volumes_of_the_lot(
        self, tick: str, lot: str, price: float
    ) -> None:
        """Each price is a positive whole number of ticks written without float noise."""
        instrument = Instrument(id="X", tick_size=tick, lot_size=lot)
        for bar in self.bars(instrument, initial_price=price, volatility=2.0):
            for value in (bar.open, bar.high, bar.low, bar.close):
                assert value > 0
                assert Decimal(repr(value)) % Decimal(tick) == 0
            assert Decimal(repr(bar.volume)) % Decimal(lot) == 0

    def test_prices_stay_positive_near_the_tick(self) -> None:
        """A price one tick away from zero under wild volatility never reaches zero."""
        instrument = Instrument(id="X", tick_size="0.01", lot_size="1")
        bars = self.bars(instrument, initial_price=0.01, volatility=20.0, drift=-5.0)
        assert min(bar.low for bar in bars) == 0.01
        assert all(check_bar(bar) is None for bar in bars)

    def test_volume_averages_the_requested_mean(self) -> None:
        """The mean volume over many bars is close to the volume parameter."""
        bars = self.bars(count=20_000, volume=50.0)
        assert math.isclose(sum(bar.volume for bar in bars) / len(bars), 50.0, rel_tol=0.05)


class TestWriteCsv:
    def test_write_then_read_round_trips_exactly(self, tmp_path: Path) -> None:
        """write_csv returns the row count, and read_csv_bars reads back the very same bars."""
        bars = list(
            generate_bars(ETH, seed=9, start_ts=T0, timeframe=MINUTE, count=3_000, initial_price=0.05)
        )
        path = tmp_path / "eth.csv"
        assert write_csv(path, iter(bars)) == 3_000
        assert path.read_text().splitlines()[0] == HEADER
        assert path.read_text().splitlines()[1].startswith("2024-01-01T00:00:00Z,0.05,")
        assert list(read_csv_bars(path, "ETHBTC")) == bars


class TestSyntheticDataSource:
    def source(self, tmp_path: Path, *instruments: Instrument, **params: Any) -> SyntheticDataSource:
        ctx = make_ctx(tmp_path, *(instruments or (BTC,)))
        return SyntheticDataSource(SyntheticDataSource.Params(**params), ctx)

    def test_it_is_registered_and_satisfies_the_protocol(self, tmp_path: Path) -> None:
        """The module registers SyntheticDataSource as 'synthetic' (beside the live one), and an instance
        is a DataSource."""
        assert data_synthetic.register_data_sources() == [SyntheticDataSource,
                                                          data_synthetic.LiveSyntheticDataSource]
        assert SyntheticDataSource.name == "synthetic" and isinstance(self.source(tmp_path), DataSource)

    @pytest.mark.parametrize(
        ("params", "reason"),
        [
            ({"bars": 0}, "bars must be > 0"),
            ({"initial_price": -1.0}, "initial_price must be > 0"),
            ({"volatility": 0.0}, "volatility must be > 0"),
            ({"volume": float("inf")}, "volume must be a finite number"),
            ({"drift": float("nan")}, "drift must be a finite number"),
            ({"batch_size": 0}, "batch_size must be > 0"),
            ({"start": "soon"}, "start 'soon' is not an ISO-8601 time"),
        ],
    )
    def test_bad_params_are_refused(self, params: dict[str, Any], reason: str) -> None:
        """Each out-of-range parameter raises ValueError naming it."""
        with pytest.raises(ValueError, match=reason):
            SyntheticDataSource.Params(**params)

    def test_a_preset_without_instruments_is_refused(self, tmp_path: Path) -> None:
        """There is nothing to generate without instruments."""
        with pytest.raises(ValueError, match="at least one instrument"):
            SyntheticDataSource(SyntheticDataSource.Params(), make_ctx(tmp_path))

    def test_the_stream_is_the_generated_bars_in_batches(self, tmp_path: Path) -> None:
        """stream() yields generate_bars' output from start in batches of batch_size."""
        start = "2024-03-01T00:00:00Z"
        batches = batches_of(self.source(tmp_path, bars=1_000, batch_size=300, seed=4, start=start))
        assert [len(batch) for batch in batches] == [300, 300, 300, 100]
        expected = generate_bars(BTC, seed=4, start_ts=parse_ts(start), timeframe=FIVE_MINUTES, count=1_000)
        assert [bar for batch in batches for bar in batch] == list(expected)

    def test_several_instruments_interleave_by_timestamp(self, tmp_path: Path) -> None:
        """Bars of two instruments alternate in the preset's order and follow different paths."""
        bars = [bar for batch in batches_of(self.source(tmp_path, BTC, ETH, bars=500)) for bar in batch]
        assert [bar.instrument_id for bar in bars] == ["BTCUSDT", "ETHBTC"] * 500
        assert [bar.ts for bar in bars] == sorted(bar.ts for bar in bars)
        returns = [[b.close / a.close for a, b in zip(bars[i::2], bars[i + 2::2])] for i in (0, 1)]
        assert returns[0] != returns[1]

    def test_two_sources_with_one_seed_stream_the_same_bars(self, tmp_path: Path) -> None:
        """The stream is deterministic for a seed, and another seed changes it."""
        first = batches_of(self.source(tmp_path, bars=300, seed=11))
        assert first == batches_of(self.source(tmp_path, bars=300, seed=11))
        assert first != batches_of(self.source(tmp_path, bars=300, seed=12))

    def test_history_before_the_start_leads_into_the_first_bar(self, tmp_path: Path) -> None:
        """Warm-up bars end at the start, contiguous, and the last one closes at the first bar's open."""
        source = self.source(tmp_path, bars=10, initial_price=30_000.0)
        history = history_of(source, "BTCUSDT", T0, 200)
        assert len(history) == 200
        assert history[-1].ts + FIVE_MINUTES == T0 and history[-1].close == 30_000.0
        assert all(b.ts - a.ts == FIVE_MINUTES and b.open == a.close for a, b in zip(history, history[1:]))
        assert all(check_bar(bar) is None for bar in history)
        assert history_of(source, "BTCUSDT", T0, 200) == history
        assert history_of(source, "BTCUSDT", T0 - 3 * FIVE_MINUTES - 1, 5) == history[-9:-4]

    def test_history_inside_the_stream_is_the_streamed_bars(self, tmp_path: Path) -> None:
        """For an end after the start, history agrees with the stream and reaches back before it."""
        source = self.source(tmp_path, bars=100)
        streamed = [bar for batch in batches_of(source) for bar in batch]
        history = history_of(source, "BTCUSDT", streamed[30].ts, 50)
        assert history[-30:] == streamed[:30]
        assert history[:20] == list(history_of(source, "BTCUSDT", T0, 20))
        assert history_of(source, "BTCUSDT", streamed[30].ts + 1, 10) == streamed[20:30]
        assert history_of(source, "ETHBTC", T0, 10) == [] and history_of(source, "BTCUSDT", T0, 0) == []
