"""The ``bybit`` broker: orders on Bybit V5 (linear perpetuals or spot).

How it works, in short (``docs/bybit-trading.md`` has the whole story):

* ``submit`` / ``cancel`` / ``amend`` never block: each starts a task in the broker's task group
  (opened in :meth:`BybitBroker.connect`, closed in :meth:`BybitBroker.close`). Requests of one order
  run one after the other (a cancel waits for its create's answer).
* The order's ``client_order_id`` is its ``orderLinkId``, so the exchange itself refuses a second
  copy (110072). A create whose outcome is unknown (timeout, dropped connection, 5xx) is never sent
  again blindly: the order is looked up by ``orderLinkId`` first, and sent again only if the exchange
  does not know it.
* Order states and fills come from the private WebSocket (``order``, ``execution``, ``position``,
  ``wallet``); executions are de-duplicated by ``execId``. After every reconnect, and whenever a
  request's outcome is unknown or an update is late, REST fills the gaps (``/v5/order/realtime``,
  ``/v5/order/history``, ``/v5/execution/list``).
* On start and after every reconnect the exchange's open orders and positions are reconciled with
  what the engine knows; unknown orders are reported (and adopted or cancelled if ``on_unknown``
  says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import anyio
import attrs
from tradehooks.contracts import BrokerEvents, ComponentContext
from tradehooks.exceptions import BrokerError, EngineStateError, InvalidOrderError
from tradehooks.model import (
    ZERO,
    Fill,
    InstrumentId,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

from ._errors import (
    BybitAuthError,
    BybitDuplicateOrder,
    BybitError,
    BybitInsufficientBalance,
    BybitInvalidOrder,
    BybitNetworkError,
    BybitOrderNotFound,
    BybitRateLimited,
    BybitServerError,
    BybitTimestampError,
)
from ._http import HttpClient
from ._orders import (
    CLOSED,
    OrderRefused,
    create_body,
    decimal_or_none,
    fill_from_execution,
    link_id_for,
    plain,
    reject_reason,
    status_of,
)
from ._ws import WebSocketClient
from .config import BybitBrokerConfig
from .constants import REST_URL, REST_URL_TESTNET, WS_PRIVATE_URL, WS_PRIVATE_URL_TESTNET

__all__ = ["BybitBroker"]

_CREATE = "/v5/order/create"
_CANCEL = "/v5/order/cancel"
_AMEND = "/v5/order/amend"
_REALTIME = "/v5/order/realtime"
_HISTORY = "/v5/order/history"
_EXECUTIONS = "/v5/execution/list"
_POSITIONS = "/v5/position/list"
_WALLET = "/v5/account/wallet-balance"
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")


class _Tracked:
    """The broker's bookkeeping for one order."""

    __slots__ = ("acknowledged", "body", "busy", "cancel_requested", "exch_cum", "exch_status", "filled", "link_id",
                 "lock", "notional", "order", "reason", "sent", "trigger_ns", "venue_id")

    def __init__(self, order: Order, link_id: str) -> None:
        self.order = order  # the broker's view
        self.sent = order  # as last reported to the engine
        self.link_id = link_id
        self.body: dict[str, Any] | None = None  # the create request
        self.venue_id: str | None = order.venue_order_id
        self.exch_status = ""  # the exchange's last orderStatus ("" before it said anything)
        self.exch_cum = ZERO  # the exchange's cumExecQty
        self.filled = order.filled_quantity  # the sum of the fills reported
        self.notional = (order.avg_fill_price or ZERO) * order.filled_quantity
        self.cancel_requested = order.status is OrderStatus.PENDING_CANCEL
        self.acknowledged = order.venue_order_id is not None
        self.reason = ""
        self.trigger_ns = 0  # receipt time of the message that led to the order (latency probe)
        self.lock: anyio.Lock | None = None
        self.busy = 0  # requests of this order in flight


