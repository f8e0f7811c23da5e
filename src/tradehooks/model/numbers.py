"""Exact numbers: prices, quantities and money are :class:`decimal.Decimal`, quantised to tick and lot.

Market data (bars) carries floats, because it is read a million times a second and only ever compared;
everything that becomes an order, a fill or a ledger entry is converted here, once, to an exact decimal.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation

__all__ = ["ZERO", "ceil_to", "floor_to", "round_to", "to_decimal", "trunc_to"]

ZERO = Decimal(0)


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    """Convert ``value`` to a finite :class:`~decimal.Decimal`.

    Floats go through their shortest ``repr`` so ``0.1`` becomes ``Decimal("0.1")``, not the binary
    expansion. Raises :class:`ValueError` for NaN, infinities and strings that are not numbers.
    """
    if type(value) is float:  # the common case first: a price from a bar
        result = Decimal(repr(value))
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


# Each rounds ``value / step`` to an integer and scales back (spelt out in each: orders and fills
# round a few times each, and a shared helper would be one more call every time).


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` that is <= ``value``."""
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of ``step`` that is >= ``value``."""
    return (value / step).to_integral_value(ROUND_CEILING) * step


def trunc_to(value: Decimal, step: Decimal) -> Decimal:
    """The multiple of ``step`` nearest to ``value`` towards zero (quantities are rounded this way)."""
    return (value / step).to_integral_value(ROUND_DOWN) * step


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """The multiple of ``step`` nearest to ``value`` (half to even)."""
    return (value / step).to_integral_value() * step
