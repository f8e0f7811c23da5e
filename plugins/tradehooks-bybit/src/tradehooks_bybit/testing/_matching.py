"""Accounts, orders and matching of the emulator.

The :class:`Exchange` holds the instruments, the books (from :mod:`._market`) and the accounts, checks
and matches orders against its own book, keeps one-way linear positions and a unified wallet exact with
``Decimal``, and reports every state change to a :class:`Sink` (the server turns those into WebSocket
pushes: ``order`` then ``execution`` then ``position`` then ``wallet``).

Matching model: a taker walks the book levels within its limit price (a market order within a slippage
bound around the best price), consuming the liquidity it takes; a resting limit order does not add
liquidity to the book and fills completely, as maker at its own price, as soon as the opposite best
price reaches it (queue-free).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Protocol

from ._market import Book, Instrument, dec, fmt

__all__ = ["Account", "ApiError", "Exchange", "Order", "Sink"]

ZERO = Decimal(0)
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class ApiError(Exception):
    """A business error answered as an HTTP 200 envelope with ``retCode`` = ``code``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


class Sink(Protocol):
    def private(self, key: str, category: str, pushes: dict[str, list[dict[str, Any]]]) -> None: ...
    def book_changed(self, category: str, symbol: str) -> None: ...
    def trades(self, category: str, symbol: str, side: str, fills: list[tuple[Decimal, Decimal]]) -> None: ...


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
            "avgPrice": fmt(_round(avg)) if avg is not None else ("" if self.category == "spot" else "0"),
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
    orders: dict[str, Order] = field(default_factory=dict)
    link_ids: set[tuple[str, str]] = field(default_factory=set)
    executions: list[dict[str, Any]] = field(default_factory=list)
    cum_realised: dict[str, Decimal] = field(default_factory=dict)


def _round(value: Decimal, places: int = 8) -> Decimal:
    """A display rounding for averages and ratios (the ledger itself stays exact)."""
    return value.quantize(Decimal(1).scaleb(-places)) if value.as_tuple().exponent < -places else value  # type: ignore[operator]


