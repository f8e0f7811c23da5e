"""Volatility indicators: average true range (``atr``), normalised ATR (``natr``), true range
(``trange``), standard deviation (``stddev``), Bollinger bands (``bbands``) and Keltner channels
(``keltner``)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from tradehooks.model import Bar

from ._base import (
    BuiltinIndicator,
    FirstValueAtPeriod,
    SeriesIndicator,
    at_least,
    greater_than_zero,
    one_of_sources,
)

__all__ = [
    "AverageTrueRange",
    "BollingerBands",
    "KeltnerChannels",
    "NormalizedAverageTrueRange",
    "StandardDeviation",
    "TrueRange",
]


@attrs.frozen(kw_only=True)
class _AtrParams:
    """The parameters the ATR and NATR share (each ``Params`` documents them)."""

    period: int = attrs.field(default=14, validator=at_least(1))


class AverageTrueRange(FirstValueAtPeriod, BuiltinIndicator):
    """TA-Lib's ``ATR``: the Wilder-smoothed true range.

    The true range needs the previous close, so it starts at the second bar; the first value, at index
    ``period``, is the mean of the first ``period`` true ranges, then
    ``atr = (atr * (period - 1) + true_range) / period``.
    """

    __slots__ = ("_count", "_period", "_period_less_one", "_previous_close", "_total")

    name: ClassVar[str] = "atr"

    @attrs.frozen(kw_only=True)
    class Params(_AtrParams):
        """Parameters of :class:`AverageTrueRange`.

        Attributes:
            period: the Wilder smoothing period.
        """

    def __init__(self, params: AverageTrueRange.Params | None = None) -> None:
        super().__init__(params)
        self._period = float(self.params.period)
        self._period_less_one = float(self.params.period - 1)
        self._previous_close = math.nan
        self._count = 0
        self._total = 0.0

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        previous = self._previous_close
        self._previous_close = close
        true_range = high - low
        gap = abs(previous - high)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        gap = abs(low - previous)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        value = self.value
        if value is not None:
            value = (value * self._period_less_one + true_range) / self._period
            self.value = value
            return value
        self._count += 1
        if self._count == 1:  # no previous close yet
            return None
        self._total += true_range
        if self._count <= self._period:
            return None
        value = self._total / self._period
        self.value = value
        self.ready = True
        return value


_PRECISION_BUDGET = 1e4
"""How much rounding error the running sums may gather before they are recomputed, in units of the
current ``m2``: the relative error of the variance stays under about ``5e-16 * _PRECISION_BUDGET``."""


class _RollingMoments(SeriesIndicator):
    """The running sums ``s1 = sum(d)`` and ``s2 = sum(d * d)`` of the deviations ``d = x - shift`` of the
    last ``period`` values from a ``shift`` near their mean, which give the mean (``shift + s1 / n``)
    and the sum of squared deviations from it (``m2 = s2 - s1 * s1 / n``) in O(1).

    Float rounding makes ``s2`` wrong by up to about ``eps * s2`` per update, and ``m2`` may be far
    smaller than ``s2`` (a quiet market that drifted away from ``shift``, or a window that was
    volatile and then calmed down). ``spent`` adds up ``s2`` over the updates since the last exact
    recompute as a bound of that error; once it exceeds ``_PRECISION_BUDGET * m2`` the sums are
    recomputed exactly from the window around its new mean. In a steady market that happens once every
    few thousand updates; a flat window, re-centred on its value, stays exactly zero at no cost.

    Until the window fills, empty slots hold 0.0 with ``shift`` 0.0 and add nothing; ``spent`` starts
    infinite so the first full window is recomputed exactly.
    """

    __slots__ = ("_index", "_s1", "_s2", "_shift", "_spent", "_window")

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._window = [0.0] * self._period
        self._index = 0
        self._shift = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._spent = math.inf

    def _push(self, x: float) -> float | None:
        """Add ``x`` to the window; once it is full, return the window's sum of squared deviations
        from its mean (``None`` before)."""
        window = self._window
        i = self._index
        shift = self._shift
        leaving = window[i] - shift
        window[i] = x
        d = x - shift
        s1 = self._s1 + d - leaving
        s2 = self._s2 + d * d - leaving * leaving
        n = self._period
        i += 1
        if i == n:
            i = 0
            self.ready = True
        self._index = i
        if not self.ready:
            self._s1 = s1
            self._s2 = s2
            return None
        m2 = s2 - s1 * s1 / n
        spent = self._spent + s2
        if spent > m2 * _PRECISION_BUDGET:
            s1, s2, m2 = self._recompute()
        else:
            self._spent = spent
        self._s1 = s1
        self._s2 = s2
        return m2

    def _recompute(self) -> tuple[float, float, float]:
        """Re-centre on the window's mean, reset ``spent`` and return the exact ``(s1, s2, m2)``."""
        window = self._window
        n = self._period
        first = window[0]
        # a flat window is centred on its value, so its deviations, and m2, are exactly zero
        shift = first if window.count(first) == n else math.fsum(window) / n
        deviations = [v - shift for v in window]
        s1 = math.fsum(deviations)
        s2 = math.fsum([d * d for d in deviations])
        self._shift = shift
        self._spent = 0.0
        return s1, s2, s2 - s1 * s1 / n


