"""Trend indicators: Donchian channels (``donchian``), the average directional index (``adx``) and
Aroon (``aroon``)."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import attrs

from tradehooks.model import Bar

from ._base import BuiltinIndicator, FirstValueAtPeriod, WindowExtremes, at_least

__all__ = ["Aroon", "AverageDirectionalIndex", "DonchianChannels"]


class DonchianChannels(WindowExtremes):
    """The highest high and lowest low of the last ``period`` bars (TA-Lib's ``MAX(high)`` and
    ``MIN(low)``) and their midpoint; first values at index ``period - 1``. ``value`` is the middle.

    Monotonic deques give the extremes in amortised O(1): the max deque keeps, oldest first, the highs
    not exceeded by a later high in the window, so its head is the maximum; when the high leaving the
    window equals the head, that head is it. The ring buffers start filled with NaN, which equals
    nothing, so nothing leaves during warm-up.

    Attributes:
        upper, middle, lower: the channel, ``None`` until warmed up.
    """

    __slots__ = ("lower", "middle", "upper")

    name: ClassVar[str] = "donchian"
    outputs: ClassVar[tuple[str, ...]] = ("upper", "middle", "lower")

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
        self.upper = self.middle = self.lower = None

    def update(self, bar: Bar) -> float | None:
        # push_extremes inlined: a call and a tuple would cost about 13% here
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


class AverageDirectionalIndex(BuiltinIndicator):
    """TA-Lib's ``ADX``, with its ``PLUS_DI`` and ``MINUS_DI``.

    From bar to bar, ``up = high - previous high`` and ``down = previous low - low``; the +DM is
    ``up`` when ``up > down`` and ``up > 0`` (else 0), the -DM is ``down`` when ``down > up`` and
    ``down > 0``. The DMs and the true range are Wilder-smoothed as TA-Lib does it (the sums of the
    first ``period - 1``, then ``s = s - s / period + new``), ``plus_di = 100 * +DM / TR`` and
    ``minus_di = 100 * -DM / TR`` (0 when the smoothed TR is 0) appear at index ``period``, as
    TA-Lib's ``PLUS_DI``/``MINUS_DI``. ``dx = 100 * |plus_di - minus_di| / (plus_di + minus_di)``;
    the ADX is the mean of the first ``period`` DXs, at index ``2 * period - 1``, then
    ``adx = (adx * (period - 1) + dx) / period``. Where the DX is undefined (a zero true range or no
    directional movement) the ADX keeps its value, as TA-Lib's does; unlike TA-Lib, which treats any
    number under 1e-14 as zero, only an exact zero counts here. ``value`` is ``adx``.

    Attributes:
        adx: the average directional index, ``None`` until index ``2 * period - 1``.
        plus_di, minus_di: the directional indicators, ``None`` until index ``period``.
    """

    __slots__ = ("_count", "_minus_dm", "_period", "_period_less_one", "_plus_dm", "_previous_close",
                 "_previous_high", "_previous_low", "_sum_dx", "_tr", "adx", "minus_di", "plus_di")

    name: ClassVar[str] = "adx"
    outputs: ClassVar[tuple[str, ...]] = ("adx", "plus_di", "minus_di")
    warmup: ClassVar[str] = "2 * period - 1"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`AverageDirectionalIndex`.

        Attributes:
            period: the Wilder smoothing period of the DMs, the true range and the ADX.
        """

        period: int = attrs.field(default=14, validator=at_least(2))

    adx: float | None
    plus_di: float | None
    minus_di: float | None

    def __init__(self, params: AverageDirectionalIndex.Params | None = None) -> None:
        super().__init__(params)
        self._period = float(self.params.period)
        self._period_less_one = float(self.params.period - 1)
        self._count = 0
        self._previous_high = self._previous_low = self._previous_close = 0.0
        self._plus_dm = self._minus_dm = self._tr = 0.0
        self._sum_dx = 0.0
        self.adx = self.plus_di = self.minus_di = None

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        return int(2 * (cls.Params() if params is None else params).period - 1)

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        count = self._count
        previous_close = self._previous_close
        up = high - self._previous_high
        down = self._previous_low - low
        self._previous_high = high
        self._previous_low = low
        self._previous_close = close
        if not count:  # the first bar only sets the previous values
            self._count = 1
            return None
        true_range = high - low
        gap = abs(high - previous_close)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        gap = abs(low - previous_close)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        period = self._period
        if count < period:  # bars 1 .. period - 1: plain sums
            self._count = count + 1
            if down > 0 and up < down:
                self._minus_dm += down
            elif up > 0 and up > down:
                self._plus_dm += up
            self._tr += true_range
            return None
        minus_dm = self._minus_dm
        plus_dm = self._plus_dm
        minus_dm -= minus_dm / period
        plus_dm -= plus_dm / period
        if down > 0 and up < down:
            minus_dm += down
        elif up > 0 and up > down:
            plus_dm += up
        tr = self._tr
        tr = tr - tr / period + true_range
        self._minus_dm = minus_dm
        self._plus_dm = plus_dm
        self._tr = tr
        dx = None
        if tr:
            minus_di = 100.0 * (minus_dm / tr)
            plus_di = 100.0 * (plus_dm / tr)
            total = minus_di + plus_di
            if total:
                dx = 100.0 * (abs(minus_di - plus_di) / total)
        else:
            minus_di = plus_di = 0.0
        self.minus_di = minus_di
        self.plus_di = plus_di
        adx = self.adx
        if adx is not None:
            if dx is not None:
                adx = self.adx = self.value = (adx * self._period_less_one + dx) / period
            return adx
        self._count = count = count + 1
        if dx is not None:
            self._sum_dx += dx
        if count < 2 * period:
            return None
        adx = self.adx = self.value = self._sum_dx / period
        self.ready = True
        return adx


