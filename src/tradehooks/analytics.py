"""Analytics of a backtest: the trades built from its fills, their statistics, and the report.

A *trade* is one round trip of one strategy in one instrument: it opens when the strategy's position
leaves flat and closes when it is flat again. A fill that flips the position (long to short or back)
closes one trade and opens the next; its quantity and fee are split between the two. Closed quantity
is matched against the open lots first in, first out, exactly as the portfolio does, so the PnL of the
trades adds up to the ledger's realised PnL to the last unit::

    from tradehooks import backtest
    from tradehooks.analytics import write_report, write_trades_csv

    result = backtest("demo.toml")
    analytics = result.analytics           # built from the fills on first use
    print(analytics.stats.win_rate, analytics.metrics.sortino)
    for strategy_id, stats in analytics.by_strategy.items():
        print(strategy_id, stats.net_pnl)
    write_trades_csv(analytics.trades, "trades.csv")
    write_report(result, "report.html", preset="demo.toml")

Money (prices, PnL, fees, notionals) stays an exact :class:`~decimal.Decimal`; fractions and ratios
are floats. ``docs/analytics.md`` defines every number, its units and its edge cases.
"""

from __future__ import annotations

import csv
import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._results import BacktestResult, Metrics, compute_metrics, json_value, ratio
from .model import ZERO, Fill, InstrumentId, StrategyId, format_ts

if TYPE_CHECKING:
    from .presets import Preset

__all__ = [
    "TRADE_CSV_COLUMNS",
    "Analytics",
    "Trade",
    "TradeStats",
    "analyze",
    "build_trades",
    "infer_timeframe",
    "trade_stats",
    "write_report",
    "write_trades_csv",
]

_CENT_OF_A_CENT = Decimal("1e-8")  # averages of money are rounded to this

