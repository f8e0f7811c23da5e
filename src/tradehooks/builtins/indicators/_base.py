"""What the built-in indicators share: the base class, parameter validators and the recompute schedule.

``update`` is the hot path (called once per bar, about a million times per backtest), so every
indicator writes its own ``update`` with slotted attributes read into locals, plain float arithmetic
and no attrs machinery. Running sums are recomputed exactly from their window now and then (the SMA
every :func:`laps_between_recomputes` turns of its ring buffer, the standard deviation whenever its
rounding-error budget runs out) so float drift stays far below 1e-9 relative however long the run.

A single-series indicator reads ``bar[index]`` with the index of its ``source`` field, picked once in
``__init__``: on a named tuple that costs the same as ``bar.close``, so there is one path for every
source (mypy sees ``bar[i]`` as ``str | int | float``, hence the ``type: ignore`` on those reads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs

from tradehooks.exceptions import FieldError

from tradehooks.model import Bar

__all__ = [
    "SOURCES",
    "BuiltinIndicator",
    "at_least",
    "greater_than_zero",
    "laps_between_recomputes",
    "one_of_sources",
    "source_index",
]

#: the bar fields a single-series indicator may read
SOURCES = ("open", "high", "low", "close", "volume")

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
    """Base of the built-in indicators: construction from ``Params``, ``from_kwargs`` and ``batch``.

    Attributes:
        params: the validated parameters.
        value: the latest value, ``None`` until warmed up.
        ready: ``True`` once ``value`` is defined.
    """

    __slots__ = ("params", "ready", "value")

    name: ClassVar[str]
    Params: ClassVar[type]

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
    def batch(cls, params: Any, values_or_bars: Iterable[Bar | float]) -> list[float | None]:
        """Run a fresh indicator over ``values_or_bars`` and return its value after each one (``None``
        during warm-up; the middle band for band indicators).

        A plain number ``v`` stands for a bar whose open, high, low, close and volume are all ``v``.
        """
        indicator = cls(params)
        update = indicator.update  # type: ignore[attr-defined]
        values: list[float | None] = []
        append = values.append
        for item in values_or_bars:
            if not isinstance(item, tuple):
                item = Bar("", 0, item, item, item, item, item)
            append(update(item))
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, value={self.value!r})"
