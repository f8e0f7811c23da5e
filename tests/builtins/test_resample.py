"""Resampling bars to a longer timeframe, finding gaps, duplicates and disorder, and the
``tradehooks data resample`` / ``tradehooks data check`` subcommands built on them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tradehooks import _data_cli
from tradehooks.builtins.data_csv import read_csv_bars
from tradehooks.builtins.data_parquet import read_parquet_bars, write_parquet
from tradehooks.builtins.data_synthetic import generate_bars, write_csv
from tradehooks.builtins.resample import (
    Duplicate,
    Gap,
    OutOfOrder,
    find_duplicates,
    find_gaps,
    find_out_of_order,
    resample,
)
from tradehooks.exceptions import DataError
from tradehooks.model import Bar, Instrument, format_ts, parse_timeframe, parse_ts

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MINUTE = parse_timeframe("1m")
FIVE = parse_timeframe("5m")
T0 = parse_ts("2024-01-01T00:00:00Z")
BTC = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001")


def real_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def minute(i: int, o: float, h: float, lo: float, c: float, v: float, instrument: str = "X") -> Bar:
    """The bar opening ``i`` minutes after T0."""
    return Bar(instrument, T0 + i * MINUTE, o, h, lo, c, v)


def flat(*minutes: int) -> list[Bar]:
    """Bars of price ``i`` and volume 1 at each of ``minutes``."""
    return [minute(i, 100 + i, 100 + i, 100 + i, 100 + i, 1.0) for i in minutes]


class TestResample:
    def test_aggregates_ohlcv_into_aligned_buckets(self) -> None:
        """Five 1m bars become one 5m bar: first open, highest high, lowest low, last close, total volume."""
        bars = [minute(0, 10, 12, 9, 11, 1.0), minute(1, 11, 15, 10, 14, 2.0), minute(2, 14, 14, 8, 9, 0.5),
                minute(3, 9, 10, 9, 10, 0.25), minute(4, 10, 11, 10, 10.5, 0.25)]
        assert list(resample(bars, FIVE)) == [Bar("X", T0, 10, 15, 8, 10.5, 4.0)]

    def test_buckets_are_epoch_multiples_of_the_timeframe(self) -> None:
        """Bars from 00:03 to 00:12 fall into the 00:00, 00:05 and 00:10 buckets (the partial ends kept)."""
        out = list(resample(flat(*range(3, 13)), FIVE, include_partial=True))
        assert [format_ts(bar.ts) for bar in out] == [
            "2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z"
        ]
        assert [bar.volume for bar in out] == [2.0, 5.0, 3.0]

    def test_drops_the_incomplete_buckets_at_both_ends_unless_asked(self) -> None:
        """Data from 00:03 to 00:12 has one complete 5m bucket, 00:05; ``include_partial`` keeps all."""
        assert [bar.ts for bar in resample(flat(*range(3, 13)), FIVE)] == [T0 + 5 * MINUTE]
        assert len(list(resample(flat(*range(3, 13)), FIVE, include_partial=True))) == 3

    def test_a_bucket_ending_exactly_at_the_last_bar_is_complete(self) -> None:
        """00:00 .. 00:09 is exactly two 5m buckets, both complete."""
        assert len(list(resample(flat(*range(10)), FIVE))) == 2

    def test_gaps_produce_no_bar_and_holes_inside_a_bucket_do_not_matter(self) -> None:
        """No bar from 00:05 to 00:09: no 00:05 bar; 00:01 missing inside 00:00 still gives a bar."""
        out = list(resample(flat(0, 2, 3, 4, 10, 11, 12, 13, 14), FIVE))
        assert [(bar.ts - T0) // MINUTE for bar in out] == [0, 10]
        assert out[0] == Bar("X", T0, 100, 104, 100, 104, 4.0)

    def test_volumes_add_up_as_decimals(self) -> None:
        """0.1 + 0.2 is 0.3 in the resampled bar, not 0.30000000000000004."""
        bars = [minute(0, 1, 1, 1, 1, 0.1), minute(1, 1, 1, 1, 1, 0.2)]
        assert [bar.volume for bar in resample(bars, 2 * MINUTE)] == [0.3]

    def test_the_source_timeframe_can_be_given(self) -> None:
        """A single bar can only be judged complete when the source's timeframe is known."""
        bars = [minute(0, 1, 1, 1, 1, 1.0)]
        assert list(resample(bars, MINUTE)) == []
        assert list(resample(bars, MINUTE, source_timeframe_ns=MINUTE)) == bars
        with pytest.raises(ValueError, match="not a multiple of source_timeframe_ns"):
            list(resample(bars, 7 * MINUTE, source_timeframe_ns=2 * MINUTE))

    def test_streams_lazily(self) -> None:
        """A bar is yielded as soon as the next bucket starts, long before the input ends."""
        bars = generate_bars(BTC, seed=1, start_ts=T0, timeframe=MINUTE, count=None)  # endless
        out = resample(bars, FIVE)
        assert [next(out).ts for _ in range(3)] == [T0, T0 + FIVE, T0 + 2 * FIVE]

    def test_refuses_disorder_and_mixed_instruments(self) -> None:
        """Resampling needs one instrument in strictly increasing time."""
        with pytest.raises(DataError, match="bar at 2024-01-01T00:01:00Z is not after the previous one"):
            list(resample(flat(0, 2, 1), FIVE))
        with pytest.raises(ValueError, match="one instrument"):
            list(resample([minute(0, 1, 1, 1, 1, 1), minute(1, 1, 1, 1, 1, 1, "Y")], FIVE))
        with pytest.raises(ValueError, match="timeframe_ns must be a positive integer"):
            list(resample([], 0))

    def test_no_bars_give_no_bars(self) -> None:
        assert list(resample([], FIVE)) == []

    def test_five_minute_eth_btc_reproduces_the_exchanges_thirty_minute_bars(self) -> None:
        """Every complete 30m bar from the real 5m file equals the exchange's own 30m bar; the only one
        that differs is the 30m file's last bar, saved while it was still forming (SOURCES.md note 2)."""
        five = read_csv_bars(real_file("ETH_BTC-5m.csv"), "ETHBTC")
        thirty = {bar.ts: bar for bar in read_csv_bars(real_file("ETH_BTC-30m.csv"), "ETHBTC")}
        ours = list(resample(five, parse_timeframe("30m")))
        overlap = [bar for bar in ours if bar.ts in thirty]
        assert (format_ts(overlap[0].ts), format_ts(overlap[-1].ts)) == (
            "2018-01-10T05:00:00Z", "2018-01-12T12:30:00Z"
        )
        assert len(overlap) == 112
        differ = [bar.ts for bar in overlap if bar != thirty[bar.ts]]
        assert differ == [max(thirty)] == [parse_ts("2018-01-12T12:30:00Z")]
        assert thirty[max(thirty)].volume == 902.61078443  # partial there; complete here:
        assert overlap[-1].volume == 5049.77943741

    def test_the_leading_partial_bucket_of_the_real_file_is_dropped(self) -> None:
        """ETH_BTC-5m starts at 04:55: the 04:30 bucket holds one 5m bar and is kept only on request."""
        five = list(read_csv_bars(real_file("ETH_BTC-5m.csv"), "ETHBTC"))
        assert format_ts(next(resample(five, parse_timeframe("30m"))).ts) == "2018-01-10T05:00:00Z"
        first = next(resample(five, parse_timeframe("30m"), include_partial=True))
        assert format_ts(first.ts) == "2018-01-10T04:30:00Z" and first.volume == five[0].volume