class StandardDeviation(_RollingMoments):
    """TA-Lib's ``STDDEV``: the population standard deviation of the last ``period`` values times
    ``nbdev``; first value at index ``period - 1``.

    Only an exactly flat window gives 0 (older TA-Lib releases reported 0 whenever the variance was
    under 1e-8, a standard deviation under 1e-4, most of the range of a coin priced around 0.01;
    TA-Lib 0.8 no longer does).
    """

    __slots__ = ("_nbdev",)

    name: ClassVar[str] = "stddev"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`StandardDeviation`.

        Attributes:
            period: how many values.
            nbdev: the multiplier applied to the standard deviation.
            source: the bar field to read.
        """

        period: int = attrs.field(default=20, validator=at_least(2))
        nbdev: float = attrs.field(default=1.0, validator=greater_than_zero)
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: StandardDeviation.Params | None = None) -> None:
        super().__init__(params)
        self._nbdev = float(self.params.nbdev)

    def update(self, bar: Bar) -> float | None:
        m2 = self._push(bar[self._source])  # type: ignore[arg-type]  # a price or volume field
        if m2 is None:
            return None
        value = math.sqrt(m2 / self._period) * self._nbdev if m2 > 0.0 else 0.0
        self.value = value
        return value


class BollingerBands(_RollingMoments):
    """TA-Lib's ``BBANDS`` with a simple moving average: ``middle`` is the SMA of the last ``period``
    values, ``upper``/``lower`` are ``stddev`` population standard deviations above/below it; first
    values at index ``period - 1``. ``value`` is the middle band.

    Attributes:
        upper, middle, lower: the bands, ``None`` until warmed up.
    """

    __slots__ = ("_width", "lower", "middle", "upper")

    name: ClassVar[str] = "bbands"
    outputs: ClassVar[tuple[str, ...]] = ("upper", "middle", "lower")

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`BollingerBands`.

        Attributes:
            period: how many values.
            stddev: how many standard deviations the outer bands are from the middle one.
            source: the bar field to read.
        """

        period: int = attrs.field(default=20, validator=at_least(2))
        stddev: float = attrs.field(default=2.0, validator=greater_than_zero)
        source: str = attrs.field(default="close", validator=one_of_sources)

    upper: float | None
    middle: float | None
    lower: float | None

    def __init__(self, params: BollingerBands.Params | None = None) -> None:
        super().__init__(params)
        self._width = float(self.params.stddev)
        self.upper = self.middle = self.lower = None

    def update(self, bar: Bar) -> float | None:
        m2 = self._push(bar[self._source])  # type: ignore[arg-type]  # a price or volume field
        if m2 is None:
            return None
        n = self._period
        mean = self._shift + self._s1 / n  # the shift may have just moved
        width = math.sqrt(m2 / n) * self._width if m2 > 0.0 else 0.0
        self.upper = mean + width
        self.lower = mean - width
        self.middle = self.value = mean
        return mean


