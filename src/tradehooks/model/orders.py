"""Orders, fills and positions: frozen values, changed with :func:`attrs.evolve`."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from .instruments import Instrument, InstrumentId
from .numbers import ZERO

__all__ = [
    "ClientOrderId",
    "Fill",
    "Liquidity",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Side",
    "StrategyId",
    "TimeInForce",
]

ClientOrderId = str
"""The id tradehooks gives an order; brokers use it to make submission idempotent."""

StrategyId = str
"""A strategy's id from the preset."""


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """``+1`` for a buy, ``-1`` for a sell."""
        return 1 if self is Side.BUY else -1


class OrderType(enum.Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(enum.Enum):
    GTC = "gtc"  #: good till cancelled
    IOC = "ioc"  #: immediate or cancel: what does not fill at once is cancelled
    FOK = "fok"  #: fill or kill: fills whole at once, or is cancelled
    DAY = "day"  #: cancelled at the end of the UTC day


class OrderStatus(enum.Enum):
    SUBMITTED = "submitted"  #: sent to the broker, not yet acknowledged
    ACCEPTED = "accepted"  #: resting at the broker
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"  #: a cancel was requested, not yet acknowledged
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """True while the order may still fill."""
        return self._open  # type: ignore[attr-defined, no-any-return]


_OPEN = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL}
)
for _status in OrderStatus:  # a plain attribute: enum hashing is slow, and orders ask this a lot
    _status._open = _status in _OPEN  # type: ignore[attr-defined]
del _status


class Liquidity(enum.Enum):
    MAKER = "maker"
    TAKER = "taker"


_KEEP: Any = object()  # Order.updated(): "leave this field as it is"
_new_object = object.__new__
_set_attribute = object.__setattr__


def _check_order(order: Order, attribute: attrs.Attribute[Decimal], quantity: Decimal) -> None:
    if quantity <= 0:
        raise ValueError(f"order quantity must be > 0, got {quantity}")
    needs_price = order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_trigger = order.type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_price != (order.price is not None):
        raise ValueError(f"a {order.type.value} order {'needs' if needs_price else 'takes no'} price")
    if needs_trigger != (order.trigger_price is not None):
        raise ValueError(
            f"a {order.type.value} order {'needs' if needs_trigger else 'takes no'} trigger_price"
        )


