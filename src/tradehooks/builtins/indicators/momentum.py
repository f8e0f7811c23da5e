"""Momentum indicators: RSI (``rsi``), Stochastic (``stoch``), Stochastic RSI (``stochrsi``), MACD
(``macd``), rate of change (``roc``), momentum (``mom``), CCI (``cci``) and Williams %R (``willr``)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from tradehooks.exceptions import FieldError
from tradehooks.model import Bar

from ._base import (
    FLAT,
    BuiltinIndicator,
    FirstValueAtPeriod,
    SeriesIndicator,
    TalibMean,
    WindowExtremes,
    at_least,
    one_of_sources,
    push_extremes,
    source_index,
)

__all__ = [
    "CommodityChannelIndex",
    "Momentum",
    "MovingAverageConvergenceDivergence",
    "RateOfChange",
    "RelativeStrengthIndex",
    "StochasticOscillator",
    "StochasticRelativeStrengthIndex",
    "WilliamsPercentRange",
]


class RelativeStrengthIndex(FirstValueAtPeriod, BuiltinIndicator):
    """TA-Lib's ``RSI`` with Wilder smoothing, in [0, 100].

    The average gain and loss are seeded with the simple averages of the first ``period`` changes, so
    the first value is at index ``period``; then ``avg = (avg * (period - 1) + change) / period``.
    ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``, and 0 when both averages are zero, as TA-Lib 0.8
    (older TA-Lib releases also reported 0 when the sum was under 1e-8, which misread instruments
    priced around 1e-6; here, as in TA-Lib 0.8, only an exact zero does).
    """

    __slots__ = ("_count", "_gain", "_loss", "_period", "_period_less_one", "_previous", "_source")

    name: ClassVar[str] = "rsi"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`RelativeStrengthIndex`.

        Attributes:
            period: the Wilder smoothing period.
            source: the bar field to read.
        """

        period: int = attrs.field(default=14, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: RelativeStrengthIndex.Params | None = None) -> None:
        super().__init__(params)
        self._period = float(self.params.period)
        self._period_less_one = float(self.params.period - 1)
        self._source = source_index(self.params.source)
        self._previous = 0.0
        self._gain = 0.0
        self._loss = 0.0
        self._count = 0

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        change = x - self._previous
        self._previous = x
        if self.ready:
            gain = self._gain * self._period_less_one
            loss = self._loss * self._period_less_one
            if change < 0.0:
                loss -= change
            else:
                gain += change
            gain /= self._period
            loss /= self._period
        else:
            self._count += 1
            if self._count == 1:  # the first bar only sets the previous value
                return None
            if change < 0.0:
                self._loss -= change
            else:
                self._gain += change
            if self._count <= self._period:
                return None
            gain = self._gain / self._period
            loss = self._loss / self._period
            self.ready = True
        self._gain = gain
        self._loss = loss
        total = gain + loss
        value = 100.0 * (gain / total) if total else 0.0
        self.value = value
        return value


