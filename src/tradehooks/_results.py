"""What a backtest returns: the metrics, the fills, the orders and the equity curve.

The metrics here are those of the equity curve, computed in one pass whenever a result is made; the
trade list and the statistics of trades are built from the fills, lazily, by
:mod:`tradehooks.analytics` (``result.analytics``). ``docs/analytics.md`` defines every number.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .model import NS_PER_SECOND, Fill, Order, Position

if TYPE_CHECKING:
    from .analytics import Analytics

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
        annualized_return: the compound annual growth rate over the run (365-day year; ``-1.0`` once
            the account is blown).
        volatility: annualised standard deviation of per-bar returns.
        sortino: annualised mean per-bar return over the downside deviation (target 0).
        calmar: annualised return over the maximum drawdown.
        max_drawdown_duration: nanoseconds from the peak before the deepest drawdown until the equity
            is back at that peak (or until the end, if it never is).

    Ratios whose denominator is zero are ``0.0`` when there is nothing to divide and ``math.inf``
    when a positive return meets no risk; :meth:`as_dict` writes infinities as ``None``.
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
    annualized_return: float = 0.0
    volatility: float = 0.0
    sortino: float = 0.0
    calmar: float = 0.0
    max_drawdown_duration: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: decimals become strings, finite floats stay floats, infinities ``None``."""
        return {name: json_value(value) for name, value in attrs.asdict(self, recurse=False).items()}


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: a decimal as its string, a non-finite float as ``None``."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; with no denominator ``math.inf`` for a gain and ``0.0`` otherwise."""
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 0.0


def annualized(growth: float, years: float) -> float:
    """The yearly rate that compounds to ``growth`` (final / initial) in ``years``."""
    if growth <= 0:
        return -1.0  # the account is blown: everything was lost
    if years <= 0:
        return 0.0
    exponent = math.log(growth) / years
    return math.inf if exponent > 700 else math.expm1(exponent)


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
    equity_ts: Sequence[int] | None = None,
) -> Metrics:
    """Compute :class:`Metrics` from an equity curve sampled once per bar.

    Args:
        equity: equity after each bar (bar close).
        timeframe: the bar length (ns); it sets the periods per year, ``365 days / timeframe``.
        initial_equity, final_equity, trades, fills, fees, bars: copied into the metrics.
        equity_ts: the time of each equity sample; without it the samples are taken to be one
            ``timeframe`` apart (the same unless the data has gaps). Durations and the span of the
            annualised return come from it.
    """
    peak = -math.inf
    peak_at = 0  # the last sample at the running peak
    max_drawdown = 0.0
    drawdown_from = drawdown_to = 0  # the deepest drawdown's peak, and its recovery (or the end)
    recovering = False  # the deepest drawdown is not over yet
    count = 0
    mean = 0.0
    m2 = 0.0
    downside = 0.0  # sum of squared negative returns
    previous = float(initial_equity)
    last = -1
    for last, value in enumerate(equity):
        if value >= peak:
            peak = value
            peak_at = last
            if recovering:
                drawdown_to, recovering = last, False
        elif peak > 0:
            drawdown = (peak - value) / peak
            if drawdown > max_drawdown:
                max_drawdown = drawdown
                drawdown_from, recovering = peak_at, True
        if previous > 0:  # returns mean nothing once the account is blown (equity <= 0)
            ret = value / previous - 1.0
            count += 1
            delta = ret - mean
            mean += delta / count
            m2 += delta * (ret - mean)
            if ret < 0:
                downside += ret * ret
        previous = value
    if recovering:
        drawdown_to = last
    periods = YEAR_NS / timeframe
    sharpe = volatility = sortino = 0.0
    if count > 1:
        std = math.sqrt(m2 / (count - 1))
        volatility = std * math.sqrt(periods)
        if std > 1e-15:
            sharpe = mean / std * math.sqrt(periods)
        sortino = ratio(mean, math.sqrt(downside / count)) * math.sqrt(periods)
    if equity_ts is not None and len(equity_ts) == last + 1 and last >= 0:
        span = equity_ts[last] - equity_ts[0] + timeframe
        duration = equity_ts[drawdown_to] - equity_ts[drawdown_from]
    else:
        span = (last + 1) * timeframe
        duration = (drawdown_to - drawdown_from) * timeframe
    total_return = float(final_equity / initial_equity - 1)
    annualized_return = annualized(1 + total_return, span / YEAR_NS)
    return Metrics(
        initial_equity=initial_equity,
        final_equity=final_equity,
        total_return=total_return,
        max_drawdown=max_drawdown,
        sharpe=sharpe,
        trades=trades,
        fills=fills,
        fees=fees,
        bars=bars,
        annualized_return=annualized_return,
        volatility=volatility,
        sortino=sortino,
        calmar=ratio(annualized_return, max_drawdown),
        max_drawdown_duration=duration if max_drawdown > 0 else 0,
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
        timeframe: the bar length (ns), when the engine gives it; :mod:`tradehooks.analytics`
            otherwise infers it from ``equity_ts``.
        closes: bar closes per instrument id as ``(close times in ns, closes)`` arrays, when the
            engine recorded them; the report otherwise reads the preset's data source again.
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
    timeframe: int | None = None
    closes: Mapping[str, tuple[array, array]] | None = attrs.field(default=None, repr=False)  # type: ignore[type-arg]

    @functools.cached_property
    def analytics(self) -> Analytics:
        """The trades built from the fills, their statistics, the per-instrument and per-strategy
        breakdowns and the equity metrics (:func:`tradehooks.analytics.analyze`), computed on first
        use."""
        from .analytics import analyze

        return analyze(self)
