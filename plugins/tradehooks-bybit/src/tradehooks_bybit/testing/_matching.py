"""Orders and matching of the emulator.

The :class:`Exchange` (a :class:`~._ledger.Ledger`: instruments, books, accounts) checks
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
import uuid
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from ._accounts import (
    LINK_ID,
    OPEN_STATUSES,
    ZERO,
    Account,
    ApiError,
    Order,
    Position,
    decimal_param,
    need,
)
from ._ledger import Ledger
from ._market import Book, Instrument, fmt

_SETTLE = Decimal("1e-8")  # the precision of settled amounts (realised PnL)

__all__ = ["Account", "ApiError", "Exchange", "Order", "Sink"]

class Sink(Protocol):
    def private(self, key: str, category: str, pushes: dict[str, list[dict[str, Any]]]) -> None: ...
    def book_changed(self, category: str, symbol: str) -> None: ...
    def trades(self, category: str, symbol: str, side: str, fills: list[tuple[Decimal, Decimal]]) -> None: ...


class Exchange(Ledger):
    """The matching engine and ledger. Not thread-safe: the server calls it on its loop only."""

    def __init__(self, *, sink: Sink, clock: Callable[[], int], market_slippage: Decimal,
                 fees: dict[str, tuple[Decimal, Decimal]]) -> None:
        self.sink = sink
        self.clock = clock
        self.market_slippage = market_slippage
        self.default_fees = fees
        super().__init__()
        self._exec_seq = itertools.count(1)
        self._open: dict[tuple[str, str], dict[str, tuple[Account, Order]]] = {}
        self._dormant: dict[tuple[str, str], dict[str, tuple[Account, Order]]] = {}

    def find(self, acct: Account, inst: Instrument, body: dict[str, Any]) -> Order:
        order_id = body.get("orderId") or ""
        link_id = body.get("orderLinkId") or ""
        if not isinstance(order_id, str) or not isinstance(link_id, str):
            raise ApiError(10001, "params error: orderId and orderLinkId are strings")
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
        inst = self.instrument(need(body, "category"), need(body, "symbol"))
        spot = inst.category == "spot"
        side = need(body, "side")
        if side not in ("Buy", "Sell"):
            raise ApiError(10001, f"params error: side {side!r} (Buy or Sell)")
        order_type = need(body, "orderType")
        if order_type not in ("Market", "Limit"):
            raise ApiError(10001, f"params error: orderType {order_type!r} (Market or Limit)")
        tif = body.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise ApiError(10001, f"params error: timeInForce {tif!r}")
        if order_type == "Market":
            tif = "IOC"
        invalid = 170130 if spot else 10001
        qty = decimal_param(body, "qty", invalid)
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
            price = decimal_param(body, "price", invalid)
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
        acct.live[order.order_id] = order
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
        trigger = decimal_param(body, "triggerPrice", invalid)
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

    def amend(self, acct: Account, body: dict[str, Any]) -> Order:
        inst = self.instrument(need(body, "category"), need(body, "symbol"))
        order = self.find(acct, inst, body)
        invalid = 170130 if inst.category == "spot" else 10001
        dormant = order.status == "Untriggered"
        if order.order_type != "Limit" and not dormant:
            raise ApiError(invalid, "params error: only a resting limit or an untriggered order can be amended")
        qty = decimal_param(body, "qty", invalid) if body.get("qty") not in (None, "") else order.qty
        price = order.price
        if order.order_type == "Limit" and body.get("price") not in (None, ""):
            price = decimal_param(body, "price", invalid)
        trigger = order.trigger_price
        if body.get("triggerPrice") not in (None, ""):
            if not dormant:
                raise ApiError(invalid, "params error: triggerPrice can only be amended before the order triggers")
            trigger = decimal_param(body, "triggerPrice", invalid)
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
        inst = self.instrument(need(body, "category"), need(body, "symbol"))
        order = self.find(acct, inst, body)
        self._close(acct, order, self._cancelled_status(order), cancel_type="CancelByUser")
        self._push(acct, inst, [order], [])
        return order

    def cancel_all(self, acct: Account, body: dict[str, Any]) -> list[Order]:
        category = need(body, "category")
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r}")
        symbol = body.get("symbol") or ""
        settle = body.get("settleCoin") or body.get("baseCoin") or ""
        if category == "linear" and not symbol and not settle:
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        if symbol:
            self.instrument(category, symbol)
        done: list[Order] = []
        for o in list(acct.live.values()):
            if o.category != category:
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
        acct.live.pop(order.order_id, None)
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
                # The entry price is a running average (not a finite decimal in general): realised
                # PnL is settled to 8 decimals, as the exchange's wallet amounts are, so the wallet
                # stays the exact sum of the executions' execPnl - execFee.
                pnl = ((price - pos.avg) * closed * (1 if pos.size > 0 else -1)).quantize(_SETTLE)
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

    # ---------------------------------------------------------------- pushes
    def _push(self, acct: Account, inst: Instrument, orders: list[Order], execs: list[dict[str, Any]]) -> None:
        pushes: dict[str, list[dict[str, Any]]] = {"order": [o.ws(inst) for o in orders]}
        if execs:
            pushes["execution"] = execs
        if inst.category == "linear":
            pushes["position"] = [self.position_view(acct, inst, ws=True)]
        pushes["wallet"] = [self.wallet_view(acct, None)]
        self.sink.private(acct.key, inst.category, pushes)