class Aroon(FirstValueAtPeriod, BuiltinIndicator):
    """TA-Lib's ``AROON`` and ``AROONOSC``: over the last ``period + 1`` bars,
    ``up = 100 / period * (period - bars since the highest high)`` and ``down`` likewise with the
    lowest low (the most recent one when several bars tie); ``value`` is the oscillator
    ``up - down``. First values at index ``period``.

    Monotonic deques of bar numbers give the extremes in amortised O(1).

    Attributes:
        up, down: ``None`` until warmed up.
    """

    __slots__ = ("_count", "_factor", "_highs", "_lows", "_maxima", "_minima", "_period", "_size", "down", "up")

    name: ClassVar[str] = "aroon"
    outputs: ClassVar[tuple[str, ...]] = ("up", "down")

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`Aroon`.

        Attributes:
            period: how many bars back the extremes may be.
        """

        period: int = attrs.field(default=14, validator=at_least(2))

    up: float | None
    down: float | None

    def __init__(self, params: Aroon.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._size = self._period + 1
        self._factor = 100.0 / self._period
        self._highs = [0.0] * self._size
        self._lows = [0.0] * self._size
        self._maxima: deque[int] = deque()
        self._minima: deque[int] = deque()
        self._count = 0
        self.up = self.down = None

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, _, _ = bar
        t = self._count
        self._count = t + 1
        size = self._size
        slot = t % size
        highs = self._highs
        lows = self._lows
        highs[slot] = high
        lows[slot] = low
        oldest = t - self._period
        maxima = self._maxima
        while maxima and highs[maxima[-1] % size] <= high:
            maxima.pop()
        maxima.append(t)
        if maxima[0] < oldest:
            maxima.popleft()
        minima = self._minima
        while minima and lows[minima[-1] % size] >= low:
            minima.pop()
        minima.append(t)
        if minima[0] < oldest:
            minima.popleft()
        if oldest < 0:
            return None
        period = self._period
        factor = self._factor
        highest = maxima[0]
        lowest = minima[0]
        self.up = factor * (period - (t - highest))
        self.down = factor * (period - (t - lowest))
        value: float = factor * (highest - lowest)  # TA-Lib's AROONOSC
        self.value = value
        self.ready = True
        return value
