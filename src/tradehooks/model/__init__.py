"""The domain model: frozen values with no I/O.

Instruments carry the tick, lot and notional rules; orders, fills and positions use exact
:class:`~decimal.Decimal` prices and quantities; bars are fast named tuples of floats.
"""

from .data import NS_PER_SECOND, Bar, check_bar, format_ts, parse_timeframe, parse_ts
from .instruments import Instrument, InstrumentId
from .numbers import ZERO, to_decimal
from .orders import (
    ClientOrderId,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    StrategyId,
    TimeInForce,
)

__all__ = [
    "NS_PER_SECOND",
    "ZERO",
    "Bar",
    "ClientOrderId",
    "Fill",
    "Instrument",
    "InstrumentId",
    "Liquidity",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Side",
    "StrategyId",
    "TimeInForce",
    "check_bar",
    "format_ts",
    "parse_timeframe",
    "parse_ts",
    "to_decimal",
]
