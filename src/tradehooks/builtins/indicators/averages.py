"""Moving averages: simple (``sma``), exponential (``ema``), weighted (``wma``), double and triple
exponential (``dema``, ``tema``) and Kaufman's adaptive (``kama``)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from tradehooks.model import Bar

from ._base import FirstValueAtPeriod, SeriesIndicator, at_least, laps_between_recomputes, one_of_sources

__all__ = [
    "DoubleExponentialMovingAverage",
    "ExponentialMovingAverage",
    "KaufmanAdaptiveMovingAverage",
    "SimpleMovingAverage",
    "TripleExponentialMovingAverage",
    "WeightedMovingAverage",
]


@attrs.frozen(kw_only=True)
class _AverageParams:
    """The parameters the SMA, EMA and WMA share (each ``Params`` documents them)."""

    period: int = attrs.field(default=20, validator=at_least(1))
    source: str = attrs.field(default="close", validator=one_of_sources)


class SimpleMovingAverage(SeriesIndicator):
    """The mean of the last ``period`` values (TA-Lib ``SMA``): first value at index ``period - 1``.

    A running sum over a ring buffer, recomputed exactly every few thousand updates.
    """

    __slots__ = ("_index", "_laps", "_total", "_window")

    name: ClassVar[str] = "sma"

    @attrs.frozen(kw_only=True)
    class Params(_AverageParams):
        """Parameters of :class:`SimpleMovingAverage`.

        Attributes:
            period: how many values to average.
            source: the bar field to read.
        """

    def __init__(self, params: SimpleMovingAverage.Params | None = None) -> None:
        super().__init__(params)
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


class ExponentialMovingAverage(SeriesIndicator):
    """TA-Lib's ``EMA``: seeded with the SMA of the first ``period`` values (first value at index
    ``period - 1``), then ``ema += (x - ema) * k`` with ``k = 2 / (period + 1)``."""

    __slots__ = ("_count", "_k", "_total")

    name: ClassVar[str] = "ema"

    @attrs.frozen(kw_only=True)
    class Params(_AverageParams):
        """Parameters of :class:`ExponentialMovingAverage`.

        Attributes:
            period: the span; the smoothing factor is ``2 / (period + 1)``.
            source: the bar field to read.
        """

    def __init__(self, params: ExponentialMovingAverage.Params | None = None) -> None:
        super().__init__(params)
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


_WMA_RECOMPUTE_EVERY = 64  # updates, at least: keeps the weighted sum within about 1e-14 relative


class WeightedMovingAverage(SeriesIndicator):
    """TA-Lib's ``WMA``: the last ``period`` values weighted 1, 2, ..., ``period`` (newest heaviest),
    divided by ``period * (period + 1) / 2``; first value at index ``period - 1``.

    Two running sums, as TA-Lib keeps them: the plain sum of the window and the weighted sum, which
    gains ``period * x`` and loses the plain sum at each step. The weighted sum adds up the plain
    sum's rounding errors, so its error grows faster than linearly; both are recomputed exactly at the
    end of the first lap of the ring buffer after every :data:`_WMA_RECOMPUTE_EVERY` updates (O(1)
    amortised: at most once per lap).
    """

    __slots__ = ("_count", "_divider", "_index", "_laps", "_total", "_weighted", "_window")

    name: ClassVar[str] = "wma"

    @attrs.frozen(kw_only=True)
    class Params(_AverageParams):
        """Parameters of :class:`WeightedMovingAverage`.

        Attributes:
            period: how many values to average.
            source: the bar field to read.
        """

    def __init__(self, params: WeightedMovingAverage.Params | None = None) -> None:
        super().__init__(params)
        self._divider = float(self._period * (self._period + 1) // 2)
        self._window = [0.0] * self._period
        self._index = 0
        self._count = 0
        self._total = 0.0
        self._weighted = 0.0
        self._laps = 1

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        window = self._window
        i = self._index
        total = self._total + x - window[i]  # the slot holds 0.0 until the window fills
        window[i] = x
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        self._total = total
        if not self.ready:
            self._count += 1
            if self._count < self._period:
                self._weighted += x * self._count
                return None
            self.ready = True
        weighted = self._weighted + x * self._period
        value = weighted / self._divider
        weighted -= total  # every weight drops by one; the oldest value's weight reaches zero
        if not i:
            self._laps -= 1
            if not self._laps:
                self._laps = -(-_WMA_RECOMPUTE_EVERY // self._period)
                self._total = math.fsum(window)
                weighted = math.fsum([x * k for k, x in enumerate(window)])
        self._weighted = weighted
        self.value = value
        return value


class _ExponentialChain(SeriesIndicator):
    """``depth`` EMAs in a chain (each seeded with the SMA of the first ``period`` values it gets,
    TA-Lib's convention): the base of DEMA (``depth`` 2) and TEMA (``depth`` 3)."""

    __slots__ = ("_counts", "_emas", "_k", "_totals")

    depth: ClassVar[int]

    @attrs.frozen(kw_only=True)
    class _Params:
        """The parameters DEMA and TEMA share (each ``Params`` documents them)."""

        period: int = attrs.field(default=30, validator=at_least(1))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._k: float = 2.0 / (self._period + 1)
        self._emas: list[float | None] = [None] * self.depth
        self._counts = [0] * self.depth
        self._totals = [0.0] * self.depth

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        params = cls.Params() if params is None else params
        return cls.depth * (int(params.period) - 1)

    def _chain(self, x: float) -> list[float | None]:
        """Feed ``x`` through the chain; return the EMAs (``None`` where one is still warming up)."""
        emas = self._emas
        k = self._k
        for level in range(self.depth):
            ema = emas[level]
            if ema is not None:
                ema = (x - ema) * k + ema  # TA-Lib's order of operations
            else:
                self._counts[level] += 1
                self._totals[level] += x
                if self._counts[level] < self._period:
                    return emas
                ema = self._totals[level] / self._period
            emas[level] = x = ema
        return emas


class DoubleExponentialMovingAverage(_ExponentialChain):
    """TA-Lib's ``DEMA``: ``2 * ema1 - ema2`` where ``ema1`` is the EMA of the values and ``ema2``
    the EMA of ``ema1``, both SMA-seeded; first value at index ``2 * (period - 1)``."""

    __slots__ = ()

    name: ClassVar[str] = "dema"
    warmup: ClassVar[str] = "2 * (period - 1)"
    depth: ClassVar[int] = 2

    @attrs.frozen(kw_only=True)
    class Params(_ExponentialChain._Params):
        """Parameters of :class:`DoubleExponentialMovingAverage`.

        Attributes:
            period: the span of both EMAs.
            source: the bar field to read.
        """

    def update(self, bar: Bar) -> float | None:
        ema1, ema2 = self._chain(bar[self._source])  # type: ignore[arg-type]  # a price or volume field
        if ema2 is None:
            return None
        value = 2.0 * ema1 - ema2  # type: ignore[operator]  # ema1 is ready before ema2
        self.value = value
        self.ready = True
        return value


class TripleExponentialMovingAverage(_ExponentialChain):
    """TA-Lib's ``TEMA``: ``3 * ema1 - 3 * ema2 + ema3`` with ``ema2`` the EMA of ``ema1`` and ``ema3``
    the EMA of ``ema2``, all SMA-seeded; first value at index ``3 * (period - 1)``."""

    __slots__ = ()

    name: ClassVar[str] = "tema"
    warmup: ClassVar[str] = "3 * (period - 1)"
    depth: ClassVar[int] = 3

    @attrs.frozen(kw_only=True)
    class Params(_ExponentialChain._Params):
        """Parameters of :class:`TripleExponentialMovingAverage`.

        Attributes:
            period: the span of the three EMAs.
            source: the bar field to read.
        """

    def update(self, bar: Bar) -> float | None:
        ema1, ema2, ema3 = self._chain(bar[self._source])  # type: ignore[arg-type]  # a price or volume field
        if ema3 is None:
            return None
        value = ema3 + (3.0 * ema1 - 3.0 * ema2)  # type: ignore[operator]  # TA-Lib's order
        self.value = value
        self.ready = True
        return value


_KAMA_SLOWEST = 2.0 / (30.0 + 1.0)  # TA-Lib's slow constant: an EMA of 30
_KAMA_SPREAD = 2.0 / (2.0 + 1.0) - _KAMA_SLOWEST  # up to the fast constant: an EMA of 2


class KaufmanAdaptiveMovingAverage(FirstValueAtPeriod, SeriesIndicator):
    """TA-Lib's ``KAMA``: an EMA whose smoothing constant follows the market's efficiency.

    With ``change = x - x[period bars ago]`` and ``path`` the sum of the last ``period`` absolute
    one-bar changes, the efficiency ratio is ``|change / path|`` (1 when ``path`` is zero or not above
    ``change``), the constant is ``(ratio * (2/3 - 2/31) + 2/31) ** 2`` (between an EMA of 30 and one
    of 2, TA-Lib's fixed bounds) and ``kama += (x - kama) * constant``. The first value, at index
    ``period``, starts from the previous value. ``path`` is a running sum kept in TA-Lib's order of
    operations: over a flat window its rounding residue decides the ratio, the same way as TA-Lib's.
    """

    __slots__ = ("_changes", "_count", "_index", "_path", "_previous", "_values")

    name: ClassVar[str] = "kama"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`KaufmanAdaptiveMovingAverage`.

        Attributes:
            period: how many bars the efficiency ratio spans.
            source: the bar field to read.
        """

        period: int = attrs.field(default=30, validator=at_least(2))
        source: str = attrs.field(default="close", validator=one_of_sources)

    def __init__(self, params: KaufmanAdaptiveMovingAverage.Params | None = None) -> None:
        super().__init__(params)
        self._values = [0.0] * self._period  # the last period values; the slot to write holds x[t - period]
        self._changes = [0.0] * self._period  # the last period absolute changes, likewise
        self._index = 0
        self._count = 0
        self._path = 0.0
        self._previous = 0.0

    def update(self, bar: Bar) -> float | None:
        x: float = bar[self._source]  # type: ignore[assignment]  # a price or volume field
        previous = self._previous
        self._previous = x
        i = self._index
        values = self._values
        changes = self._changes
        then = values[i]
        values[i] = x
        step = abs(x - previous)
        leaving = changes[i]
        changes[i] = step
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        kama = self.value
        if kama is None:
            count = self._count
            self._count = count + 1
            if count:
                self._path += step
            if count < self._period:
                return None
            kama = previous  # TA-Lib starts from the previous value
            path = self._path
        else:
            path = self._path = self._path - leaving + step
        change = x - then
        if path <= change or not path:
            ratio = 1.0
        else:
            ratio = abs(change / path)
        constant = ratio * _KAMA_SPREAD + _KAMA_SLOWEST
        constant *= constant
        kama = (x - kama) * constant + kama
        self.value = kama
        self.ready = True
        return kama
