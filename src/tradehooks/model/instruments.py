"""Instruments: what can be traded, and the tick, lot and notional rules every order must follow."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import attrs

from ..exceptions import FieldError, InvalidOrderError
from .numbers import ZERO, ceil_to, floor_to, to_decimal

__all__ = ["Instrument", "InstrumentId"]

InstrumentId = str
"""An instrument's identifier, the symbol used in presets (``"BTCUSDT"``)."""


def _positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class Instrument:
    """A tradable instrument.

    Args:
        id: the symbol (``"BTCUSDT"``).
        base: the asset bought and sold (``"BTC"``).
        quote: the currency prices and cash are in (``"USDT"``).
        tick_size: every price is an exact multiple of it.
        lot_size: every quantity is an exact multiple of it.
        min_quantity: the smallest order quantity (default 0: no minimum beyond one lot).
        min_notional: the smallest ``price * quantity`` of an order, in ``quote``.
    """

    id: InstrumentId
    base: str = ""
    quote: str = "USDT"
    tick_size: Decimal = attrs.field(converter=to_decimal, validator=_positive)
    lot_size: Decimal = attrs.field(converter=to_decimal, validator=_positive)
    min_quantity: Decimal = attrs.field(converter=to_decimal, validator=_non_negative, default=ZERO)
    min_notional: Decimal = attrs.field(converter=to_decimal, validator=_non_negative, default=ZERO)

    def price_floor(self, price: Decimal | float) -> Decimal:
        """``price`` rounded down to the tick (a sell's worst case)."""
        return floor_to(to_decimal(price), self.tick_size)

    def price_ceil(self, price: Decimal | float) -> Decimal:
        """``price`` rounded up to the tick (a buy's worst case)."""
        return ceil_to(to_decimal(price), self.tick_size)

    def quantity_down(self, quantity: Decimal | float) -> Decimal:
        """``quantity`` rounded towards zero to the lot size (sizers never round up)."""
        if type(quantity) is not Decimal or not quantity.is_finite():  # (a finite Decimal needs no converting)
            quantity = to_decimal(quantity)
        lot = self.lot_size
        # trunc_to(quantity, lot) spelt out: the sizers and the order router round every order with it
        return (quantity / lot).to_integral_value(ROUND_DOWN) * lot

    def check_price(self, price: Decimal) -> None:
        """Raise :class:`InvalidOrderError` unless ``price`` is a positive multiple of the tick size."""
        if price <= 0 or price % self.tick_size != 0:
            raise InvalidOrderError(
                f"{self.id}: price {price} is not a positive multiple of the tick size {self.tick_size}"
            )

    def check_quantity(self, quantity: Decimal, price: Decimal | None = None) -> None:
        """Raise :class:`InvalidOrderError` unless ``quantity`` (unsigned) follows the lot rules.

        With ``price``, also check the minimum notional.
        """
        if quantity <= 0 or quantity % self.lot_size != 0:
            raise InvalidOrderError(
                f"{self.id}: quantity {quantity} is not a positive multiple of the lot size {self.lot_size}"
            )
        if quantity < self.min_quantity:
            raise InvalidOrderError(
                f"{self.id}: quantity {quantity} is below the minimum quantity {self.min_quantity}"
            )
        if price is not None and quantity * price < self.min_notional:
            raise InvalidOrderError(
                f"{self.id}: notional {quantity * price} is below the minimum notional {self.min_notional}"
            )
