"""The HTML report of a backtest: one self-contained file, charts drawn here as inline SVG.

Nothing in the page is fetched (no CDN, no font, no image, no script): it opens offline and in a
sandboxed viewer. Series longer than :data:`MAX_POINTS` are reduced to the minimum and the maximum of
each bucket, so spikes stay visible however long the backtest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .model import NS_PER_SECOND, format_ts

if TYPE_CHECKING:
    from ._results import BacktestResult
    from .analytics import Analytics, Trade, TradeStats
    from .presets import Preset

__all__ = ["MAX_POINTS", "downsample", "format_duration", "load_closes", "render_report", "write_report"]

MAX_POINTS = 2_000  # per series on a chart
MAX_TRADES_DRAWN = 1_000  # trade markers per price chart
MAX_TRADE_ROWS = 500  # rows of the trade table (the CSV has them all)

Closes = Mapping[str, tuple[Sequence[int], Sequence[float]]]

# --- data ---------------------------------------------------------------------------------------------


def downsample(ts: Sequence[int], values: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[int], list[float]]:
    """At most ``max_points`` points of the series: all of them if few enough, else the minimum and
    the maximum of each of ``max_points // 2`` equal buckets, in time order."""
    n = len(values)
    if n <= max_points:
        return list(ts), list(values)
    buckets = max(1, max_points // 2)
    out_ts: list[int] = []
    out_values: list[float] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        chunk = values[lo:hi]
        i_min = lo + min(range(hi - lo), key=chunk.__getitem__)
        i_max = lo + max(range(hi - lo), key=chunk.__getitem__)
        for i in sorted({i_min, i_max}):
            out_ts.append(ts[i])
            out_values.append(values[i])
    return out_ts, out_values


def load_closes(preset: Preset | str | Path, *, disable: Iterable[str] = (), until: int | None = None,
                ) -> dict[str, tuple[array[int], array[float]]]:
    """Read the bars of ``preset``'s data source again (a fresh engine's source, never started) and
    return each instrument's ``(close times, closes)``, stopping at bars that open at or after
    ``until``."""
    from ._engine import Engine

    engine = Engine.from_preset(preset, disable=disable)
    timeframe = engine.timeframe
    closes: dict[str, tuple[array[int], array[float]]] = {}

    async def read() -> None:
        stream = engine.source.stream()
        async with contextlib.AsyncExitStack() as stack:
            if hasattr(stream, "aclose"):
                stack.push_async_callback(stream.aclose)
            async for batch in stream:
                for bar in batch:
                    if until is not None and bar[1] >= until:
                        return
                    series = closes.get(bar[0])
                    if series is None:
                        series = closes[bar[0]] = (array("q"), array("d"))
                    series[0].append(bar[1] + timeframe)
                    series[1].append(bar[5])

    try:
        anyio.run(read)
    finally:
        anyio.run(engine.stop)
    return closes


def drawdown_curve(equity: Sequence[float]) -> list[float]:
    """The drawdown after each sample, as a fraction <= 0 of the running peak."""
    peak = -math.inf
    out: list[float] = []
    for value in equity:
        peak = max(peak, value)
        out.append((value - peak) / peak if peak > 0 else 0.0)
    return out


# --- formatting ---------------------------------------------------------------------------------------


def format_duration(ns: int) -> str:
    """``93784000000000`` -> ``"1d 2h 3m"`` (days, hours, minutes; seconds only below a minute)."""
    seconds = ns // NS_PER_SECOND
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes and not days else ""]
    return " ".join(p for p in parts if p) or "0m"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a" if value is None or math.isnan(value) else ("∞" if value > 0 else "-∞")
    return f"{value:.2%}"


def _num(value: float, digits: int = 2) -> str:
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    return f"{value:,.{digits}f}"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _exact(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,f}"


def _signed_class(value: float | Decimal) -> str:
    return "pos" if value > 0 else ("neg" if value < 0 else "")