class NormalizedAverageTrueRange(FirstValueAtPeriod, BuiltinIndicator):
    """TA-Lib's ``NATR``: the ATR as a percentage of the close, ``100 * atr / close``; first value at
    index ``period``.

    (With ``period`` 1 TA-Lib returns the plain true range, unnormalised; here it is normalised like
    every other period.)
    """

    __slots__ = ("_atr",)

    name: ClassVar[str] = "natr"

    @attrs.frozen(kw_only=True)
    class Params(_AtrParams):
        """Parameters of :class:`NormalizedAverageTrueRange`.

        Attributes:
            period: the Wilder smoothing period.
        """

    def __init__(self, params: NormalizedAverageTrueRange.Params | None = None) -> None:
        super().__init__(params)
        self._atr = AverageTrueRange(AverageTrueRange.Params(period=self.params.period))

    def update(self, bar: Bar) -> float | None:
        atr = self._atr.update(bar)
        if atr is None:
            return None
        close = bar[5]
        value = (atr / close) * 100.0 if close else 0.0
        self.value = value
        self.ready = True
        return value


class TrueRange(BuiltinIndicator):
    """TA-Lib's ``TRANGE``: ``max(high, previous close) - min(low, previous close)``, that is the bar's
    range widened to include a gap from the previous close; first value at index 1."""

    __slots__ = ("_previous_close",)

    name: ClassVar[str] = "trange"
    warmup: ClassVar[str] = "1"

    @attrs.frozen(kw_only=True)
    class Params:
        """:class:`TrueRange` has no parameters."""

    def __init__(self, params: TrueRange.Params | None = None) -> None:
        super().__init__(params)
        self._previous_close: float | None = None

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        return 1

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        previous = self._previous_close
        self._previous_close = close
        if previous is None:  # the first bar has no previous close
            return None
        true_range = high - low
        gap = abs(previous - high)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        gap = abs(low - previous)
        if gap > true_range:  # noqa: PLR1730 (max() would cost a call on the hot path)
            true_range = gap
        self.value = true_range
        self.ready = True
        return true_range


class KeltnerChannels(FirstValueAtPeriod, BuiltinIndicator):
    """Keltner channels (TA-Lib has none): ``middle`` is the EMA of the close over ``period`` bars
    (SMA-seeded, TA-Lib's ``EMA``), ``upper``/``lower`` are ``multiplier`` ATRs of ``period`` bars
    (TA-Lib's Wilder ``ATR``) above/below it. The ATR needs one bar more than the EMA, so the channel
    appears at index ``period``. ``value`` is the middle.

    Attributes:
        upper, middle, lower: the channel, ``None`` until warmed up.
    """

    __slots__ = ("_atr", "_count", "_ema", "_k", "_multiplier", "_period", "_total", "lower", "middle", "upper")

    name: ClassVar[str] = "keltner"
    outputs: ClassVar[tuple[str, ...]] = ("upper", "middle", "lower")

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`KeltnerChannels`.

        Attributes:
            period: the EMA and ATR period.
            multiplier: how many ATRs the outer lines are from the middle one.
        """

        period: int = attrs.field(default=20, validator=at_least(1))
        multiplier: float = attrs.field(default=2.0, validator=greater_than_zero)

    upper: float | None
    middle: float | None
    lower: float | None

    def __init__(self, params: KeltnerChannels.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._k: float = 2.0 / (self._period + 1)
        self._multiplier = float(self.params.multiplier)
        self._atr = AverageTrueRange(AverageTrueRange.Params(period=self._period))
        self._ema: float | None = None
        self._count = 0
        self._total = 0.0
        self.upper = self.middle = self.lower = None

    def update(self, bar: Bar) -> float | None:
        close = bar[5]
        atr = self._atr.update(bar)
        ema: float | None = self._ema
        if ema is not None:
            ema = (close - ema) * self._k + ema  # TA-Lib's EMA
            self._ema = ema
        else:
            self._count += 1
            self._total += close
            if self._count == self._period:
                self._ema = self._total / self._period
            return None
        if atr is None:
            return None
        width = self._multiplier * atr
        self.upper = ema + width
        self.lower = ema - width
        self.middle = self.value = ema
        self.ready = True
        return ema
