"""``range_trading``: buy near the bottom of the recent range, sell near its top."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import attrs

from tradehooks import Target
from tradehooks.contracts import ComponentContext
from tradehooks.model import Bar

if TYPE_CHECKING:
    from tradehooks.builtins.indicators import DonchianChannels


@attrs.frozen(kw_only=True)
class RangeTradingParams:
    """Parameters of :class:`RangeTrading`.

    Attributes:
        period: bars in the range (a Donchian channel of highs and lows).
        band: the fraction of the range's width, from either edge, that counts as "near".
        allow_short: go short near the top instead of only leaving a long.
    """

    period: int = 20
    band: float = 0.1

    allow_short: bool = False

    def __attrs_post_init__(self) -> None:
        if self.period < 2:
            raise ValueError(f"period must be >= 2, got {self.period}")
        if not 0 < self.band < 0.5:
            raise ValueError(f"band must be in (0, 0.5), got {self.band}")


class RangeTrading:
    """Range trading on a Donchian channel.

    ======================  =========  ==================================================
    Method                  Required?  What it must do
    ======================  =========  ==================================================
    ``__init__(params,ctx)``  yes      ask ``ctx`` for the Donchian channel
    ``on_bar(bar)``         yes        return a target exposure in [-1, 1], or ``None``
    ======================  =========  ==================================================

    Close within ``band`` of the channel's low: +1. Close within ``band`` of its high: 0, or -1 with
    ``allow_short``. A channel of zero width says nothing.
    """

    name: ClassVar[str] = "range_trading"
    Params: ClassVar[type] = RangeTradingParams

    def __init__(self, params: RangeTradingParams, ctx: ComponentContext) -> None:
        self.params = params
        self._channel = cast("DonchianChannels", ctx.indicator("donchian", period=params.period))
        self._buy = Target(1.0, f"close near the {params.period}-bar low")
        self._sell = Target(-1.0 if params.allow_short else 0.0, f"close near the {params.period}-bar high")

    def on_bar(self, bar: Bar) -> Target | None:
        channel = self._channel
        upper, lower = channel.upper, channel.lower
        if upper is None or lower is None:  # not warmed up yet (``value`` is None too)
            return None
        width = upper - lower
        if width <= 0:
            return None
        position = (bar.close - lower) / width
        if position <= self.params.band:
            return self._buy
        if position >= 1 - self.params.band:
            return self._sell
        return None
