"""The ``bybit`` data source: Bybit candles as tradehooks bars, and L2 order books.

Live, :meth:`BybitDataSource.stream` reads one public WebSocket (``/v5/public/{category}``) carrying,
for every instrument of the preset, its candles (``kline.{interval}.{symbol}``), optionally its
public trades (``publicTrade.{symbol}``) and its order book (``orderbook.{depth}.{symbol}``). It yields
each **closed** candle (``confirm: true``) once, as a batch of one bar; after a reconnect it first
fetches over REST the candles that closed meanwhile. Book and trade messages are applied on the way,
between two bars, and handed to the listeners.

Everything is read as it comes, by the task iterating ``stream()``: no background task, no thread.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import anyio
from tradehooks.contracts import ComponentContext
from tradehooks.exceptions import PresetError
from tradehooks.model import Bar, InstrumentId, format_ts

from ._book import OrderBook
from ._errors import BybitError
from ._http import HttpClient
from ._schemas import InstrumentInfo, bar_from_row, bar_from_ws, parse_instruments
from ._ws import WebSocketClient
from .config import BybitDataConfig
from .constants import TIMEFRAMES, rest_base, ws_public_url

__all__ = ["BybitDataSource", "Trade"]

_KLINE, _BOOK, _TRADE = 0, 1, 2
_MS = 1_000_000  # ns per ms
#: seconds a book may wait for the snapshot it asked for before the whole stream is reopened
_RESYNC_PATIENCE = 5.0
#: the most candles per instrument fetched to fill the gap of a reconnect
_MAX_GAP = 10_000


class Trade(NamedTuple):
    """One public trade (``publicTrade`` stream), for :meth:`BybitDataSource.add_trade_listener`.

    Attributes:
        instrument_id: the instrument.
        ts: the match time, ns.
        price, size: as floats.
        side: the taker's side, ``"buy"`` or ``"sell"``.
        trade_id: the exchange's id of the trade.
    """

    instrument_id: str
    ts: int
    price: float
    size: float
    side: str
    trade_id: str


class BybitDataSource:
    """Closed candles, and optionally L2 books and public trades, of the preset's instruments.

    An instrument's id is its Bybit symbol (``BTCUSDT``). The preset's timeframe must be one of
    Bybit's kline intervals (``constants.TIMEFRAMES``: 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w).

    Optional capabilities: ``order_book``/``add_book_listener`` (with ``book_depth > 0``) and
    ``download`` (for ``tradehooks data download``); ``add_trade_listener`` (with ``trades = true``).
    """

    name: ClassVar[str] = "bybit"
    Params: ClassVar[type] = BybitDataConfig

    def __init__(self, params: BybitDataConfig, ctx: ComponentContext) -> None:
        interval = TIMEFRAMES.get(ctx.timeframe)
        if interval is None:
            supported = ", ".join(_timeframe_name(tf) for tf in TIMEFRAMES)
            raise ValueError(f"Bybit has no candles of timeframe {_timeframe_name(ctx.timeframe)} "
                             f"(it has {supported})")
        if not ctx.instruments:
            raise ValueError("the bybit source needs at least one instrument in the preset")
        self._params = params
        self._ctx = ctx
        self._log = ctx.log
        self._interval = interval
        self._timeframe = ctx.timeframe
        self._category = params.category
        self._http = HttpClient(base_url=rest_base(params.testnet, params.rest_url), timeout=params.timeout,
                                log=ctx.log)
        self._ws_url = ws_public_url(params.category, params.testnet, params.ws_url)
        self._ws: WebSocketClient | None = None
        depth = params.book_depth
        self._books: dict[str, OrderBook] = (
            {instrument_id: OrderBook(instrument_id, depth) for instrument_id in ctx.instruments} if depth else {})
        self._book_listeners: list[Callable[[Any], None]] = []
        self._trade_listeners: list[Callable[[Trade], None]] = []
        self._resync_asked: dict[str, float] = {}  # instrument -> time.monotonic() a snapshot was asked
        self._last: dict[str, int] = {}  # instrument -> ts of the last bar yielded
        self._since: int | None = None  # when the first stream() started (ns, server clock)
        self._instruments: dict[str, InstrumentInfo] | None = None
        #: how many times the stream reconnected
        self.reconnects = 0
        #: how many times a book or trade listener raised (logged, then the stream goes on)
        self.listener_errors = 0
        #: ``stream()`` runs and its subscriptions were acknowledged
        self.streaming = False

    # --- the DataSource contract -------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[Sequence[Bar]]:
        """Yield every closed candle of every instrument once, as one-bar batches, until cancelled.

        Raises:
            PresetError: an instrument is not traded on Bybit, or its rules differ from the preset's.
            BybitError: the exchange refused a subscription or a request that cannot succeed later.
            ConnectionError: the exchange stayed unreachable (the engine retries the source).
        """
        ws = self._ws = WebSocketClient(url=self._ws_url, stale_after=self._params.stale_after, log=self._log)
        try:
            await self._prepare()
            topics, routes = self._routes()
            if self._since is None:
                self._since = self._now_ns()
            await ws.subscribe(topics)
            self.streaming = True
            self._log.info("bybit.data.subscribed", url=self._ws_url, topics=topics)
            for bar in await self._missed():  # a restarted stream may have missed candles
                yield [bar]
            last = self._last
            last_get = last.get
            books_changed = self._book_listeners
            async for message in ws.messages():
                route = routes.get(message.get("topic"))  # type: ignore[arg-type]
                if route is None:
                    if message.get("op") == "reconnected":
                        self.reconnects += 1
                        for each in self._books.values():
                            each.unsync()
                        for bar in await self._missed():
                            yield [bar]
                    continue
                kind, instrument_id, routed = route
                if kind == _KLINE:
                    for item in message["data"]:
                        if item.get("confirm"):
                            ts = int(item["start"]) * _MS
                            if ts > last_get(instrument_id, -1):
                                last[instrument_id] = ts
                                yield [bar_from_ws(instrument_id, item)]
                elif kind == _BOOK:
                    book = routed
                    assert book is not None
                    if book.apply(message.get("type", ""), message["data"], message.get("ts", 0)):
                        self._resync_asked.pop(instrument_id, None)
                        for callback in books_changed:
                            try:
                                callback(book)
                            except Exception as exc:  # noqa: BLE001 - one listener must not stop the data
                                self._listener_failed(callback, exc)
                    elif not book.synced:
                        await self._resync(ws, book, message["topic"])
                else:
                    self._trades(instrument_id, message["data"])
        finally:
            self.streaming = False
            with anyio.CancelScope(shield=True):
                self._ws = None
                await ws.aclose()
                await self._http.aclose()

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> Sequence[Bar]:
        """Up to ``count`` candles of ``instrument_id`` that closed at or before ``end`` (ns), oldest
        first (``/v5/market/kline``, newest-first pages of at most ``history_limit``, reversed)."""
        if count <= 0:
            return []
        if not self._http.synced:  # "closed" is judged on the server's clock
            await self._http.sync_time()
        timeframe = self._timeframe
        newest = min(end, self._now_ns()) - timeframe  # the last open time of a candle closed by then
        if newest < 0:
            return []
        pages: list[list[Bar]] = []
        got = 0
        cursor_ms = newest // _MS
        while got < count:
            want = min(self._params.history_limit, count - got)
            rows = await self._klines(instrument_id, end_ms=cursor_ms, limit=want)
            page = [bar_from_row(instrument_id, row) for row in reversed(rows) if int(row[0]) <= cursor_ms]
            if not page:
                break
            pages.append(page)
            got += len(page)
            if len(rows) < want:
                break  # the exchange has no older candles
            cursor_ms = page[0].ts // _MS - 1
        bars = [bar for page in reversed(pages) for bar in page]
        return bars[-count:]

    # --- optional capabilities ---------------------------------------------------------------------

    def order_book(self, instrument_id: InstrumentId) -> OrderBook | None:
        """The L2 book of ``instrument_id`` while it is synced, else ``None`` (also without books)."""
        book = self._books.get(instrument_id)
        return book if book is not None and book.synced else None

    def add_book_listener(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(book)`` after every update applied to a synced book, from ``stream()``'s task.
        A listener that raises is logged (``bybit.data.listener_failed``) and the stream goes on."""
        self._book_listeners.append(callback)

    def add_trade_listener(self, callback: Callable[[Trade], None]) -> None:
        """Call ``callback(trade)`` with every public trade (needs ``trades = true``)."""
        self._trade_listeners.append(callback)

    async def download(self, instrument_id: InstrumentId, start: int, end: int) -> AsyncIterator[Sequence[Bar]]:
        """The closed candles of ``instrument_id`` with ``start <= ts < end`` (ns), oldest first, in
        pages of up to ``history_limit`` (one request per page, each for a window of that many
        candles). Uses a REST client of its own, closed when the iteration ends."""
        timeframe = self._timeframe
        limit = self._params.history_limit
        http = HttpClient(base_url=rest_base(self._params.testnet, self._params.rest_url),
                          timeout=self._params.timeout, log=self._log)
        try:
            await http.sync_time()
            stop = min(end, http.server_time_ms() * _MS - timeframe + 1)  # only closed candles
            cursor = start
            while cursor < stop:
                window_end = min(stop, cursor + limit * timeframe)
                rows = await self._klines(instrument_id, start_ms=-(-cursor // _MS),
                                          end_ms=(window_end - 1) // _MS, limit=limit, http=http)
                page = sorted((bar_from_row(instrument_id, row) for row in rows), key=lambda bar: bar.ts)
                page = [bar for bar in page if cursor <= bar.ts < window_end]
                if page:
                    yield page
                cursor = window_end
        finally:
            with anyio.CancelScope(shield=True):
                await http.aclose()

    async def aclose(self) -> None:
        """Close the REST connections (``stream()`` closes everything itself when it ends)."""
        await self._http.aclose()

    @property
    def instrument_info(self) -> dict[str, InstrumentInfo]:
        """The exchange's rules of the preset's instruments, once ``stream()`` has started."""
        return dict(self._instruments or {})

    # --- machinery ---------------------------------------------------------------------------------

    def _now_ns(self) -> int:
        return self._http.server_time_ms() * _MS

    def _routes(self) -> tuple[list[str], dict[str, tuple[int, str, OrderBook | None]]]:
        topics: list[str] = []
        routes: dict[str, tuple[int, str, OrderBook | None]] = {}
        for instrument_id in self._ctx.instruments:
            topic = f"kline.{self._interval}.{instrument_id}"
            topics.append(topic)
            routes[topic] = (_KLINE, instrument_id, None)
            if self._books:
                topic = f"orderbook.{self._params.book_depth}.{instrument_id}"
                topics.append(topic)
                routes[topic] = (_BOOK, instrument_id, self._books[instrument_id])
            if self._params.trades:
                topic = f"publicTrade.{instrument_id}"
                topics.append(topic)
                routes[topic] = (_TRADE, instrument_id, None)
        return topics, routes

    async def _prepare(self) -> None:
        """Read the server time, and check the preset's instruments against the exchange's."""
        await self._http.sync_time()
        if not self._params.check_instruments or self._instruments is not None:
            return
        found = await self._load_instruments()
        where = f"Bybit{' testnet' if self._params.testnet else ''} ({self._category})"
        for index, (instrument_id, instrument) in enumerate(self._ctx.instruments.items()):
            info = found.get(instrument_id)
            key = f"instruments[{index}]"
            if info is None:
                raise PresetError(f"{instrument_id} is not an instrument of {where}", key=f"{key}.id")
            if info.status != "Trading":
                raise PresetError(f"{instrument_id} is {info.status!r} on {where}, not trading", key=f"{key}.id")
            checks = (
                ("tick_size", instrument.tick_size, info.tick_size, "priceFilter.tickSize", instrument.tick_size != info.tick_size),
                ("lot_size", instrument.lot_size, info.lot_size,
                 "lotSizeFilter." + ("qtyStep" if self._category == "linear" else "basePrecision"),
                 instrument.lot_size != info.lot_size),
                ("min_quantity", instrument.min_quantity, info.min_quantity, "lotSizeFilter.minOrderQty",
                 max(instrument.min_quantity, instrument.lot_size) < info.min_quantity),
                ("min_notional", instrument.min_notional, info.min_notional,
                 "lotSizeFilter." + ("minNotionalValue" if self._category == "linear" else "minOrderAmt"),
                 instrument.min_notional < info.min_notional),
            )
            for field, ours, theirs, their_name, wrong in checks:
                if wrong:
                    rule = "is" if field in ("tick_size", "lot_size") else "is at least"
                    raise PresetError(
                        f"{instrument_id}: {field} {ours} does not match {where}: its {their_name} {rule} "
                        f"{theirs} (set {field} = \"{theirs}\", or check_instruments = false)", key=f"{key}.{field}")
        self._instruments = {i: found[i] for i in self._ctx.instruments}

    async def _load_instruments(self) -> dict[str, InstrumentInfo]:
        """Every instrument of the category (``/v5/market/instruments-info``, page by page)."""
        found: dict[str, InstrumentInfo] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"category": self._category, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            result = await self._http.get("/v5/market/instruments-info", params)
            for info in parse_instruments(result.get("list") or []):
                found[info.symbol] = info
            cursor = result.get("nextPageCursor") or None
            if not cursor or self._category == "spot":
                return found

    async def _klines(self, instrument_id: str, *, end_ms: int, limit: int, start_ms: int | None = None,
                      http: HttpClient | None = None) -> list[list[str]]:
        params: dict[str, Any] = {"category": self._category, "symbol": instrument_id, "interval": self._interval}
        if start_ms is not None:
            params["start"] = start_ms
        params["end"] = end_ms
        params["limit"] = limit
        result = await (http or self._http).get("/v5/market/kline", params)
        rows: list[list[str]] = result.get("list") or []
        return rows

    async def _missed(self) -> list[Bar]:
        """The candles that closed since the last one yielded (or since the stream first started),
        per instrument, from REST, in time order (at most ``_MAX_GAP`` per instrument)."""
        if self._since is None:
            return []
        now = self._now_ns()
        timeframe = self._timeframe
        missed: list[Bar] = []
        try:
            for instrument_id in self._ctx.instruments:
                after = self._last.get(instrument_id, self._since - timeframe)
                if after + 2 * timeframe > now:
                    continue  # nothing can have closed since
                count = min(_MAX_GAP, (now - after) // timeframe)
                bars = await self.history(instrument_id, now, count)
                missed.extend(bar for bar in bars if bar.ts > after)
        except BybitError as exc:
            if not exc.recoverable:
                raise
            raise ConnectionError(f"could not fetch the candles missed while disconnected: {exc}") from exc
        missed.sort(key=lambda bar: bar.ts)
        for bar in missed:
            self._last[bar.instrument_id] = bar.ts
        if missed:
            self._log.info("bybit.data.gap_filled", bars=len(missed), first=format_ts(missed[0].ts),
                           last=format_ts(missed[-1].ts))
        return missed

    async def _resync(self, ws: WebSocketClient, book: OrderBook, topic: str) -> None:
        """A book missed an update: ask for a new snapshot (subscribe again); if none comes in time,
        reopen the connection."""
        asked = self._resync_asked.get(book.instrument_id)
        now = time.monotonic()
        if asked is None:
            self._resync_asked[book.instrument_id] = now
            self._log.warning("bybit.data.book_gap", instrument_id=book.instrument_id, u=book.u)
            await ws.resubscribe([topic])
        elif now - asked > _RESYNC_PATIENCE:
            self._resync_asked.pop(book.instrument_id, None)
            self._log.warning("bybit.data.book_resync_timeout", instrument_id=book.instrument_id)
            await ws.reconnect()

    def _trades(self, instrument_id: str, items: list[dict[str, Any]]) -> None:
        listeners = self._trade_listeners
        if not listeners:
            return
        for item in items:
            trade = Trade(instrument_id, int(item["T"]) * _MS, float(item["p"]), float(item["v"]),
                          "buy" if item["S"] == "Buy" else "sell", str(item.get("i", "")))
            for callback in listeners:
                try:
                    callback(trade)
                except Exception as exc:  # noqa: BLE001 - one listener must not stop the data
                    self._listener_failed(callback, exc)

    def _listener_failed(self, callback: Callable[..., None], exc: Exception) -> None:
        self.listener_errors += 1
        self._log.error("bybit.data.listener_failed", listener=getattr(callback, "__qualname__", repr(callback)),
                        error=f"{type(exc).__name__}: {exc}")


def _timeframe_name(timeframe: int) -> str:
    seconds = timeframe // 1_000_000_000
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

