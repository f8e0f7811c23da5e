"""What a backtest returns: the metrics, the fills, the orders and the equity curve."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from .model import NS_PER_SECOND, Fill, Order, Position

__all__ = ["BacktestResult", "Metrics", "compute_metrics"]

YEAR_NS = 365 * 86400 * NS_PER_SECOND


@attrs.frozen(kw_only=True)
class Metrics:
    """Headline numbers of a backtest.

    Attributes:
        initial_equity: starting cash.
        final_equity: cash plus positions at the last prices (exact).
        total_return: ``final / initial - 1``.
        max_drawdown: the largest fall from a peak of the equity curve, as a positive fraction.
        sharpe: annualised Sharpe ratio of per-bar returns (risk-free rate 0; 365-day year).
        trades: round trips closed (a position back to flat or flipped).
        fills: fills applied.
        fees: fees paid, in the account currency (exact).
        bars: bars handled.
    """

    initial_equity: Decimal
    final_equity: Decimal
    total_return: float
    max_drawdown: float
    sharpe: float
    trades: int
    fills: int
    fees: Decimal
    bars: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: decimals become strings, floats stay floats."""
        return {
            field.name: (str(value) if isinstance(value, Decimal) else value)
            for field, value in zip(attrs.fields(Metrics), attrs.astuple(self, recurse=False))
        }


def compute_metrics(
    *,
    equity: Sequence[float],
    timeframe: int,
    initial_equity: Decimal,
    final_equity: Decimal,
    trades: int,
    fills: int,
    fees: Decimal,
    bars: int,
) -> Metrics:
    """Compute :class:`Metrics` from an equity curve sampled once per bar."""
    peak = -math.inf
    max_drawdown = 0.0
    count = 0
    mean = 0.0
    m2 = 0.0
    previous = float(initial_equity)
    for value in equity:
        if value > peak:
            peak = value
        elif peak > 0:
            drawdown = (peak - value) / peak
            if drawdown > max_drawdown:
                max_drawdown = drawdown
        if previous > 0:  # returns mean nothing once the account is blown (equity <= 0)
            ret = value / previous - 1.0
            count += 1
            delta = ret - mean
            mean += delta / count
            m2 += delta * (ret - mean)
        previous = value
    sharpe = 0.0
    if count > 1:
        std = math.sqrt(m2 / (count - 1))
        if std > 1e-15:
            sharpe = mean / std * math.sqrt(YEAR_NS / timeframe)
    return Metrics(
        initial_equity=initial_equity,
        final_equity=final_equity,
        total_return=float(final_equity / initial_equity - 1),
        max_drawdown=max_drawdown,
        sharpe=sharpe,
        trades=trades,
        fills=fills,
        fees=fees,
        bars=bars,
    )


@attrs.frozen(kw_only=True, eq=False)
class BacktestResult:
    """Everything a backtest produced.

    Attributes:
        engine_id: the engine that ran it.
        metrics: the headline numbers.
        fills: every fill, in order.
        orders: every order in its final state, in creation order.
        positions: final position per (strategy id, instrument id).
        balances: final cash per currency.
        equity_ts: the time of each equity sample (bar close, ns).
        equity: equity after each bar (floats, for charts; ``metrics.final_equity`` is exact).
    """

    engine_id: str
    metrics: Metrics
    # The bulky fields stay out of the repr: event loops repr a task's result, and a million-bar
    # backtest's fills would make that string hundreds of megabytes.
    fills: tuple[Fill, ...] = attrs.field(repr=False)
    orders: tuple[Order, ...] = attrs.field(repr=False)
    positions: dict[tuple[str, str], Position] = attrs.field(repr=False)
    balances: dict[str, Decimal]
    equity_ts: array = attrs.field(repr=False)  # type: ignore[type-arg]
    equity: array = attrs.field(repr=False)  # type: ignore[type-arg]