class StochasticOscillator(WindowExtremes):
    """TA-Lib's ``STOCH`` with simple moving averages (its defaults).

    The fast %K is ``100 * (close - lowest low) / (highest high - lowest low)`` over the last
    ``fastk_period`` bars (0 when the range is zero); ``k`` (the slow %K) is its ``slowk_period`` SMA
    and ``d`` is the ``slowd_period`` SMA of ``k``. Both appear together, as TA-Lib's do, at index
    ``fastk_period + slowk_period + slowd_period - 3``. ``value`` is ``k``.

    Attributes:
        k, d: the slow %K and %D, ``None`` until warmed up.
    """

    __slots__ = ("_d_mean", "_k_mean", "d", "k")

    name: ClassVar[str] = "stoch"
    outputs: ClassVar[tuple[str, ...]] = ("k", "d")
    warmup: ClassVar[str] = "fastk_period + slowk_period + slowd_period - 3"
    window_parameter: ClassVar[str] = "fastk_period"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`StochasticOscillator`.

        Attributes:
            fastk_period: how many bars the highest high and lowest low span.
            slowk_period: the SMA period that smooths the fast %K into ``k``.
            slowd_period: the SMA period that smooths ``k`` into ``d``.
        """

        fastk_period: int = attrs.field(default=5, validator=at_least(1))
        slowk_period: int = attrs.field(default=3, validator=at_least(1))
        slowd_period: int = attrs.field(default=3, validator=at_least(1))

    k: float | None
    d: float | None

    def __init__(self, params: StochasticOscillator.Params | None = None) -> None:
        super().__init__(params)
        self._k_mean = TalibMean(self.params.slowk_period)
        self._d_mean = TalibMean(self.params.slowd_period)
        self.k = self.d = None

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        p = cls.Params() if params is None else params
        return int(p.fastk_period + p.slowk_period + p.slowd_period - 3)

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        extremes = push_extremes(self, high, low)
        if extremes is None:
            return None
        highest, lowest = extremes
        spread = highest - lowest
        if spread <= FLAT * (abs(highest) + abs(lowest)):
            fast_k = 0.0
        else:
            fast_k = (close - lowest) / (spread / 100.0)  # TA-Lib's order of operations
        k = self._k_mean.push(fast_k)
        if k is None:
            return None
        d = self._d_mean.push(k)
        if d is None:
            return None
        self.d = d
        self.k = self.value = k
        self.ready = True
        return k


class StochasticRelativeStrengthIndex(WindowExtremes):
    """TA-Lib's ``STOCHRSI``: TA-Lib's fast Stochastic (``STOCHF``, SMA %D) applied to the RSI.

    ``k = 100 * (rsi - lowest rsi) / (highest rsi - lowest rsi)`` over the last ``fastk_period`` RSI
    values (0 when they are all equal) and ``d`` is the ``fastd_period`` SMA of ``k``; both appear at
    index ``period + fastk_period + fastd_period - 2``. ``value`` is ``k``.

    Attributes:
        k, d: the stochastic of the RSI and its SMA, ``None`` until warmed up.
    """

    __slots__ = ("_d_mean", "_rsi", "d", "k")

    name: ClassVar[str] = "stochrsi"
    outputs: ClassVar[tuple[str, ...]] = ("k", "d")
    warmup: ClassVar[str] = "period + fastk_period + fastd_period - 2"
    window_parameter: ClassVar[str] = "fastk_period"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`StochasticRelativeStrengthIndex`.

        Attributes:
            period: the RSI period.
            fastk_period: how many RSI values the highest and lowest span.
            fastd_period: the SMA period that smooths ``k`` into ``d``.
            source: the bar field the RSI reads.
        """

        period: int = attrs.field(default=14, validator=at_least(2))
        fastk_period: int = attrs.field(default=5, validator=at_least(1))
        fastd_period: int = attrs.field(default=3, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    k: float | None
    d: float | None

    def __init__(self, params: StochasticRelativeStrengthIndex.Params | None = None) -> None:
        super().__init__(params)
        p = self.params
        self._rsi = RelativeStrengthIndex(RelativeStrengthIndex.Params(period=p.period, source=p.source))
        self._d_mean = TalibMean(p.fastd_period)
        self.k = self.d = None

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        p = cls.Params() if params is None else params
        return int(p.period + p.fastk_period + p.fastd_period - 2)

    def update(self, bar: Bar) -> float | None:
        rsi = self._rsi.update(bar)
        if rsi is None:
            return None
        extremes = push_extremes(self, rsi, rsi)
        if extremes is None:
            return None
        highest, lowest = extremes
        spread = highest - lowest
        if spread <= FLAT * (abs(highest) + abs(lowest)):
            k = 0.0
        else:
            k = (rsi - lowest) / (spread / 100.0)  # TA-Lib's order of operations
        d = self._d_mean.push(k)
        if d is None:
            return None
        self.d = d
        self.k = self.value = k
        self.ready = True
        return k


class MovingAverageConvergenceDivergence(BuiltinIndicator):
    """TA-Lib's ``MACD``: ``macd = ema(fast) - ema(slow)``, ``signal = ema(signal)`` of ``macd`` and
    ``hist = macd - signal``, every EMA SMA-seeded.

    As in TA-Lib, the fast EMA starts where it has to end up aligned with the slow one: it is seeded
    with the mean of the ``fast`` values *ending* at index ``slow - 1`` (not of the first ``fast``
    values), and all three outputs appear together at index ``slow + signal - 2``. ``value`` is
    ``macd``.

    Attributes:
        macd, signal, hist: ``None`` until warmed up.
    """

    __slots__ = ("_count", "_fast", "_fast_k", "_fast_start", "_fast_total", "_signal", "_signal_k",
                 "_signal_period", "_signal_total", "_slow", "_slow_k", "_slow_period", "_slow_total",
                 "_source", "hist", "macd", "signal")

    name: ClassVar[str] = "macd"
    outputs: ClassVar[tuple[str, ...]] = ("macd", "signal", "hist")
    warmup: ClassVar[str] = "slow + signal - 2"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MovingAverageConvergenceDivergence`.

        Attributes:
            fast: the fast EMA period.
            slow: the slow EMA period, > ``fast``.
            signal: the period of the signal line, the EMA of ``macd``.
            source: the bar field to read.
        """

        fast: int = attrs.field(default=12, validator=at_least(2))
        slow: int = attrs.field(default=26, validator=at_least(2))
        signal: int = attrs.field(default=9, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

        @slow.validator
        def _slower_than_fast(self, attribute: attrs.Attribute[int], value: int) -> None:
            if isinstance(self.fast, int) and isinstance(value, int) and value <= self.fast:
                raise FieldError("slow", f"slow must be > fast ({self.fast}), got {value}")

    macd: float | None
    signal: float | None
    hist: float | None

    def __init__(self, params: MovingAverageConvergenceDivergence.Params | None = None) -> None:
        super().__init__(params)
        p = self.params
        self._source = source_index(p.source)
        self._slow_period: int = p.slow
        self._signal_period: int = p.signal
        self._fast_start: int = p.slow - p.fast  # the index where the fast EMA's seed begins
        self._fast_k = 2.0 / (p.fast + 1)
        self._slow_k = 2.0 / (p.slow + 1)
        self._signal_k = 2.0 / (p.signal + 1)
        self._fast: float | None = None
        self._slow: float | None = None
        self._signal: float | None = None
        self._fast_total = self._slow_total = self._signal_total = 0.0
        self._count = 0
        self.macd = self.signal = self.hist = None

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        p = cls.Params() if params is None else params
        return int(p.slow + p.signal - 2)

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        slow = self._slow
        if slow is not None:
            fast = self._fast
            fast = self._fast = (x - fast) * self._fast_k + fast  # type: ignore[operator]  # set with slow
            slow = self._slow = (x - slow) * self._slow_k + slow
        else:
            count = self._count
            self._count = count + 1
            self._slow_total += x
            if count >= self._fast_start:
                self._fast_total += x
            if count < self._slow_period - 1:
                return None
            fast = self._fast = self._fast_total / (self._slow_period - self._fast_start)
            slow = self._slow = self._slow_total / self._slow_period
            self._count = 0
        macd = fast - slow
        signal = self._signal
        if signal is not None:
            signal = (macd - signal) * self._signal_k + signal
        else:
            self._count += 1
            self._signal_total += macd
            if self._count < self._signal_period:
                return None
            signal = self._signal_total / self._signal_period
            self.ready = True
        self._signal = self.signal = signal
        self.hist = macd - signal
        self.macd = self.value = macd
        return macd


class _Lagged(FirstValueAtPeriod, SeriesIndicator):
    """The base of ROC and MOM, which compare each value with the one ``period`` bars before it: a ring
    buffer of the last ``period`` values, the oldest of which is the one to compare with. Each
    subclass writes its own ``update`` (the hot path), differing in the last line only."""

    __slots__ = ("_count", "_index", "_window")

    @attrs.frozen(kw_only=True)
    class _Params:
        """The parameters ROC and MOM share (each ``Params`` documents them)."""

        period: int = attrs.field(default=10, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._window = [0.0] * self._period
        self._index = 0
        self._count = 0


class RateOfChange(_Lagged):
    """TA-Lib's ``ROC``: ``100 * (x / x[period bars ago] - 1)``, 0 when the old value is 0; first value
    at index ``period``."""

    __slots__ = ()

    name: ClassVar[str] = "roc"

    @attrs.frozen(kw_only=True)
    class Params(_Lagged._Params):
        """Parameters of :class:`RateOfChange`.

        Attributes:
            period: how many bars back to compare with.
            source: the bar field to read.
        """

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        window = self._window
        i = self._index
        then = window[i]
        window[i] = x
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        if not self.ready:
            self._count += 1
            if self._count <= self._period:
                return None
            self.ready = True
        value = (x / then - 1.0) * 100.0 if then != 0.0 else 0.0
        self.value = value
        return value


class Momentum(_Lagged):
    """TA-Lib's ``MOM``: ``x - x[period bars ago]``; first value at index ``period``."""

    __slots__ = ()

    name: ClassVar[str] = "mom"

    @attrs.frozen(kw_only=True)
    class Params(_Lagged._Params):
        """Parameters of :class:`Momentum`.

        Attributes:
            period: how many bars back to compare with.
            source: the bar field to read.
        """

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        window = self._window
        i = self._index
        then = window[i]
        window[i] = x
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        if not self.ready:
            self._count += 1
            if self._count <= self._period:
                return None
            self.ready = True
        value = x - then
        self.value = value
        return value


class CommodityChannelIndex(BuiltinIndicator):
    """TA-Lib's ``CCI``: ``(tp - mean) / (0.015 * mean deviation)`` of the typical price
    ``tp = (high + low + close) / 3`` over the last ``period`` bars (0 when either is zero); first
    value at index ``period - 1``.

    The mean absolute deviation from a moving mean has no O(1) update, so each update sums the window
    (O(``period``), as TA-Lib does); the mean is summed in TA-Lib's order, so that ``tp - mean``, a
    difference of nearby numbers, agrees with TA-Lib's to the bit.
    """

    __slots__ = ("_count", "_index", "_period", "_window")

    name: ClassVar[str] = "cci"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`CommodityChannelIndex`.

        Attributes:
            period: how many bars.
        """

        period: int = attrs.field(default=14, validator=at_least(2))

    def __init__(self, params: CommodityChannelIndex.Params | None = None) -> None:
        super().__init__(params)
        self._period: int = self.params.period
        self._window = [0.0] * self._period
        self._index = 0
        self._count = 0

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        typical = (high + low + close) / 3.0
        window = self._window
        i = self._index
        window[i] = typical
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        if not self.ready:
            self._count += 1
            if self._count < self._period:
                return None
            self.ready = True
        n = self._period
        mean = sum(window) / n
        deviation = sum([abs(v - mean) for v in window]) / n
        spread = typical - mean
        band = FLAT * abs(mean)
        value = spread / (0.015 * deviation) if abs(spread) > band and deviation > band else 0.0
        self.value = value
        return value


class WilliamsPercentRange(WindowExtremes):
    """TA-Lib's ``WILLR``: ``-100 * (highest high - close) / (highest high - lowest low)`` over the
    last ``period`` bars, in [-100, 0] (0 when the range is zero); first value at index
    ``period - 1``."""

    __slots__ = ()

    name: ClassVar[str] = "willr"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`WilliamsPercentRange`.

        Attributes:
            period: how many bars.
        """

        period: int = attrs.field(default=14, validator=at_least(2))

    def update(self, bar: Bar) -> float | None:
        _, _, _, high, low, close, _ = bar
        extremes = push_extremes(self, high, low)
        if extremes is None:
            return None
        highest, lowest = extremes
        spread = highest - lowest
        if spread <= FLAT * (abs(highest) + abs(lowest)):
            value = 0.0
        else:
            value = (highest - close) / (spread / -100.0)  # TA-Lib's order of operations
        self.value = value
        self.ready = True
        return value
