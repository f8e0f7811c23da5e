"""The built-in risk rules (plugin ``risk``). Each sees every order before it reaches the broker.

================  =====================  =====================================================
name              class                  what it does
================  =====================  =====================================================
``max_position``  :class:`MaxPosition`   caps the net position of an instrument: shrinks or denies
``price_band``    :class:`PriceBand`     denies limit and stop prices too far from the last price
================  =====================  =====================================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import attrs

from tradehooks import hookimpl
from tradehooks.exceptions import FieldError
from tradehooks.contracts import ComponentContext, PortfolioView, RiskDecision
from tradehooks.model import Order, OrderType, to_decimal

__all__ = ["MaxPosition", "PriceBand", "register_risk_rules"]


def _positive(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


class MaxPosition:
    """``max_position``: keep the absolute net position of an instrument (all strategies together) at
    or under ``max_quantity``.

    An order that would go past the cap is shrunk to what fits, rounded down to the instrument's lot,
    or denied when nothing fits. An order that moves the position towards zero without passing it is
    always allowed, even while the position is over the cap (after the cap was lowered, say); an order
    that flips the position may open at most ``max_quantity`` on the other side.

    Only filled positions count: orders still open are not added up.
    """

    name: ClassVar[str] = "max_position"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxPosition`.

        Attributes:
            max_quantity: the largest absolute net position, in base units.
            instrument: the instrument the cap applies to; ``None`` caps each instrument separately.
        """

        max_quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive)
        instrument: str | None = None

    def __init__(self, params: MaxPosition.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        instrument_id = order.instrument_id
        cap = self.params.max_quantity
        if self.params.instrument is not None and instrument_id != self.params.instrument:
            return None
        position = portfolio.position(instrument_id)
        sign = order.side.sign
        after = position + sign * order.quantity
        if abs(after) <= cap:
            return None
        if after * position >= 0 and abs(after) <= abs(position):
            return None  # a reduction that stays on the same side of zero
        fits = cap - sign * position  # how far this side may go: to +cap for a buy, -cap for a sell
        instrument = self.ctx.instruments.get(instrument_id)
        if instrument is not None:
            fits = instrument.quantity_down(fits)
        if fits <= 0:
            return RiskDecision.deny(
                f"{instrument_id}: position {position} is at the cap of {cap}; "
                f"a {order.side.value} of {order.quantity} would make it {after}"
            )
        return RiskDecision.shrink(
            fits,
            f"{instrument_id}: a {order.side.value} of {order.quantity} would take the position from "
            f"{position} to {after}, past the cap of {cap}; shrunk to {fits}",
        )


class PriceBand:
    """``price_band``: deny a limit, stop or stop-limit order whose limit or trigger price is more than
    ``max_deviation`` (a fraction: 0.05 is 5 %) away from the instrument's last price.

    Market orders are always allowed, and so is everything while there is no last price yet.
    """

    name: ClassVar[str] = "price_band"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`PriceBand`.

        Attributes:
            max_deviation: the largest distance from the last price, as a fraction of it.
        """

        max_deviation: Decimal = attrs.field(converter=to_decimal, validator=_positive)

    def __init__(self, params: PriceBand.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        if order.type is OrderType.MARKET:
            return None
        last_price = portfolio.last_price(order.instrument_id)
        if last_price is None or last_price <= 0:
            return None
        last = to_decimal(last_price)
        limit = self.params.max_deviation
        for what, price in (("price", order.price), ("trigger price", order.trigger_price)):
            if price is None:
                continue
            deviation = abs(price - last) / last
            if deviation > limit:
                return RiskDecision.deny(
                    f"{order.instrument_id}: {what} {price} is {deviation:.2%} from the last price "
                    f"{last}, more than the {limit:.2%} allowed"
                )
        return None


@hookimpl
def register_risk_rules() -> list[type]:
    """Register the built-in risk rules."""
    return [MaxPosition, PriceBand]
