"""The HTML report and the trade CSV: self-contained, with the charts, and readable by a real browser
(headless Chromium renders it, and a screenshot shows the charts)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from array import array
from decimal import Decimal
from pathlib import Path

import pytest

import tradehooks
from tradehooks._report import MAX_POINTS, downsample, render_report
from tradehooks._results import compute_metrics
from tradehooks.analytics import analyze, write_report
from tradehooks.model import Fill, Side

from .conftest import preset_text

CHROMIUM = Path("/usr/bin/chromium")
BLUE, RED = (0x09, 0x69, 0xDA), (0xCF, 0x22, 0x2E)  # the equity line and the drawdown area


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A preset on 5,000 one-minute bars, backtested once by the command line with every output."""
    from tradehooks.builtins.data_synthetic import write_csv
    from tradehooks.testing import synthetic_bars

    directory = tmp_path_factory.mktemp("report")
    write_csv(directory / "BTCUSDT-1m.csv", synthetic_bars(5_000, seed=3))
    (directory / "preset.toml").write_text(preset_text("BTCUSDT-1m.csv"))
    run = subprocess.run(
        [sys.executable, "-m", "tradehooks", "backtest", str(directory / "preset.toml"), "--json",
         "--report", str(directory / "out" / "report.html"), "--trades", str(directory / "out" / "trades.csv")],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (directory / "stdout.json").write_text(run.stdout)
    (directory / "stderr.txt").write_text(run.stderr)
    return directory


@pytest.fixture(scope="module")
def report(run_dir: Path) -> str:
    return (run_dir / "out" / "report.html").read_text(encoding="utf-8")


class TestDownsample:
    def test_a_short_series_is_kept_whole(self):
        assert downsample([1, 2, 3], [5.0, 6.0, 7.0]) == ([1, 2, 3], [5.0, 6.0, 7.0])

    def test_a_long_series_keeps_each_buckets_extremes_so_spikes_stay_visible(self):
        values = [float(i % 7) for i in range(100_000)]
        values[54_321], values[77_777] = 1_000.0, -1_000.0
        ts, kept = downsample(list(range(100_000)), values, 2_000)
        assert len(kept) <= 2_000 and ts == sorted(ts)
        assert max(kept) == 1_000.0 and min(kept) == -1_000.0
        assert (54_321 in ts) and (77_777 in ts)


class TestCommandLine:
    def test_json_has_the_new_metrics_and_the_breakdowns(self, run_dir: Path):
        metrics = json.loads((run_dir / "stdout.json").read_text())
        for key in ("annualized_return", "volatility", "sortino", "calmar", "max_drawdown_duration", "win_rate",
                    "profit_factor", "expectancy", "avg_win", "avg_loss", "exposure", "turnover"):
            assert key in metrics, key
        assert metrics["trades"] > 0 and metrics["by_strategy"]["trend"]["trades"] == metrics["trades"]
        assert list(metrics["by_instrument"]) == ["BTCUSDT"]

    def test_trades_csv_has_one_row_per_trade(self, run_dir: Path):
        metrics = json.loads((run_dir / "stdout.json").read_text())
        with (run_dir / "out" / "trades.csv").open() as file:
            rows = list(csv.DictReader(file))
        closed = [row for row in rows if row["status"] == "closed"]
        assert len(closed) == metrics["trades"] and len(rows) - len(closed) <= 1
        assert sum(Decimal(row["net_pnl"]) for row in closed) == Decimal(metrics["net_pnl"])
        assert "wrote" in (run_dir / "stderr.txt").read_text()

    def test_the_table_shows_the_main_metrics(self, run_dir: Path):
        run = subprocess.run([sys.executable, "-m", "tradehooks", "backtest", str(run_dir / "preset.toml")],
                             check=False, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        for label in ("annualised return", "sortino", "calmar", "drawdown duration", "win rate", "profit factor",
                      "expectancy", "exposure", "turnover"):
            assert label in run.stdout, label


class TestReport:
    def test_it_is_self_contained(self, report: str):
        """No script, stylesheet, image, font or any other URL: it opens offline."""
        lowered = report.lower()
        for needle in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "http://",
                       "https://"):
            assert needle not in lowered, needle

    def test_it_has_the_charts_the_metrics_and_the_trades(self, report: str):
        for chart in ('id="equity-chart"', 'id="drawdown-chart"', 'id="price-chart-BTCUSDT"'):
            assert f"<svg {chart}" in report
        for text in ("Sharpe ratio", "Sortino ratio", "Max drawdown duration", "Win rate", "Profit factor",
                     "By instrument", "By strategy", "Exposure time"):
            assert text in report
        assert report.count('<g class="trade ') > 0 and report.count('<g class="trade ') <= 1_000

    def test_long_series_are_downsampled(self, report: str):
        """5,000 bars become at most 2,000 points per line."""
        start = report.index('class="equity-line" d="')
        path = report[start:report.index('"', start + 23)]
        assert 100 < path.count("L") + 1 <= MAX_POINTS

    def test_strings_are_escaped_and_closes_can_be_given(self, tmp_path: Path):
        fills = tuple(
            Fill(trade_id=f"t{i}", client_order_id=f"o{i}", strategy_id="<b>x</b>", instrument_id="A&B",
                 side=side, quantity=Decimal(1), price=Decimal(price), ts=ts * 60_000_000_000)
            for i, (side, price, ts) in enumerate([(Side.BUY, "10", 1), (Side.SELL, "12", 3)])
        )
        equity = array("d", [100.0, 101.0, 102.0, 102.0])
        metrics = compute_metrics(equity=equity, timeframe=60_000_000_000, initial_equity=Decimal(100),
                                  final_equity=Decimal(102), trades=1, fills=2, fees=Decimal(0), bars=4)
        result = tradehooks.BacktestResult(
            engine_id="<e>", metrics=metrics, fills=fills, orders=(), positions={}, balances={},
            equity_ts=array("q", [i * 60_000_000_000 for i in range(1, 5)]), equity=equity,
        )
        closes = {"A&B": ([60_000_000_000 * i for i in range(1, 5)], [10.0, 11.0, 12.0, 12.0])}
        path = write_report(result, tmp_path / "r.html", closes=closes)
        text = path.read_text()
        assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text and "&lt;e&gt;" in text
        assert 'id="price-chart-A_B"' in text

    def test_without_prices_there_is_no_price_chart(self, run_dir: Path):
        result = tradehooks.backtest(run_dir / "preset.toml")
        text = render_report(result, analyze(result))
        assert 'id="equity-chart"' in text and "price-chart" not in text


# --- a real browser -----------------------------------------------------------------------------------


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, env=env)


