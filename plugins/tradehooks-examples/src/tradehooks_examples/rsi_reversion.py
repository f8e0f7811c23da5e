"""``rsi_reversion``: buy oversold, leave (or short) overbought, on Wilder's RSI."""

from __future__ import annotations

from typing import ClassVar

import attrs

from tradehooks import Target
from tradehooks.contracts import ComponentContext
from tradehooks.model import Bar


@attrs.frozen(kw_only=True)
class RsiReversionParams:
    """Parameters of :class:`RsiReversion`.

    Attributes:
        period: RSI period.
        oversold: enter long when the RSI falls below this level.
        overbought: exit (or enter short) when the RSI rises above this level.
        exit: leave a position when the RSI crosses back over this level.
        allow_short: go short when overbought instead of only leaving a long.
    """

    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    exit: float = 50.0
    allow_short: bool = False

    def __attrs_post_init__(self) -> None:
        if self.period < 2:
            raise ValueError(f"period must be >= 2, got {self.period}")
        if not 0 < self.oversold < self.exit < self.overbought < 100:
            raise ValueError(
                "levels must satisfy 0 < oversold < exit < overbought < 100, got "
                f"{self.oversold}, {self.exit}, {self.overbought}"
            )


class RsiReversion:
    """Mean reversion on the relative strength index.

    ======================  =========  ==================================================
    Method                  Required?  What it must do
    ======================  =========  ==================================================
    ``__init__(params,ctx)``  yes      ask ``ctx`` for the RSI
    ``on_bar(bar)``         yes        return a target exposure in [-1, 1], or ``None``
    ======================  =========  ==================================================

    RSI below ``oversold``: +1. A long is left (0) once the RSI is back above ``exit``. RSI above
    ``overbought``: 0, or -1 with ``allow_short``; a short is left once the RSI is back below ``exit``.
    """

    name: ClassVar[str] = "rsi_reversion"
    Params: ClassVar[type] = RsiReversionParams

    def __init__(self, params: RsiReversionParams, ctx: ComponentContext) -> None:
        self.params = params
        self._rsi = ctx.indicator("rsi", period=params.period)
        self._state = 0.0
        self._long = Target(1.0, f"RSI({params.period}) below {params.oversold}")
        self._short = Target(-1.0 if params.allow_short else 0.0, f"RSI({params.period}) above {params.overbought}")
        self._flat = Target(0.0, f"RSI({params.period}) back to {params.exit}")

    def on_bar(self, bar: Bar) -> Target | None:
        rsi = self._rsi.value
        if rsi is None:
            return None
        params = self.params
        if rsi < params.oversold:
            self._state = 1.0
            return self._long
        if rsi > params.overbought:
            self._state = self._short.exposure
            return self._short
        if (self._state > 0 and rsi > params.exit) or (self._state < 0 and rsi < params.exit):
            self._state = 0.0
            return self._flat
        return None
