"""``tradehooks data download``: a data source's ``download()`` pages written to Parquet, resumable, with
its parameters checked like a preset's; the source comes from a real entry point of a test
distribution put on ``sys.path``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tradehooks._cli import main
from tradehooks.builtins.data_parquet import read_parquet_bars
from tradehooks.model import Bar, parse_ts

START, END = "2024-01-01T00:00:00Z", "2024-01-01T10:00:00Z"
MINUTE = 60 * 10**9

PLUGIN = '''
"""Test data sources: ``gen`` downloads generated bars in pages, ``nodl`` cannot download."""

from pathlib import Path
from typing import Any, ClassVar

import anyio
import attrs

from tradehooks import hookimpl
from tradehooks.model import Bar


def bar(instrument_id, ts, timeframe):
    n = ts // timeframe
    base = 100.0 + (n % 97) * 0.25
    return Bar(instrument_id, ts, base, base + 1.5, base - 1.25, base + 0.5, float(n % 13))


class Generated:
    """Bars every timeframe; optionally fails (once, while ``fail_marker`` does not exist) after
    ``fail_after`` pages, repeats the last bar of a page at the head of the next, or sends a bar
    outside the range."""

    name: ClassVar[str] = "gen"

    @attrs.frozen(kw_only=True)
    class Params:
        bars_per_page: int = attrs.field(default=100)
        fail_after: int = 0
        fail_marker: str = ""
        interrupt: bool = False
        overlap: bool = False
        stray: bool = False
        delay: float = 0.0

        @bars_per_page.validator
        def _positive(self, attribute, value):
            if value <= 0:
                raise ValueError(f"bars_per_page must be > 0, got {value}")

    def __init__(self, params: Any, ctx: Any) -> None:
        self.params = params
        self.timeframe = ctx.timeframe

    async def stream(self):
        if False:
            yield []

    async def history(self, instrument_id, end, count):
        return []

    async def download(self, instrument_id, start, end):
        p = self.params
        ts = -(-start // self.timeframe) * self.timeframe
        pages = 0
        previous = None
        if p.stray:
            yield [bar(instrument_id, ts - self.timeframe, self.timeframe)]
        while ts < end:
            if p.fail_after and pages == p.fail_after and not Path(p.fail_marker).exists():
                Path(p.fail_marker).write_text("failed once")
                if p.interrupt:
                    raise KeyboardInterrupt
                raise ConnectionError("the exchange went away")
            page = [bar(instrument_id, t, self.timeframe)
                    for t in range(ts, min(end, ts + p.bars_per_page * self.timeframe), self.timeframe)]
            ts += p.bars_per_page * self.timeframe
            pages += 1
            await anyio.sleep(p.delay)
            yield ([previous] if p.overlap and previous is not None else []) + page
            previous = page[-1]


class NoDownload:
    name: ClassVar[str] = "nodl"

    def __init__(self, params: Any, ctx: Any) -> None:
        pass

    async def stream(self):
        if False:
            yield []

    async def history(self, instrument_id, end, count):
        return []


@hookimpl
def register_data_sources():
    return [Generated, NoDownload]
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A test distribution with entry point ``th_download_test`` in group ``tradehooks``."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "th_download_test_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = root / "th_download_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: th-download-test\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tradehooks]\nth_download_test = th_download_test_plugin\n")
    monkeypatch.syspath_prepend(str(root))
    return root


def expected_bars(start: str = START, end: str = END) -> list[tuple[object, ...]]:
    out = []
    for ts in range(parse_ts(start), parse_ts(end), MINUTE):
        n = ts // MINUTE
        base = 100.0 + (n % 97) * 0.25
        out.append((ts, base, base + 1.5, base - 1.25, base + 0.5, float(n % 13)))
    return out


def download(output: Path, *extra: str, source: str = "gen") -> list[str]:
    return ["data", "download", "--source", source, "--symbol", "TESTUSDT", "--timeframe", "1m",
            "--start", START, "--end", END, "--output", str(output), *extra]


def rows(path: Path) -> list[tuple[object, ...]]:
    return [tuple(bar[1:]) for bar in read_parquet_bars(path, "TESTUSDT")]


@pytest.mark.usefixtures("site")
class TestDownload:
    def test_writes_every_bar_of_the_range_to_a_file_the_parquet_source_reads(self, tmp_path: Path, capsys):
        output = tmp_path / "out" / "TESTUSDT-1m.parquet"
        assert main(download(output)) == 0
        assert rows(output) == expected_bars()
        assert not (output.parent / ".TESTUSDT-1m.parquet.parts").exists()
        captured = capsys.readouterr()
        assert captured.out.strip() == f"wrote 600 bars of TESTUSDT from gen to {output}"
        assert captured.err == ""  # no progress bar when stderr is not a terminal

    def test_the_parquet_data_source_backtests_on_the_file(self, tmp_path: Path):
        output = tmp_path / "TESTUSDT-1m.parquet"
        assert main(download(output, "--param", "bars_per_page=250")) == 0
        from tradehooks import backtest
        from tradehooks.presets import parse_preset

        preset = parse_preset(textwrap.dedent(f"""
            [data]
            source = "parquet"
            timeframe = "1m"
            params = {{ paths = {{ TESTUSDT = "{output}" }} }}
            [[instruments]]
            id = "TESTUSDT"
            tick_size = "0.01"
            lot_size = "0.001"
            [[strategies]]
            id = "x"
            signal = "sma_cross"
            params = {{ fast = 5, slow = 20 }}
            sizer = {{ name = "fixed", params = {{ quantity = "1" }} }}
        """))
        assert backtest(preset).metrics.bars == 600

    def test_overlapping_pages_are_deduplicated(self, tmp_path: Path):
        output = tmp_path / "a.parquet"
        assert main(download(output, "--param", "overlap=true", "--param", "bars_per_page=7")) == 0
        assert rows(output) == expected_bars()

    def test_an_interrupted_download_continues_and_ends_identical_to_an_uninterrupted_one(self, tmp_path: Path,
                                                                                          capsys):
        whole = tmp_path / "whole" / "T.parquet"
        assert main(download(whole)) == 0
        output = tmp_path / "resumed" / "T.parquet"
        marker = tmp_path / "failed-once"
        command = download(output, "--param", "fail_after=3", "--param", f"fail_marker={marker}")
        capsys.readouterr()
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "failed after 300 bars" in err and "the exchange went away" in err and "run the same command" in err
        parts = output.parent / ".T.parquet.parts"
        assert len(list(parts.glob("part-*.parquet"))) == 3 and not output.exists()
        assert main(command) == 0
        assert capsys.readouterr().out.strip() == f"wrote 600 bars of TESTUSDT from gen to {output} " \
                                                  "(continued after 300 bars)"
        assert rows(output) == rows(whole) == expected_bars()
        assert output.read_bytes() == whole.read_bytes()
        assert not parts.exists()

    def test_ctrl_c_keeps_the_pages_written_and_the_same_command_continues(self, tmp_path: Path, capsys):
        output = tmp_path / "T.parquet"
        marker = tmp_path / "interrupted-once"
        command = download(output, "--param", "fail_after=2", "--param", f"fail_marker={marker}",
                           "--param", "interrupt=true")
        assert main(command) == 130
        assert "interrupted: 200 bars kept in" in capsys.readouterr().err
        assert main(command) == 0
        assert "(continued after 200 bars)" in capsys.readouterr().out
        assert rows(output) == expected_bars()

    def test_sigint_in_a_real_process_keeps_the_pages_written(self, site: Path, tmp_path: Path):
        """The command runs in its own process, is sent SIGINT after two pages, exits 130 with the
        finished pages kept, and the same command then writes the whole range."""
        output = tmp_path / "T.parquet"
        command = [sys.executable, "-m", "tradehooks", *download(output, "--param", "delay=0.2")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        parts = tmp_path / ".T.parquet.parts"
        deadline = time.monotonic() + 60
        while len(list(parts.glob("part-*.parquet"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        kept = len(list(parts.glob("part-*.parquet")))
        assert 2 <= kept < 6 and not list(parts.glob("*.tmp")) and not output.exists()
        assert f"interrupted: {kept * 100} bars kept in" in err
        finished = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
        assert f"(continued after {kept * 100} bars)" in finished.stdout
        assert rows(output) == expected_bars()

    def test_a_different_request_does_not_mix_with_the_parts_of_another(self, tmp_path: Path, capsys):
        output = tmp_path / "T.parquet"
        marker = tmp_path / "m"
        assert main(download(output, "--param", "fail_after=1", "--param", f"fail_marker={marker}")) == 2
        capsys.readouterr()
        assert main(download(output, "--param", "bars_per_page=50")) == 2
        assert "a partial download of another request is there" in capsys.readouterr().err


@pytest.mark.usefixtures("site")
class TestErrors:
    def test_a_parameter_of_the_wrong_value_names_the_key(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--param", "bars_per_page=0")) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "bars_per_page must be > 0" in err

    def test_a_parameter_of_the_wrong_type_names_the_key(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--param", "bars_per_page=many")) == 2
        assert "--param bars_per_page:" in capsys.readouterr().err

    def test_an_unknown_parameter_names_the_key(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--param", "colour=blue")) == 2
        assert "--param colour:" in capsys.readouterr().err

    def test_a_parameter_without_a_value_is_refused(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--param", "bars_per_page")) == 2
        assert "--param must be KEY=VALUE, got 'bars_per_page'" in capsys.readouterr().err

    def test_an_unknown_source_is_named_with_the_known_ones(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", source="nosuch")) == 2
        err = capsys.readouterr().err
        assert "--source nosuch" in err and "gen" in err and "csv" in err

    def test_a_source_without_download_is_named(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", source="nodl")) == 2
        assert "data source 'nodl' cannot download history" in capsys.readouterr().err
        assert not (tmp_path / ".x.parquet.parts").exists()

    def test_a_bar_outside_the_range_stops_the_download(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--param", "stray=true")) == 2
        assert "data source 'gen' sent a bar at 2023-12-31" in capsys.readouterr().err

    def test_an_unknown_instrument_setting_is_named(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.parquet", "--instrument-param", "tick=0.1")) == 2
        assert "--instrument-param tick: unknown key" in capsys.readouterr().err

    def test_start_must_be_before_end(self, tmp_path: Path, capsys):
        command = download(tmp_path / "x.parquet")
        command[command.index("--end") + 1] = START
        assert main(command) == 2
        assert "is not before --end" in capsys.readouterr().err

    def test_the_output_must_be_parquet(self, tmp_path: Path, capsys):
        assert main(download(tmp_path / "x.csv")) == 2
        assert "the output must be a .parquet file" in capsys.readouterr().err


def test_the_file_has_the_columns_and_types_the_parquet_source_writes(site: Path, tmp_path: Path):
    import pyarrow.parquet as pq

    from tradehooks.builtins.data_parquet import COLUMNS, write_parquet

    output = tmp_path / "T.parquet"
    assert main(download(output)) == 0
    reference = tmp_path / "reference.parquet"
    write_parquet(reference, [Bar("TESTUSDT", parse_ts(START), 1.0, 1.0, 1.0, 1.0, 1.0)])
    schema = pq.read_schema(output)
    assert tuple(schema.names) == COLUMNS and schema == pq.read_schema(reference)
