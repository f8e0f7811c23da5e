"""The built-in sizers (plugin ``sizers``): a fixed quantity, or a fraction of equity.

A sizer turns a signal's target exposure (a float in [-1, 1]; values outside are clamped) into a signed
target quantity, rounded towards zero to the instrument's lot, so it never exceeds what was asked for.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import attrs

from tradehooks import hookimpl
from tradehooks.exceptions import FieldError
from tradehooks.contracts import ComponentContext
from tradehooks.model import ZERO, Instrument, to_decimal

__all__ = ["FixedSizer", "PercentEquitySizer", "register_sizers"]

_ONE = Decimal(1)
_MAX_LEVERAGE = Decimal(10)


def _exposure(exposure: float) -> Decimal:
    """``exposure`` as an exact decimal clamped to [-1, 1] (``ValueError`` for NaN and infinities)."""
    value = to_decimal(exposure)
    if value > _ONE:
        return _ONE
    if value < -_ONE:
        return -_ONE
    return value


def _check_price(price: Decimal, instrument: Instrument) -> None:
    if price <= 0:
        raise ValueError(f"{instrument.id}: cannot size at price {price}; the price must be > 0")


def _rounded(quantity: Decimal, instrument: Instrument) -> Decimal:
    """``quantity`` rounded towards zero to the lot, with a zero result always plain ``0``."""
    return instrument.quantity_down(quantity) or ZERO


def _positive_quantity(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _fraction_in_range(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not 0 < value <= _MAX_LEVERAGE:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 and <= {_MAX_LEVERAGE}, got {value}")


class FixedSizer:
    """``fixed``: ``exposure * quantity``, so a full exposure holds exactly ``quantity`` units."""

    name: ClassVar[str] = "fixed"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`FixedSizer`.

        Attributes:
            quantity: the position, in base units, at an exposure of 1.
        """

        quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive_quantity)

    def __init__(self, params: FixedSizer.Params, ctx: ComponentContext | None = None) -> None:
        self.params = params
        self.ctx = ctx
        for instrument in (ctx.instruments.values() if ctx is not None else ()):
            if params.quantity < instrument.lot_size:
                raise ValueError(
                    f"quantity {params.quantity} is below the lot size {instrument.lot_size} of "
                    f"{instrument.id}: it would never trade"
                )

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * quantity`` rounded towards zero to the lot (the price must be > 0)."""
        _check_price(price, instrument)
        return _rounded(_exposure(exposure) * self.params.quantity, instrument)


class PercentEquitySizer:
    """``percent_equity``: ``exposure * fraction * equity / price``; a fraction above 1 is leverage.

    No equity (zero or negative) sizes every target to 0.
    """

    name: ClassVar[str] = "percent_equity"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`PercentEquitySizer`.

        Attributes:
            fraction: the share of equity held at an exposure of 1, in (0, 10].
        """

        fraction: Decimal = attrs.field(default=_ONE, converter=to_decimal, validator=_fraction_in_range)

    def __init__(
        self, params: PercentEquitySizer.Params | None = None, ctx: ComponentContext | None = None
    ) -> None:
        self.params = self.Params() if params is None else params
        self.ctx = ctx

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * fraction * equity / price`` rounded towards zero to the lot."""
        _check_price(price, instrument)
        if equity <= 0:
            return ZERO
        return _rounded(_exposure(exposure) * self.params.fraction * equity / price, instrument)


@hookimpl
def register_sizers() -> list[type]:
    """Register the built-in sizers."""
    return [FixedSizer, PercentEquitySizer]
