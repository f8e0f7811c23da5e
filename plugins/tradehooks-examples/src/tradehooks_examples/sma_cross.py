"""``sma_cross``: long when the fast SMA crosses above the slow one, out (or short) when below."""

from __future__ import annotations

from typing import ClassVar

import attrs

from tradehooks import Target
from tradehooks.contracts import ComponentContext
from tradehooks.model import Bar


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@attrs.frozen(kw_only=True)
class SmaCrossParams:
    """Parameters of :class:`SmaCross`.

    Attributes:
        fast: period of the fast simple moving average.
        slow: period of the slow one; must be greater than ``fast``.
        allow_short: go short (-1) on a cross below instead of flat (0).
    """

    fast: int = attrs.field(default=10, validator=_at_least_one)
    slow: int = attrs.field(default=30, validator=_at_least_one)
    allow_short: bool = False

    def __attrs_post_init__(self) -> None:
        if self.slow <= self.fast:
            raise ValueError(f"slow ({self.slow}) must be greater than fast ({self.fast})")


class SmaCross:
    """Trend following on two simple moving averages of the close.

    ======================  =========  ==================================================
    Method                  Required?  What it must do
    ======================  =========  ==================================================
    ``__init__(params,ctx)``  yes      ask ``ctx`` for the indicators the signal reads
    ``on_bar(bar)``         yes        return a target exposure in [-1, 1], or ``None``
    ======================  =========  ==================================================

    On the bar where the fast SMA goes from at-or-below the slow SMA to above it, the target becomes
    +1; on the bar where it goes from at-or-above to below, the target becomes 0 (or -1 with
    ``allow_short``). Nothing is said before both averages are ready.
    """

    name: ClassVar[str] = "sma_cross"
    Params: ClassVar[type] = SmaCrossParams

    def __init__(self, params: SmaCrossParams, ctx: ComponentContext) -> None:
        self._fast = ctx.indicator("sma", period=params.fast)
        self._slow = ctx.indicator("sma", period=params.slow)
        self._previous: float | None = None
        self._long = Target(1.0, f"SMA({params.fast}) crossed above SMA({params.slow})")
        self._exit = Target(-1.0 if params.allow_short else 0.0,
                            f"SMA({params.fast}) crossed below SMA({params.slow})")

    def on_bar(self, bar: Bar) -> Target | None:
        slow = self._slow.value
        if slow is None:
            return None
        difference = self._fast.value - slow  # type: ignore[operator]
        previous = self._previous
        self._previous = difference
        if previous is None:
            return None
        if difference > 0 >= previous:
            return self._long
        if difference < 0 <= previous:
            return self._exit
        return None
