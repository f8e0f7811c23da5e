"""Volume indicators: on-balance volume (``obv``), the volume-weighted average price (``vwap``) and the
money flow index (``mfi``)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from tradehooks.model import NS_PER_SECOND, Bar

from ._base import (
    BuiltinIndicator,
    FirstValueAtPeriod,
    at_least,
    one_of_sources,
    optional_at_least,
    source_index,
)

__all__ = ["MoneyFlowIndex", "OnBalanceVolume", "VolumeWeightedAveragePrice"]

NS_PER_DAY = 86_400 * NS_PER_SECOND

_PRECISION_BUDGET = 1e4
"""How much a running sum of non-negative terms may have held since its last exact recompute, in units
of its current value, before it is recomputed: its relative error stays under ``1e-16 * budget``."""


class OnBalanceVolume(BuiltinIndicator):
    """TA-Lib's ``OBV``: starts at the first bar's volume, then adds the volume of each bar whose
    ``source`` (the close) rose and subtracts that of each bar whose ``source`` fell. First value at
    index 0."""

    __slots__ = ("_previous", "_source")

    name: ClassVar[str] = "obv"
    warmup: ClassVar[str] = "0"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`OnBalanceVolume`.

        Attributes:
            source: the bar field whose rises and falls decide the volume's sign.
        """

        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: OnBalanceVolume.Params | None = None) -> None:
        super().__init__(params)
        self._source = source_index(self.params.source)
        self._previous = math.nan

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        return 0

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        volume = bar[6]
        previous = self._previous
        self._previous = x
        value = self.value
        if value is None:
            value = volume
            self.ready = True
        elif x > previous:
            value += volume
        elif x < previous:
            value -= volume
        self.value = value
        return value