def _spawn_detached(function: Callable[[], Coroutine[Any, Any, None]]) -> Any:
    """Run ``function()`` as a task of its own, outside the caller's task and cancel scopes (anyio has
    no such call: asyncio's plain tasks and trio's system tasks, which it is built on, do)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio
        import trio

        trio.lowlevel.spawn_system_task(function)
        return None
    return loop.create_task(function())


class BybitBroker:
    """Sends the engine's orders to Bybit and reports what happens to them.

    Args:
        params: the validated ``[broker.params]``.
        ctx: the engine's context (instruments, clock, log).

    Attributes:
        latency: ``None``, or (after :meth:`measure_latency`) a bounded deque of
            ``(trigger_recv_ns, sent_ns)`` pairs, both ``time.perf_counter_ns()`` values: when the
            market-data message behind an order was received, and when its create request was handed
            to the HTTP client.
    """

    name: ClassVar[str] = "bybit"
    Params: ClassVar[type] = BybitBrokerConfig

    def __init__(self, params: BybitBrokerConfig, ctx: ComponentContext) -> None:
        self._params = params
        self._ctx = ctx
        self._log = ctx.log.bind(broker="bybit")
        self._category = params.category
        rest = params.rest_url or (REST_URL_TESTNET if params.testnet else REST_URL)
        ws = params.ws_url or (WS_PRIVATE_URL_TESTNET if params.testnet else WS_PRIVATE_URL)
        if params.ws_url and not ws.rstrip("/").endswith("/v5/private"):
            ws = ws.rstrip("/") + "/v5/private"
        self._http = HttpClient(base_url=rest.rstrip("/"), api_key=params.api_key, api_secret=params.api_secret,
                                timeout=params.timeout, recv_window=params.recv_window,
                                max_retries=params.max_retries, log=self._log)
        self._ws = WebSocketClient(url=ws, api_key=params.api_key, api_secret=params.api_secret, log=self._log)
        self._events: BrokerEvents | None = None
        self._group: Any = None  # the task group opened in connect()
        self._orders: dict[str, _Tracked] = {}
        self._by_link: dict[str, str] = {}
        self._by_venue: dict[str, str] = {}
        self._exec_seen: set[str] = set()
        self._fill_positions: dict[InstrumentId, Decimal] = {}  # what the reported fills add up to
        self._positions: dict[InstrumentId, Decimal] = {}
        self._balances: dict[str, Decimal] = {}
        self._unknown_seen: set[str] = set()
        self._fatal: BaseException | None = None
        self._inflight = 0
        self._resync_lock: anyio.Lock | None = None
        self._stop: anyio.Event | None = None  # set by close(): the task group ends
        self._stopped: anyio.Event | None = None  # set once it has
        self._host: Any = None  # the task running the task group (kept referenced)
        self._closing = False
        self.confirm_after = 2.0  # seconds without news of an order before REST is asked
        self.latency: deque[tuple[int, int]] | None = None
        self._recv_clock: Callable[[], int] | None = None

    # --- measurement -----------------------------------------------------------------------------

    def measure_latency(self, recv_ns: Callable[[], int], samples: int = 100_000) -> None:
        """Record, for each order created from now on, ``(recv_ns(), perf_counter_ns())`` just before
        its create request goes to the HTTP client, in :attr:`latency` (the last ``samples``).
        ``recv_ns`` says when the message the order reacts to was received (the ``_recv_ns`` the
        WebSocket client stamps on it)."""
        self._recv_clock = recv_ns
        self.latency = deque(maxlen=samples)

    # --- lifecycle -------------------------------------------------------------------------------

    def restore(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Know the journal's orders and fills after a restart (called before :meth:`connect`): their
        ``orderLinkId`` s, the fills already reported (never reported again), the positions they make."""
        if self._events is not None:
            raise EngineStateError("restore must be called before connect")
        for fill in fills:
            self._exec_seen.add(fill.trade_id)
            self._fill_positions[fill.instrument_id] = (
                self._fill_positions.get(fill.instrument_id, ZERO) + fill.signed_quantity)
        for order in orders:
            tracked = self._track(order)
            if order.is_open:
                try:
                    tracked.body = create_body(order, category=self._category, link_id=tracked.link_id,
                                               instrument=self._ctx.instruments.get(order.instrument_id))
                except OrderRefused as exc:
                    tracked.reason = str(exc)

    async def connect(self, events: BrokerEvents) -> None:
        """Open the task group and the private stream, load balances, positions and orders over REST
        and reconcile them with the orders the engine knows.

        Raises:
            BybitError: the exchange refused the keys, or could not be reached.
        """
        self._events = events
        self._resync_lock = anyio.Lock()
        ready, self._stop, self._stopped = anyio.Event(), anyio.Event(), anyio.Event()
        self._host = _spawn_detached(lambda: self._run_group(ready))
        await ready.wait()
        group = self._group
        if group is None:
            raise BrokerError("the bybit broker could not start its tasks", recoverable=False)
        try:
            await self._http.sync_time()
            await self._ws.subscribe(list(_PRIVATE_TOPICS))
            group.start_soon(self._read_stream)
            await self._resync(initial=True)
        except BaseException:
            await self._shut()
            raise
        self._log.info("bybit.connected", category=self._category, orders=len(self._orders),
                       positions={k: str(v) for k, v in self._positions.items() if v})

    async def reconcile(self, open_orders: Sequence[Order]) -> None:
        """The engine's open orders after a restart: any this broker does not track yet is tracked and
        resolved against the exchange (``connect`` reconciled the others already)."""
        missing = [order for order in open_orders if order.client_order_id not in self._orders]
        if not missing:
            return
        for order in missing:
            tracked = self._track(order)
            try:
                tracked.body = create_body(order, category=self._category, link_id=tracked.link_id,
                                           instrument=self._ctx.instruments.get(order.instrument_id))
            except OrderRefused as exc:
                tracked.reason = str(exc)
        await self._resync(initial=True)

    async def close(self) -> None:
        """Let requests in flight finish (cancels sent on stop, at most ``close_timeout`` seconds),
        then stop the stream and close the connections. Open orders stay as they are."""
        if self._group is None:
            return
        self._closing = True
        with anyio.move_on_after(self._params.close_timeout):
            while self._inflight:  # polled: an event per request would cost every order a little
                await anyio.sleep(0.005)
            pending = [t for t in self._orders.values() if t.cancel_requested and t.order.is_open]
            for tracked in pending:  # cancels acknowledged, their WebSocket update may be on its way
                with anyio.move_on_after(0.5):
                    while tracked.order.is_open and tracked.exch_status not in CLOSED:
                        await anyio.sleep(0.01)
                if tracked.order.is_open:
                    await self._lookup(tracked)
        await self._shut()
        self._log.info("bybit.closed", open_orders=sum(1 for t in self._orders.values() if t.order.is_open))

    async def _run_group(self, ready: anyio.Event) -> None:
        """The broker's task group, in a task of its own: ``connect`` and ``close`` may then be awaited
        from any task of the loop (an engine in a thread, a host's own tasks), nested anyhow."""
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                ready.set()
                assert self._stop is not None
                await self._stop.wait()
                group.cancel_scope.cancel()
        except BaseException as exc:  # noqa: BLE001 (a detached task must not raise: report it)
            with contextlib.suppress(Exception):
                self._log.error("bybit.tasks_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._group = None
            ready.set()
            if self._stopped is not None:
                self._stopped.set()

    async def _shut(self) -> None:
        if self._stop is not None and self._stopped is not None:
            self._stop.set()
            with anyio.CancelScope(shield=True):
                await self._stopped.wait()
        self._group = None
        with anyio.CancelScope(shield=True):
            await self._ws.aclose()
            await self._http.aclose()

    # --- account -----------------------------------------------------------------------------------

    def balances(self) -> Mapping[str, Decimal]:
        """Wallet balance per coin, as last reported (``wallet`` stream, REST on start/reconnect)."""
        return dict(self._balances)

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        """Signed position per instrument as last reported: the ``position`` stream for linear, the
        base coin's wallet balance for spot."""
        if self._category == "spot":
            return {iid: self._balances.get(instrument.base, ZERO)
                    for iid, instrument in self._ctx.instruments.items() if instrument.base}
        return dict(self._positions)

    def open_orders(self) -> tuple[Order, ...]:
        """The orders this broker knows to be open, as last reported."""
        return tuple(t.order for t in self._orders.values() if t.order.is_open)

    # --- requests (never block) ----------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        """Queue the creation of ``order``; an id seen before is ignored.

        Raises:
            BrokerError: not recoverable, after the exchange refused the keys (the engine throws its
                kill switch).
        """
        group = self._require_group()
        cid = order.client_order_id
        if cid in self._orders:
            self._log.debug("bybit.repeat_ignored", client_order_id=cid)
            return
        if self._fatal is not None:
            raise BrokerError(f"bybit broker stopped taking orders: {self._fatal}", recoverable=False)
        tracked = self._track(order)
        if self._by_link.get(tracked.link_id) != cid:
            self._orders.pop(cid)
            self._reject(self._Fresh(order), f"orderLinkId {tracked.link_id} is taken by another order")
            return
        clock = self._recv_clock
        if clock is not None:
            tracked.trigger_ns = clock()
        try:
            tracked.body = create_body(order, category=self._category, link_id=tracked.link_id,
                                       instrument=self._ctx.instruments.get(order.instrument_id))
        except OrderRefused as exc:
            self._reject(tracked, f"invalid order: {exc}")
            return
        self._started(tracked)
        group.start_soon(self._create, tracked)

    def cancel(self, client_order_id: str) -> None:
        """Queue the cancellation of an open order; an unknown or closed id is ignored."""
        group = self._require_group()
        tracked = self._orders.get(client_order_id)
        if tracked is None or not tracked.order.is_open:
            self._log.debug("bybit.nothing_to_cancel", client_order_id=client_order_id)
            return
        if tracked.cancel_requested and tracked.busy:
            return  # a cancel is on its way
        tracked.cancel_requested = True
        if tracked.order.status is not OrderStatus.PENDING_CANCEL:  # the router's view (it reported it)
            tracked.order = tracked.sent = attrs.evolve(tracked.order, status=OrderStatus.PENDING_CANCEL)
        self._started(tracked)
        group.start_soon(self._cancel, tracked)

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Queue a change of an open order's quantity (the total, filled part included), price or
        trigger price; the order is reported with its new values once the exchange took them.

        Raises:
            InvalidOrderError: the new values break the instrument's or the order's rules.
        """
        group = self._require_group()
        tracked = self._orders.get(client_order_id)
        if tracked is None or not tracked.order.is_open:
            self._log.debug("bybit.nothing_to_amend", client_order_id=client_order_id)
            return
        changes: dict[str, Any] = {key: Decimal(value) for key, value in
                   (("quantity", quantity), ("price", price), ("trigger_price", trigger_price)) if value is not None}
        if not changes:
            return
        try:
            amended = attrs.evolve(tracked.order, **changes)
        except ValueError as exc:
            raise InvalidOrderError(f"cannot amend {client_order_id}: {exc}") from None
        if amended.quantity <= tracked.filled:
            raise InvalidOrderError(f"cannot amend {client_order_id}: quantity {amended.quantity} is not above "
                                    f"the {tracked.filled} already filled")
        instrument = self._ctx.instruments.get(amended.instrument_id)
        if instrument is not None:
            amended.check(instrument)
        self._started(tracked)
        group.start_soon(self._amend, tracked, changes)

    # --- request tasks ----------------------------------------------------------------------------------

    async def _create(self, tracked: _Tracked) -> None:
        lock = self._lock(tracked)
        try:
            try:  # a new order's lock is free: taking it without a checkpoint saves a loop iteration
                lock.acquire_nowait()
            except anyio.WouldBlock:
                await lock.acquire()
            try:
                await self._place(tracked)
            finally:
                lock.release()
        except Exception as exc:  # noqa: BLE001 (a task must not take the task group and the engine down)
            self._failed("create", tracked, exc)
        finally:
            self._finished(tracked)

    async def _place(self, tracked: _Tracked) -> None:
        body = tracked.body
        assert body is not None
        attempts = 0
        latency = self.latency
        while True:
            if tracked.exch_status or not tracked.order.is_open:
                return  # the exchange reported it meanwhile (a late answer, a reconnect)
            try:
                if latency is not None and attempts == 0:
                    latency.append((tracked.trigger_ns, time.perf_counter_ns()))
                result = await self._http.post(_CREATE, body, retry=False)
            except BybitDuplicateOrder:
                await self._lookup(tracked)  # placed before (a retry of an answered request)
                return
            except (BybitInsufficientBalance, BybitInvalidOrder) as exc:
                kind = "insufficient balance" if isinstance(exc, BybitInsufficientBalance) else "invalid order"
                self._reject(tracked, f"{kind}: {exc.ret_msg or exc} (retCode {exc.code})")
                return
            except BybitAuthError as exc:
                self._reject(tracked, f"refused by the exchange: {exc}")
                self._fatal_error(exc)
                return
            except (BybitRateLimited, BybitTimestampError) as exc:  # the exchange did not act on it
                if attempts >= self._params.max_retries:
                    self._reject(tracked, f"not placed: {exc}")
                    return
                await self._recover(exc, attempts)
            except (BybitNetworkError, BybitServerError) as exc:  # it may or may not have been placed
                self._log.warning("bybit.create_unknown", client_order_id=tracked.order.client_order_id,
                                  error=str(exc), attempt=attempts + 1)
                if getattr(exc, "maybe_executed", True) and await self._lookup(tracked):
                    return
                if attempts >= self._params.max_retries:
                    self._reject(tracked, f"not placed after {attempts + 1} attempts: {exc}")
                    return
                await anyio.sleep(min(0.2 * 2 ** attempts, 5.0))
            except BybitError as exc:
                self._reject(tracked, f"rejected by the exchange: {exc}")
                return
            else:
                venue = str(result.get("orderId") or "") if isinstance(result, Mapping) else ""
                if venue:
                    tracked.venue_id = venue
                    self._by_venue[venue] = tracked.order.client_order_id
                tracked.acknowledged = True
                self._confirm_later(tracked)
                return
            attempts += 1

    async def _cancel(self, tracked: _Tracked) -> None:
        try:
            async with self._lock(tracked):
                await self._send_cancel(tracked)
        except Exception as exc:  # noqa: BLE001 (reported; the broker's tasks never raise)
            self._failed("cancel", tracked, exc)
        finally:
            self._finished(tracked)

    async def _send_cancel(self, tracked: _Tracked) -> None:
        attempts = 0
        while tracked.order.is_open and tracked.exch_status not in CLOSED:
            if not tracked.acknowledged and not tracked.exch_status:
                if not await self._lookup(tracked):  # never placed: nothing to cancel at the exchange
                    self._close_locally(tracked, OrderStatus.CANCELED, "cancelled before it was placed")
                    return
                continue
            try:
                await self._http.post(_CANCEL, self._order_ref(tracked), retry=False)
            except BybitOrderNotFound:
                await self._lookup(tracked)  # filled or cancelled meanwhile: the exchange says which
                return
            except (BybitRateLimited, BybitTimestampError, BybitNetworkError, BybitServerError) as exc:
                if attempts >= self._params.max_retries:
                    self._cancel_failed(tracked, exc)
                    return
                await self._recover(exc, attempts)
            except BybitAuthError as exc:
                self._cancel_failed(tracked, exc)
                self._fatal_error(exc)
                return
            except BybitError as exc:
                self._cancel_failed(tracked, exc)
                return
            else:
                self._confirm_later(tracked)
                return
            attempts += 1

    async def _amend(self, tracked: _Tracked, changes: dict[str, Any]) -> None:
        try:
            async with self._lock(tracked):
                body = self._order_ref(tracked)
                for key, name in (("quantity", "qty"), ("price", "price"), ("trigger_price", "triggerPrice")):
                    if key in changes:
                        body[name] = plain(changes[key])
                attempts = 0
                while tracked.order.is_open:
                    try:
                        await self._http.post(_AMEND, body, retry=False)
                    except (BybitRateLimited, BybitTimestampError, BybitNetworkError, BybitServerError) as exc:
                        if attempts >= self._params.max_retries:
                            raise
                        await self._recover(exc, attempts)
                        attempts += 1
                        continue
                    except BybitOrderNotFound:  # filled or cancelled meanwhile: the exchange says which
                        await self._lookup(tracked)
                        raise
                    if tracked.order.is_open:
                        tracked.order = attrs.evolve(tracked.order, **changes)
                        self._report(tracked)
                    return
        except Exception as exc:  # noqa: BLE001 (reported; the broker's tasks never raise)
            self._failed("amend", tracked, exc)
        finally:
            self._finished(tracked)

    async def _recover(self, exc: BybitError, attempts: int) -> None:
        """Wait out what made a request fail before it is sent again."""
        if isinstance(exc, BybitTimestampError):
            await self._http.sync_time()
            return
        wait = self._http.wait_hint(exc.path) if isinstance(exc, BybitRateLimited) else 0.0
        await anyio.sleep(max(wait, min(0.1 * 2 ** attempts, 5.0)))

    def _confirm_later(self, tracked: _Tracked) -> None:
        """Ask REST about ``tracked`` if the stream says nothing of it for a while (a private stream
        that dropped the update)."""
        if self._group is not None and not self._closing:
            self._group.start_soon(self._confirm, tracked, tracked.exch_status, tracked.filled)

    async def _confirm(self, tracked: _Tracked, status: str, filled: Decimal) -> None:
        try:
            await anyio.sleep(self.confirm_after)
            if tracked.order.is_open and tracked.exch_status == status and tracked.filled == filled:
                await self._lookup(tracked)
        except Exception as exc:  # noqa: BLE001 (reported; the broker's tasks never raise)
            self._failed("confirm", tracked, exc)

    # --- looking up ------------------------------------------------------------------------------------

    async def _lookup(self, tracked: _Tracked) -> bool:
        """Ask REST for the order's state (open or closed) and its fills; report what is new. Return
        whether the exchange knows the order."""
        ref = self._order_ref(tracked)
        ref.pop("symbol", None)
        item = None
        for path, extra in ((_REALTIME, {}), (_REALTIME, {"openOnly": 1}), (_HISTORY, {})):
            result = await self._http.get(path, {**ref, **extra}, signed=True)
            rows = result.get("list") or []
            if rows:
                item = rows[0]
                break
        if item is None:
            return False
        self._apply_order(tracked, item)
        if decimal_or_none(item.get("cumExecQty")) or tracked.filled:
            await self._fetch_executions(tracked)
        self._report(tracked)
        return True

    async def _fetch_executions(self, tracked: _Tracked) -> None:
        ref = self._order_ref(tracked)
        ref.pop("symbol", None)
        cursor = ""
        items: list[Mapping[str, Any]] = []
        while True:
            params = {**ref, "limit": 100, **({"cursor": cursor} if cursor else {})}
            result = await self._http.get(_EXECUTIONS, params, signed=True)
            items.extend(result.get("list") or [])
            cursor = result.get("nextPageCursor") or ""
            if not cursor or not result.get("list"):
                break
        items.sort(key=lambda item: int(item.get("execTime") or 0))
        self._on_executions(items)

    # --- the private stream ---------------------------------------------------------------------------

    async def _read_stream(self) -> None:
        while True:
            try:
                async for message in self._ws.messages():
                    topic = message.get("topic")
                    if topic is None:
                        if message.get("op") == "reconnected":
                            self._log.info("bybit.private_reconnected")
                            assert self._group is not None
                            self._group.start_soon(self._resync_quietly)
                        continue
                    data = message.get("data") or ()
                    if topic == "order" or topic.startswith("order."):
                        self._on_orders(data)
                    elif topic == "execution" or topic.startswith("execution."):
                        self._on_executions(data)
                    elif topic == "position" or topic.startswith("position."):
                        self._on_positions(data)
                    elif topic == "wallet":
                        self._on_wallet(data)
                return
            except BybitAuthError as exc:
                self._fatal_error(exc)
                return
            except Exception as exc:  # noqa: BLE001 (the stream broke in a way the client did not recover from)
                self._report_error(BrokerError(f"bybit private stream failed: {type(exc).__name__}: {exc}",
                                               recoverable=True))
                await anyio.sleep(1.0)
                if self._group is not None:
                    self._group.start_soon(self._resync_quietly)

    def _on_orders(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            if item.get("category", self._category) != self._category:
                continue
            tracked = self._find(item)
            if tracked is None:
                self._unknown_order(item)
                continue
            self._apply_order(tracked, item)
            self._report(tracked)

    def _on_executions(self, items: Iterable[Mapping[str, Any]]) -> None:
        events = self._sink()
        for item in items:
            exec_id = str(item.get("execId") or "")
            if not exec_id or exec_id in self._exec_seen:
                continue
            if item.get("category", self._category) != self._category:
                continue
            if str(item.get("execType") or "Trade") != "Trade":
                self._exec_seen.add(exec_id)  # funding, settlement...: not fills of an order
                continue
            tracked = self._find(item)
            if tracked is None:
                continue  # an order the engine does not know: reported by its order update
            fill = fill_from_execution(item, tracked.order, self._ctx.instruments.get(tracked.order.instrument_id))
            self._exec_seen.add(exec_id)
            tracked.filled += fill.quantity
            tracked.notional += fill.quantity * fill.price
            self._fill_positions[fill.instrument_id] = self._fill_positions.get(fill.instrument_id, ZERO) \
                + fill.signed_quantity
            events.fill(fill)
            self._report(tracked)

    def _on_positions(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            if item.get("category", self._category) != self._category:
                continue
            symbol = str(item.get("symbol") or "")
            size = decimal_or_none(item.get("size")) or ZERO
            self._positions[symbol] = -size if item.get("side") == "Sell" else size

    def _on_wallet(self, items: Iterable[Mapping[str, Any]]) -> None:
        for account in items:
            for coin in account.get("coin") or ():
                balance = decimal_or_none(coin.get("walletBalance"))
                if balance is not None:
                    self._balances[str(coin.get("coin"))] = balance

    # --- reconciliation ---------------------------------------------------------------------------------

    async def _resync_quietly(self) -> None:
        try:
            await self._resync(initial=False)
        except Exception as exc:  # noqa: BLE001 (reported; the broker's tasks never raise)
            self._report_error(BrokerError(f"bybit reconciliation failed: {type(exc).__name__}: {exc}",
                                           recoverable=True))

    async def _resync(self, *, initial: bool) -> None:
        """Load balances, positions and open orders over REST and reconcile them with the orders
        tracked: the exchange's view wins for state, missing fills are fetched, unknown orders are
        reported (and adopted or cancelled), tracked orders it no longer lists are resolved."""
        assert self._resync_lock is not None
        async with self._resync_lock:
            result = await self._http.get(_WALLET, {"accountType": "UNIFIED"}, signed=True)
            self._on_wallet(result.get("list") or ())
            symbols = sorted(self._ctx.instruments)
            if self._category == "linear":
                for symbol in symbols:
                    result = await self._http.get(_POSITIONS, {"category": "linear", "symbol": symbol}, signed=True)
                    self._on_positions({"category": "linear", **row} for row in result.get("list") or ())
            listed: set[str] = set()
            for symbol in symbols:
                cursor = ""
                while True:
                    params = {"category": self._category, "symbol": symbol, "openOnly": 0, "limit": 50,
                              **({"cursor": cursor} if cursor else {})}
                    result = await self._http.get(_REALTIME, params, signed=True)
                    rows = result.get("list") or []
                    for item in rows:
                        tracked = self._find(item)
                        if tracked is None:
                            await self._unknown_order_resync(item)
                            continue
                        listed.add(tracked.order.client_order_id)
                        self._apply_order(tracked, item)
                        if (decimal_or_none(item.get("cumExecQty")) or ZERO) > tracked.filled:
                            await self._fetch_executions(tracked)
                        self._report(tracked)
                        if tracked.order.status is OrderStatus.PENDING_CANCEL and not tracked.busy:
                            self._started(tracked)
                            assert self._group is not None
                            self._group.start_soon(self._cancel, tracked)  # a cancel the restart cut short
                    cursor = result.get("nextPageCursor") or ""
                    if not cursor or not rows:
                        break
            for tracked in list(self._orders.values()):
                if not tracked.order.is_open or tracked.order.client_order_id in listed or tracked.busy:
                    continue
                if await self._lookup(tracked):
                    continue
                if tracked.body is None:  # it cannot be sent as it is
                    self._close_locally(tracked, OrderStatus.REJECTED,
                                        f"invalid order: {tracked.reason or 'not found at the exchange'}")
                    continue
                self._log.info("bybit.resending", client_order_id=tracked.order.client_order_id,
                               reason="the exchange never received it")
                self._started(tracked)
                assert self._group is not None
                self._group.start_soon(self._create, tracked)
            if self._category == "linear":
                self._check_positions()

    def _check_positions(self) -> None:
        if any(t.busy or t.filled < t.exch_cum for t in self._orders.values()):
            return  # fills on their way: the next reconciliation compares
        for symbol in set(self._positions) | set(self._fill_positions):
            held = self._positions.get(symbol, ZERO)
            known = self._fill_positions.get(symbol, ZERO)
            if held != known and f"position:{symbol}:{held}" not in self._unknown_seen:
                self._unknown_seen.add(f"position:{symbol}:{held}")
                message = (f"bybit position {symbol} is {held} at the exchange, but the engine's fills add up "
                           f"to {known}: the difference is not the engine's (left as it is)")
                self._log.warning("bybit.unknown_position", symbol=symbol, exchange=str(held), engine=str(known))
                self._report_error(BrokerError(message, recoverable=True))

    async def _unknown_order_resync(self, item: Mapping[str, Any]) -> None:
        tracked = self._unknown_order(item)
        if tracked is not None and (decimal_or_none(item.get("cumExecQty")) or ZERO) > tracked.filled:
            await self._fetch_executions(tracked)
            self._report(tracked)

    def _unknown_order(self, item: Mapping[str, Any]) -> _Tracked | None:
        """An order at the exchange the engine does not know: report it once; adopt or cancel it if
        ``on_unknown`` says so. Return the adopted order's bookkeeping."""
        venue = str(item.get("orderId") or "")
        link = str(item.get("orderLinkId") or "")
        status = str(item.get("orderStatus") or "")
        if status in CLOSED or venue in self._unknown_seen:
            return None
        self._unknown_seen.add(venue)
        symbol = str(item.get("symbol") or "")
        policy = self._params.on_unknown
        if policy == "adopt" and symbol not in self._ctx.instruments:
            policy = "report"  # an instrument outside the preset cannot be tracked
        message = (f"bybit order {venue} (orderLinkId {link or '-'}) {item.get('side')} {item.get('qty')} {symbol} "
                   f"at {item.get('price') or 'market'} is open at the exchange but unknown to the engine: "
                   + {"report": "left as it is", "adopt": f"adopted as strategy {self._params.adopt_strategy!r}",
                      "cancel": "cancelling it"}[policy])
        self._log.warning("bybit.unknown_order", order_id=venue, order_link_id=link, symbol=symbol, action=policy)
        self._report_error(BrokerError(message, recoverable=True))
        if policy == "cancel":
            assert self._group is not None
            self._started(None)
            self._group.start_soon(self._cancel_unknown, {"category": self._category, "symbol": symbol,
                                                          "orderId": venue})
            return None
        if policy != "adopt":
            return None
        order = self._adopted(item, venue, link, symbol)
        tracked = self._track(order)
        if link_id_for(order.client_order_id) != link:  # no orderLinkId of its own: refer to it by orderId
            self._by_link.pop(tracked.link_id, None)
            tracked.link_id = ""
        tracked.acknowledged = True
        self._apply_order(tracked, item)
        tracked.order = tracked.sent = attrs.evolve(order, status=status_of(tracked.exch_status))
        self._sink().order_updated(tracked.order)
        return tracked

    def _adopted(self, item: Mapping[str, Any], venue: str, link: str, symbol: str) -> Order:
        limit = item.get("orderType") == "Limit"
        tif = str(item.get("timeInForce") or "GTC")
        now = self._ctx.clock.now()
        return Order(
            client_order_id=link or f"bybit-{venue}",
            strategy_id=self._params.adopt_strategy,
            instrument_id=symbol,
            side=Side.BUY if item.get("side") == "Buy" else Side.SELL,
            type=OrderType.LIMIT if limit else OrderType.MARKET,
            quantity=Decimal(str(item.get("qty"))),
            price=decimal_or_none(item.get("price")) if limit else None,
            time_in_force=TimeInForce[tif] if tif in ("GTC", "IOC", "FOK") else TimeInForce.GTC,
            post_only=tif == "PostOnly",
            reduce_only=bool(item.get("reduceOnly")),
            ts_created=int(item.get("createdTime") or 0) * 1_000_000 or now,
            ts_updated=now,
            venue_order_id=venue,
        )

    async def _cancel_unknown(self, body: dict[str, Any]) -> None:
        try:
            for attempt in range(self._params.max_retries + 1):
                try:
                    await self._http.post(_CANCEL, body, retry=False)
                    return
                except BybitOrderNotFound:
                    return
                except (BybitRateLimited, BybitTimestampError, BybitNetworkError, BybitServerError) as exc:
                    await self._recover(exc, attempt)
        except Exception as exc:  # noqa: BLE001 (reported; the broker's tasks never raise)
            self._report_error(BrokerError(f"bybit: cancelling unknown order {body.get('orderId')} failed: {exc}",
                                           recoverable=True))
        finally:
            self._finished(None)

    # --- state ----------------------------------------------------------------------------------------

    def _track(self, order: Order) -> _Tracked:
        cid = order.client_order_id
        tracked = self._orders.get(cid)
        if tracked is None:
            tracked = self._orders[cid] = _Tracked(order, link_id_for(cid))
            self._by_link.setdefault(tracked.link_id, cid)
            if tracked.venue_id:
                self._by_venue[tracked.venue_id] = cid
        return tracked

    def _find(self, item: Mapping[str, Any]) -> _Tracked | None:
        cid = self._by_link.get(str(item.get("orderLinkId") or "")) or self._by_venue.get(str(item.get("orderId") or ""))
        return None if cid is None else self._orders.get(cid)

    def _apply_order(self, tracked: _Tracked, item: Mapping[str, Any]) -> None:
        """Take the exchange's view of an order (status, cumulative fill, amended quantity/price)."""
        venue = str(item.get("orderId") or "")
        if venue:
            tracked.venue_id = venue
            self._by_venue[venue] = tracked.order.client_order_id
        status = str(item.get("orderStatus") or "")
        if tracked.exch_status in CLOSED and status not in CLOSED:
            return  # a late update of a closed order
        tracked.acknowledged = True
        tracked.exch_status = status
        tracked.exch_cum = max(tracked.exch_cum, decimal_or_none(item.get("cumExecQty")) or ZERO)
        if status in CLOSED and status != "Filled":
            tracked.reason = reject_reason(item) or tracked.reason
        order = tracked.order
        if status not in CLOSED:
            quantity = decimal_or_none(item.get("qty"))
            price = decimal_or_none(item.get("price")) if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
            if quantity is not None and quantity != order.quantity and quantity > ZERO:
                tracked.order = order = attrs.evolve(order, quantity=quantity)
            if price and price != order.price:
                tracked.order = attrs.evolve(order, price=price)
        if status in CLOSED and tracked.filled < tracked.exch_cum:
            self._confirm_later(tracked)  # its executions should follow; ask REST if they do not

    def _report(self, tracked: _Tracked) -> None:
        """Tell the engine the order's state if it changed. A fill is reported (by the caller) before
        the state that counts it; a closed status waits until every fill it implies was reported."""
        order = tracked.order
        if not tracked.sent.is_open:
            return
        filled = tracked.filled
        exch = tracked.exch_status
        reason = order.reason
        if filled >= order.quantity:
            status = OrderStatus.FILLED
        elif exch in CLOSED and filled >= tracked.exch_cum:
            status = status_of(exch)
            reason = tracked.reason
        elif exch or filled:
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED
            if tracked.cancel_requested:
                status = OrderStatus.PENDING_CANCEL
        else:
            status = order.status
        sent = tracked.sent
        if (status is sent.status and filled == sent.filled_quantity and tracked.venue_id == sent.venue_order_id
                and reason == sent.reason and order.quantity == sent.quantity and order.price == sent.price
                and order.trigger_price == sent.trigger_price):
            return
        avg = tracked.notional / filled if filled else None
        tracked.order = tracked.sent = attrs.evolve(
            order, status=status, filled_quantity=filled, avg_fill_price=avg, venue_order_id=tracked.venue_id,
            reason=reason, ts_updated=self._ctx.clock.now())
        if not tracked.order.is_open:
            tracked.cancel_requested = False
        self._sink().order_updated(tracked.order)

    def _reject(self, tracked: Any, reason: str) -> None:
        self._close_locally(tracked, OrderStatus.REJECTED, reason)

    def _close_locally(self, tracked: Any, status: OrderStatus, reason: str) -> None:
        if not tracked.order.is_open:
            return
        self._log.warning("bybit.order_closed", client_order_id=tracked.order.client_order_id,
                          status=status.value, reason=reason)
        tracked.order = attrs.evolve(tracked.order, status=status, reason=reason, ts_updated=self._ctx.clock.now())
        if isinstance(tracked, _Tracked):
            tracked.sent = tracked.order
        self._sink().order_updated(tracked.order)

    class _Fresh:
        """An order refused before it was tracked."""

        def __init__(self, order: Order) -> None:
            self.order = order

    def _cancel_failed(self, tracked: _Tracked, exc: Exception) -> None:
        tracked.cancel_requested = False
        self._report_error(BrokerError(f"bybit: cancelling {tracked.order.client_order_id} failed: {exc}",
                                       recoverable=True))
        if tracked.order.status is OrderStatus.PENDING_CANCEL:  # back to what it was: the router may retry
            tracked.order = tracked.sent = attrs.evolve(
                tracked.order, status=OrderStatus.PARTIALLY_FILLED if tracked.filled else OrderStatus.ACCEPTED,
                ts_updated=self._ctx.clock.now())
            self._sink().order_updated(tracked.order)

    def _order_ref(self, tracked: _Tracked) -> dict[str, Any]:
        ref: dict[str, Any] = {"category": self._category, "symbol": tracked.order.instrument_id}
        if tracked.link_id or not tracked.venue_id:
            ref["orderLinkId"] = tracked.link_id
        else:
            ref["orderId"] = tracked.venue_id
        return ref

    def _lock(self, tracked: _Tracked) -> anyio.Lock:
        if tracked.lock is None:
            tracked.lock = anyio.Lock()
        return tracked.lock

    # --- errors -----------------------------------------------------------------------------------------

    def _failed(self, what: str, tracked: _Tracked, exc: Exception) -> None:
        """A request task failed unexpectedly: report it; never let the reporting itself fail the task
        group (a host whose log stream is closed, say)."""
        try:
            self._log.error("bybit.request_failed", request=what, client_order_id=tracked.order.client_order_id,
                            error=f"{type(exc).__name__}: {exc}")
            if isinstance(exc, BybitAuthError):
                self._fatal_error(exc)
            else:  # one request failed, the broker goes on: never a reason for the kill switch
                self._report_error(BrokerError(f"bybit {what} of {tracked.order.client_order_id} failed: "
                                               f"{type(exc).__name__}: {exc}", code=getattr(exc, "code", None),
                                               recoverable=True))
        except Exception:  # noqa: BLE001, S110 (nothing is left to report it to)
            pass

    def _fatal_error(self, exc: BaseException) -> None:
        """The exchange refuses the keys: no further order is taken, the engine is told (kill switch)."""
        if self._fatal is not None:
            return
        self._fatal = exc
        self._log.critical("bybit.unrecoverable", error=str(exc))
        error = BrokerError(f"bybit broker: unrecoverable error: {exc}", code=getattr(exc, "code", None),
                            recoverable=False)
        if getattr(self._events, "error", None) is not None:
            self._report_error(error)
            return
        kill = getattr(self._events, "kill_switch", None)
        if kill is not None:
            try:
                kill(str(error), flatten=False)
            except Exception as problem:  # noqa: BLE001 (the engine may be stopping)
                self._log.error("bybit.kill_switch_failed", error=str(problem))

    def _report_error(self, exc: BaseException) -> None:
        self._log.warning("bybit.error", error=str(exc))
        report = getattr(self._events, "error", None)
        if report is not None:
            report(exc)

    # --- plumbing ---------------------------------------------------------------------------------------

    def _require_group(self) -> Any:
        if self._group is None:
            raise EngineStateError("the bybit broker is not connected: call connect(events) first")
        return self._group

    def _sink(self) -> BrokerEvents:
        if self._events is None:
            raise EngineStateError("the bybit broker is not connected: call connect(events) first")
        return self._events

    def _started(self, tracked: _Tracked | None) -> None:
        if tracked is not None:
            tracked.busy += 1
        self._inflight += 1

    def _finished(self, tracked: _Tracked | None) -> None:
        if tracked is not None:
            tracked.busy -= 1
        self._inflight -= 1