def _time_label(ts: int, step: int) -> str:
    moment = dt.datetime.fromtimestamp(ts / NS_PER_SECOND, tz=dt.UTC)
    if step >= 28 * 86400 * NS_PER_SECOND:
        return moment.strftime("%Y-%m")
    if step >= 86400 * NS_PER_SECOND:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%m-%d %H:%M")


# --- SVG charts ---------------------------------------------------------------------------------------

_WIDTH = 1200
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 16, 12, 28
_STEPS = tuple(s * NS_PER_SECOND for s in (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
                                           2 * 86400, 7 * 86400, 14 * 86400))  # fmt: skip
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def _value_ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], int]:
    """Round tick values in ``[lo, hi]`` and the decimals that tell them apart."""
    span = hi - lo
    if span <= 0:
        return [lo], 2
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if step / magnitude == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9)
    count = math.floor(hi / step + 1e-9) - first + 1
    return [(first + k) * step for k in range(count)], decimals


def _time_ticks(t0: int, t1: int, count: int = 8) -> tuple[list[int], int]:
    """Round tick times in ``[t0, t1]`` and the step between them."""
    span = max(t1 - t0, 1)
    for step in _STEPS:
        if span / step <= count:
            first = -(-t0 // step) * step
            return list(range(first, t1 + 1, step)), step
    start = dt.datetime.fromtimestamp(t0 / NS_PER_SECOND, tz=dt.UTC)
    for months in _MONTH_STEPS:
        if span / (months * 30.44 * 86400 * NS_PER_SECOND) <= count:
            break
    ticks = []
    index = start.year * 12 + start.month - 1
    index = -(-index // months) * months  # the first month boundary on the step's grid
    while True:
        moment = dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)
        ts = int(moment.timestamp()) * NS_PER_SECOND
        if ts > t1:
            break
        if ts >= t0:
            ticks.append(ts)
        index += months
    return ticks, months * 30 * 86400 * NS_PER_SECOND


class _Frame:
    """A chart's plot area: maps (time, value) to SVG coordinates and draws the axes."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float, height: int) -> None:
        if hi <= lo:
            lo, hi = lo - 1.0, hi + 1.0
        pad = (hi - lo) * 0.05
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        self.lo, self.hi = lo - pad, hi + pad
        self.height = height
        self.plot_w = _WIDTH - _LEFT - _RIGHT
        self.plot_h = height - _TOP - _BOTTOM

    def x(self, ts: int) -> float:
        return _LEFT + (ts - self.t0) / (self.t1 - self.t0) * self.plot_w

    def y(self, value: float) -> float:
        return _TOP + (self.hi - value) / (self.hi - self.lo) * self.plot_h

    def axes(self, suffix: str = "") -> str:
        """Grid lines and tick labels (values with ``suffix``, UTC times) around the plot area."""
        parts = []
        values, decimals = _value_ticks(self.lo, self.hi)
        for value in values:
            y = self.y(value)
            parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                         f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                         f"{value:,.{decimals}f}{html.escape(suffix)}</text>")
        ticks, step = _time_ticks(self.t0, self.t1)
        for ts in ticks:
            x = self.x(ts)
            parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{self.height - _BOTTOM}"/>'
                         f'<text class="tick" x="{x:.1f}" y="{self.height - 8}" text-anchor="middle">'
                         f"{_time_label(ts, step)}</text>")
        parts.append(f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{self.plot_w}" height="{self.plot_h}"/>')
        return "".join(parts)

    def path(self, ts: Sequence[int], values: Sequence[float]) -> str:
        return "M" + "L".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in zip(ts, values))

    def area(self, ts: Sequence[int], values: Sequence[float], base: float) -> str:
        base_y = self.y(base)
        return (f"M{self.x(ts[0]):.1f},{base_y:.1f}L" + self.path(ts, values)[1:]
                + f"L{self.x(ts[-1]):.1f},{base_y:.1f}Z")

    def svg(self, chart_id: str, label: str, body: str, css_class: str = "chart") -> str:
        return (f'<svg id="{html.escape(chart_id)}" class="{css_class}" role="img" aria-label="{html.escape(label)}" '
                f'viewBox="0 0 {_WIDTH} {self.height}" preserveAspectRatio="none">{body}</svg>')


def _equity_chart(ts: Sequence[int], equity: Sequence[float], initial: float) -> str:
    xs, ys = downsample(ts, equity)
    frame = _Frame(xs[0], xs[-1], min(min(ys), initial), max(max(ys), initial), 320)
    body = [frame.axes(),
            f'<path class="equity-area" d="{frame.area(xs, ys, frame.lo)}"/>',
            (f'<line class="baseline" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{frame.y(initial):.1f}" '
            f'y2="{frame.y(initial):.1f}"/>'),
            f'<path class="equity-line" d="{frame.path(xs, ys)}"/>']
    return frame.svg("equity-chart", "Equity curve", "".join(body))


def _drawdown_chart(ts: Sequence[int], equity: Sequence[float]) -> str:
    xs, ys = downsample(ts, [v * 100 for v in drawdown_curve(equity)])
    frame = _Frame(xs[0], xs[-1], min(min(ys), -0.01), 0.0, 220)
    body = [frame.axes("%"),
            f'<path class="drawdown-area" d="{frame.area(xs, ys, 0.0)}"/>',
            f'<path class="drawdown-line" d="{frame.path(xs, ys)}"/>']
    return frame.svg("drawdown-chart", "Drawdown", "".join(body))


def _trade_title(trade: Trade) -> str:
    exit_part = (f" → {format_ts(trade.exit_ts)} @ {_exact(trade.exit_price)}" if trade.exit_ts is not None
                 else " (open)")
    return (f"{trade.strategy_id} {trade.side} {_exact(trade.quantity)} {trade.instrument_id}: "
            f"{format_ts(trade.entry_ts)} @ {_exact(trade.entry_price)}{exit_part}; net {_money(trade.net_pnl)}")


def _price_chart(instrument_id: str, ts: Sequence[int], closes: Sequence[float], trades: Sequence[Trade]) -> str:
    xs, ys = downsample(ts, closes)
    drawn = list(trades)
    if len(drawn) > MAX_TRADES_DRAWN:
        drawn = [drawn[i * len(drawn) // MAX_TRADES_DRAWN] for i in range(MAX_TRADES_DRAWN)]
    prices = [float(t.entry_price) for t in drawn] + [float(t.exit_price) for t in drawn if t.exit_price is not None]
    frame = _Frame(xs[0], xs[-1], min([*ys, *prices]), max([*ys, *prices]), 340)
    body = [frame.axes(), f'<path class="price-line" d="{frame.path(xs, ys)}"/>']
    for trade in drawn:
        x0, y0 = frame.x(trade.entry_ts), frame.y(float(trade.entry_price))
        title = f"<title>{html.escape(_trade_title(trade))}</title>"
        outcome = "win" if trade.net_pnl > 0 else "loss"
        marker = (f"M{x0:.1f},{y0 - 1:.1f}l-5,9h10z" if trade.side == "long"
                  else f"M{x0:.1f},{y0 + 1:.1f}l-5,-9h10z")
        group = [f'<g class="trade {trade.side} {outcome}">{title}']
        if trade.exit_ts is not None and trade.exit_price is not None:
            x1, y1 = frame.x(trade.exit_ts), frame.y(float(trade.exit_price))
            group.append(f'<line class="trade-link" x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}"/>'
                         f'<circle class="exit" cx="{x1:.1f}" cy="{y1:.1f}" r="3.5"/>')
        group.append(f'<path class="entry" d="{marker}"/></g>')
        body.append("".join(group))
    chart_id = "price-chart-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in instrument_id)
    return frame.svg(chart_id, f"{instrument_id} price and trades", "".join(body), "chart price-chart")


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --blue: #0969da; --green: #1a7f37; --red: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px; color: var(--fg); background: var(--bg);
  font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub, .note { color: var(--muted); } .note { font-size: 12px; margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; } .card .value { font-size: 20px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: var(--panel); font-weight: 600; }
.metrics { display: grid; grid-template-columns: repeat(2, 1fr); gap: 0 24px; }
.metrics td:first-child { color: var(--muted); }
#trades td:nth-child(-n+4), #trades th:nth-child(-n+4) { text-align: left; }
.pos { color: var(--green); } .neg { color: var(--red); }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); }
svg.chart { display: block; width: 100%; height: auto; background: var(--bg); }
.grid { stroke: #eaeef2; stroke-width: 1; } .frame { fill: none; stroke: var(--line); }
.tick { fill: var(--muted); font-size: 11px; }
.equity-line { fill: none; stroke: var(--blue); stroke-width: 1.6; }
.equity-area { fill: var(--blue); fill-opacity: 0.08; stroke: none; }
.baseline { stroke: var(--muted); stroke-dasharray: 4 4; stroke-width: 1; }
.drawdown-area { fill: var(--red); fill-opacity: 0.25; stroke: none; }
.drawdown-line { fill: none; stroke: var(--red); stroke-width: 1.2; }
.price-line { fill: none; stroke: #57606a; stroke-width: 1.2; }
.trade .entry { stroke: #ffffff; stroke-width: 0.8; } .trade.long .entry { fill: var(--green); }
.trade.short .entry { fill: var(--red); }
.trade-link { stroke-width: 1.2; stroke-dasharray: 3 2; } .trade.win .trade-link { stroke: var(--green); }
.trade.loss .trade-link { stroke: var(--red); }
.trade .exit { fill: #ffffff; stroke-width: 1.6; } .trade.win .exit { stroke: var(--green); }
.trade.loss .exit { stroke: var(--red); }
.legend span { margin-right: 16px; color: var(--muted); font-size: 12px; }
"""


def _row(label: str, value: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<tr><td>{html.escape(label)}</td><td{cls}>{html.escape(value)}</td></tr>"


def _metrics_tables(analytics: Analytics) -> str:
    m, s = analytics.metrics, analytics.stats
    returns = [
        ("Initial equity", _exact(m.initial_equity), ""),
        ("Final equity", _money(m.final_equity), ""),
        ("Total return", _pct(m.total_return), _signed_class(m.total_return)),
        ("Annualised return", _pct(m.annualized_return), _signed_class(m.annualized_return)),
        ("Volatility (annualised)", _pct(m.volatility), ""),
        ("Sharpe ratio", _num(m.sharpe), _signed_class(m.sharpe)),
        ("Sortino ratio", _num(m.sortino), _signed_class(m.sortino)),
        ("Calmar ratio", _num(m.calmar), _signed_class(m.calmar)),
        ("Max drawdown", _pct(m.max_drawdown), ""),
        ("Max drawdown duration", format_duration(m.max_drawdown_duration), ""),
        ("Bars", f"{m.bars:,}", ""),
    ]
    trades = [
        ("Trades (closed)", f"{s.trades:,}", ""),
        ("Win rate", _pct(s.win_rate), ""),
        ("Profit factor", _num(s.profit_factor), ""),
        ("Expectancy", _money(s.expectancy), _signed_class(s.expectancy)),
        ("Average win", _money(s.avg_win), "pos" if s.avg_win else ""),
        ("Average loss", _money(s.avg_loss), "neg" if s.avg_loss else ""),
        ("Average bars held", _num(s.avg_bars_held, 1), ""),
        ("Net PnL of trades", _money(s.net_pnl), _signed_class(s.net_pnl)),
        ("Exposure time", _pct(s.exposure), ""),
        ("Turnover", f"{_num(s.turnover)}×", ""),
        ("Fills / fees", f"{m.fills:,} / {_money(m.fees)}", ""),
    ]
    tables = "".join(
        "<table><tbody>" + "".join(_row(*r) for r in rows) + "</tbody></table>" for rows in (returns, trades)
    )
    return f'<div class="metrics">{tables}</div>'


def _cards(analytics: Analytics) -> str:
    m, s = analytics.metrics, analytics.stats
    cards = [
        ("Total return", _pct(m.total_return), _signed_class(m.total_return)),
        ("Sharpe", _num(m.sharpe), _signed_class(m.sharpe)),
        ("Max drawdown", _pct(m.max_drawdown), "neg" if m.max_drawdown else ""),
        ("Final equity", _money(m.final_equity), ""),
        ("Trades", f"{s.trades:,}", ""),
        ("Win rate", _pct(s.win_rate), ""),
        ("Profit factor", _num(s.profit_factor), ""),
        ("Exposure", _pct(s.exposure), ""),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value {css}">{html.escape(value)}</div></div>'
        for label, value, css in cards
    ) + "</div>"


def _breakdown_table(title: str, rows: Mapping[str, TradeStats]) -> str:
    head = ("<tr><th>" + html.escape(title) + "</th><th>Trades</th><th>Win rate</th><th>Gross PnL</th><th>Fees</th>"
            "<th>Net PnL</th><th>Profit factor</th><th>Expectancy</th><th>Exposure</th><th>Turnover</th></tr>")
    body = []
    for key, s in rows.items():
        body.append(
            f"<tr><td>{html.escape(key)}</td><td>{s.trades:,}</td><td>{_pct(s.win_rate)}</td>"
            f'<td class="{_signed_class(s.gross_pnl)}">{_money(s.gross_pnl)}</td><td>{_money(s.fees)}</td>'
            f'<td class="{_signed_class(s.net_pnl)}">{_money(s.net_pnl)}</td><td>{_num(s.profit_factor)}</td>'
            f'<td class="{_signed_class(s.expectancy)}">{_money(s.expectancy)}</td><td>{_pct(s.exposure)}</td>'
            f"<td>{_num(s.turnover)}×</td></tr>"
        )
    if not body:
        body.append('<tr><td colspan="10">no fills</td></tr>')
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _trade_table(trades: Sequence[Trade]) -> str:
    head = ("<tr><th>#</th><th>Strategy</th><th>Instrument</th><th>Side</th><th>Quantity</th><th>Entry time</th>"
            "<th>Entry price</th><th>Exit time</th><th>Exit price</th><th>Bars</th><th>Gross PnL</th><th>Fees</th>"
            "<th>Net PnL</th><th>Return</th></tr>")
    rows = []
    for number, t in enumerate(trades[:MAX_TRADE_ROWS], 1):
        rows.append(
            f"<tr><td>{number}</td><td>{html.escape(t.strategy_id)}</td><td>{html.escape(t.instrument_id)}</td>"
            f'<td class="{"pos" if t.side == "long" else "neg"}">{t.side}</td><td>{_exact(t.quantity)}</td>'
            f"<td>{format_ts(t.entry_ts)}</td><td>{_exact(t.entry_price)}</td>"
            f"<td>{'open' if t.exit_ts is None else format_ts(t.exit_ts)}</td><td>{_exact(t.exit_price)}</td>"
            f"<td>{'' if t.bars_held is None else t.bars_held}</td>"
            f'<td class="{_signed_class(t.gross_pnl)}">{_money(t.gross_pnl)}</td><td>{_money(t.fees)}</td>'
            f'<td class="{_signed_class(t.net_pnl)}">{_money(t.net_pnl)}</td>'
            f'<td class="{_signed_class(t.net_return)}">{_pct(t.net_return)}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="14">no trades</td></tr>')
    note = ""
    if len(trades) > MAX_TRADE_ROWS:
        note = (f'<p class="note">Showing the first {MAX_TRADE_ROWS:,} of {len(trades):,} trades; '
                "<code>tradehooks backtest --trades FILE</code> writes them all.</p>")
    return f'{note}<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def render_report(result: BacktestResult, analytics: Analytics, *, closes: Closes | None = None,
                  title: str | None = None) -> str:
    """The report as one HTML document."""
    from . import __version__

    m = analytics.metrics
    title = title or f"Backtest {result.engine_id}"
    every = [*analytics.trades, *analytics.open_trades]
    every.sort(key=lambda t: t.entry_ts)
    span = ""
    if analytics.start_ts is not None and analytics.end_ts is not None:
        span = f"{format_ts(analytics.start_ts)} → {format_ts(analytics.end_ts)} · "
    timeframe = f"{format_duration(analytics.timeframe)} bars · " if analytics.timeframe else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="tradehooks {__version__}">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        (f'<p class="sub">{html.escape(span)}{timeframe}{m.bars:,} bars · {len(every):,} trades · '
        f"tradehooks {__version__}</p>"),
        _cards(analytics),
        '<section id="metrics"><h2>Metrics</h2>', _metrics_tables(analytics), "</section>",
    ]
    if len(result.equity):
        parts += ['<section id="equity"><h2>Equity</h2>',
                  _equity_chart(result.equity_ts, result.equity, float(m.initial_equity)),
                  '<p class="note">Equity at each bar close; the dashed line is the initial equity.</p></section>',
                  '<section id="drawdown"><h2>Drawdown</h2>', _drawdown_chart(result.equity_ts, result.equity),
                  '<p class="note">Fall from the running peak of the equity, in percent.</p></section>']
    else:
        parts.append('<p class="note">No bars: no equity curve.</p>')
    for instrument_id, (ts, values) in sorted((closes or {}).items()):
        if not len(values):
            continue
        trades = [t for t in every if t.instrument_id == instrument_id]
        shown = min(len(trades), MAX_TRADES_DRAWN)
        parts += [f'<section class="price"><h2>{html.escape(instrument_id)}: price and trades</h2>',
                  _price_chart(instrument_id, ts, values, trades),
                  ('<p class="legend"><span><b class="pos">▲</b> long entry</span><span><b class="neg">▼</b> '
                  "short entry</span><span>○ exit (green: won, red: lost)</span>"
                  f"<span>{shown:,} of {len(trades):,} trades drawn</span></p></section>")]
    parts += [
        '<section id="breakdown"><h2>By instrument</h2>', _breakdown_table("Instrument", analytics.by_instrument),
        "<h2>By strategy</h2>", _breakdown_table("Strategy", analytics.by_strategy), "</section>",
        '<section id="trades"><h2>Trades</h2>', _trade_table(every), "</section>",
        ('<p class="note">Definitions: docs/analytics.md. Charts keep the minimum and maximum of each of at most '
        f"{MAX_POINTS // 2:,} buckets.</p>"),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(result: BacktestResult, path: Path, *, preset: Preset | str | Path | None = None,
                 closes: Closes | None = None, disable: Iterable[str] = (), title: str | None = None) -> Path:
    """See :func:`tradehooks.analytics.write_report`."""
    from .analytics import analyze
    from .presets import Preset, load_preset

    timeframe = None
    if preset is not None:
        preset = preset if isinstance(preset, Preset) else load_preset(preset)
        timeframe = preset.timeframe_ns
    analytics = analyze(result, timeframe=timeframe) if timeframe else result.analytics
    if closes is None:
        closes = result.closes
    if closes is None and preset is not None and len(result.equity_ts):
        closes = load_closes(preset, disable=disable, until=result.equity_ts[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, analytics, closes=closes, title=title), encoding="utf-8")
    return path