class VolumeWeightedAveragePrice(BuiltinIndicator):
    """The volume-weighted average of the typical price ``(high + low + close) / 3`` (TA-Lib has none):
    ``sum(typical * volume) / sum(volume)``.

    * ``period`` ``None`` (the default): over the session so far, reset at the first bar of each UTC
      day (by the bar's open time ``ts``); first value at index 0.
    * ``period`` *n*: over the last *n* bars; first value at index ``n - 1``. The running sums are
      recomputed exactly whenever their rounding-error budget runs out.

    Where those bars traded no volume at all, the VWAP is the latest typical price.
    """

    __slots__ = ("_count", "_day", "_index", "_period", "_spent_pv", "_spent_v", "_sum_pv", "_sum_v",
                 "_volumes", "_weighted")

    name: ClassVar[str] = "vwap"
    warmup: ClassVar[str] = "0 if period is None else period - 1"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`VolumeWeightedAveragePrice`.

        Attributes:
            period: ``None`` for the session VWAP (reset each UTC day), else how many bars.
        """

        period: int | None = attrs.field(default=None, validator=optional_at_least(1))

    def __init__(self, params: VolumeWeightedAveragePrice.Params | None = None) -> None:
        super().__init__(params)
        self._period: int | None = self.params.period
        size = self._period or 0
        self._weighted = [0.0] * size
        self._volumes = [0.0] * size
        self._index = 0
        self._count = 0
        self._day: int | None = None
        self._sum_pv = self._sum_v = 0.0
        self._spent_pv = self._spent_v = math.inf  # recompute when the window first fills

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        period = (cls.Params() if params is None else params).period
        return 0 if period is None else int(period) - 1

    def update(self, bar: Bar) -> float | None:
        _, ts, _, high, low, close, volume = bar
        typical = (high + low + close) / 3.0
        weighted = typical * volume
        if self._period is None:
            day = ts // NS_PER_DAY
            if day != self._day:
                self._day = day
                sum_pv = weighted
                sum_v = volume
            else:
                sum_pv = self._sum_pv + weighted
                sum_v = self._sum_v + volume
            self._sum_pv = sum_pv
            self._sum_v = sum_v
            self.ready = True
        else:
            sum_pv, sum_v = self._roll(weighted, volume)
            if not self.ready:
                return None
        value = self.value = sum_pv / sum_v if sum_v else typical
        return value

    def _roll(self, weighted: float, volume: float) -> tuple[float, float]:
        """Move the window on by one bar; return the sums (exact to the budget once the window is full)."""
        i = self._index
        weights = self._weighted
        volumes = self._volumes
        sum_pv = self._sum_pv + weighted - weights[i]  # the slots hold 0.0 until the window fills
        sum_v = self._sum_v + volume - volumes[i]
        weights[i] = weighted
        volumes[i] = volume
        i += 1
        if i == self._period:
            i = 0
            self.ready = True
        self._index = i
        if self.ready:
            spent_pv = self._spent_pv + sum_pv
            spent_v = self._spent_v + sum_v
            if spent_pv > _PRECISION_BUDGET * sum_pv or spent_v > _PRECISION_BUDGET * sum_v:
                sum_pv = math.fsum(weights)
                sum_v = math.fsum(volumes)
                spent_pv = spent_v = 0.0
            self._spent_pv = spent_pv
            self._spent_v = spent_v
        self._sum_pv = sum_pv
        self._sum_v = sum_v
        return sum_pv, sum_v


class MoneyFlowIndex(FirstValueAtPeriod, BuiltinIndicator):
    """TA-Lib's ``MFI``: the RSI of money flow. A bar's money flow is ``typical * volume`` with
    ``typical = (high + low + close) / 3``; it is positive when the typical price rose from the
    previous bar, negative when it fell, and neither when it did not move (within 1e-14 of the two
    prices, TA-Lib's scaled dead zone). ``MFI = 100 * positive / (positive + negative)`` over the last
    ``period`` bars, 0 when the window has no money flow; first value at index ``period``.

    The sums are kept as TA-Lib 0.8 keeps them (subtract the leaving flows, add the new ones, and set
    both to exactly 0 once a whole window has had no flow), so that even their rounding residue, which
    shows when one side's true sum is zero (an MFI of 1e-12 instead of 0), is TA-Lib's.
    """

    __slots__ = ("_count", "_empty_run", "_index", "_negative", "_negatives", "_period", "_positive",
                 "_positives", "_previous")

    name: ClassVar[str] = "mfi"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MoneyFlowIndex`.

        Attributes:
            period: how many bars of money flow.
        """

        period: int = attrs.field(default=14, validator=at_least(2))

    def __init__(self, params: MoneyFlowIndex.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._positives = [0.0] * self._period
        self._negatives = [0.0] * self._period
        self._index = 0
        self._count = 0
        self._empty_run = 0
        self._positive = self._negative = 0.0
        self._previous = 0.0

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, volume = bar
        typical = (high + low + close) / 3.0
        previous = self._previous
        self._previous = typical
        if not self._count:  # the first bar only sets the previous typical price
            self._count = 1
            return None
        change = typical - previous
        flow = typical * volume
        if abs(change) <= 1e-14 * (abs(typical) + abs(previous)):
            flow = 0.0
        i = self._index
        positives = self._positives
        negatives = self._negatives
        positive = self._positive - positives[i]  # the slots hold 0.0 until the window fills
        negative = self._negative - negatives[i]
        if change < 0.0:
            positives[i] = 0.0
            negatives[i] = flow
            negative += flow
        else:
            positives[i] = flow
            negatives[i] = 0.0
            positive += flow
        if flow == 0.0:
            self._empty_run += 1
            if self._empty_run >= self._period:
                self._empty_run = self._period
                positive = negative = 0.0
        else:
            self._empty_run = 0
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        self._positive = positive
        self._negative = negative
        if not self.ready:
            self._count += 1
            if self._count <= self._period:
                return None
            self.ready = True
        total = positive + negative
        if total <= 0.0:
            value = 0.0
        else:
            value = 100.0 * (max(0.0, min(positive, total)) / total)  # drift may leave the sums a few ulps off
        self.value = value
        return value
