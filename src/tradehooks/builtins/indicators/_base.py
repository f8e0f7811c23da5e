"""What the built-in indicators share: the base class, parameter validators and the recompute schedule.

``update`` is the hot path (called once per bar, about a million times per backtest), so every
indicator writes its own ``update`` with slotted attributes read into locals, plain float arithmetic
and no attrs machinery. Running sums are recomputed exactly from their window now and then (the SMA
every :func:`laps_between_recomputes` turns of its ring buffer, the standard deviation whenever its
rounding-error budget runs out) so float drift stays far below 1e-9 relative however long the run.
Where TA-Lib keeps a running sum whose rounding residue decides a branch or shows in a value near
zero (KAMA's path length, the Stochastic's smoothing, MFI's money flows), the sum is kept in TA-Lib's
order of operations, so that the branch goes the same way and the residue is the same.

A single-series indicator reads ``bar[index]`` with the index of its ``source`` field, picked once in
``__init__``: on a named tuple that costs the same as ``bar.close``, so there is one path for every
source (mypy sees ``bar[i]`` as ``str | int | float``, hence the ``type: ignore`` on those reads).
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any, ClassVar

import attrs

from tradehooks.exceptions import FieldError
from tradehooks.model import Bar

__all__ = [
    "FLAT",
    "SOURCES",
    "BuiltinIndicator",
    "FirstValueAtPeriod",
    "SeriesIndicator",
    "TalibMean",
    "WindowExtremes",
    "at_least",
    "greater_than_zero",
    "laps_between_recomputes",
    "one_of_sources",
    "optional_at_least",
    "push_extremes",
    "source_index",
]

#: the bar fields a single-series indicator may read
SOURCES = ("open", "high", "low", "close", "volume")

FLAT = 1e-14
"""TA-Lib's scaled zero test: a difference within ``FLAT`` times the magnitude of the numbers it is a
difference of (about 90 ulps) is rounding residue, and counts as zero (a flat window's range)."""

_RECOMPUTE_EVERY = 1024  # updates, at least: the exact recompute then costs well under 1 ns per update


def source_index(source: str) -> int:
    """The position of ``source`` in :class:`~tradehooks.model.Bar`: ``bar[index]`` reads it as fast
    as ``bar.close`` does."""
    return Bar._fields.index(source)


def laps_between_recomputes(period: int) -> int:
    """How many full turns of a ``period``-long ring buffer to make between two exact recomputes."""
    return max(16, -(-_RECOMPUTE_EVERY // period))


def at_least(minimum: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    """An attrs validator: an integer >= ``minimum``."""

    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(attribute.name, f"{attribute.name} must be an integer, got {value!r}")
        if value < minimum:
            raise FieldError(attribute.name, f"{attribute.name} must be >= {minimum}, got {value}")

    return check


def optional_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[int | None], int | None], None]:
    """An attrs validator: ``None`` or an integer >= ``minimum``."""
    check = at_least(minimum)

    def check_optional(instance: Any, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None:
            check(instance, attribute, value)  # type: ignore[arg-type]

    return check_optional


def greater_than_zero(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    """An attrs validator: a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(attribute.name, f"{attribute.name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def one_of_sources(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    """An attrs validator: one of :data:`SOURCES`."""
    if value not in SOURCES:
        raise FieldError(attribute.name, f"{attribute.name} must be one of {', '.join(SOURCES)}; got {value!r}")


class BuiltinIndicator:
    """Base of the built-in indicators: construction from ``Params``, ``from_kwargs``, ``lookback``
    and ``batch``.

    Class attributes:
        name: the registry name.
        outputs: the names of the outputs, in CSV order; each is an attribute (``None`` until
            warmed up), and ``value`` is the primary one. Single-output indicators: ``("value",)``.
        warmup: the index of the first value, as an expression of the parameters
            (``"period - 1"``); :meth:`lookback` computes it.

    Attributes:
        params: the validated parameters.
        value: the latest (primary) value, ``None`` until warmed up.
        ready: ``True`` once ``value`` is defined.
    """

    __slots__ = ("params", "ready", "value")

    name: ClassVar[str]
    Params: ClassVar[type]
    outputs: ClassVar[tuple[str, ...]] = ("value",)
    warmup: ClassVar[str] = "period - 1"

    params: Any
    value: float | None
    ready: bool

    def __init__(self, params: Any = None) -> None:
        self.params = self.Params() if params is None else params
        self.value = None
        self.ready = False

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Any:
        """Build the indicator from keyword parameters: ``SimpleMovingAverage.from_kwargs(period=5)``."""
        return cls(cls.Params(**kwargs))

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        """The index of the first value: how many updates return ``None`` before it (TA-Lib's
        ``lookback``). ``warmup`` says the same as an expression of the parameters."""
        params = cls.Params() if params is None else params
        return int(params.period) - 1

    @classmethod
    def batch(cls, params: Any, values_or_bars: Any) -> Any:
        """Run a fresh indicator over a whole series.

        Args:
            params: the parameters (``None`` for the defaults).
            values_or_bars: one of

                * bars or plain numbers (any iterable): a number ``v`` stands for a bar whose
                  open, high, low, close and volume are all ``v``. Returns a list with the value
                  after each element (``None`` during warm-up), or, for a multi-output indicator,
                  a dict of such lists keyed by ``outputs``.
                * a numpy array of numbers (standing for bars as above), or a mapping of columns
                  (``open``, ``high``, ``low``, ``close``, ``volume`` and, for the session VWAP,
                  ``ts`` in nanoseconds) holding the fields the indicator reads. Runs a vectorised
                  numpy implementation and returns a float64 array (NaN during warm-up), or a dict
                  of arrays for a multi-output indicator.
        """
        numpy = sys.modules.get("numpy")
        if isinstance(values_or_bars, Mapping) or (
            numpy is not None and isinstance(values_or_bars, numpy.ndarray)
        ):
            from ._arrays import run_arrays
            return run_arrays(cls, cls.Params() if params is None else params, values_or_bars)
        return cls._batch_items(params, values_or_bars)

    @classmethod
    def _batch_items(cls, params: Any, items: Iterable[Bar | float]) -> Any:
        """:meth:`batch` over bars or plain numbers, one ``update`` each."""
        indicator = cls(params)
        update = indicator.update  # type: ignore[attr-defined]
        outputs = cls.outputs
        if outputs == ("value",):
            values: list[float | None] = []
            append = values.append
            for item in items:
                if not isinstance(item, tuple):
                    item = Bar("", 0, item, item, item, item, item)
                append(update(item))
            return values
        columns: list[list[float | None]] = [[] for _ in outputs]
        appends = [column.append for column in columns]
        read = attrgetter(*outputs)
        for item in items:
            if not isinstance(item, tuple):
                item = Bar("", 0, item, item, item, item, item)
            update(item)
            for append, value in zip(appends, read(indicator)):
                append(value)
        return dict(zip(outputs, columns))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, value={self.value!r})"


class FirstValueAtPeriod:
    """Mixin (list it before the base class) for an indicator whose first value is at index ``period``:
    one bar more than its window, because it also needs the value before (a change, a true range, a
    value ``period`` bars ago)."""

    __slots__ = ()

    warmup: ClassVar[str] = "period"

    Params: ClassVar[type]

    @classmethod
    def lookback(cls, params: Any = None) -> int:
        return int((cls.Params() if params is None else params).period)


class SeriesIndicator(BuiltinIndicator):
    """Base of a single-series indicator over ``period`` values: ``_period`` (the integer
    ``params.period``) and ``_source`` (the index of ``params.source`` in a bar, see
    :func:`source_index`), set once in ``__init__`` for ``update`` to read."""

    __slots__ = ("_period", "_source")

    _period: int
    _source: int

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._period = self.params.period
        self._source = source_index(self.params.source)


class WindowExtremes(BuiltinIndicator):
    """Base of an indicator that keeps the highest high and lowest low of its last ``_period`` bars in
    monotonic deques (see :class:`~tradehooks.builtins.indicators.DonchianChannels`), pushed with
    :func:`push_extremes`.

    Class attributes:
        window_parameter: the name of the parameter that sets the window's length.
    """

    __slots__ = ("_count", "_highs", "_index", "_lows", "_maxima", "_minima", "_period")

    window_parameter: ClassVar[str] = "period"

    _period: int

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        period: int = getattr(self.params, self.window_parameter)
        self._period = period
        self._highs = [math.nan] * period
        self._lows = [math.nan] * period
        self._index = 0
        self._count = 0
        self._maxima: deque[float] = deque()
        self._minima: deque[float] = deque()


def push_extremes(indicator: WindowExtremes, high: float, low: float) -> tuple[float, float] | None:
    """Push ``high`` and ``low`` into ``indicator``'s window and return its highest and lowest, or
    ``None`` until the window is full."""
    i = indicator._index
    highs = indicator._highs
    lows = indicator._lows
    leaving_high = highs[i]
    leaving_low = lows[i]
    highs[i] = high
    lows[i] = low
    maxima = indicator._maxima
    while maxima and maxima[-1] < high:
        maxima.pop()
    maxima.append(high)
    if maxima[0] == leaving_high:
        maxima.popleft()
    minima = indicator._minima
    while minima and minima[-1] > low:
        minima.pop()
    minima.append(low)
    if minima[0] == leaving_low:
        minima.popleft()
    i += 1
    if i == indicator._period:
        i = 0
    indicator._index = i
    if indicator._count < indicator._period - 1:
        indicator._count += 1
        return None
    return maxima[0], minima[0]


class TalibMean:
    """The mean of the last ``period`` numbers, kept exactly as TA-Lib's ``SMA`` keeps it (add the new
    value, divide, then subtract the oldest), for smoothing an indicator's own output (the
    Stochastic's %K and %D) bit for bit as TA-Lib does.

    ``push(x)`` returns the mean once ``period`` numbers have come, else ``None``.
    """

    __slots__ = ("_count", "_index", "_period", "_total", "_window")

    def __init__(self, period: int) -> None:
        self._period = period
        self._window = [0.0] * period
        self._index = 0
        self._count = 0
        self._total = 0.0

    def push(self, x: float) -> float | None:
        window = self._window
        i = self._index
        window[i] = x
        i += 1
        if i == self._period:
            i = 0
        self._index = i
        total = self._total + x
        if self._count < self._period - 1:
            self._count += 1
            self._total = total
            return None
        self._total = total - window[i]  # the oldest of the window, which leaves before the next value
        return total / self._period