class TestFindGaps:
    def test_reports_each_run_of_missing_bars(self) -> None:
        """00:02 and 00:03 missing, then 00:06: two gaps, of 2 bars and of 1."""
        assert find_gaps(flat(0, 1, 4, 5, 7), MINUTE) == [
            Gap(T0 + 2 * MINUTE, 2, T0 + 4 * MINUTE), Gap(T0 + 6 * MINUTE, 1, T0 + 7 * MINUTE)
        ]

    def test_a_complete_series_has_no_gap(self) -> None:
        assert find_gaps(flat(*range(10)), MINUTE) == [] and find_gaps([], MINUTE) == []

    def test_duplicates_and_disorder_are_not_gaps(self) -> None:
        """A repeated or earlier bar is skipped; the gap is measured from the latest bar."""
        assert find_gaps(flat(0, 1, 1, 0, 3), MINUTE) == [Gap(T0 + 2 * MINUTE, 1, T0 + 3 * MINUTE)]

    def test_the_unittest_btc_file_has_538_gaps_and_717_missing_bars(self) -> None:
        """The figures SOURCES.md gives for the real 1m altcoin file: 538 gaps, 717 missing minutes,
        the longest gap 8 minutes between two bars (7 missing)."""
        gaps = find_gaps(read_csv_bars(real_file("UNITTEST_BTC-1m.csv"), "X"), MINUTE)
        assert len(gaps) == 538
        assert sum(gap.missing for gap in gaps) == 717
        assert max(gap.until - gap.ts + MINUTE for gap in gaps) == 8 * MINUTE

    @pytest.mark.parametrize(("name", "timeframe"), [("BTC_USDT-5m.csv", "5m"), ("ETH_BTC-5m.csv", "5m"),
                                                     ("ETH_BTC-30m.csv", "30m"),
                                                     ("XRP_USDT_USDT-5m-futures.csv", "5m")])
    def test_the_other_real_files_have_none(self, name: str, timeframe: str) -> None:
        """SOURCES.md: no gaps and no duplicates in the other files."""
        path = real_file(name)
        assert find_gaps(read_csv_bars(path, "X"), parse_timeframe(timeframe)) == []
        assert find_duplicates(read_csv_bars(path, "X")) == []