def _need(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value in (None, ""):
        raise ApiError(10001, f"params error: {name} is required")
    return value


def _decimal(body: dict[str, Any], name: str, code: int = 10001) -> Decimal:
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


class Exchange:
    """The matching engine and ledger. Not thread-safe: the server calls it on its loop only."""

    def __init__(self, *, sink: Sink, clock: Callable[[], int], market_slippage: Decimal,
                 fees: dict[str, tuple[Decimal, Decimal]]) -> None:
        self.sink = sink
        self.clock = clock
        self.market_slippage = market_slippage
        self.default_fees = fees
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.books: dict[tuple[str, str], Book] = {}
        self.accounts: dict[str, Account] = {}
        self._exec_seq = itertools.count(1)
        self._open: dict[tuple[str, str], dict[str, tuple[Account, Order]]] = {}
        self._dormant: dict[tuple[str, str], dict[str, tuple[Account, Order]]] = {}

    # ---------------------------------------------------------------- lookups
    def instrument(self, category: Any, symbol: Any) -> Instrument:
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r} is not supported (linear, spot)")
        inst = self.instruments.get((category, symbol))
        if inst is None:
            if category == "spot":
                raise ApiError(170121, f"Invalid symbol {symbol!r}")
            raise ApiError(10001, f"params error: symbol invalid {symbol!r}")
        return inst

    def last_price(self, inst: Instrument) -> Decimal:
        book = self.books[(inst.category, inst.symbol)]
        if book.last_price is not None:
            return book.last_price
        bb, ba = book.best_bid(), book.best_ask()
        if bb is not None and ba is not None:
            return (bb + ba) / 2
        return bb or ba or ZERO

    def find(self, acct: Account, inst: Instrument, body: dict[str, Any]) -> Order:
        order_id = body.get("orderId") or ""
        link_id = body.get("orderLinkId") or ""
        if not order_id and not link_id:
            raise ApiError(10001, "params error: orderId or orderLinkId is required")
        order = None
        if order_id:
            order = acct.orders.get(order_id)
        else:
            for o in reversed(acct.orders.values()):
                if o.link_id == link_id and o.category == inst.category:
                    order = o
                    break
        if order is None or order.symbol != inst.symbol or order.category != inst.category \
                or order.status not in OPEN_STATUSES:
            if inst.category == "spot":
                raise ApiError(170213, "Order does not exist.")
            raise ApiError(110001, "order not exists or too late to cancel")
        return order

    # ---------------------------------------------------------------- orders
    def create(self, acct: Account, body: dict[str, Any]) -> Order:
        inst = self.instrument(_need(body, "category"), _need(body, "symbol"))
        spot = inst.category == "spot"
        side = _need(body, "side")
        if side not in ("Buy", "Sell"):
            raise ApiError(10001, f"params error: side {side!r} (Buy or Sell)")
        order_type = _need(body, "orderType")
        if order_type not in ("Market", "Limit"):
            raise ApiError(10001, f"params error: orderType {order_type!r} (Market or Limit)")
        tif = body.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise ApiError(10001, f"params error: timeInForce {tif!r}")
        if order_type == "Market":
            tif = "IOC"
        invalid = 170130 if spot else 10001
        qty = _decimal(body, "qty", invalid)
        link_id = body.get("orderLinkId") or ""
        if link_id and not (isinstance(link_id, str) and LINK_ID.match(link_id)):
            raise ApiError(invalid, f"params error: orderLinkId {link_id!r} (<= 36 of A-Z a-z 0-9 - _)")
        if link_id and (inst.category, link_id) in acct.link_ids:
            if spot:
                raise ApiError(170141, "Duplicate clientOrderId.")
            raise ApiError(110072, "OrderLinkedID is duplicate")
        reduce_only = body.get("reduceOnly") in (True, "true", "True", 1)
        if spot and reduce_only:
            raise ApiError(170130, "Data sent for parameter 'reduceOnly' is not valid.")
        market_unit = ""
        if spot and order_type == "Market":
            market_unit = body.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin")
            if market_unit not in ("baseCoin", "quoteCoin"):
                raise ApiError(170130, f"Data sent for parameter 'marketUnit' is not valid: {market_unit!r}")
        book = self.books[(inst.category, inst.symbol)]
        last = self.last_price(inst)

        # price: a limit's own, a market order's slippage bound
        if order_type == "Limit":
            price = _decimal(body, "price", invalid)
            if not inst.price_ok(price):
                raise ApiError(invalid, f"params error: price {body['price']} is not a multiple of the "
                                        f"tick size {fmt(inst.tick_size)}")
            if not (inst.min_price <= price <= inst.max_price):
                raise ApiError(170130 if spot else 110003, f"Order price {fmt(price)} is out of the "
                               f"permissible range [{fmt(inst.min_price)}, {fmt(inst.max_price)}]")
        else:
            price = self._market_bound(inst, book, side)

        # quantity filters
        if market_unit == "quoteCoin":
            if qty % inst.quote_precision:
                raise ApiError(170130, f"Order amount {body['qty']} has too many decimals")
            if qty < inst.min_notional:
                raise ApiError(170140, f"Order value {fmt(qty)} is below the minimum {fmt(inst.min_notional)}")
        else:
            if not inst.qty_ok(qty):
                raise ApiError(invalid, f"params error: qty {body['qty']} is not a multiple of the qty step "
                                        f"{fmt(inst.qty_step)}")
            if qty < inst.min_qty:
                raise ApiError(170136 if spot else 10001,
                               f"Order quantity {fmt(qty)} is below the minimum {fmt(inst.min_qty)}")
            cap = inst.max_mkt_qty if order_type == "Market" else inst.max_qty
            if qty > cap:
                raise ApiError(170130 if spot else 10001,
                               f"Order quantity {fmt(qty)} exceeds the maximum {fmt(cap)}")
            notional = qty * (price if order_type == "Limit" else last)
            if notional < inst.min_notional and not reduce_only:
                raise ApiError(170140 if spot else 110094,
                               f"Order value {fmt(notional)} is below the minimum {fmt(inst.min_notional)}")

        trigger, direction = self._trigger(body, inst, last, invalid)
        now = self.clock()
        pos = acct.positions.get(inst.symbol) if not spot else None
        if reduce_only:
            size = pos.size if pos else ZERO
            closable = -size if side == "Buy" else size
            if closable <= 0:
                raise ApiError(110017, "current position is zero, cannot fix reduce-only order qty")
            qty = min(qty, closable)

        order = Order(
            order_id=str(uuid.uuid4()), link_id=link_id, category=inst.category, symbol=inst.symbol,
            side=side, order_type=order_type, tif=tif, qty=qty, price=price, reduce_only=reduce_only,
            market_unit=market_unit, created=now, updated=now, last_price_on_created=last,
            trigger_price=trigger, trigger_direction=direction,
        )
        self._check_funds(acct, inst, order, book)
        acct.orders[order.order_id] = order
        if link_id:
            acct.link_ids.add((inst.category, link_id))
        if trigger is not None:
            order.status = "Untriggered"
            self._dormant.setdefault((inst.category, inst.symbol), {})[order.order_id] = (acct, order)
            self._push(acct, inst, [order], [])
            return order
        self._execute(acct, inst, order, book, created=True)
        return order

    def _market_bound(self, inst: Instrument, book: Book, side: str) -> Decimal:
        """The limit a market order walks the book to: ``market_slippage`` beyond the best price."""
        ref = (book.best_ask() if side == "Buy" else book.best_bid()) or self.last_price(inst)
        if side == "Buy":
            price = (ref * (1 + self.market_slippage) / inst.tick_size).to_integral_value(ROUND_FLOOR)
        else:
            price = (ref * (1 - self.market_slippage) / inst.tick_size).to_integral_value(ROUND_CEILING)
        return max(price * inst.tick_size, inst.tick_size)

    def _trigger(self, body: dict[str, Any], inst: Instrument, last: Decimal, invalid: int) -> tuple[Decimal | None, int]:
        """The trigger price and direction of a conditional order (None, 0 for a plain one)."""
        if body.get("triggerPrice") in (None, ""):
            return None, 0
        trigger = _decimal(body, "triggerPrice", invalid)
        if not inst.price_ok(trigger):
            raise ApiError(invalid, f"params error: triggerPrice {body['triggerPrice']} is not a multiple of the "
                                    f"tick size {fmt(inst.tick_size)}")
        if inst.category == "spot":
            if body.get("orderFilter") not in ("StopOrder", "tpslOrder"):
                raise ApiError(170130, "Data sent for parameter 'orderFilter' is not valid: a spot triggerPrice "
                                       "needs orderFilter StopOrder or tpslOrder")
            return trigger, 1 if trigger > last else 2
        direction = body.get("triggerDirection")
        if direction not in (1, 2, "1", "2"):
            raise ApiError(10001, f"params error: triggerDirection must be 1 (rise) or 2 (fall), got {direction!r}")
        direction = int(direction)
        if direction == 1 and trigger <= last:
            raise ApiError(110092, f"expect Rising, but trigger_price[{fmt(trigger)}] <= current[{fmt(last)}]??LastPrice")
        if direction == 2 and trigger >= last:
            raise ApiError(110093, f"expect Falling, but trigger_price[{fmt(trigger)}] >= current[{fmt(last)}]??LastPrice")
        return trigger, direction

    def _check_funds(self, acct: Account, inst: Instrument, order: Order, book: Book) -> None:
        if inst.category == "spot":
            if order.side == "Buy":
                coin = inst.quote
                if order.market_unit == "quoteCoin":
                    need = order.qty
                else:
                    need = order.qty * order.price
            else:
                coin = inst.base
                need = order.qty
            free = acct.wallet.get(coin, ZERO) - self._spot_locked(acct, coin)
            if need > free:
                raise ApiError(170131, "Insufficient balance.")
            order.locked = need
            return
        if order.reduce_only:
            return
        pos = acct.positions.get(inst.symbol)
        size = pos.size if pos else ZERO
        closable = max(-size if order.side == "Buy" else size, ZERO)
        opening = max(order.qty - closable, ZERO)
        taker = acct.fees["linear"][0]
        need = opening * order.price / acct.leverage + opening * order.price * taker
        if need > self._linear_available(acct, inst.quote):
            raise ApiError(110007, "ab not enough for new order")

    def _spot_locked(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.orders.values():
            if o.category == "spot" and o.status in OPEN_STATUSES:
                inst = self.instruments[("spot", o.symbol)]
                if (inst.quote if o.side == "Buy" else inst.base) == coin:
                    total += o.locked
        return total

    def _order_im(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.orders.values():
            if o.category == "linear" and o.status in ("New", "PartiallyFilled") and not o.reduce_only \
                    and self.instruments[("linear", o.symbol)].quote == coin:
                total += o.leaves * o.price / acct.leverage
        return total

    def _position_im(self, acct: Account, coin: str) -> Decimal:
        return sum((abs(p.size) * p.avg / acct.leverage for p in acct.positions.values()
                    if self.instruments[("linear", p.symbol)].quote == coin), ZERO)

    def _upl(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for p in acct.positions.values():
            inst = self.instruments[("linear", p.symbol)]
            if inst.quote == coin and p.size:
                total += (self.last_price(inst) - p.avg) * p.size
        return total

    def _linear_available(self, acct: Account, coin: str) -> Decimal:
        upl = min(self._upl(acct, coin), ZERO)
        return acct.wallet.get(coin, ZERO) + upl - self._position_im(acct, coin) - self._order_im(acct, coin)

    def amend(self, acct: Account, body: dict[str, Any]) -> Order:
        inst = self.instrument(_need(body, "category"), _need(body, "symbol"))
        order = self.find(acct, inst, body)
        invalid = 170130 if inst.category == "spot" else 10001
        dormant = order.status == "Untriggered"
        if order.order_type != "Limit" and not dormant:
            raise ApiError(invalid, "params error: only a resting limit or an untriggered order can be amended")
        qty = _decimal(body, "qty", invalid) if body.get("qty") not in (None, "") else order.qty
        price = order.price
        if order.order_type == "Limit" and body.get("price") not in (None, ""):
            price = _decimal(body, "price", invalid)
        trigger = order.trigger_price
        if body.get("triggerPrice") not in (None, ""):
            if not dormant:
                raise ApiError(invalid, "params error: triggerPrice can only be amended before the order triggers")
            trigger = _decimal(body, "triggerPrice", invalid)
            last = self.last_price(inst)
            if not inst.price_ok(trigger):
                raise ApiError(invalid, f"params error: triggerPrice {fmt(trigger)} is not a multiple of the tick size")
            if inst.category == "linear" and (order.trigger_direction == 1) != (trigger > last):
                raise ApiError(110092 if order.trigger_direction == 1 else 110093,
                               f"trigger_price[{fmt(trigger)}] is on the wrong side of current[{fmt(last)}]")
        if order.market_unit != "quoteCoin" and (not inst.qty_ok(qty) or qty < inst.min_qty):
            raise ApiError(invalid, f"params error: qty {fmt(qty)} breaks the lot size filter")
        if not inst.price_ok(price):
            raise ApiError(invalid, f"params error: price {fmt(price)} is not a multiple of the tick size")
        if qty <= order.cum_qty:
            raise ApiError(invalid, f"params error: qty {fmt(qty)} is not above the filled {fmt(order.cum_qty)}")
        old = (order.qty, order.price, order.locked, order.trigger_price)
        order.qty, order.price, order.trigger_price = qty, price, trigger
        if inst.category == "spot":
            order.locked = ZERO
            try:
                self._check_funds(acct, inst, order, self.books[(inst.category, inst.symbol)])
            except ApiError:
                order.qty, order.price, order.locked, order.trigger_price = old
                raise
            if order.cum_qty:  # the check above locked the full qty; only what is left stays locked
                order.locked = (order.qty - order.cum_qty) * (order.price if order.side == "Buy" else 1)
        if inst.category == "spot" and trigger is not None and dormant:
            order.trigger_direction = 1 if trigger > self.last_price(inst) else 2
        order.updated = self.clock()
        if dormant:
            self._push(acct, inst, [order], [])
            return order
        self._execute(acct, inst, order, self.books[(inst.category, inst.symbol)], created=False)
        return order

    def cancel(self, acct: Account, body: dict[str, Any]) -> Order:
        inst = self.instrument(_need(body, "category"), _need(body, "symbol"))
        order = self.find(acct, inst, body)
        self._close(acct, order, self._cancelled_status(order), cancel_type="CancelByUser")
        self._push(acct, inst, [order], [])
        return order

    def cancel_all(self, acct: Account, body: dict[str, Any]) -> list[Order]:
        category = _need(body, "category")
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r}")
        symbol = body.get("symbol") or ""
        settle = body.get("settleCoin") or body.get("baseCoin") or ""
        if category == "linear" and not symbol and not settle:
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            self.instrument(category, symbol)
        done: list[Order] = []
        for o in list(acct.orders.values()):
            if o.category != category or o.status not in OPEN_STATUSES:
                continue
            inst = self.instruments[(category, o.symbol)]
            if symbol and o.symbol != symbol:
                continue
            if settle and settle not in (inst.quote, inst.base):
                continue
            self._close(acct, o, self._cancelled_status(o), cancel_type="CancelByUser")
            done.append(o)
        by_symbol: dict[str, list[Order]] = {}
        for o in done:
            by_symbol.setdefault(o.symbol, []).append(o)
        for sym, orders in by_symbol.items():
            self._push(acct, self.instruments[(category, sym)], orders, [])
        return done

    @staticmethod
    def _cancelled_status(order: Order) -> str:
        if order.status == "Untriggered":
            return "Deactivated"
        return "PartiallyFilledCanceled" if order.cum_qty and order.category == "spot" else "Cancelled"

    # ---------------------------------------------------------------- matching
    def _crosses(self, order: Order, book: Book) -> bool:
        if order.side == "Buy":
            ba = book.best_ask()
            return ba is not None and ba <= order.price
        bb = book.best_bid()
        return bb is not None and bb >= order.price

    def _execute(self, acct: Account, inst: Instrument, order: Order, book: Book, *, created: bool) -> None:
        """Match a new or amended order as taker; rest, cancel or fill it; push the result."""
        execs: list[dict[str, Any]] = []
        key = (inst.category, inst.symbol)
        crossing = order.order_type == "Market" or self._crosses(order, book)
        if crossing and order.tif == "PostOnly":
            self._close(acct, order, "Cancelled", reject="EC_PostOnlyWillTakeLiquidity")
            self._push(acct, inst, [order], [])
            return
        if crossing:
            want = order.qty - order.cum_qty
            if order.reduce_only:
                want = min(want, self._closable(acct, order))
            if order.tif == "FOK" and (order.market_unit == "quoteCoin"
                                       or book.available(order.side, order.price) < want):
                self._close(acct, order, "Cancelled", reject="EC_NoImmediateQtyToFill")
                self._push(acct, inst, [order], [])
                return
            if order.market_unit == "quoteCoin":
                fills = book.take(order.side, None, order.price, quote_amount=order.qty - order.cum_value)
            else:
                fills = book.take(order.side, want, order.price)
            for price, qty in fills:
                execs.append(self._fill(acct, inst, order, price, qty, maker=False))
            if fills:
                book.last_price = fills[-1][0]
                self.sink.book_changed(*key)
                self.sink.trades(inst.category, inst.symbol, order.side, fills)
        if order.status in OPEN_STATUSES:
            full = (order.market_unit == "quoteCoin" and order.qty - order.cum_value
                    < (book.best_ask() or order.price) * inst.qty_step) or \
                   (order.market_unit != "quoteCoin" and order.cum_qty >= order.qty)
            if full:
                self._close(acct, order, "Filled")
            elif order.tif in ("IOC", "FOK") or order.order_type == "Market":
                if order.cum_qty:
                    status = "PartiallyFilledCanceled" if inst.category == "spot" else "Cancelled"
                else:
                    status = "Cancelled"
                self._close(acct, order, status, reject="EC_NoImmediateQtyToFill" if not order.cum_qty
                            else "EC_NoError", cancel_type="UNKNOWN")
            elif order.reduce_only and self._closable(acct, order) <= 0:
                self._close(acct, order, "Cancelled", cancel_type="CancelByReduceOnly")
            else:
                order.status = "PartiallyFilled" if order.cum_qty else "New"
                self._open.setdefault(key, {})[order.order_id] = (acct, order)
        self._push(acct, inst, [order], execs)
        if execs:
            self.match_resting(inst.category, inst.symbol)

    def _closable(self, acct: Account, order: Order) -> Decimal:
        pos = acct.positions.get(order.symbol)
        size = pos.size if pos else ZERO
        return max(-size if order.side == "Buy" else size, ZERO)

    def match_resting(self, category: str, symbol: str) -> None:
        """Trigger every conditional order the last price reached, then fill every resting limit order
        of the instrument the book now crosses (as maker)."""
        dormant = self._dormant.get((category, symbol))
        if dormant:
            inst = self.instruments[(category, symbol)]
            last = self.last_price(inst)
            for order_id, (acct, order) in list(dormant.items()):
                assert order.trigger_price is not None
                if order.status != "Untriggered":
                    dormant.pop(order_id, None)
                elif (order.trigger_direction == 1 and last >= order.trigger_price) or \
                        (order.trigger_direction == 2 and last <= order.trigger_price):
                    dormant.pop(order_id, None)
                    order.status = "Triggered"
                    order.updated = self.clock()
                    self._push(acct, inst, [order], [])
                    order.status = "New"
                    book = self.books[(category, symbol)]
                    if order.order_type == "Market":
                        order.price = self._market_bound(inst, book, order.side)
                    self._execute(acct, inst, order, book, created=False)
        resting = self._open.get((category, symbol))
        if not resting:
            return
        book = self.books[(category, symbol)]
        inst = self.instruments[(category, symbol)]
        for order_id, (acct, order) in list(resting.items()):
            if order.status not in OPEN_STATUSES:
                resting.pop(order_id, None)
                continue
            if not self._crosses(order, book):
                continue
            qty = order.qty - order.cum_qty
            if order.reduce_only:
                qty = min(qty, self._closable(acct, order))
            execs = []
            if qty > 0:
                execs.append(self._fill(acct, inst, order, order.price, qty, maker=True))
                self.sink.trades(category, symbol, "Sell" if order.side == "Buy" else "Buy", [(order.price, qty)])
            if order.cum_qty >= order.qty:
                self._close(acct, order, "Filled")
            elif order.reduce_only:
                self._close(acct, order, "Cancelled", cancel_type="CancelByReduceOnly")
            else:
                order.status = "PartiallyFilled"
            self._push(acct, inst, [order], execs)

    def _close(self, acct: Account, order: Order, status: str, *, reject: str = "EC_NoError",
               cancel_type: str | None = None) -> None:
        order.status = status
        order.reject_reason = reject
        if status != "Filled":
            order.cancel_type = cancel_type or ("CancelByUser" if reject == "EC_NoError" else "UNKNOWN")
        order.locked = ZERO
        order.updated = self.clock()
        for index in (self._open, self._dormant):
            entries = index.get((order.category, order.symbol))
            if entries:
                entries.pop(order.order_id, None)

    def _fill(self, acct: Account, inst: Instrument, order: Order, price: Decimal, qty: Decimal, *,
              maker: bool) -> dict[str, Any]:
        now = self.clock()
        value = price * qty
        taker_rate, maker_rate = acct.fees[inst.category]
        rate = maker_rate if maker else taker_rate
        pnl = ZERO
        closed = ZERO
        if inst.category == "spot":
            if order.side == "Buy":
                fee_coin, fee = inst.base, qty * rate
                acct.wallet[inst.quote] = acct.wallet.get(inst.quote, ZERO) - value
                acct.wallet[inst.base] = acct.wallet.get(inst.base, ZERO) + qty - fee
                order.locked = max(order.locked - (value if order.market_unit == "quoteCoin"
                                                   else qty * order.price), ZERO)
            else:
                fee_coin, fee = inst.quote, value * rate
                acct.wallet[inst.base] = acct.wallet.get(inst.base, ZERO) - qty
                acct.wallet[inst.quote] = acct.wallet.get(inst.quote, ZERO) + value - fee
                order.locked = max(order.locked - qty, ZERO)
        else:
            fee_coin, fee = inst.quote, value * rate
            pos = acct.positions.get(inst.symbol)
            if pos is None:
                pos = acct.positions[inst.symbol] = Position(inst.symbol, created=now)
            signed = qty if order.side == "Buy" else -qty
            if pos.size == 0 or (pos.size > 0) == (signed > 0):
                pos.avg = (pos.avg * abs(pos.size) + value) / (abs(pos.size) + qty)
                pos.size += signed
            else:
                closed = min(abs(pos.size), qty)
                pnl = (price - pos.avg) * closed * (1 if pos.size > 0 else -1)
                pos.size += signed
                if pos.size == 0:
                    pos.avg = ZERO
                elif (pos.size > 0) == (signed > 0):  # flipped: the rest opens at the fill price
                    pos.avg = price
            pos.cur_realised += pnl - fee
            pos.cum_realised += pnl - fee
            pos.updated = now
            acct.wallet[inst.quote] = acct.wallet.get(inst.quote, ZERO) + pnl - fee
            acct.cum_realised[inst.quote] = acct.cum_realised.get(inst.quote, ZERO) + pnl - fee
            order.closed_pnl += pnl - fee
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.fee_coin = fee_coin
        order.updated = now
        if order.status == "New" and order.cum_qty < order.qty:
            order.status = "PartiallyFilled"
        seq = next(self._exec_seq)
        execution = {
            "category": inst.category,
            "symbol": inst.symbol,
            "isLeverage": "0" if inst.category == "spot" else "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": inst.fmt_price(order.price),
            "orderQty": fmt(order.qty) if order.market_unit == "quoteCoin" else inst.fmt_qty(order.qty),
            "leavesQty": inst.fmt_qty(max(order.qty - order.cum_qty, ZERO)
                                      if order.market_unit != "quoteCoin" else ZERO),
            "createType": "CreateByUser",
            "orderType": order.order_type,
            "stopOrderType": "",
            "execFee": fmt(fee),
            "execFeeV2": "",
            "execId": str(uuid.uuid4()),
            "execPrice": inst.fmt_price(price),
            "execQty": inst.fmt_qty(qty),
            "execPnl": fmt(pnl),
            "execType": "Trade",
            "execValue": fmt(value),
            "execTime": str(now),
            "feeCurrency": fee_coin,
            "isMaker": maker,
            "feeRate": fmt(rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": inst.fmt_price(self.last_price(inst)),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": inst.fmt_qty(closed),
            "extraFees": "",
            "seq": seq,
            "marketUnit": order.market_unit,
        }
        acct.executions.append(execution)
        return execution

    # ---------------------------------------------------------------- views
    def _push(self, acct: Account, inst: Instrument, orders: list[Order], execs: list[dict[str, Any]]) -> None:
        pushes: dict[str, list[dict[str, Any]]] = {"order": [o.ws(inst) for o in orders]}
        if execs:
            pushes["execution"] = execs
        if inst.category == "linear":
            pushes["position"] = [self.position_view(acct, inst, ws=True)]
        pushes["wallet"] = [self.wallet_view(acct, None)]
        self.sink.private(acct.key, inst.category, pushes)

    def position_view(self, acct: Account, inst: Instrument, *, ws: bool = False) -> dict[str, Any]:
        pos = acct.positions.get(inst.symbol) or Position(inst.symbol)
        if ws:
            pos.seq += 1
        mark = self.last_price(inst)
        size = abs(pos.size)
        value = size * pos.avg
        im = value / acct.leverage
        d: dict[str, Any] = {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": inst.symbol,
            "side": "" if not pos.size else ("Buy" if pos.size > 0 else "Sell"),
            "size": inst.fmt_qty(size),
            "avgPrice": fmt(_round(pos.avg)),
            "positionValue": fmt(value),
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": fmt(acct.leverage),
            "breakEvenPrice": fmt(_round(pos.avg)),
            "markPrice": inst.fmt_price(mark),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": fmt(im),
            "positionIMByMp": fmt(size * mark / acct.leverage),
            "positionMM": fmt(value * Decimal("0.005")),
            "positionMMByMp": fmt(size * mark * Decimal("0.005")),
            "positionBalance": fmt(im),
            "takeProfit": "",
            "stopLoss": "",
            "trailingStop": "0",
            "sessionAvgPrice": "",
            "unrealisedPnl": fmt((mark - pos.avg) * pos.size if pos.size else ZERO),
            "curRealisedPnl": fmt(pos.cur_realised),
            "cumRealisedPnl": fmt(pos.cum_realised),
            "adlRankIndicator": 2 if pos.size else 0,
            "createdTime": str(pos.created),
            "updatedTime": str(pos.updated),
            "openTime": 0,
            "seq": pos.seq,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "tradeMode": 0,
        }
        if ws:
            d["entryPrice"] = d.pop("avgPrice")
            d["category"] = "linear"
        return d

    def wallet_view(self, acct: Account, coins: set[str] | None) -> dict[str, Any]:
        rows = []
        tot_equity = tot_wallet = tot_upl = tot_im = tot_mm = tot_order_im = ZERO
        for coin in sorted(acct.wallet):
            bal = acct.wallet[coin]
            upl = self._upl(acct, coin)
            locked = self._spot_locked(acct, coin)
            pos_im = self._position_im(acct, coin)
            order_im = self._order_im(acct, coin)
            if coins is None and not bal and not upl:
                continue
            if coins is not None and coin not in coins:
                continue
            equity = bal + upl
            usd = self._usd(coin)
            tot_equity += equity * usd
            tot_wallet += bal * usd
            tot_upl += upl * usd
            tot_im += (pos_im + order_im) * usd
            tot_mm += pos_im * usd / 2
            tot_order_im += order_im * usd
            rows.append({
                "coin": coin,
                "equity": fmt(equity),
                "usdValue": fmt(equity * usd),
                "walletBalance": fmt(bal),
                "locked": fmt(locked),
                "spotHedgingQty": "0",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": fmt(order_im),
                "totalPositionIM": fmt(pos_im),
                "totalPositionMM": fmt(pos_im / 2),
                "unrealisedPnl": fmt(upl),
                "cumRealisedPnl": fmt(acct.cum_realised.get(coin, ZERO)),
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
                "spotBorrow": "0",
                "free": "",
                "availableToWithdraw": "",
                "availableToBorrow": "",
            })
        margin = tot_wallet + tot_upl
        return {
            "accountType": "UNIFIED",
            "accountIMRate": fmt(_round(tot_im / margin, 4)) if margin > 0 else "0",
            "accountIMRateByMp": fmt(_round(tot_im / margin, 4)) if margin > 0 else "0",
            "accountMMRate": fmt(_round(tot_mm / margin, 4)) if margin > 0 else "0",
            "accountMMRateByMp": fmt(_round(tot_mm / margin, 4)) if margin > 0 else "0",
            "totalEquity": fmt(tot_equity),
            "totalWalletBalance": fmt(tot_wallet),
            "totalMarginBalance": fmt(margin),
            "totalAvailableBalance": fmt(margin - tot_im),
            "totalPerpUPL": fmt(tot_upl),
            "totalInitialMargin": fmt(tot_im),
            "totalInitialMarginByMp": fmt(tot_im),
            "totalMaintenanceMargin": fmt(tot_mm),
            "totalMaintenanceMarginByMp": fmt(tot_mm),
            "accountLTV": "0",
            "coin": rows,
        }

    def _usd(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC", "USD"):
            return Decimal(1)
        for cat in ("spot", "linear"):
            inst = self.instruments.get((cat, f"{coin}USDT"))
            if inst is not None:
                return self.last_price(inst)
        return ZERO