@attrs.frozen(kw_only=True, slots=False)  # a __dict__, not slots: updated() copies it in one C call
class Order:
    """An order and its state as last known.

    Attributes:
        client_order_id: tradehooks' id for the order, unique per engine, sent to the broker so a
            retried submission is recognised and never placed twice.
        strategy_id: the strategy whose target produced it.
        instrument_id: what it trades.
        side: buy or sell.
        type: market, limit, stop or stop-limit.
        quantity: unsigned, a multiple of the instrument's lot size.
        price: the limit price (limit and stop-limit orders).
        trigger_price: the stop price (stop and stop-limit orders).
        time_in_force: GTC, IOC, FOK or DAY.
        reduce_only: may only reduce a position.
        post_only: must rest on the book (rejected if it would take liquidity).
        status: the last known status.
        filled_quantity: how much has filled so far.
        avg_fill_price: the volume-weighted price of those fills (``None`` before the first).
        ts_created: when the engine created it (ns).
        ts_updated: when its status last changed (ns).
        venue_order_id: the broker's own id, once acknowledged.
        reason: why it was rejected, cancelled or expired.
    """

    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: Side
    type: OrderType
    quantity: Decimal = attrs.field(validator=_check_order)
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    post_only: bool = False
    status: OrderStatus = OrderStatus.SUBMITTED
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    ts_created: int = 0
    ts_updated: int = 0
    venue_order_id: str | None = None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        """True while the order may still fill."""
        return self.status._open  # type: ignore[attr-defined, no-any-return]

    def updated(
        self,
        *,
        status: OrderStatus | Any = _KEEP,
        filled_quantity: Decimal | Any = _KEEP,
        avg_fill_price: Decimal | None | Any = _KEEP,
        ts_updated: int | Any = _KEEP,
        venue_order_id: str | None | Any = _KEEP,
        reason: str | Any = _KEEP,
    ) -> Order:
        """A copy in a new state: a new ``status``, ``filled_quantity``, ``avg_fill_price``,
        ``ts_updated``, ``venue_order_id`` or ``reason``; every other field is kept.

        What :func:`attrs.evolve` does for these fields, several times as fast: the fields are copied
        in one go and the validators, which check none of them, do not run again (the broker and the
        router update each order several times). Change anything else with :func:`attrs.evolve`.
        """
        state = self.__dict__.copy()
        if status is not _KEEP:
            state["status"] = status
        if filled_quantity is not _KEEP:
            state["filled_quantity"] = filled_quantity
        if avg_fill_price is not _KEEP:
            state["avg_fill_price"] = avg_fill_price
        if ts_updated is not _KEEP:
            state["ts_updated"] = ts_updated
        if venue_order_id is not _KEEP:
            state["venue_order_id"] = venue_order_id
        if reason is not _KEEP:
            state["reason"] = reason
        copy = _new_object(Order)
        _set_attribute(copy, "__dict__", state)  # how a frozen class sets what it holds
        return copy

    @classmethod
    def market(
        cls, client_order_id: ClientOrderId, strategy_id: StrategyId, instrument_id: InstrumentId, side: Side,
        quantity: Decimal, ts: int,
    ) -> Order:
        """A new GTC market order of ``quantity`` (> 0), created (and last updated) at ``ts``.

        What ``Order(..., type=OrderType.MARKET)`` builds, without the generic validator: the order
        router places one of these per order, and only the quantity needs checking.
        """
        if not quantity > 0:
            raise ValueError(f"order quantity must be > 0, got {quantity}")
        order = _new_object(cls)
        _set_attribute(order, "__dict__", {  # every field, in field order (as in updated())
            "client_order_id": client_order_id, "strategy_id": strategy_id, "instrument_id": instrument_id,
            "side": side, "type": OrderType.MARKET, "quantity": quantity, "price": None, "trigger_price": None,
            "time_in_force": TimeInForce.GTC, "reduce_only": False, "post_only": False,
            "status": OrderStatus.SUBMITTED, "filled_quantity": ZERO, "avg_fill_price": None, "ts_created": ts,
            "ts_updated": ts, "venue_order_id": None, "reason": "",
        })
        return order

    @property
    def remaining(self) -> Decimal:
        """Unsigned quantity still to fill."""
        return self.quantity - self.filled_quantity

    @property
    def signed_remaining(self) -> Decimal:
        """Remaining quantity, positive for a buy and negative for a sell."""
        return self.remaining if self.side is Side.BUY else -self.remaining

    def check(self, instrument: Instrument) -> None:
        """Raise :class:`~tradehooks.exceptions.InvalidOrderError` if the order breaks the instrument's
        tick, lot or notional rules."""
        for price in (self.price, self.trigger_price):
            if price is not None:
                instrument.check_price(price)
        instrument.check_quantity(self.quantity, self.price or self.trigger_price)


@attrs.frozen(kw_only=True)
class Fill:
    """One execution of (part of) an order.

    Attributes:
        trade_id: unique per broker; a fill seen twice (e.g. after a reconnect) is applied once.
        client_order_id: the order it belongs to.
        strategy_id: the strategy of that order.
        instrument_id: what was traded.
        side: buy or sell.
        quantity: unsigned, a multiple of the lot size.
        price: a multiple of the tick size.
        fee: paid in ``fee_currency`` (negative for a rebate).
        fee_currency: the currency of ``fee``, usually the instrument's quote currency.
        liquidity: maker or taker.
        ts: when it happened (ns).
    """

    trade_id: str
    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = ZERO
    fee_currency: str = ""
    liquidity: Liquidity = Liquidity.TAKER
    ts: int = 0

    @property
    def signed_quantity(self) -> Decimal:
        """Quantity, positive for a buy and negative for a sell."""
        return self.quantity if self.side is Side.BUY else -self.quantity

    @property
    def notional(self) -> Decimal:
        """``price * quantity``, exact."""
        return self.price * self.quantity


@attrs.frozen(kw_only=True)
class Position:
    """A snapshot of a position in one instrument (for one strategy, or the whole portfolio).

    Attributes:
        instrument_id: the instrument.
        quantity: signed: positive long, negative short, zero flat.
        avg_price: the average entry price of the open quantity (zero when flat).
        realized_pnl: profit and loss realised by closing quantity, before fees.
        fees: fees paid on this position's fills.
    """

    instrument_id: InstrumentId
    quantity: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """Profit and loss of the open quantity at price ``mark``."""
        return self.quantity * (mark - self.avg_price)