class TestFindDuplicatesAndDisorder:
    def test_reports_each_repeated_timestamp_with_its_count(self) -> None:
        assert find_duplicates(flat(0, 1, 1, 2, 3, 3, 3)) == [
            Duplicate(T0 + MINUTE, 2), Duplicate(T0 + 3 * MINUTE, 3)
        ]

    def test_no_duplicates(self) -> None:
        assert find_duplicates(flat(0, 1, 2)) == [] and find_duplicates([]) == []

    def test_reports_bars_earlier_than_the_latest_before_them(self) -> None:
        """00:01 after 00:03, then 00:02 (still after 00:03): both are out of order; equal ones are not."""
        assert find_out_of_order(flat(0, 3, 1, 2, 3, 4)) == [
            OutOfOrder(T0 + MINUTE, T0 + 3 * MINUTE), OutOfOrder(T0 + 2 * MINUTE, T0 + 3 * MINUTE)
        ]


def data_args(*argv: str) -> argparse.Namespace:
    """Parse ``tradehooks data ARGV`` with only the subcommands of ``_data_cli``."""
    parser = argparse.ArgumentParser(prog="tradehooks data")
    sub = parser.add_subparsers(dest="data_command", required=True)
    sub.add_parser("generate")  # another module's subcommand
    _data_cli.add_subcommands(sub)
    return parser.parse_args(list(argv))


class TestDataResampleCommand:
    def test_resamples_csv_to_parquet_and_parquet_to_csv(self, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
        """5m CSV -> 30m Parquet -> 1h CSV gives what resampling the bars directly gives."""
        bars = list(generate_bars(BTC, seed=4, start_ts=T0, timeframe=FIVE, count=600))
        write_csv(tmp_path / "in.csv", bars)
        assert _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "30m",
                                       "--output", str(tmp_path / "out" / "30m.parquet"))) == 0
        out, source = tmp_path / "out" / "30m.parquet", tmp_path / "in.csv"
        assert capsys.readouterr().out == f"wrote 100 bars to {out} (from 600 bars of {source})\n"
        thirty = list(read_parquet_bars(tmp_path / "out" / "30m.parquet", "BTCUSDT"))
        assert thirty == list(resample(bars, parse_timeframe("30m")))
        assert _data_cli.run(data_args("resample", "--input", str(tmp_path / "out" / "30m.parquet"),
                                       "--timeframe", "1h", "--output", str(tmp_path / "1h.csv"))) == 0
        hours = list(read_csv_bars(tmp_path / "1h.csv", "BTCUSDT"))
        assert hours == list(resample(bars, parse_timeframe("1h")))
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["30m.parquet"]  # no leftovers

    def test_partial_keeps_the_incomplete_ends(self, tmp_path: Path) -> None:
        """Bars from 00:03 to 00:12 make one 5m bar, three with --partial."""
        write_csv(tmp_path / "in.csv", flat(*range(3, 13)))
        _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "5m",
                                "--output", str(tmp_path / "a.csv")))
        _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "5m",
                                "--output", str(tmp_path / "b.csv"), "--partial"))
        assert len(list(read_csv_bars(tmp_path / "a.csv", "X"))) == 1
        assert len(list(read_csv_bars(tmp_path / "b.csv", "X"))) == 3

    def test_a_malformed_input_is_a_data_error_and_leaves_no_output(self, tmp_path: Path) -> None:
        """The CLI turns the ``DataError`` into exit status 2; the half-written output is removed."""
        (tmp_path / "in.csv").write_text("timestamp,open,high,low,close,volume\n"
                                         "2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T00:01:00Z,1,0.5,1,1,1\n")
        with pytest.raises(DataError, match=r"in.csv:3: high 0.5 < low 1.0"):
            _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "5m",
                                    "--output", str(tmp_path / "out.parquet")))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]

    def test_refuses_unknown_extensions_and_overwriting_the_input(self, tmp_path: Path) -> None:
        write_csv(tmp_path / "in.csv", flat(0, 1))
        with pytest.raises(DataError, match="unknown file type '.txt': expected .csv or .parquet"):
            _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "5m",
                                    "--output", str(tmp_path / "out.txt")))
        with pytest.raises(DataError, match="would overwrite the input"):
            _data_cli.run(data_args("resample", "--input", str(tmp_path / "in.csv"), "--timeframe", "5m",
                                    "--output", str(tmp_path / "in.csv")))

    def test_a_bad_timeframe_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as caught:
            data_args("resample", "--input", "a.csv", "--timeframe", "30x", "--output", "b.csv")
        assert caught.value.code == 2 and "timeframe '30x'" in capsys.readouterr().err


