"""What the broker, live-session and fault tests share: an emulator account, a broker wired to it, an
events recorder that checks the reporting rules, and the journal-versus-exchange comparison."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import structlog
from tradehooks._clock import WallClock
from tradehooks.contracts import ComponentContext
from tradehooks.model import Fill, Instrument, Order, OrderStatus, OrderType, Side, TimeInForce

from tradehooks_bybit import BybitBroker, BybitBrokerConfig

KEY = "TESTKEY123"
SECRET = "TEST_SECRET_DO_NOT_USE"

LINEAR = {
    "BTCUSDT": Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001",
                          min_notional="5"),
}
SPOT = {
    "BTCUSDT": Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.01", lot_size="0.000001",
                          min_notional="5"),
}


class Recorder:
    """The engine's side of BrokerEvents: records every call in order and checks, as they come, that
    a fill is reported before the order update that counts it and that no fill comes twice."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, list[Fill]] = {}
        self.errors: list[BaseException] = []
        self.problems: list[str] = []
        self._trade_ids: set[str] = set()

    def order_updated(self, order: Order) -> None:
        self.calls.append(("order", order))
        filled = sum((f.quantity for f in self.fills.get(order.client_order_id, ())), Decimal(0))
        if filled != order.filled_quantity:
            self.problems.append(f"{order.client_order_id}: reported filled {order.filled_quantity} "
                                 f"but its fills add up to {filled}")
        self.orders[order.client_order_id] = order

    def fill(self, fill: Fill) -> None:
        self.calls.append(("fill", fill))
        if fill.trade_id in self._trade_ids:
            self.problems.append(f"fill {fill.trade_id} reported twice")
        self._trade_ids.add(fill.trade_id)
        self.fills.setdefault(fill.client_order_id, []).append(fill)

    def error(self, exception: BaseException) -> None:
        self.errors.append(exception)

    def status(self, client_order_id: str) -> OrderStatus | None:
        order = self.orders.get(client_order_id)
        return None if order is None else order.status


def quiet_logger() -> Any:
    """A logger of its own that prints nothing: never the process-wide structlog set-up, which other
    tests (the CLI's) may have pointed at a stream that is closed by now."""
    return structlog.wrap_logger(structlog.ReturnLogger())


def context(instruments: dict[str, Instrument] | None = None) -> ComponentContext:
    return ComponentContext(
        engine_id="test", mode="live", clock=WallClock(), base_dir=Path.cwd(),
        log=quiet_logger(),
        instruments=instruments or LINEAR, timeframe=60_000_000_000,
    )


def make_broker(emu: Any, *, instruments: dict[str, Instrument] | None = None, key: tuple[str, str] = (KEY, SECRET),
                **params: Any) -> BybitBroker:
    config = BybitBrokerConfig(api_key=key[0], api_secret=key[1], rest_url=emu.rest_url, ws_url=emu.ws_url,
                               **{"timeout": 2.0, **params})
    return BybitBroker(config, context(instruments))


@asynccontextmanager
async def connected(emu: Any, events: Recorder | None = None, **params: Any) -> AsyncIterator[
        tuple[BybitBroker, Recorder]]:
    broker = make_broker(emu, **params)
    events = events if events is not None else Recorder()
    await broker.connect(events)
    try:
        yield broker, events
    finally:
        await broker.close()
    assert not events.problems, events.problems


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.01)


_SEQ = iter(range(1, 1_000_000))


def order(side: str = "buy", quantity: str = "0.01", *, type: str = "market", price: str | None = None,
          tif: TimeInForce = TimeInForce.GTC, post_only: bool = False, reduce_only: bool = False,
          cid: str | None = None, instrument: str = "BTCUSDT", strategy: str = "s1",
          trigger: str | None = None) -> Order:
    return Order(
        client_order_id=cid or f"t{time.time_ns():x}-{next(_SEQ)}", strategy_id=strategy, instrument_id=instrument,
        side=Side(side), type=OrderType(type), quantity=Decimal(quantity),
        price=None if price is None else Decimal(price), time_in_force=tif, post_only=post_only,
        trigger_price=None if trigger is None else Decimal(trigger),
        reduce_only=reduce_only, ts_created=time.time_ns(), ts_updated=time.time_ns(),
    )


def journal_orders(path: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The journal's last state of every order and every fill (read straight from SQLite)."""
    db = sqlite3.connect(path)
    try:
        orders: dict[str, dict[str, Any]] = {}
        fills: list[dict[str, Any]] = []
        for kind, payload in db.execute("SELECT kind, payload FROM entries WHERE kind IN ('order', 'fill') "
                                        "ORDER BY seq"):
            data = json.loads(payload)
            if kind == "order":
                orders[data["client_order_id"]] = data
            else:
                fills.append(data)
        return orders, fills
    finally:
        db.close()


def compare_with_exchange(orders: dict[str, dict[str, Any]], fills: Iterable[dict[str, Any]],
                          emu_orders: list[dict[str, Any]], emu_execs: list[dict[str, Any]]) -> list[str]:
    """Every way the engine's record and the exchange's disagree (empty: they agree): the same set of
    orderLinkIds (the account is the engine's alone), each placed once, the same fills (id, quantity,
    price, fee), none twice. Orders the engine closed without reaching the exchange (refused before
    sending) are the only ones allowed to be missing there."""
    problems: list[str] = []
    fills = list(fills)
    by_link: dict[str, list[dict[str, Any]]] = {}
    for item in emu_orders:
        by_link.setdefault(item.get("orderLinkId") or "", []).append(item)
    for link, items in by_link.items():
        if link and len(items) > 1:
            problems.append(f"orderLinkId {link} placed {len(items)} times")
    ours = {cid for cid in orders}
    for cid, data in orders.items():
        placed = by_link.get(cid, [])
        if not placed:
            if data["status"] not in ("rejected", "canceled"):
                problems.append(f"{cid} is {data['status']} in the journal but unknown at the exchange")
            continue
        item = placed[0]
        exch_filled = Decimal(item["cumExecQty"])
        if Decimal(data["filled_quantity"]) != exch_filled:
            problems.append(f"{cid}: journal filled {data['filled_quantity']}, exchange {exch_filled}")
        if item["orderStatus"] in ("Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated") \
                and data["status"] in ("submitted", "accepted", "partially_filled", "pending_cancel"):
            problems.append(f"{cid}: journal says {data['status']}, exchange {item['orderStatus']}")
    for link in by_link:
        if link not in ours:
            problems.append(f"{link or 'an order without orderLinkId'} is at the exchange but not in the journal")
    trade_ids = [f["trade_id"] for f in fills]
    if len(trade_ids) != len(set(trade_ids)):
        problems.append("a fill is journaled twice")
    execs = {e["execId"]: e for e in emu_execs if (e.get("orderLinkId") or "") in ours}
    if set(trade_ids) != set(execs):
        problems.append(f"fills differ: journal only {sorted(set(trade_ids) - set(execs))}, "
                        f"exchange only {sorted(set(execs) - set(trade_ids))}")
    for f in fills:
        e = execs.get(f["trade_id"])
        if e is not None and (Decimal(f["quantity"]), Decimal(f["price"]), Decimal(f["fee"])) != (
                Decimal(e["execQty"]), Decimal(e["execPrice"]), Decimal(e["execFee"])):
            problems.append(f"fill {f['trade_id']}: journal {f['quantity']}@{f['price']} fee {f['fee']}, exchange "
                            f"{e['execQty']}@{e['execPrice']} fee {e['execFee']}")
    return problems
