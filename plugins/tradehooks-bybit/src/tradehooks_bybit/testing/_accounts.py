"""The emulator's ledger records: orders, positions and accounts, and how REST and WebSocket show
them; the business error every endpoint raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ._market import Instrument, dec, fmt

__all__ = ["OPEN_STATUSES", "ZERO", "Account", "ApiError", "Order", "Position", "decimal_param", "display_round", "need"]

ZERO = Decimal(0)
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class ApiError(Exception):
    """A business error answered as an HTTP 200 envelope with ``retCode`` = ``code``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


@dataclass(slots=True)
class Order:
    order_id: str
    link_id: str
    category: str
    symbol: str
    side: str
    order_type: str
    tif: str
    qty: Decimal
    price: Decimal  # the limit, or the slippage bound of a market order
    reduce_only: bool
    market_unit: str  # spot market orders: "baseCoin" or "quoteCoin"; else ""
    created: int
    updated: int
    last_price_on_created: Decimal
    status: str = "New"
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    fee_coin: str = ""
    closed_pnl: Decimal = ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    locked: Decimal = ZERO  # spot: what the order holds of its pay coin
    trigger_price: Decimal | None = None  # a conditional order: dormant until the last price reaches it
    trigger_direction: int = 0  # 1: triggers on a rise to trigger_price, 2: on a fall to it

    @property
    def leaves(self) -> Decimal:
        if self.status not in OPEN_STATUSES:
            return ZERO
        if self.market_unit == "quoteCoin":
            return ZERO
        return self.qty - self.cum_qty

    def rest(self, inst: Instrument) -> dict[str, Any]:
        """The order as ``/v5/order/realtime`` lists it."""
        avg = self.cum_value / self.cum_qty if self.cum_qty else None
        fee_detail = {self.fee_coin: fmt(self.cum_fee)} if self.cum_fee and self.fee_coin else {}
        return {
            "orderId": self.order_id,
            "orderLinkId": self.link_id,
            "blockTradeId": "",
            "symbol": self.symbol,
            "price": inst.fmt_price(self.price) if self.price else "0",
            "qty": fmt(self.qty) if self.market_unit == "quoteCoin" else inst.fmt_qty(self.qty),
            "side": self.side,
            "isLeverage": "0" if self.category == "spot" else "",
            "positionIdx": 0,
            "orderStatus": self.status,
            "createType": "CreateByUser",
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": fmt(display_round(avg)) if avg is not None else ("" if self.category == "spot" else "0"),
            "leavesQty": inst.fmt_qty(self.leaves),
            "leavesValue": fmt(self.leaves * self.price),
            "cumExecQty": inst.fmt_qty(self.cum_qty),
            "cumExecValue": fmt(self.cum_value),
            "cumExecFee": fmt(self.cum_fee),
            "timeInForce": self.tif,
            "orderType": self.order_type,
            "stopOrderType": "Stop" if self.trigger_price is not None else "",
            "orderIv": "",
            "marketUnit": self.market_unit,
            "triggerPrice": inst.fmt_price(self.trigger_price) if self.trigger_price is not None
            else ("0.00" if self.category == "spot" else ""),
            "takeProfit": "",
            "stopLoss": "",
            "tpslMode": "",
            "ocoTriggerBy": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": self.trigger_direction,
            "triggerBy": "LastPrice" if self.trigger_price is not None else "",
            "lastPriceOnCreated": inst.fmt_price(self.last_price_on_created),
            "basePrice": inst.fmt_price(self.last_price_on_created) if self.category == "spot" else "",
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(self.created),
            "updatedTime": str(self.updated),
            "cumFeeDetail": fee_detail,
        }

    def ws(self, inst: Instrument) -> dict[str, Any]:
        """The order as the private ``order`` topic pushes it."""
        d = self.rest(inst)
        d["category"] = self.category
        d["closedPnl"] = fmt(self.closed_pnl)
        d["feeCurrency"] = self.fee_coin
        return d


@dataclass(slots=True)
class Position:
    symbol: str
    size: Decimal = ZERO  # signed: > 0 long, < 0 short
    avg: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created: int = 0
    updated: int = 0
    seq: int = 0


@dataclass(slots=True)
class Account:
    key: str
    secret: str
    wallet: dict[str, Decimal]
    leverage: Decimal
    fees: dict[str, tuple[Decimal, Decimal]]  # category -> (taker, maker)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)  # every order ever, oldest first
    live: dict[str, Order] = field(default_factory=dict)  # the open ones (New, PartiallyFilled, Untriggered)
    link_ids: set[tuple[str, str]] = field(default_factory=set)
    executions: list[dict[str, Any]] = field(default_factory=list)
    cum_realised: dict[str, Decimal] = field(default_factory=dict)


def display_round(value: Decimal, places: int = 8) -> Decimal:
    """A display rounding for averages and ratios (the ledger itself stays exact)."""
    return value.quantize(Decimal(1).scaleb(-places)) if value.as_tuple().exponent < -places else value  # type: ignore[operator]


def need(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value in (None, ""):
        raise ApiError(10001, f"params error: {name} is required")
    return value


def decimal_param(body: dict[str, Any], name: str, code: int = 10001) -> Decimal:
    raw = body.get(name)
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ApiError(code, f"params error: {name} must be a decimal string, got {raw!r}")
    try:
        value = dec(raw)
    except InvalidOperation:
        raise ApiError(code, f"params error: {name} is not a number: {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ApiError(code, f"params error: {name} must be positive, got {raw!r}")
    return value
