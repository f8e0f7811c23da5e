"""The emulator's aiohttp application: Bybit V5 REST (here) and WebSocket (:mod:`._streams`) on one
port, and the playback of price paths.

Everything in this module runs on the emulator's own event loop (see :mod:`._emulator`); the state it
touches (:class:`~._matching.Exchange`, the kline store, the faults) is never touched from another
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from aiohttp import web

from .._signing import rest_signature
from ._accounts import OPEN_STATUSES, Account, ApiError
from ._faults import Faults
from ._market import INTERVALS, Instrument, KlineStore, interval_ms
from ._matching import Exchange
from ._streams import Streams

__all__ = ["RecordedRequest", "Server"]

Handler = Callable[[Account | None, dict[str, Any]], dict[str, Any]]

# Default per-key budgets in a rolling second (UTA Pro defaults); per category where they differ.
DEFAULT_LIMITS: dict[str, dict[str, int]] = {
    "/v5/order/create": {"linear": 10, "spot": 20},
    "/v5/order/amend": {"linear": 10, "spot": 20},
    "/v5/order/cancel": {"linear": 10, "spot": 20},
    "/v5/order/cancel-all": {"linear": 10, "spot": 20},
    "/v5/order/realtime": {"": 50},
    "/v5/order/history": {"": 50},
    "/v5/execution/list": {"": 50},
    "/v5/position/list": {"": 50},
    "/v5/account/wallet-balance": {"": 50},
}
PER_CATEGORY = frozenset(k for k, v in DEFAULT_LIMITS.items() if "" not in v)
HTTP_TEXT = {403: "access too frequent", 429: "Too Many Requests", 500: "Internal Server Error",
             502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class RecordedRequest(NamedTuple):
    """One REST request the emulator answered: ``code`` is the ``retCode`` of an HTTP 200 answer, else
    the HTTP status."""

    method: str
    path: str
    order_link_id: str | None
    code: int


class Server:
    """Routes, auth, rate limits, faults, WebSocket fan-out and price-path playback."""

    def __init__(self, *, exchange: Exchange, klines: KlineStore, faults: Faults, record: list[RecordedRequest],
                 clock: Callable[[], int], idle_timeout: float, auth_error_status: int, ip_limit: int,
                 book_levels: int, spread_ticks: int) -> None:
        self.exchange = exchange
        self.klines = klines
        self.faults = faults
        self.record = record
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.auth_error_status = auth_error_status
        self.ip_limit = ip_limit
        self.book_levels = book_levels
        self.spread_ticks = spread_ticks
        self.limits: dict[str, dict[str, int]] = {k: dict(v) for k, v in DEFAULT_LIMITS.items()}
        self.windows: dict[tuple[str, str], deque[int]] = {}
        self.ip_window: deque[float] = deque()
        self.errors: list[str] = []  # defects of the emulator itself (tracebacks)
        self.stopping = asyncio.Event()
        self.streams = Streams(exchange=exchange, faults=faults, clock=clock, idle_timeout=idle_timeout,
                               stopping=self.stopping, errors=self.errors)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.routes: dict[tuple[str, str], tuple[bool, Handler]] = {
            ("GET", "/v5/market/time"): (False, self.market_time),
            ("GET", "/v5/market/instruments-info"): (False, self.instruments_info),
            ("GET", "/v5/market/kline"): (False, self.kline),
            ("GET", "/v5/market/orderbook"): (False, self.orderbook),
            ("POST", "/v5/order/create"): (True, self.order_create),
            ("POST", "/v5/order/amend"): (True, self.order_amend),
            ("POST", "/v5/order/cancel"): (True, self.order_cancel),
            ("POST", "/v5/order/cancel-all"): (True, self.order_cancel_all),
            ("GET", "/v5/order/realtime"): (True, self.order_realtime),
            ("GET", "/v5/order/history"): (True, self.order_history),
            ("GET", "/v5/execution/list"): (True, self.execution_list),
            ("GET", "/v5/position/list"): (True, self.position_list),
            ("GET", "/v5/account/wallet-balance"): (True, self.wallet_balance),
        }

    def app(self) -> web.Application:
        app = web.Application()
        for path, kind in (("/v5/public/spot", "spot"), ("/v5/public/linear", "linear"), ("/v5/private", "private")):
            app.router.add_get(path, self.streams.handler(kind))
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def reset(self) -> None:
        """Fresh loop-bound state for a (re)start on a new event loop."""
        self.stopping = asyncio.Event()
        self.streams.stopping = self.stopping
        self.streams.conns.clear()
        self.tasks.clear()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the emulator stops."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def shutdown(self) -> None:
        self.stopping.set()
        for conn in list(self.streams.conns):
            conn.queue.put_nowait(None)
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # ================================================================ REST
    def envelope(self, code: int, msg: str, result: Any) -> dict[str, Any]:
        return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": self.clock()}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except Exception:  # noqa: BLE001 - a defect of the emulator: kept for the test to see, answered 500
            self.errors.append(f"{request.method} {request.path_qs}: {traceback.format_exc()}")
            self.record.append(RecordedRequest(request.method, request.path, None, 500))
            return web.Response(status=500, text=f"emulator error: {self.errors[-1]}")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        raw_body = (await request.read()).decode("utf-8", "replace")
        raw_query = request.rel_url.raw_query_string
        link_id = self._link_id(method, raw_body, request)

        def answer(code: int, payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None,
                   text: str | None = None) -> web.Response:
            self.record.append(RecordedRequest(method, path, link_id, code if status == 200 else status))
            if text is not None:
                return web.Response(status=status, text=text, headers=headers)
            return web.json_response(payload, status=status, headers=headers,
                                     dumps=lambda o: json.dumps(o, separators=(",", ":")))

        now = time.monotonic()
        while self.ip_window and self.ip_window[0] <= now - 5:
            self.ip_window.popleft()
        if len(self.ip_window) >= self.ip_limit:
            return answer(403, None, status=403, text=HTTP_TEXT[403])
        self.ip_window.append(now)

        fault = self.faults.take("http_status", path)
        if fault is not None:
            return answer(fault.status, None, status=fault.status,
                          text=HTTP_TEXT.get(fault.status, "error"))
        fault = self.faults.take("delay", path)
        if fault is not None:
            await self.sleep(fault.seconds)

        route = self.routes.get((method, path))
        if route is None:
            return answer(404, self.envelope(10017, f"route not found: {method} {path}", {}), status=404)
        if method == "GET" and raw_body:
            return answer(403, None, status=403, text="GET request with a body")
        private, fn = route

        if method == "GET":
            params: Any = dict(request.rel_url.query)
        else:
            try:
                params = json.loads(raw_body) if raw_body else {}
            except ValueError:
                params = None
        category = params.get("category", "") if isinstance(params, dict) else ""
        if not isinstance(category, str):
            category = ""

        fault = self.faults.take("rate_limit", path)
        if fault is not None:
            now_ms = self.clock()
            headers = {"X-Bapi-Limit": str(self._limit(path, category) or 10), "X-Bapi-Limit-Status": "0"}
            if fault.with_reset_header:
                headers["X-Bapi-Limit-Reset-Timestamp"] = str(now_ms + 1000)
            return answer(10006, self.envelope(10006, "Too many visits!", {}), headers=headers)

        acct = None
        headers = {}
        if private:
            acct, err = self._authenticate(request, raw_query if method == "GET" else raw_body)
            if err is not None:
                return answer(err.code, self.envelope(err.code, err.msg, {}), status=self.auth_error_status
                              if self.auth_error_status != 200 else 200)
            assert acct is not None
            headers, limited = self._rate(acct.key, path, category)
            if limited:
                return answer(10006, self.envelope(10006, "Too many visits!", {}), headers=headers)

        if not isinstance(params, dict):
            return answer(10001, self.envelope(10001, "params error: the body is not a JSON object", {}),
                          headers=headers)
        try:
            result = fn(acct, params)
            code, msg = 0, "OK"
        except ApiError as exc:
            result, code, msg = {}, exc.code, exc.msg
        late = self.faults.take("late_answer", path)
        if late is not None:
            await self.sleep(late.seconds)
            if self.stopping.is_set() and request.transport is not None:
                request.transport.abort()  # stopped while holding the answer back: it never comes
        return answer(code, self.envelope(code, msg, result), headers=headers)

    @staticmethod
    def _link_id(method: str, raw_body: str, request: web.Request) -> str | None:
        if method == "GET":
            return request.rel_url.query.get("orderLinkId") or None
        try:
            body = json.loads(raw_body)
        except ValueError:
            return None
        value = body.get("orderLinkId") if isinstance(body, dict) else None
        return value if isinstance(value, str) and value else None

    def _authenticate(self, request: web.Request, payload: str) -> tuple[Account | None, ApiError | None]:
        h = request.headers
        key = h.get("X-BAPI-API-KEY", "")
        ts = h.get("X-BAPI-TIMESTAMP", "")
        sign = h.get("X-BAPI-SIGN", "")
        rw_header = h.get("X-BAPI-RECV-WINDOW")
        acct = self.exchange.accounts.get(key)
        if acct is None:
            return None, ApiError(10003, "API key is invalid.")
        rw_text = rw_header if rw_header is not None else "5000"
        if not ts.isdigit() or not rw_text.isdigit():
            return None, ApiError(10002, f"invalid request, please check your server timestamp or recv_window "
                                         f"param. req_timestamp[{ts}],server_timestamp[{self.clock()}],"
                                         f"recv_window[{rw_text}]")
        now, stamp, window = self.clock(), int(ts), int(rw_text)
        if not (now - window <= stamp < now + 1000):
            return None, ApiError(10002, f"invalid request, please check your server timestamp or recv_window "
                                         f"param. req_timestamp[{stamp}],server_timestamp[{now}],"
                                         f"recv_window[{window}]")
        # Without the header the signed string may carry the default window or none at all.
        candidates = [rw_header] if rw_header is not None else ["5000", ""]
        for rw in candidates:
            expected = rest_signature(acct.secret, timestamp=ts, api_key=key, recv_window=rw, payload=payload)
            if sign == expected:
                return acct, None
        origin = f"{ts}{key}{candidates[0]}{payload}"
        return None, ApiError(10004, f"error sign! origin_string[{origin}]")

    def _limit(self, path: str, category: str) -> int | None:
        table = self.limits.get(path)
        if not table:
            return None
        if path in PER_CATEGORY:
            return table.get(category) or table.get("linear")
        return table.get("") or next(iter(table.values()))

    def _rate(self, key: str, path: str, category: str) -> tuple[dict[str, str], bool]:
        limit = self._limit(path, category)
        if limit is None:
            return {}, False
        bucket = f"{path}:{category}" if path in PER_CATEGORY else path
        window = self.windows.setdefault((key, bucket), deque())
        # the window runs on a monotonic clock so that a skewed server clock does not bend it
        mono = time.monotonic_ns() // 1_000_000
        now = self.clock()
        while window and window[0] <= mono - 1000:
            window.popleft()
        if len(window) >= limit:
            return {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": "0",
                    "X-Bapi-Limit-Reset-Timestamp": str(now + window[0] + 1000 - mono)}, True
        window.append(mono)
        return {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(limit - len(window)),
                "X-Bapi-Limit-Reset-Timestamp": str(now)}, False

    # ---------------------------------------------------------------- market endpoints
    def market_time(self, _acct: Account | None, _params: dict[str, Any]) -> dict[str, Any]:
        ms = self.clock()
        return {"timeSecond": str(ms // 1000), "timeNano": str(ms * 1_000_000 + time.time_ns() % 1_000_000)}

    def instruments_info(self, _acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        category = p.get("category")
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r} is not supported (linear, spot)")
        items = [i for (c, _), i in sorted(self.exchange.instruments.items()) if c == category]
        if p.get("symbol"):
            items = [i for i in items if i.symbol == p["symbol"]]
        if p.get("baseCoin") and category != "spot":
            items = [i for i in items if i.base == p["baseCoin"]]
        if p.get("status") not in (None, "", "Trading"):
            items = []
        if category == "spot":
            return {"category": "spot", "list": [i.info() for i in items]}
        limit = _int_param(p, "limit", 500, 1, 1000)
        offset = _cursor(p.get("cursor"))
        page = items[offset:offset + limit]
        more = offset + limit < len(items)
        return {"category": category, "list": [i.info() for i in page],
                "nextPageCursor": _make_cursor(offset + limit) if more else ""}

    def kline(self, _acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        category = p.get("category") or "linear"
        symbol = p.get("symbol")
        if not symbol:
            raise ApiError(10001, "params error: symbol is required")
        interval = p.get("interval")
        if interval not in INTERVALS:
            raise ApiError(10001, f"Invalid period! interval {interval!r}")
        if (category, symbol) not in self.exchange.instruments and not self.klines.known(category, symbol):
            raise ApiError(10001, f"Not supported symbols: {symbol!r} ({category})")
        limit = _int_param(p, "limit", 200, 1, 1000)
        start = _int_param(p, "start", None, 0, None)
        end = _int_param(p, "end", None, 0, None)
        rows = self.klines.query(category, symbol, interval, start, end, limit)
        return {"category": category, "symbol": symbol, "list": rows}

    def orderbook(self, _acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        category = p.get("category")
        inst = self.exchange.instrument(category, p.get("symbol"))
        limit = _int_param(p, "limit", 1 if category == "spot" else 25, 1, 1000)
        book = self.exchange.books[(inst.category, inst.symbol)]
        view = book.view(limit)
        now = self.clock()
        return {"s": inst.symbol, "b": view["b"], "a": view["a"], "ts": now, "u": book.u, "seq": book.seq,
                "cts": now}

    # ---------------------------------------------------------------- order endpoints
    def order_create(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        order = self.exchange.create(acct, p)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def order_amend(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        order = self.exchange.amend(acct, p)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def order_cancel(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        order = self.exchange.cancel(acct, p)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def order_cancel_all(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        orders = self.exchange.cancel_all(acct, p)
        return {"list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in orders], "success": "1"}

    def _orders(self, acct: Account, p: dict[str, Any], *, history: bool) -> dict[str, Any]:
        category = p.get("category")
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r} is not supported (linear, spot)")
        order_id, link_id = p.get("orderId"), p.get("orderLinkId")
        symbol, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        if category == "linear" and not history and not (symbol or base or settle or order_id or link_id):
            raise ApiError(10001, "params error: symbol, baseCoin or settleCoin is required")
        selected = []
        for o in reversed(list(acct.orders.values())):
            if o.category != category:
                continue
            if order_id or link_id:
                if (order_id and o.order_id != order_id) or (not order_id and o.link_id != link_id):
                    continue
            else:
                is_open = o.status in OPEN_STATUSES
                if history:
                    if is_open:
                        continue
                    if p.get("orderStatus") and o.status != p["orderStatus"]:
                        continue
                elif is_open != (str(p.get("openOnly", "0")) == "0"):
                    continue
            inst = self.exchange.instruments[(category, o.symbol)]
            if symbol and o.symbol != symbol or base and inst.base != base or settle and inst.quote != settle:
                continue
            selected.append(o)
        if not history and str(p.get("openOnly", "0")) != "0":
            selected = selected[:500]
        limit = _int_param(p, "limit", 20, 1, 50)
        offset = _cursor(p.get("cursor"))
        page = selected[offset:offset + limit]
        return {"category": category,
                "nextPageCursor": _make_cursor(offset + limit) if offset + limit < len(selected) else "",
                "list": [o.rest(self.exchange.instruments[(category, o.symbol)]) for o in page]}

    def order_realtime(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        return self._orders(acct, p, history=False)

    def order_history(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        return self._orders(acct, p, history=True)

    def execution_list(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        category = p.get("category")
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r} is not supported (linear, spot)")
        week = 7 * 86_400_000
        start = _int_param(p, "startTime", None, 0, None)
        end = _int_param(p, "endTime", None, 0, None)
        if start is None and end is None:
            end = self.clock()
            start = end - week
        elif end is None:
            assert start is not None
            end = start + week
        elif start is None:
            start = end - week
        elif end - start > week:
            raise ApiError(10001, "params error: startTime and endTime must be at most 7 days apart")
        rows = []
        for e in reversed(acct.executions):
            if e["category"] != category or not (start <= int(e["execTime"]) <= end):
                continue
            if any(p.get(k) and e[k] != p[k] for k in ("symbol", "orderId", "orderLinkId", "execType")):
                continue
            rows.append({k: v for k, v in e.items() if k != "category"})
        limit = _int_param(p, "limit", 50, 1, 100)
        offset = _cursor(p.get("cursor"))
        return {"category": category,
                "nextPageCursor": _make_cursor(offset + limit) if offset + limit < len(rows) else "",
                "list": rows[offset:offset + limit]}

    def position_list(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        category = p.get("category")
        if category != "linear":
            raise ApiError(10001, f"params error: category {category!r} has no positions here (linear)")
        symbol, settle = p.get("symbol"), p.get("settleCoin")
        if not symbol and not settle:
            raise ApiError(10001, "params error: symbol or settleCoin is required")
        if symbol:
            inst = self.exchange.instrument("linear", symbol)
            rows = [self.exchange.position_view(acct, inst)]
        else:
            rows = []
            for sym, pos in sorted(acct.positions.items()):
                inst = self.exchange.instruments[("linear", sym)]
                if pos.size and inst.quote == settle:
                    rows.append(self.exchange.position_view(acct, inst))
        limit = _int_param(p, "limit", 20, 1, 200)
        offset = _cursor(p.get("cursor"))
        return {"category": "linear",
                "nextPageCursor": _make_cursor(offset + limit) if offset + limit < len(rows) else "",
                "list": rows[offset:offset + limit]}

    def wallet_balance(self, acct: Account | None, p: dict[str, Any]) -> dict[str, Any]:
        assert acct is not None
        if p.get("accountType") != "UNIFIED":
            raise ApiError(10001, f"params error: accountType only supports UNIFIED, got {p.get('accountType')!r}")
        coins = {c for c in str(p.get("coin") or "").split(",") if c} or None
        return {"list": [self.exchange.wallet_view(acct, coins)]}

    # ---------------------------------------------------------------- market moves
    def move_price(self, category: str, symbol: str, price: Decimal) -> None:
        book = self.exchange.books[(category, symbol)]
        book.generate(price, self.book_levels, self.spread_ticks)
        self.streams.book_changed(category, symbol)
        self.exchange.match_resting(category, symbol)

    def set_book(self, category: str, symbol: str, bids: Iterable[tuple[Decimal, Decimal]],
                 asks: Iterable[tuple[Decimal, Decimal]]) -> None:
        book = self.exchange.books[(category, symbol)]
        book.replace(bids, asks)
        self.streams.book_changed(category, symbol)
        self.exchange.match_resting(category, symbol)

    async def play(self, category: str, symbol: str, interval: str, bars: list[tuple[Any, ...]],
                   interval_s: float) -> None:
        """Play bars as a live price path: per bar the prices open, then the nearer extreme, the other
        extreme and the close, each re-centring the book, printing a trade and an unconfirmed kline;
        then the confirmed kline, and the bar joins the REST history.

        Klines of every longer interval that is a whole number of bars (5 and 15 for 1-minute bars, ...)
        are built from the played bars, aligned on the epoch, and streamed and stored the same way."""
        prev: Decimal | None = None
        base_ms = interval_ms(interval)
        longer = [j for j, ms in INTERVALS.items() if ms > base_ms and ms % base_ms == 0 and j not in ("W", "M")]
        done: dict[str, tuple[Any, ...] | None] = dict.fromkeys(longer)  # the closed bars of the open bucket
        for bar in bars:
            t, o, h, lo, c, v, _turnover = bar
            path = [o, lo, h, c] if c >= o else [o, h, lo, c]
            step_s = interval_s / (len(path) + 1)
            high = low = o
            vol = Decimal(0)
            for j in longer:
                agg = done[j]
                if agg is not None and agg[0] != t - t % INTERVALS[j]:
                    done[j] = None  # the path skipped the rest of that bucket: drop it unconfirmed
            for price in path:
                high, low = max(high, price), min(low, price)
                vol += v / len(path)
                self.move_price(category, symbol, price)
                side = "Buy" if prev is None or price >= prev else "Sell"
                self.streams.trades(category, symbol, side, [(price, self._trade_qty(category, symbol, v / len(path)))])
                prev = price
                partial = (t, o, high, low, price, vol, vol * price)
                self.streams.kline_push(category, symbol, interval, partial, False)
                for j in longer:
                    self.streams.kline_push(category, symbol, j, _merge(done[j], partial, INTERVALS[j]), False)
                await self.sleep(step_s)
                if self.stopping.is_set():
                    return
            self.streams.kline_push(category, symbol, interval, bar, True)
            self.klines.add(category, symbol, interval, bar)
            for j in longer:
                merged = _merge(done[j], bar, INTERVALS[j])
                if t + base_ms == merged[0] + INTERVALS[j]:  # the bar closes the bucket
                    self.streams.kline_push(category, symbol, j, merged, True)
                    self.klines.add(category, symbol, j, merged)
                    done[j] = None
                else:
                    done[j] = merged
            await self.sleep(step_s)

    def _trade_qty(self, category: str, symbol: str, qty: Decimal) -> Decimal:
        inst: Instrument = self.exchange.instruments[(category, symbol)]
        n = (qty / inst.qty_step).to_integral_value()
        return max(n, Decimal(1)) * inst.qty_step


def _int_param(p: Mapping[str, Any], name: str, default: int | None, lo: int, hi: int | None) -> Any:
    raw = p.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(10001, f"params error: {name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise ApiError(10001, f"params error: {name} must be in [{lo}, {hi}], got {value}")
    return value


def _make_cursor(offset: int) -> str:
    return f"page_args%3D{offset}%26"


def _cursor(raw: Any) -> int:
    if not raw:
        return 0
    m = re.search(r"(\d+)(?:%26|&)?$", str(raw))
    if m is None:
        raise ApiError(10001, f"params error: cursor {raw!r} is not one this server gave")
    return int(m.group(1))


def _merge(agg: tuple[Any, ...] | None, bar: tuple[Any, ...], bucket_ms: int) -> tuple[Any, ...]:
    """The candle of a longer interval so far: ``agg`` (its closed part, or None) extended by ``bar``."""
    t, o, h, lo, c, v, turnover = bar
    if agg is None:
        return (t - t % bucket_ms, o, h, lo, c, v, turnover)
    return (agg[0], agg[1], max(agg[2], h), min(agg[3], lo), c, agg[5] + v, agg[6] + turnover)

