"""tradehooks orders and fills <-> Bybit V5 order and execution payloads.

Pure functions, no I/O: what the broker sends for an :class:`~tradehooks.model.Order`, and what it
makes of the ``order`` and ``execution`` items the exchange sends back (WebSocket or REST: the fields
are the same).

Client order ids: Bybit's ``orderLinkId`` is at most 36 characters of ``[A-Za-z0-9-_]``. An id that
fits (every id the engine makes does) is sent as it is; any other is sent as ``x-`` followed by 34
characters of its SHA-256 (base64url), and mapped back through the orders the broker knows.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tradehooks.model import (
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

__all__ = [
    "CLOSED",
    "OrderRefused",
    "create_body",
    "decimal_or_none",
    "fill_from_execution",
    "link_id_for",
    "plain",
    "reject_reason",
    "status_of",
]

_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")

#: Bybit ``orderStatus`` -> tradehooks status
_STATUS: Mapping[str, OrderStatus] = {
    "Created": OrderStatus.SUBMITTED,
    "New": OrderStatus.ACCEPTED,
    "Untriggered": OrderStatus.ACCEPTED,
    "Triggered": OrderStatus.ACCEPTED,
    "Active": OrderStatus.ACCEPTED,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,
    "PartiallyFilledCanceled": OrderStatus.CANCELED,
    "Deactivated": OrderStatus.CANCELED,
    "Rejected": OrderStatus.REJECTED,
}

#: Bybit statuses after which an order never changes again
CLOSED = frozenset({"Filled", "Cancelled", "PartiallyFilledCanceled", "Deactivated", "Rejected"})

#: ``rejectReason`` / ``cancelType`` values that mean the exchange refused the order itself
_REFUSALS: Mapping[str, str] = {
    "EC_PostOnlyWillTakeLiquidity": "post-only order would take liquidity",
    "EC_NoImmediateQtyToFill": "no liquidity to fill it at once",
    "EC_DuplicatedClOrdID": "duplicate client order id",
    "EC_BySelfMatch": "cancelled by self-match prevention",
    "EC_ReduceOnlySetButNotReducePos": "reduce-only order would not reduce the position",
    "EC_InsufficientBalance": "insufficient balance",
}


class OrderRefused(ValueError):
    """The order cannot be expressed as a Bybit order; the message says why."""


def link_id_for(client_order_id: str) -> str:
    """The ``orderLinkId`` sent for ``client_order_id``: itself when it fits Bybit's rule, else a
    stable 36-character digest of it."""
    if _LINK_ID.fullmatch(client_order_id):
        return client_order_id
    digest = base64.urlsafe_b64encode(hashlib.sha256(client_order_id.encode()).digest()).decode()
    return "x-" + digest[:34]


def plain(value: Decimal) -> str:
    """A decimal as Bybit wants it: positional notation, never an exponent (``1E-3`` -> ``0.001``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def decimal_or_none(text: Any) -> Decimal | None:
    """``"123.4"`` -> ``Decimal("123.4")``; ``""``, ``None`` and unparsable values -> ``None``."""
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def create_body(order: Order, *, category: str, link_id: str, instrument: Instrument | None) -> dict[str, Any]:
    """The ``/v5/order/create`` body for ``order``.

    Raises:
        OrderRefused: the order has no Bybit equivalent (a DAY order, a post-only market order,
            reduce-only on spot, an unknown instrument).
    """
    if instrument is None:
        raise OrderRefused(f"unknown instrument {order.instrument_id!r}: it is not in the preset's instruments")
    if order.time_in_force is TimeInForce.DAY:
        raise OrderRefused("time_in_force DAY has no Bybit equivalent: use GTC, IOC or FOK")
    if order.post_only and order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise OrderRefused(f"a post-only order must be a limit order, not {order.type.value}")
    if order.post_only and order.time_in_force is not TimeInForce.GTC:
        raise OrderRefused(f"a post-only order rests on the book: time_in_force must be GTC, "
                           f"not {order.time_in_force.name}")
    if order.reduce_only and category == "spot":
        raise OrderRefused("reduce-only orders exist only for derivatives (category linear), not spot")
    limit = order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    body: dict[str, Any] = {
        "category": category,
        "symbol": order.instrument_id,
        "side": "Buy" if order.side is Side.BUY else "Sell",
        "orderType": "Limit" if limit else "Market",
        "qty": plain(order.quantity),
    }
    if limit:
        assert order.price is not None  # the Order validator guarantees it
        body["price"] = plain(order.price)
        body["timeInForce"] = "PostOnly" if order.post_only else order.time_in_force.name
    else:
        body["timeInForce"] = "IOC" if order.time_in_force is TimeInForce.GTC else order.time_in_force.name
    if order.trigger_price is not None:
        body["triggerPrice"] = plain(order.trigger_price)
        body["triggerDirection"] = 1 if order.side is Side.BUY else 2  # a buy stop triggers on a rise
        if category == "spot":
            body["orderFilter"] = "StopOrder"
    if category == "spot" and not limit:
        body["marketUnit"] = "baseCoin"  # a spot market buy's qty is otherwise in the quote coin
    if order.reduce_only:
        body["reduceOnly"] = True
    body["orderLinkId"] = link_id
    return body


def status_of(bybit_status: str) -> OrderStatus:
    """A Bybit ``orderStatus`` as a tradehooks status (unknown values count as accepted)."""
    return _STATUS.get(bybit_status, OrderStatus.ACCEPTED)


def reject_reason(item: Mapping[str, Any]) -> str:
    """Why an order item says it was rejected or cancelled, in words (with the exchange's code)."""
    code = str(item.get("rejectReason") or "")
    cancel = str(item.get("cancelType") or "")
    if code and code != "EC_NoError":
        words = _REFUSALS.get(code)
        return f"{words} ({code})" if words else f"rejected by the exchange ({code})"
    if cancel and cancel != "UNKNOWN":
        return {"CancelByUser": "cancelled on request"}.get(cancel, f"cancelled by the exchange ({cancel})")
    return ""


def fill_from_execution(item: Mapping[str, Any], order: Order, instrument: Instrument | None) -> Fill:
    """The tradehooks fill an ``execution`` item reports for ``order`` (exact decimals)."""
    fee = decimal_or_none(item.get("execFee")) or Decimal(0)
    currency = str(item.get("feeCurrency") or "") or (instrument.quote if instrument is not None else "")
    maker = item.get("isMaker")
    if isinstance(maker, str):
        maker = maker.lower() == "true"
    return Fill(
        trade_id=str(item["execId"]),
        client_order_id=order.client_order_id,
        strategy_id=order.strategy_id,
        instrument_id=order.instrument_id,
        side=Side.BUY if item.get("side", "Buy" if order.side is Side.BUY else "Sell") == "Buy" else Side.SELL,
        quantity=Decimal(str(item["execQty"])),
        price=Decimal(str(item["execPrice"])),
        fee=fee,
        fee_currency=currency,
        liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
        ts=int(item.get("execTime") or 0) * 1_000_000,
    )