def png_pixels(data: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the distinct RGB colours of an 8-bit RGB or RGBA PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    width = height = colour_type = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour_type in (2, 6) and body[12] == 0  # 8-bit, RGB(A), not interlaced
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # Up
            line = bytearray(map(lambda a, b: (a + b) & 255, line, previous))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(zip(line[0::bpp], line[1::bpp], line[2::bpp]))
        previous = line
    return width, height, colours


def near(colours: set[tuple[int, int, int]], target: tuple[int, int, int], tolerance: int = 24) -> bool:
    return any(all(abs(c - t) <= tolerance for c, t in zip(colour, target)) for colour in colours)


class TestInChromium:
    def test_the_screenshot_shows_the_charts(self, run_dir: Path, tmp_path: Path):
        """Rendered at 1280x2000 the page is far from blank: many colours, the blue equity line and the
        red drawdown among them."""
        shot = tmp_path / "report.png"
        run = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                       (run_dir / "out" / "report.html").as_uri())
        assert run.returncode == 0 and shot.is_file(), run.stderr
        if os.environ.get("TRADEHOOKS_SCREENSHOT"):  # keep it to look at
            shutil.copy(shot, os.environ["TRADEHOOKS_SCREENSHOT"])
        data = shot.read_bytes()
        assert len(data) > 30_000
        width, height, colours = png_pixels(data)
        assert (width, height) == (1280, 2000)
        assert len(colours) > 100
        assert near(colours, BLUE) and near(colours, RED)

    def test_the_dom_has_the_svg_charts_and_no_script_error(self, run_dir: Path, tmp_path: Path):
        run = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom",
                       (run_dir / "out" / "report.html").as_uri())
        assert run.returncode == 0, run.stderr
        dom = run.stdout
        for chart in ("equity-chart", "drawdown-chart", "price-chart-BTCUSDT"):
            assert f'<svg id="{chart}"' in dom
        assert '<path class="equity-line" d="M' in dom and '<path class="drawdown-area" d="M' in dom
        assert "Uncaught" not in run.stderr

    def test_a_script_error_would_be_seen(self, tmp_path: Path):
        """The check above can fail: a page that throws logs an 'Uncaught' error."""
        page = tmp_path / "bad.html"
        page.write_text("<!DOCTYPE html><html><body><script>throw new Error('boom')</script></body></html>")
        run = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
        assert "Uncaught Error: boom" in run.stderr
