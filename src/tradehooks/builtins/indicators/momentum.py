"""Momentum indicators: the relative strength index (``rsi``)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from tradehooks.model import Bar

from ._base import BuiltinIndicator, at_least, one_of_sources, source_index

__all__ = ["RelativeStrengthIndex"]


class RelativeStrengthIndex(BuiltinIndicator):
    """TA-Lib's ``RSI`` with Wilder smoothing, in [0, 100].

    The average gain and loss are seeded with the simple averages of the first ``period`` changes, so
    the first value is at index ``period``; then ``avg = (avg * (period - 1) + change) / period``.
    ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``, and 0 when both averages are zero (as TA-Lib,
    except that TA-Lib also reports 0 when their sum is under 1e-8, which misreads instruments priced
    around 1e-6; here only an exact zero does).
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
