"""Moving averages: simple (``sma``) and exponential (``ema``)."""

from __future__ import annotations

import math
from typing import ClassVar

import attrs

from tradehooks.model import Bar

from ._base import BuiltinIndicator, at_least, laps_between_recomputes, one_of_sources, source_index

__all__ = ["ExponentialMovingAverage", "SimpleMovingAverage"]


class SimpleMovingAverage(BuiltinIndicator):
    """The mean of the last ``period`` values (TA-Lib ``SMA``): first value at index ``period - 1``.

    A running sum over a ring buffer, recomputed exactly every few thousand updates.
    """

    __slots__ = ("_index", "_laps", "_period", "_source", "_total", "_window")

    name: ClassVar[str] = "sma"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`SimpleMovingAverage`.

        Attributes:
            period: how many values to average.
            source: the bar field to read.
        """

        period: int = attrs.field(default=20, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: SimpleMovingAverage.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._source = source_index(self.params.source)
        self._window = [0.0] * self._period
        self._index = 0
        self._total = 0.0
        self._laps = 1  # recompute when the window first fills, then every few laps

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        window = self._window
        i = self._index
        total = self._total + x - window[i]  # the slot holds 0.0 until the window fills
        window[i] = x
        i += 1
        if i == self._period:
            i = 0
            self.ready = True
            self._laps -= 1
            if not self._laps:
                self._laps = laps_between_recomputes(self._period)
                total = math.fsum(window)
        self._index = i
        self._total = total
        if self.ready:
            value = total / self._period
            self.value = value
            return value
        return None


class ExponentialMovingAverage(BuiltinIndicator):
    """TA-Lib's ``EMA``: seeded with the SMA of the first ``period`` values (first value at index
    ``period - 1``), then ``ema += (x - ema) * k`` with ``k = 2 / (period + 1)``."""

    __slots__ = ("_count", "_k", "_period", "_source", "_total")

    name: ClassVar[str] = "ema"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`ExponentialMovingAverage`.

        Attributes:
            period: the span; the smoothing factor is ``2 / (period + 1)``.
            source: the bar field to read.
        """

        period: int = attrs.field(default=20, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: ExponentialMovingAverage.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._source = source_index(self.params.source)
        self._k: float = 2.0 / (self._period + 1)
        self._count = 0
        self._total = 0.0

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        value = self.value
        if value is not None:
            value = (x - value) * self._k + value  # TA-Lib's order of operations
            self.value = value
            return value
        self._count += 1
        self._total += x
        if self._count < self._period:
            return None
        value = self._total / self._period
        self.value = value
        self.ready = True
        return value
