"""``BybitEmulator``: a Bybit V5 server on 127.0.0.1 in a background thread with its own event loop.

Every public method is thread-safe: it hands its work to the emulator's loop and waits for the result,
so tests under asyncio, trio or plain sync code, and ``tradehooks run`` subprocesses, can all use it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, TypeVar

from aiohttp import web

from ._accounts import Account
from ._faults import Fault, Faults
from ._market import (
    Book,
    Instrument,
    KlineStore,
    dec,
    default_prices,
    instrument_defaults,
    interval_ms,
    normalise_bar,
)
from ._matching import Exchange
from ._server import DEFAULT_LIMITS, RecordedRequest, Server

__all__ = ["BybitEmulator", "RecordedRequest"]

T = TypeVar("T")
_QUOTES = ("USDT", "USDC", "BTC", "ETH", "EUR")


class BybitEmulator:
    """A protocol-faithful Bybit V5 exchange (REST and WebSocket on one port) for tests.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with BybitEmulator() as emu:
            emu.add_account("KEY", "SECRET", balances={"USDT": "10000"})
            ...  # point a client at emu.rest_url / emu.ws_url

    It starts with linear and spot ``BTCUSDT`` (price 30000) and ``ETHUSDT`` (price 2000), each with a
    generated book of ``book_levels`` levels a side.

    Args:
        taker_fee, maker_fee: linear fee rates (defaults 0.00055 and 0.0002).
        spot_taker_fee, spot_maker_fee: spot fee rates (default 0.001 each); spot fees are taken in the
            coin received.
        leverage: default leverage of new accounts (linear initial margin = notional / leverage).
        market_slippage: how far from the best price a market order may walk the book (0.05 = 5 %).
        book_levels, spread_ticks: shape of the generated book (levels a side, ticks between best bid
            and best ask).
        idle_timeout: seconds without any client message after which a WebSocket is closed (Bybit: 600).
        auth_error_status: HTTP status of 10002/10003/10004 answers (200 as observed; 401 to test the
            other documented possibility).
        ip_limit: requests per 5 s before HTTP 403 (Bybit: 600).
        rate_limits: per-path overrides of the per-key budget per second, e.g.
            ``{"/v5/order/create": 2}`` (applies to every category).
        host, port: where to listen (port 0: a free one).
    """

    def __init__(
        self,
        *,
        taker_fee: Any = "0.00055",
        maker_fee: Any = "0.0002",
        spot_taker_fee: Any = "0.001",
        spot_maker_fee: Any = "0.001",
        leverage: Any = "10",
        market_slippage: Any = "0.05",
        book_levels: int = 50,
        spread_ticks: int = 1,
        idle_timeout: float = 600.0,
        auth_error_status: int = 200,
        ip_limit: int = 600,
        rate_limits: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host, self._port = host, port
        self._leverage = dec(leverage)
        self._faults = Faults()
        self._klines = KlineStore()
        self._record: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._plays: list[concurrent.futures.Future[Any]] = []
        self.port = 0
        fees = {"linear": (dec(taker_fee), dec(maker_fee)), "spot": (dec(spot_taker_fee), dec(spot_maker_fee))}
        self._exchange = Exchange(sink=None, clock=self._now_ms,  # type: ignore[arg-type]
                                  market_slippage=dec(market_slippage), fees=fees)
        self._server = Server(exchange=self._exchange, klines=self._klines, faults=self._faults,
                              record=self._record, clock=self._now_ms, idle_timeout=idle_timeout,
                              auth_error_status=auth_error_status, ip_limit=ip_limit,
                              book_levels=book_levels, spread_ticks=spread_ticks)
        self._exchange.sink = self._server.streams
        for path, limit in (rate_limits or {}).items():
            self._set_rate_limit(path, limit, None)
        prices = default_prices()
        for inst in instrument_defaults():
            self._add_instrument(inst, prices[inst.symbol])

    # ================================================================ life cycle
    def _now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._faults.skew_ms

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``; the streams are ``/v5/public/spot``, ``/v5/public/linear`` and
        ``/v5/private``."""
        return f"ws://{self._host}:{self.port}"

    def start(self) -> BybitEmulator:
        """Listen and serve in a background thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("BybitEmulator.start(): already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.port:  # a restart keeps the port the clients know (its old connections may linger)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self.port or self._port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart(sock))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                sock.close()
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            try:
                loop.run_forever()
            finally:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"bybit-emulator:{self.port}", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=30)
        except BaseException:
            self._thread.join(5)
            self._thread = self._loop = None
            raise
        return self

    async def _astart(self, sock: socket.socket) -> None:
        self._server.reset()
        self._runner = web.AppRunner(self._server.app(), handle_signals=False, access_log=None,
                                     shutdown_timeout=0.25)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._server.spawn(self._server.streams.level1_ticker())

    async def _astop(self) -> None:
        await self._server.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Close every socket and end the thread (idempotent). The exchange's state stays: a later
        :meth:`start` serves it again on the same port, as an exchange coming back after an outage."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(15)
            self._loop = self._thread = None

    def __enter__(self) -> BybitEmulator:  # noqa: PYI034 - the class is not meant to be subclassed
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the emulator's loop (directly before start or from the loop itself)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or threading.current_thread() is thread:
            return fn(*args)

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    # ================================================================ set-up
    def add_account(self, key: str, secret: str, *, balances: Mapping[str, Any] | None = None,
                    leverage: Any = None, taker_fee: Any = None, maker_fee: Any = None) -> None:
        """A unified account with API ``key``/``secret`` and wallet ``balances`` (coin -> amount).

        Adding a key that exists changes its secret (and the balances, leverage or fees given) and keeps
        its orders and positions: requests signed with the old secret fail from then on (10004)."""
        fees = dict(self._exchange.default_fees)
        if taker_fee is not None or maker_fee is not None:
            t, m = fees["linear"]
            fees["linear"] = (dec(taker_fee) if taker_fee is not None else t,
                              dec(maker_fee) if maker_fee is not None else m)
        acct = Account(key=key, secret=secret, wallet={c: dec(v) for c, v in (balances or {}).items()},
                       leverage=dec(leverage) if leverage is not None else self._leverage, fees=fees)

        def add() -> None:
            known = self._exchange.accounts.get(key)
            if known is None:
                self._exchange.accounts[key] = acct
                return
            # the key is rotated: a new secret (requests signed with the old one now fail), and the
            # balances, leverage and fees given; orders, positions and executions stay
            known.secret = secret
            if balances is not None:
                known.wallet = acct.wallet
            if leverage is not None:
                known.leverage = acct.leverage
            if taker_fee is not None or maker_fee is not None:
                known.fees = acct.fees

        self._call(add)

    def add_instrument(self, category: Literal["linear", "spot"], symbol: str, *, tick_size: Any,
                       qty_step: Any, min_qty: Any, min_notional: Any = "5", max_qty: Any = "1000000",
                       max_mkt_qty: Any = None, base: str | None = None, quote: str | None = None,
                       level_qty: Any = None, price: Any = None, min_price: Any = None,
                       max_price: Any = None) -> None:
        """Add (or replace) an instrument; its book is generated around ``price`` (a replaced instrument's
        last price by default; a new one without a price has an empty book until :meth:`set_price`)."""
        if category not in ("linear", "spot"):
            raise ValueError(f"add_instrument: category must be 'linear' or 'spot', got {category!r}")
        if quote is None:
            quote = next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), None)
            if quote is None:
                raise ValueError(f"add_instrument: cannot tell the quote coin of {symbol!r}; pass quote=")
        if base is None:
            base = symbol[: -len(quote)]
        tick, step = dec(tick_size), dec(qty_step)
        inst = Instrument(
            category=category, symbol=symbol, base=base, quote=quote, tick_size=tick, qty_step=step,
            min_qty=dec(min_qty), max_qty=dec(max_qty), min_notional=dec(min_notional),
            max_mkt_qty=dec(max_mkt_qty) if max_mkt_qty is not None else dec(max_qty),
            min_price=dec(min_price) if min_price is not None else tick,
            max_price=dec(max_price) if max_price is not None else tick * 10**9,
            level_qty=dec(level_qty) if level_qty is not None else dec(min_qty) * 100,
            symbol_id=len(self._exchange.instruments) + 1,
        )
        self._call(self._add_instrument, inst, dec(price) if price is not None else None)

    def _add_instrument(self, inst: Instrument, price: Decimal | None) -> None:
        key = (inst.category, inst.symbol)
        self._exchange.instruments[key] = inst
        old = self._exchange.books.get(key)
        book = self._exchange.books[key] = Book(inst)
        if old is not None:
            book.u, book.seq = old.u, old.seq
            if price is None:
                price = old.last_price  # a replaced instrument keeps trading where it was
        if price is not None:
            book.generate(price, self._server.book_levels, self._server.spread_ticks)
            if self._loop is not None:
                self._server.streams.book_changed(*key)

    def load_klines(self, category: str, symbol: str, interval: str, bars: Iterable[Any]) -> None:
        """History for ``/v5/market/kline``: ``(start_ms, open, high, low, close, volume[, turnover])``
        tuples or ``tradehooks.model.Bar``s."""
        interval_ms(interval)
        rows = [normalise_bar(b) for b in bars]

        def load() -> None:
            for row in rows:
                self._klines.add(category, symbol, interval, row)

        self._call(load)

    def set_price(self, category: str, symbol: str, price: Any) -> None:
        """Re-centre the instrument's book on ``price`` (subscribers get the delta; resting orders the
        book now crosses fill)."""
        self._require(category, symbol)
        self._call(self._server.move_price, category, symbol, dec(price))

    def set_book(self, category: str, symbol: str, bids: Iterable[tuple[Any, Any]],
                 asks: Iterable[tuple[Any, Any]]) -> None:
        """Make the instrument's book exactly these (price, size) levels."""
        self._require(category, symbol)
        b = [(dec(p), dec(q)) for p, q in bids]
        a = [(dec(p), dec(q)) for p, q in asks]
        self._call(self._server.set_book, category, symbol, b, a)

    def set_rate_limit(self, path: str, limit: int, category: str | None = None) -> None:
        """The per-key budget per second of ``path`` (for ``category`` only, or all)."""
        self._call(self._set_rate_limit, path, limit, category)

    def _set_rate_limit(self, path: str, limit: int, category: str | None) -> None:
        if limit < 1:
            raise ValueError(f"set_rate_limit: limit must be >= 1, got {limit}")
        table = self._server.limits.setdefault(path, dict(DEFAULT_LIMITS.get(path, {"": limit})))
        for cat in list(table) if category is None else [category]:
            table[cat] = limit

    def _require(self, category: str, symbol: str) -> None:
        if (category, symbol) not in self._exchange.instruments:
            raise ValueError(f"no {category} instrument {symbol!r}; add it with add_instrument()")

    # ================================================================ price path
    def play(self, category: str, symbol: str, interval: str, bars: Iterable[Any], *,
             interval_s: float = 0.05) -> None:
        """Play ``bars`` as a live price path in the background, ``interval_s`` seconds a bar (see
        :meth:`Server.play`); returns at once; :meth:`wait_played` waits for the end."""
        self._require(category, symbol)
        interval_ms(interval)
        rows = [normalise_bar(b) for b in bars]
        if self._loop is None:
            raise RuntimeError("play(): start the emulator first")

        async def run() -> None:
            await self._server.spawn(self._server.play(category, symbol, interval, rows, interval_s))

        self._plays.append(asyncio.run_coroutine_threadsafe(run(), self._loop))

    def wait_played(self, timeout: float | None = 60.0) -> None:
        """Block until every :meth:`play` so far has finished (``TimeoutError`` after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for fut in list(self._plays):
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                fut.result(timeout=left)
            except concurrent.futures.CancelledError:
                pass  # the emulator stopped while it played
            except concurrent.futures.TimeoutError:
                raise TimeoutError(f"wait_played: the price path is still playing after {timeout} s") from None
            self._plays.remove(fut)

    # ================================================================ views
    def book(self, category: str, symbol: str, depth: int | None = None) -> dict[str, Any]:
        """The emulator's own book: ``{"b": [[price, size], ...], "a": [...], "u": int}``, best first."""
        self._require(category, symbol)
        return self._call(lambda: self._exchange.books[(category, symbol)].view(depth))

    def _account(self, key: str) -> Account:
        acct = self._exchange.accounts.get(key)
        if acct is None:
            raise KeyError(f"no account with key {key!r}; add it with add_account()")
        return acct

    def orders(self, key: str) -> list[dict[str, Any]]:
        """Every order the account ever created, oldest first, as ``/v5/order/realtime`` lists them
        (plus ``category``)."""
        def view() -> list[dict[str, Any]]:
            acct = self._account(key)
            out = []
            for o in acct.orders.values():
                d = o.rest(self._exchange.instruments[(o.category, o.symbol)])
                d["category"] = o.category
                out.append(d)
            return out

        return self._call(view)

    def executions(self, key: str) -> list[dict[str, Any]]:
        """Every execution of the account, oldest first (the ``execution`` topic's items)."""
        return self._call(lambda: [dict(e) for e in self._account(key).executions])

    def positions(self, key: str) -> list[dict[str, Any]]:
        """The account's linear positions (every symbol it ever traded) as ``/v5/position/list`` rows."""
        def view() -> list[dict[str, Any]]:
            acct = self._account(key)
            return [self._exchange.position_view(acct, self._exchange.instruments[("linear", s)])
                    for s in sorted(acct.positions)]

        return self._call(view)

    def balances(self, key: str) -> dict[str, Decimal]:
        """The account's wallet balance per coin (exact)."""
        return self._call(lambda: dict(self._account(key).wallet))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request answered so far: ``(method, path, orderLinkId or None, retCode or HTTP
        status)``."""
        return list(self._record)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of the emulator's own defects met so far (answered HTTP 500 or a closed socket);
        the ``bybit_emulator`` fixture fails a test that leaves any."""
        return list(self._server.errors)

    def clear_requests(self) -> None:
        self._call(self._record.clear)

    def ws_connections(self, which: Literal["all", "public", "private"] = "all") -> int:
        """How many WebSocket connections are open."""
        return self._call(lambda: sum(1 for c in self._server.streams.conns if _matches(c.kind, which)))

    # ================================================================ faults
    def inject_rate_limit(self, count: int = 1, path: str | None = None, *, with_reset_header: bool = True) -> None:
        """The next ``count`` requests (to ``path``, or any) get retCode 10006 (HTTP 200), with or without
        ``X-Bapi-Limit-Reset-Timestamp``; they are not executed."""
        self._arm(Fault("rate_limit", count, path, with_reset_header=with_reset_header))

    def inject_http_status(self, status: int, count: int = 1, path: str | None = None) -> None:
        """The next ``count`` requests get HTTP ``status`` (403, 429, 500, 502, 503, ...) with a plain-text
        body, not executed."""
        if not 400 <= status <= 599:
            raise ValueError(f"inject_http_status: {status} is not an HTTP error status")
        self._arm(Fault("http_status", count, path, status=status))

    def inject_delay(self, seconds: float, count: int = 1, path: str | None = None) -> None:
        """The next ``count`` requests wait ``seconds`` before the server handles them."""
        self._arm(Fault("delay", count, path, seconds=seconds))

    def accept_after_timeout(self, path: str | None = "/v5/order/create", count: int = 1, *,
                             delay: float = 30.0) -> None:
        """The next ``count`` requests are executed at once but answered only ``delay`` s later (past
        the client's timeout): the order exists, the client never saw the answer."""
        self._arm(Fault("late_answer", count, path, seconds=delay))

    def inject_timestamp_skew(self, ms: int) -> None:
        """Move the server clock by ``ms`` (positive: ahead), for signatures' recv window, the
        envelope's ``time`` and ``/v5/market/time``; 0 puts it back."""
        def skew() -> None:
            self._faults.skew_ms = int(ms)

        self._call(skew)

    def skip_book_delta(self, category: str, symbol: str) -> None:
        """The next book change of the instrument is not sent to delta subscribers, though ``u``
        advances: they see a gap in ``u``."""
        self._require(category, symbol)
        self._call(self._faults.skip_delta.add, (category, symbol))

    def resend_book_snapshot(self, category: str, symbol: str) -> None:
        """Send every orderbook subscriber of the instrument a fresh snapshot (as Bybit does after an
        internal problem)."""
        self._require(category, symbol)
        self._call(self._server.streams.resend_snapshots, category, symbol)

    def drop_sockets(self, which: Literal["all", "public", "private"] = "all") -> int:
        """Close WebSocket connections abruptly (no close frame); returns how many."""
        if which not in ("all", "public", "private"):
            raise ValueError(f"drop_sockets: which must be 'all', 'public' or 'private', got {which!r}")

        def drop() -> int:
            n = 0
            for conn in list(self._server.streams.conns):
                if _matches(conn.kind, which) and conn.transport is not None:
                    conn.transport.abort()
                    n += 1
            return n

        return self._call(drop)

    def clear_faults(self) -> None:
        """Disarm every injected fault and remove the clock skew."""
        self._call(self._faults.clear)

    def _arm(self, fault: Fault) -> None:
        self._call(self._faults.arm, fault)


def _matches(kind: str, which: str) -> bool:
    return which == "all" or (which == "private") == (kind == "private")
