"""The emulator's WebSocket side: connections, ping/pong, auth, subscriptions and the fan-out of
book, trade, kline and private messages.

Everything here runs on the emulator's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from .._signing import ws_auth_signature
from ._faults import Faults
from ._market import INTERVALS, fmt, interval_ms
from ._matching import Exchange

__all__ = ["Conn", "Streams"]

PRIVATE_TOPICS = {"order", "execution", "position", "wallet", "order.linear", "order.spot",
                  "execution.linear", "execution.spot", "position.linear"}
PUBLIC_TOPIC = re.compile(r"^(?:(orderbook)\.(1|50|200|1000)|(kline)\.(\w+)|(publicTrade))\.([A-Z0-9]+)$")


@dataclass(eq=False)
class Conn:
    """One WebSocket connection."""

    ws: web.WebSocketResponse
    kind: str  # "spot", "linear" or "private"
    transport: Any
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])
    topics: set[str] = field(default_factory=set)
    key: str | None = None
    books: dict[tuple[str, int], tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)
    level1_sent: dict[str, float] = field(default_factory=dict)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def send(self, message: Mapping[str, Any]) -> None:
        self.queue.put_nowait(json.dumps(message, separators=(",", ":")))

class Streams:
    """Every open WebSocket and what it subscribed to; the :class:`~._matching.Sink` of the exchange."""

    def __init__(self, *, exchange: Exchange, faults: Faults, clock: Callable[[], int], idle_timeout: float,
                 stopping: asyncio.Event, errors: list[str]) -> None:
        self.errors = errors
        self.exchange = exchange
        self.faults = faults
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.stopping = stopping
        self.conns: set[Conn] = set()
        self.last_trade: dict[tuple[str, str], Decimal] = {}
        self.trade_seq = 0

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def handler(self, kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            idle = self.idle_timeout
            if kind == "private" and "max_active_time" in request.rel_url.query:
                idle = min(idle, _duration(request.rel_url.query["max_active_time"]))
            ws = web.WebSocketResponse(autoping=False)
            await ws.prepare(request)
            conn = Conn(ws=ws, kind=kind, transport=request.transport)
            self.conns.add(conn)
            writer = asyncio.ensure_future(self._writer(conn))
            try:
                while not ws.closed:
                    try:
                        msg = await ws.receive(timeout=idle)
                    except TimeoutError:
                        break
                    if msg.type == WSMsgType.TEXT:
                        try:
                            self._on_ws_text(conn, msg.data)
                        except Exception:  # noqa: BLE001 - a defect of the emulator: kept, the socket closed
                            self.errors.append(f"WebSocket {kind} {msg.data[:200]!r}: {traceback.format_exc()}")
                            break
                    elif msg.type == WSMsgType.PING:
                        await ws.pong(msg.data)
                    elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        break
            finally:
                self.conns.discard(conn)
                conn.queue.put_nowait(None)
                with contextlib.suppress(Exception):
                    await writer
                with contextlib.suppress(Exception):
                    await ws.close()
            return ws

        return handler

    async def _writer(self, conn: Conn) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def _on_ws_text(self, conn: Conn, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            conn.send({"success": False, "ret_msg": f"error:invalid message {data[:100]!r}", "conn_id": conn.conn_id})
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            if conn.kind == "private":
                conn.send({"req_id": req_id or "", "op": "pong", "args": [str(self.clock())],
                           "conn_id": conn.conn_id})
            elif conn.kind == "spot":
                pong = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "op": "ping"}
                if req_id is not None:
                    pong = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "req_id": req_id,
                            "op": "ping"}
                conn.send(pong)
            else:
                conn.send({"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "req_id": req_id or "",
                           "op": "ping"})
        elif op == "auth":
            self._ws_auth(conn, msg)
        elif op in ("subscribe", "unsubscribe"):
            self._ws_subscribe(conn, op, msg)
        else:
            self._ack(conn, op, req_id, False, f"error:unknown op {op!r}")

    def _ack(self, conn: Conn, op: Any, req_id: Any, ok: bool, ret_msg: str) -> None:
        if conn.kind == "private":
            ack: dict[str, Any] = {"success": ok, "ret_msg": ret_msg, "op": op, "conn_id": conn.conn_id}
            if req_id is not None:
                ack["req_id"] = req_id
        else:
            if ok and conn.kind == "spot" and op in ("subscribe", "unsubscribe"):
                ret_msg = op
            ack = {"success": ok, "ret_msg": ret_msg, "conn_id": conn.conn_id, "req_id": req_id or "", "op": op}
        conn.send(ack)

    def _ws_auth(self, conn: Conn, msg: dict[str, Any]) -> None:
        req_id = msg.get("req_id")
        if conn.kind != "private":
            self._ack(conn, "auth", req_id, False, "error:auth is only for the private stream")
            return
        if conn.key is not None:
            self._ack(conn, "auth", req_id, False, "Request repeated")
            return
        args = msg.get("args")
        ok = False
        if isinstance(args, list) and len(args) == 3:
            key, expires, signature = args
            acct = self.exchange.accounts.get(key) if isinstance(key, str) else None
            if acct is not None and isinstance(expires, int | str) and str(expires).isdigit() \
                    and int(expires) > self.clock() and signature == ws_auth_signature(acct.secret, int(expires)):
                ok = True
                conn.key = key
        self._ack(conn, "auth", req_id, ok, "" if ok else "Params Error")

    def _ws_subscribe(self, conn: Conn, op: str, msg: dict[str, Any]) -> None:
        req_id = msg.get("req_id")
        args = msg.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            self._ack(conn, op, req_id, False, "error:args must be a non-empty list of topics")
            return
        if conn.kind == "private":
            if conn.key is None:
                self._ack(conn, op, req_id, False, "Request not authorized")
                return
            bad = [a for a in args if a not in PRIVATE_TOPICS]
            if bad:
                self._ack(conn, op, req_id, False, f"error:handler not found,topic:{bad[0]}")
                return
            kinds = {"." in a for a in args if a != "wallet"}
            if len(kinds) > 1:
                self._ack(conn, op, req_id, False, "error:all-in-one and categorised topics cannot be mixed")
                return
        else:
            if conn.kind == "spot" and len(args) > 10:
                self._ack(conn, op, req_id, False, "args size >10")
                return
            for a in args:
                m = PUBLIC_TOPIC.match(a)
                if m is None or (m.group(3) and m.group(4) not in INTERVALS):
                    self._ack(conn, op, req_id, False, f"error:handler not found,topic:{a}")
                    return
                if (conn.kind, m.group(6)) not in self.exchange.instruments:
                    self._ack(conn, op, req_id, False, f"Invalid symbol :[{a}]")
                    return
        if op == "subscribe":
            dup = [a for a in args if a in conn.topics]
            if dup:
                self._ack(conn, op, req_id, False, f"error:already subscribed,topic:{dup[0]}")
                return
            conn.topics.update(args)
            self._ack(conn, op, req_id, True, "")
            for a in args:
                if a.startswith("orderbook."):
                    _, depth, symbol = a.split(".")
                    self._book_snapshot(conn, symbol, int(depth))
        else:
            conn.topics.difference_update(args)
            for a in args:
                if a.startswith("orderbook."):
                    _, depth, symbol = a.split(".")
                    conn.books.pop((symbol, int(depth)), None)
            self._ack(conn, op, req_id, True, "")

    # ---------------------------------------------------------------- public fan-out
    def _book_snapshot(self, conn: Conn, symbol: str, depth: int) -> None:
        book = self.exchange.books[(conn.kind, symbol)]
        view = book.view(depth)
        conn.books[(symbol, depth)] = (dict(view["b"]), dict(view["a"]))
        conn.level1_sent[symbol] = time.monotonic()
        now = self.clock()
        conn.send({"topic": f"orderbook.{depth}.{symbol}", "type": "snapshot", "ts": now,
                   "data": {"s": symbol, "b": view["b"], "a": view["a"], "u": book.u, "seq": book.seq}, "cts": now})

    def resend_snapshots(self, category: str, symbol: str) -> None:
        for conn in list(self.conns):
            if conn.kind == category:
                for (sym, depth) in list(conn.books):
                    if sym == symbol:
                        self._book_snapshot(conn, symbol, depth)

    def book_changed(self, category: str, symbol: str) -> None:
        """Send every orderbook subscriber of the instrument the change, as a delta against what that
        subscriber was last sent (level 1: a snapshot)."""
        skip = (category, symbol) in self.faults.skip_delta
        self.faults.skip_delta.discard((category, symbol))
        book = self.exchange.books[(category, symbol)]
        now = self.clock()
        for conn in list(self.conns):
            if conn.kind != category:
                continue
            for (sym, depth), (old_b, old_a) in list(conn.books.items()):
                if sym != symbol:
                    continue
                view = book.view(depth)
                new_b, new_a = dict(view["b"]), dict(view["a"])
                conn.books[(sym, depth)] = (new_b, new_a)
                if depth == 1:
                    if (new_b, new_a) != (old_b, old_a):
                        conn.level1_sent[sym] = time.monotonic()
                        conn.send({"topic": f"orderbook.1.{sym}", "ts": now, "type": "snapshot",
                                   "data": {"s": sym, "b": view["b"], "a": view["a"], "u": book.u,
                                            "seq": book.seq}, "cts": now})
                    continue
                if skip:
                    continue
                d_b = _diff(old_b, new_b, reverse=True)
                d_a = _diff(old_a, new_a, reverse=False)
                conn.send({"topic": f"orderbook.{depth}.{sym}", "type": "delta", "ts": now,
                           "data": {"s": sym, "b": d_b, "a": d_a, "u": book.u, "seq": book.seq}, "cts": now})

    async def level1_ticker(self) -> None:
        """Re-push a level-1 snapshot (same ``u``) to every subscriber not sent one for 3 s."""
        while not self.stopping.is_set():
            await self.sleep(0.5)
            mono = time.monotonic()
            for conn in list(self.conns):
                for (sym, depth) in list(conn.books):
                    if depth == 1 and mono - conn.level1_sent.get(sym, 0) >= 3:
                        self._book_snapshot(conn, sym, 1)

    def trades(self, category: str, symbol: str, side: str, fills: list[tuple[Decimal, Decimal]]) -> None:
        """One ``publicTrade`` message with a trade per (price, qty), ``side`` being the taker's."""
        inst = self.exchange.instruments[(category, symbol)]
        now = self.clock()
        items = []
        for price, qty in fills:
            prev = self.last_trade.get((category, symbol))
            self.last_trade[(category, symbol)] = price
            self.trade_seq += 1
            item: dict[str, Any] = {"T": now, "s": symbol, "S": side, "v": inst.fmt_qty(qty),
                                    "p": inst.fmt_price(price), "i": str(uuid.uuid4()), "BT": False, "RPI": False,
                                    "seq": self.trade_seq}
            if category == "linear":
                item["L"] = ("PlusTick" if prev is None or price > prev else
                             "MinusTick" if price < prev else "ZeroPlusTick")
            items.append(item)
        topic = f"publicTrade.{symbol}"
        message = {"topic": topic, "type": "snapshot", "ts": now, "data": items}
        for conn in list(self.conns):
            if conn.kind == category and topic in conn.topics:
                conn.send(message)

    def kline_push(self, category: str, symbol: str, interval: str, bar: tuple[Any, ...], confirm: bool) -> None:
        topic = f"kline.{interval}.{symbol}"
        t, o, h, lo, c, v, turnover = bar
        now = self.clock()
        message = {"topic": topic, "type": "snapshot", "ts": now, "data": [{
            "start": t, "end": t + interval_ms(interval) - 1, "interval": interval, "open": fmt(o),
            "close": fmt(c), "high": fmt(h), "low": fmt(lo), "volume": fmt(v), "turnover": fmt(turnover),
            "confirm": confirm, "timestamp": now}]}
        for conn in list(self.conns):
            if conn.kind == category and topic in conn.topics:
                conn.send(message)

    def private(self, key: str, category: str, pushes: dict[str, list[dict[str, Any]]]) -> None:
        now = self.clock()
        for conn in list(self.conns):
            if conn.kind != "private" or conn.key != key:
                continue
            for topic in ("order", "execution", "position", "wallet"):
                data = pushes.get(topic)
                if not data:
                    continue
                name = topic if topic in conn.topics else f"{topic}.{category}"
                if name not in conn.topics:
                    continue
                conn.send({"id": f"{uuid.uuid4().hex[:8]}-{now}", "topic": name, "creationTime": now,
                           "data": data})


def _diff(old: dict[str, str], new: dict[str, str], *, reverse: bool) -> list[list[str]]:
    changes = {p: q for p, q in new.items() if old.get(p) != q}
    for p in old:
        if p not in new:
            changes[p] = "0"
    return [[p, changes[p]] for p in sorted(changes, key=Decimal, reverse=reverse)]


def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d+)([sm])", text)
    if m is None:
        raise web.HTTPBadRequest(text=f"max_active_time {text!r}: use e.g. 30s or 2m")
    seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    return float(min(max(seconds, 30), 600))
