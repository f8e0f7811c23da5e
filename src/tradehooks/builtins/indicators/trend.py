"""Trend indicators: Donchian channels (``donchian``)."""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import attrs

from tradehooks.model import Bar

from ._base import BuiltinIndicator, at_least

__all__ = ["DonchianChannels"]


class DonchianChannels(BuiltinIndicator):
    """The highest high and lowest low of the last ``period`` bars (TA-Lib's ``MAX(high)`` and
    ``MIN(low)``) and their midpoint; first values at index ``period - 1``. ``value`` is the middle.

    Monotonic deques give the extremes in amortised O(1): the max deque keeps, oldest first, the highs
    not exceeded by a later high in the window, so its head is the maximum; when the high leaving the
    window equals the head, that head is it. The ring buffers start filled with NaN, which equals
    nothing, so nothing leaves during warm-up.

    Attributes:
        upper, middle, lower: the channel, ``None`` until warmed up.
    """

    __slots__ = ("_highs", "_index", "_lows", "_maxima", "_minima", "_period", "lower", "middle", "upper")

    name: ClassVar[str] = "donchian"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`DonchianChannels`.

        Attributes:
            period: how many bars.
        """

        period: int = attrs.field(default=20, validator=at_least(1))

    upper: float | None
    middle: float | None
    lower: float | None

    def __init__(self, params: DonchianChannels.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._highs = [math.nan] * self._period
        self._lows = [math.nan] * self._period
        self._index = 0
        self._maxima: deque[float] = deque()
        self._minima: deque[float] = deque()
        self.upper = self.middle = self.lower = None

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, _, _ = bar
        i = self._index
        highs = self._highs
        lows = self._lows
        leaving_high = highs[i]
        leaving_low = lows[i]
        highs[i] = high
        lows[i] = low

        maxima = self._maxima
        while maxima and maxima[-1] < high:
            maxima.pop()
        maxima.append(high)
        if maxima[0] == leaving_high:
            maxima.popleft()
        minima = self._minima
        while minima and minima[-1] > low:
            minima.pop()
        minima.append(low)
        if minima[0] == leaving_low:
            minima.popleft()

        i += 1
        if i == self._period:
            i = 0
            self.ready = True
        self._index = i
        if self.ready:
            upper = self.upper = maxima[0]
            lower = self.lower = minima[0]
            middle = self.middle = self.value = (upper + lower) / 2.0
            return middle
        return None