TRADE_CSV_COLUMNS = (
    "strategy_id", "instrument_id", "side", "status", "quantity", "open_quantity", "entry_time", "exit_time",
    "entry_price", "exit_price", "gross_pnl", "fees", "net_pnl", "return", "bars_held", "fills",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class Trade:
    """One round trip of one strategy in one instrument, from leaving flat to flat again.

    Attributes:
        strategy_id: the strategy that traded.
        instrument_id: what it traded.
        side: ``"long"`` or ``"short"``.
        quantity: the quantity entered (unsigned; the sum of the entry fills).
        open_quantity: what is still held (zero for a closed trade).
        entry_ts: the time of the first entry fill (ns).
        exit_ts: the time of the fill that made it flat (ns); ``None`` while open.
        entry_price: the volume-weighted price of the entry fills.
        exit_price: the volume-weighted price of the exit fills; ``None`` before the first.
        gross_pnl: the PnL of the quantity closed so far, matched first in, first out, before fees.
        fees: the fees of its fills (a flipping fill's fee is split by quantity, the closing share
            rounded to ten more decimal places than the fee has, the opening share the rest).
        net_pnl: ``gross_pnl - fees``.
        net_return: ``net_pnl`` over the entry notional (``quantity * entry_price``), as a fraction.
        bars_held: ``(exit_ts - entry_ts) // timeframe``; ``None`` while open or without a timeframe.
        fills: how many fills it took part in.
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: Literal["long", "short"]
    quantity: Decimal
    open_quantity: Decimal
    entry_ts: int
    exit_ts: int | None
    entry_price: Decimal
    exit_price: Decimal | None
    gross_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    net_return: float
    bars_held: int | None
    fills: int

    @property
    def is_open(self) -> bool:
        """True while part of the position is still held."""
        return self.open_quantity != 0

    def as_row(self) -> dict[str, str]:
        """The trade as one CSV row (:data:`TRADE_CSV_COLUMNS`): times in ISO-8601 UTC, exact decimals."""
        return {
            "strategy_id": self.strategy_id,
            "instrument_id": self.instrument_id,
            "side": self.side,
            "status": "open" if self.is_open else "closed",
            "quantity": str(self.quantity),
            "open_quantity": str(self.open_quantity),
            "entry_time": format_ts(self.entry_ts),
            "exit_time": "" if self.exit_ts is None else format_ts(self.exit_ts),
            "entry_price": str(self.entry_price),
            "exit_price": "" if self.exit_price is None else str(self.exit_price),
            "gross_pnl": str(self.gross_pnl),
            "fees": str(self.fees),
            "net_pnl": str(self.net_pnl),
            "return": repr(self.net_return),
            "bars_held": "" if self.bars_held is None else str(self.bars_held),
            "fills": str(self.fills),
        }


class _Building:
    """A trade while its fills arrive: FIFO lots and running sums."""

    __slots__ = ("direction", "entered", "entry_notional", "entry_ts", "exit_notional", "exit_ts", "exited",
                 "fees", "fills", "gross", "instrument_id", "lots", "strategy_id")  # fmt: skip

    def __init__(self, fill: Fill) -> None:
        self.strategy_id = fill.strategy_id
        self.instrument_id = fill.instrument_id
        self.direction = fill.side.sign
        self.lots: deque[list[Decimal]] = deque()  # [unsigned quantity, price], oldest first
        self.entry_ts = fill.ts
        self.exit_ts: int | None = None
        self.entered = self.entry_notional = self.exited = self.exit_notional = ZERO
        self.gross = self.fees = ZERO
        self.fills = 0

    @property
    def held(self) -> Decimal:
        return self.entered - self.exited

    def enter(self, quantity: Decimal, price: Decimal, fee: Decimal) -> None:
        self.lots.append([quantity, price])
        self.entered += quantity
        self.entry_notional += quantity * price
        self.fees += fee
        self.fills += 1

    def exit(self, quantity: Decimal, price: Decimal, fee: Decimal, ts: int) -> None:
        left = quantity
        while left:
            lot = self.lots[0]
            closed = min(lot[0], left)
            self.gross += closed * (price - lot[1]) * self.direction
            lot[0] -= closed
            left -= closed
            if not lot[0]:
                self.lots.popleft()
        self.exited += quantity
        self.exit_notional += quantity * price
        self.fees += fee
        self.fills += 1
        if not self.held:
            self.exit_ts = ts

    def trade(self, timeframe: int | None) -> Trade:
        net = self.gross - self.fees
        exit_ts = self.exit_ts
        return Trade(
            strategy_id=self.strategy_id,
            instrument_id=self.instrument_id,
            side="long" if self.direction > 0 else "short",
            quantity=self.entered,
            open_quantity=self.held,
            entry_ts=self.entry_ts,
            exit_ts=exit_ts,
            entry_price=self.entry_notional / self.entered,
            exit_price=self.exit_notional / self.exited if self.exited else None,
            gross_pnl=self.gross,
            fees=self.fees,
            net_pnl=net,
            net_return=float(net / self.entry_notional) if self.entry_notional else 0.0,
            bars_held=(exit_ts - self.entry_ts) // timeframe if exit_ts is not None and timeframe else None,
            fills=self.fills,
        )


def _share(fee: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``fee * part / whole`` to ten more decimal places than ``fee`` has, so that sums of shares stay
    exact (the other share is ``fee`` minus this one)."""
    exponent = fee.as_tuple().exponent
    places = Decimal(1).scaleb((exponent if isinstance(exponent, int) else 0) - 10)
    return (fee * part / whole).quantize(places)


def build_trades(fills: Iterable[Fill], *, timeframe: int | None = None,
                 include_open: bool = False) -> tuple[Trade, ...]:
    """Build the round trips of ``fills``, per strategy and instrument, in the order they opened.

    A pure function of the fills: exact decimals in, exact decimals out. A fill whose ``trade_id``
    was seen before is skipped, as the portfolio skips it.

    Args:
        fills: fills in the order they happened.
        timeframe: the bar length (ns), for ``bars_held``.
        include_open: also return the trades still open after the last fill (``exit_ts`` is
            ``None``; their PnL is that of the quantity closed so far).

    Returns:
        The trades; closed ones only unless ``include_open``.
    """
    seen: set[str] = set()
    building: dict[tuple[StrategyId, InstrumentId], _Building] = {}
    opened: list[_Building] = []
    for fill in fills:
        if fill.trade_id in seen:
            continue
        seen.add(fill.trade_id)
        key = (fill.strategy_id, fill.instrument_id)
        left, fee = fill.quantity, fill.fee
        current = building.get(key)
        if current is not None and current.direction != fill.side.sign:
            closing = min(left, current.held)
            part = fee if closing == left else _share(fill.fee, closing, fill.quantity)
            current.exit(closing, fill.price, part, fill.ts)
            left -= closing
            fee -= part
            if not current.held:
                del building[key]
                current = None
        if left:
            if current is None:
                current = building[key] = _Building(fill)
                opened.append(current)
            current.enter(left, fill.price, fee)
    return tuple(t.trade(timeframe) for t in opened if include_open or t.exit_ts is not None)


@attrs.frozen(kw_only=True)
class TradeStats:
    """Statistics of a set of trades (all of them, or one instrument's, or one strategy's).

    PnL figures cover closed trades; exposure and turnover cover every fill, open trades included.

    Attributes:
        trades: closed trades.
        wins: closed trades with a positive net PnL.
        losses: closed trades with a negative net PnL (a zero net PnL is neither).
        win_rate: ``wins / trades`` (``0.0`` without trades).
        gross_pnl: the closed trades' PnL before fees.
        fees: the closed trades' fees.
        net_pnl: ``gross_pnl - fees``.
        total_won: the sum of the winning trades' net PnL.
        total_lost: the sum of the losing trades' net PnL, as a positive amount.
        profit_factor: ``total_won / total_lost``; ``math.inf`` with wins and no loss, ``0.0`` with
            no win.
        expectancy: mean net PnL per closed trade (rounded to 1e-8).
        avg_win: mean net PnL of the winning trades (rounded to 1e-8; zero without wins).
        avg_loss: mean net PnL of the losing trades, negative (rounded to 1e-8; zero without losses).
        avg_return: mean ``net_return`` of the closed trades.
        avg_bars_held: mean ``bars_held`` of the closed trades (``0.0`` if unknown).
        exposure: the fraction of the run's time during which a position was open.
        traded_notional: the sum of ``price * quantity`` over the fills.
        turnover: ``traded_notional / initial_equity``.
    """

    trades: int
    wins: int
    losses: int
    win_rate: float
    gross_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    total_won: Decimal
    total_lost: Decimal
    profit_factor: float
    expectancy: Decimal
    avg_win: Decimal
    avg_loss: Decimal
    avg_return: float
    avg_bars_held: float
    exposure: float
    traded_notional: Decimal
    turnover: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: decimals become strings, finite floats stay floats, infinities ``None``."""
        return {name: json_value(value) for name, value in attrs.asdict(self, recurse=False).items()}


def _mean(total: Decimal, count: int) -> Decimal:
    return (total / count).quantize(_CENT_OF_A_CENT) if count else ZERO


def _exposure(trades: Iterable[Trade], start: int, end: int) -> float:
    """The fraction of ``[start, end]`` covered by the union of the trades' holding intervals."""
    if end <= start:
        return 0.0
    intervals = sorted(
        (max(t.entry_ts, start), min(end if t.exit_ts is None else t.exit_ts, end)) for t in trades
    )
    covered = 0
    reach = start
    for begin, finish in intervals:
        begin = max(begin, reach)
        if finish > begin:
            covered += finish - begin
            reach = finish
    return covered / (end - start)


def trade_stats(trades: Sequence[Trade], *, traded_notional: Decimal = ZERO, initial_equity: Decimal | None = None,
                start: int | None = None, end: int | None = None) -> TradeStats:
    """Compute :class:`TradeStats` of ``trades``.

    Args:
        trades: closed and open trades; PnL statistics use the closed ones.
        traded_notional: the sum of ``price * quantity`` of the fills behind ``trades``.
        initial_equity: for the turnover (``0.0`` without it).
        start, end: the run's time span (ns) for the exposure (``0.0`` without it).
    """
    closed = [t for t in trades if not t.is_open]
    winners = [t.net_pnl for t in closed if t.net_pnl > 0]
    losers = [t.net_pnl for t in closed if t.net_pnl < 0]
    won = sum(winners, ZERO)
    lost = -sum(losers, ZERO)
    gross = sum((t.gross_pnl for t in closed), ZERO)
    fees = sum((t.fees for t in closed), ZERO)
    held = [t.bars_held for t in closed if t.bars_held is not None]
    count = len(closed)
    return TradeStats(
        trades=count,
        wins=len(winners),
        losses=len(losers),
        win_rate=len(winners) / count if count else 0.0,
        gross_pnl=gross,
        fees=fees,
        net_pnl=gross - fees,
        total_won=won,
        total_lost=lost,
        profit_factor=ratio(float(won), float(lost)),
        expectancy=_mean(gross - fees, count),
        avg_win=_mean(won, len(winners)),
        avg_loss=_mean(-lost, len(losers)),
        avg_return=sum(t.net_return for t in closed) / count if count else 0.0,
        avg_bars_held=sum(held) / len(held) if held else 0.0,
        exposure=_exposure(trades, start, end) if start is not None and end is not None else 0.0,
        traded_notional=traded_notional,
        turnover=float(traded_notional / initial_equity) if initial_equity else 0.0,
    )


@attrs.frozen(kw_only=True)
class Analytics:
    """Everything :func:`analyze` derives from a backtest result.

    Attributes:
        metrics: the equity-curve metrics, computed with the samples' timestamps.
        stats: statistics of every trade.
        trades: the closed trades, in the order they opened.
        open_trades: the trades still open at the end.
        by_instrument: statistics per instrument id.
        by_strategy: statistics per strategy id.
        timeframe: the bar length (ns) used, or ``None`` if unknown.
        start_ts: the open of the first bar (ns), or ``None`` without bars.
        end_ts: the close of the last bar (ns), or ``None`` without bars.
    """

    metrics: Metrics
    stats: TradeStats
    trades: tuple[Trade, ...] = attrs.field(repr=False)
    open_trades: tuple[Trade, ...] = attrs.field(repr=False)
    by_instrument: dict[str, TradeStats] = attrs.field(repr=False)
    by_strategy: dict[str, TradeStats] = attrs.field(repr=False)
    timeframe: int | None
    start_ts: int | None
    end_ts: int | None

    def as_dict(self) -> dict[str, Any]:
        """The metrics and the trade statistics in one flat JSON-friendly mapping (``trades`` and
        ``fees`` are the metrics' totals), plus ``by_instrument`` and ``by_strategy`` mappings."""
        flat = self.metrics.as_dict()
        for key, value in self.stats.as_dict().items():
            flat.setdefault(key, value)
        flat["by_instrument"] = {key: stats.as_dict() for key, stats in self.by_instrument.items()}
        flat["by_strategy"] = {key: stats.as_dict() for key, stats in self.by_strategy.items()}
        return flat


def infer_timeframe(equity_ts: Sequence[int]) -> int | None:
    """The bar length of an equity curve: the smallest step between two samples (``None`` with
    fewer than two)."""
    steps = [b - a for a, b in itertools.pairwise(equity_ts) if b > a]
    return min(steps) if steps else None


def analyze(result: BacktestResult, *, timeframe: int | None = None) -> Analytics:
    """Build the trades of ``result`` and compute every statistic.

    Args:
        result: a backtest result.
        timeframe: the bar length (ns); default ``result.timeframe``, else inferred from the equity
            curve's timestamps.
    """
    timeframe = timeframe or result.timeframe or infer_timeframe(result.equity_ts)
    every = build_trades(result.fills, timeframe=timeframe, include_open=True)
    start = end = None
    if len(result.equity_ts) and timeframe:
        start, end = result.equity_ts[0] - timeframe, result.equity_ts[-1]
    old = result.metrics
    metrics = old
    if timeframe and len(result.equity):
        metrics = compute_metrics(
            equity=result.equity, equity_ts=result.equity_ts, timeframe=timeframe, initial_equity=old.initial_equity,
            final_equity=old.final_equity, trades=old.trades, fills=old.fills, fees=old.fees, bars=old.bars,
        )
    notional: dict[tuple[str, str], Decimal] = {}
    seen: set[str] = set()
    for fill in result.fills:
        if fill.trade_id not in seen:
            seen.add(fill.trade_id)
            key = (fill.strategy_id, fill.instrument_id)
            notional[key] = notional.get(key, ZERO) + fill.notional

    def stats(trades: Sequence[Trade], keys: Iterable[tuple[str, str]]) -> TradeStats:
        return trade_stats(trades, traded_notional=sum((notional[k] for k in keys), ZERO),
                           initial_equity=old.initial_equity, start=start, end=end)

    instruments = sorted({key[1] for key in notional})
    strategies = sorted({key[0] for key in notional})
    return Analytics(
        metrics=metrics,
        stats=stats(every, notional),
        trades=tuple(t for t in every if not t.is_open),
        open_trades=tuple(t for t in every if t.is_open),
        by_instrument={i: stats([t for t in every if t.instrument_id == i], [k for k in notional if k[1] == i])
                       for i in instruments},
        by_strategy={s: stats([t for t in every if t.strategy_id == s], [k for k in notional if k[0] == s])
                     for s in strategies},
        timeframe=timeframe,
        start_ts=start,
        end_ts=end,
    )


def write_trades_csv(trades: Iterable[Trade], path: str | Path) -> int:
    """Write ``trades`` to a CSV file with the columns of :data:`TRADE_CSV_COLUMNS`; return how many
    rows were written."""
    rows = 0
    with Path(path).open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=TRADE_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for trade in trades:
            writer.writerow(trade.as_row())
            rows += 1
    return rows


def write_report(result: BacktestResult, path: str | Path, *, preset: Preset | str | Path | None = None,
                 closes: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
                 disable: Iterable[str] = (), title: str | None = None) -> Path:
    """Write a self-contained HTML report of ``result``: the metrics, the equity curve, the drawdown,
    each instrument's price with the trades, the breakdowns and the trade list. It loads nothing
    from the network and runs no script: the charts are inline SVG.

    Args:
        result: the backtest result.
        path: the HTML file to write.
        preset: the preset that produced ``result``; its data source is read again for the price
            charts (and gives the timeframe). Without it and without ``closes`` there are no price
            charts.
        closes: bar closes per instrument as ``(close times in ns, closes)``; default
            ``result.closes``, else read from ``preset``.
        disable: plugins not to load when building the preset's data source.
        title: the report's title (default: the engine id).

    Returns:
        ``path``.
    """
    from . import _report

    return _report.write_report(result, Path(path), preset=preset, closes=closes, disable=disable, title=title)