class TestDataCheckCommand:
    def test_reports_the_gaps_of_the_unittest_btc_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The real gappy file: 13681 rows, 538 gaps (717 missing bars), no duplicates; exit status 0."""
        path = real_file("UNITTEST_BTC-1m.csv")
        assert _data_cli.run(data_args("check", "--input", str(path), "--timeframe", "1m")) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == f"{path}: 13681 rows from 2017-11-04T23:02:00Z to 2017-11-14T22:59:00Z"
        assert lines[1] == "gaps: 538 (717 missing bars, longest 7)"
        assert lines[2] == "  2017-11-04T23:08:00Z: 6 missing (next bar 2017-11-04T23:14:00Z)"
        assert lines[-2:] == ["duplicates: 0", "out of order: 0"] and len(lines) == 2 + 538 + 2

    def test_reports_duplicates_and_disorder_of_a_parquet_file(self, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
        """Files the sources would refuse are read anyway and every problem listed."""
        write_parquet(tmp_path / "p.parquet", flat(0, 1, 1, 4, 3, 5))
        path = tmp_path / "p.parquet"
        assert _data_cli.run(data_args("check", "--input", str(path), "--timeframe", "1m")) == 0
        assert capsys.readouterr().out.splitlines()[1:] == [
            "gaps: 1 (2 missing bars, longest 2)",
            "  2024-01-01T00:02:00Z: 2 missing (next bar 2024-01-01T00:04:00Z)",
            "duplicates: 1",
            "  2024-01-01T00:01:00Z: 2 bars",
            "out of order: 1",
            "  2024-01-01T00:03:00Z after 2024-01-01T00:04:00Z",
        ]

    def test_reads_an_unordered_csv_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The CSV reader used by check tolerates disorder but still refuses malformed rows."""
        write_csv(tmp_path / "c.csv", flat(0, 0, 1))
        assert _data_cli.run(data_args("check", "--input", str(tmp_path / "c.csv"), "--timeframe", "1m")) == 0
        assert "duplicates: 1" in capsys.readouterr().out
        (tmp_path / "bad.csv").write_text(
            "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,x,1,1,1\n"
        )
        with pytest.raises(DataError, match=r"bad.csv:2: malformed row"):
            _data_cli.run(data_args("check", "--input", str(tmp_path / "bad.csv"), "--timeframe", "1m"))

    def test_an_unreadable_input_is_a_data_error(self, tmp_path: Path) -> None:
        """A missing file raises ``DataError`` (exit status 2 from the CLI)."""
        with pytest.raises(DataError, match="file not found"):
            _data_cli.run(data_args("check", "--input", str(tmp_path / "nope.parquet"), "--timeframe", "1m"))

    def test_an_empty_file_has_no_rows(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        write_csv(tmp_path / "e.csv", [])
        assert _data_cli.run(data_args("check", "--input", str(tmp_path / "e.csv"), "--timeframe", "1m")) == 0
        assert capsys.readouterr().out == f"{tmp_path / 'e.csv'}: no rows\n"

    def test_other_subcommands_are_not_handled(self) -> None:
        """``run`` returns ``None`` for a subcommand it does not own, such as ``generate``."""
        assert _data_cli.run(data_args("generate")) is None
        assert _data_cli.run(argparse.Namespace()) is None
