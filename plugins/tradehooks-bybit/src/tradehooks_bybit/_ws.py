"""Bybit's WebSocket streams: one connection, its subscriptions, and the messages it receives.

The connection is driven inline by whoever iterates :meth:`WebSocketClient.messages`: no background
task, so it runs the same under asyncio and trio (the socket is an anyio stream, the WebSocket
framing is the sans-I/O protocol of the ``websockets`` package) and nothing outlives the iteration.
While waiting for the next message it sends Bybit's JSON heartbeat ``{"op": "ping"}`` every
``ping_interval`` seconds (the server cuts idle connections), and it treats a connection that has
received nothing (not even a pong) for ``stale_after`` seconds as dead.

A dropped or stale connection is opened again with exponential backoff and jitter; the client then
authenticates again (private streams), re-subscribes every topic, and yields ``{"op":
"reconnected"}`` so the caller can fill what it missed (a new order book snapshot, REST reconciliation).
"""

from __future__ import annotations

import json
import os
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import OPEN
from websockets.uri import parse_uri

from ._errors import BybitAuthError, BybitError
from ._http import NullLog
from ._signing import ws_auth_signature

__all__ = ["WebSocketClient"]

_CONTROL_OPS = frozenset({"ping", "pong", "subscribe", "unsubscribe", "auth"})
_READ_SIZE = 65536


class _Dropped(Exception):
    """The connection is gone (closed, reset, stale); the client opens another."""


class _Connection:
    """One open WebSocket: the byte stream, its protocol state, and its timers."""

    __slots__ = ("fragments", "last_rx", "next_ping", "protocol", "send_lock", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, protocol: ClientProtocol, ping_interval: float) -> None:
        self.stream = stream
        self.protocol = protocol
        self.send_lock = anyio.Lock()
        self.last_rx = time.monotonic()
        self.next_ping = self.last_rx + ping_interval
        self.fragments: list[bytes] = []

    async def flush(self) -> None:
        """Write what the protocol has queued (pongs, close frames, our messages) in order."""
        async with self.send_lock:
            for data in self.protocol.data_to_send():
                if data:  # (an empty chunk asks for a half-close: the socket is closed soon after)
                    await self.stream.send(data)

    async def send_json(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message, separators=(",", ":")).encode())
        await self.flush()

    async def close(self) -> None:
        """Close politely (a close frame), briefly; then the socket, whatever happened."""
        with anyio.move_on_after(1.0, shield=True):
            try:
                if self.protocol.state is OPEN:
                    self.protocol.send_close(1000)
                    await self.flush()
            except Exception as exc:  # noqa: BLE001 - best effort: the socket is closed below anyway
                del exc
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()


class WebSocketClient:
    """One Bybit WebSocket endpoint: its connection, subscriptions and messages.

    Args:
        url: ``wss://stream.bybit.com/v5/public/linear`` (or ``/spot``, ``/v5/private``), or an
            emulator's ``ws://127.0.0.1:PORT/v5/...``.
        api_key: authenticates a private stream (``None`` for a public one).
        api_secret: signs the ``auth`` message.
        ping_interval: seconds between heartbeats (Bybit recommends 20).
        stale_after: seconds without any message before the connection is taken for dead.
        log: a structlog-style logger (``None``: silent).
        open_timeout: seconds to open a connection (TCP, TLS, handshake, authentication).
        max_attempts: consecutive failed attempts to open a connection before :meth:`messages`
            raises ``ConnectionError`` (``None``: try forever).
        backoff: the first delay between attempts (doubling, with jitter, up to ``backoff_max``).

    Building one does no I/O. :meth:`subscribe` opens the connection if it is not open yet;
    :meth:`messages` opens it too, and reopens it whenever it drops.
    """

    def __init__(
        self,
        *,
        url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        ping_interval: float = 20.0,
        stale_after: float = 60.0,
        log: Any = None,
        open_timeout: float = 10.0,
        max_attempts: int | None = 10,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        try:
            self._uri = parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"not a WebSocket URL: {url!r} ({exc})") from None
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        self._ping_interval = ping_interval
        self._stale_after = stale_after
        self._log = log if log is not None else NullLog()
        self._open_timeout = open_timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._topics: list[str] = []
        self._conn: _Connection | None = None
        self._pending: deque[dict[str, Any]] = deque()  # data messages read while opening
        self._opened = 0  # connections opened so far
        self._reading = False  # messages() is waiting for data (then subscribe() does not read answers)
        self._closed = False
        self._random = random.Random(os.urandom(8))
        # spot allows 10 topics per subscribe request; the others have no such limit
        self._chunk = 10 if self._uri.path.rstrip("/").endswith("/spot") else 200

    @property
    def url(self) -> str:
        return self._url

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic subscribed to (re-sent after each reconnect)."""
        return tuple(self._topics)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def connections(self) -> int:
        """How many connections were opened so far (1 + the reconnects)."""
        return self._opened

    async def subscribe(self, topics: Sequence[str]) -> None:
        """Subscribe to ``topics`` (and remember them for every later connection), opening the
        connection if it is not open yet, and wait for the server's answer (messages arriving meanwhile
        are kept for :meth:`messages`). While another task waits in :meth:`messages`, the answer is
        left to it: a refusal is then raised there.

        Raises:
            BybitError: the server refused a topic.
            BybitAuthError: the server refused the authentication (private stream).
        """
        if self._closed:
            raise RuntimeError("the WebSocket client is closed")
        new = [topic for topic in topics if topic not in self._topics]
        self._topics.extend(new)
        if self._conn is None:
            await self._open_with_retry()  # subscribes to every topic, the new ones included
        elif new:
            try:
                await self._send_subscribe(self._conn, new, wait=not self._reading)
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, _Dropped):
                await self._drop(self._conn, "send failed")  # messages() reopens and re-subscribes

    async def resubscribe(self, topics: Sequence[str]) -> None:
        """Unsubscribe from ``topics`` and subscribe again at once (Bybit then sends a fresh snapshot,
        e.g. of an order book that missed an update). Without a connection this does nothing: the
        next connection subscribes anyway."""
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.send_json({"op": "unsubscribe", "args": list(topics)})
            await self._send_subscribe(conn, topics)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._drop(conn, "send failed")

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message on the open connection (opening it first if needed)."""
        if self._conn is None:
            await self._open_with_retry()
        assert self._conn is not None
        await self._conn.send_json(message)

    async def reconnect(self) -> None:
        """Drop the connection; :meth:`messages` opens another and yields ``{"op": "reconnected"}``."""
        if self._conn is not None:
            await self._drop(self._conn, "asked to reconnect")

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yield every data message (those with a ``topic``), decoded, each with ``"_recv_ns"``
        (:func:`time.perf_counter_ns` at receipt), until :meth:`aclose`.

        After every reconnect (a dropped or stale connection) it yields ``{"op": "reconnected",
        "_recv_ns": ...}`` once it authenticated and re-subscribed.

        Raises:
            BybitError: the server refused a subscription or the authentication.
            ConnectionError: ``max_attempts`` attempts in a row to open a connection failed.
        """
        pending = self._pending
        while not self._closed:
            conn = self._conn
            if conn is None:
                while pending:  # what the old connection delivered comes before the marker
                    yield pending.popleft()
                reopened = self._opened > 0
                await self._open_with_retry()
                if reopened:
                    yield {"op": "reconnected", "_recv_ns": time.perf_counter_ns()}
                continue
            while pending:
                yield pending.popleft()
            self._reading = True
            try:
                await self._read(conn, pending)
            except _Dropped as exc:
                await self._drop(conn, str(exc))
            finally:
                self._reading = False

    async def aclose(self) -> None:
        """Close the connection; the client cannot be used again."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # --- machinery ---------------------------------------------------------------------------------

    async def _drop(self, conn: _Connection, reason: str) -> None:
        if self._conn is conn:
            self._conn = None
            self._log.warning("bybit.ws.dropped", url=self._url, reason=reason)
        await conn.close()

    async def _read(self, conn: _Connection, out: deque[dict[str, Any]]) -> None:
        """Wait for data (sending heartbeats, watching for staleness) and decode what came into ``out``."""
        self._check_open(conn)
        while True:
            now = time.monotonic()
            if now - conn.last_rx >= self._stale_after:
                raise _Dropped(f"nothing received for {self._stale_after:g} s")
            if now >= conn.next_ping:
                conn.next_ping = now + self._ping_interval
                try:
                    await conn.send_json({"op": "ping"})
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    raise _Dropped(f"heartbeat failed: {exc!r}") from None
                continue
            data = b""
            with anyio.move_on_after(min(conn.next_ping, conn.last_rx + self._stale_after) - now):
                try:
                    data = await conn.stream.receive(_READ_SIZE)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError,
                        ssl.SSLError) as exc:
                    raise _Dropped(f"connection lost: {type(exc).__name__}") from None
            if not data:
                continue  # a timer fired
            recv_ns = time.perf_counter_ns()
            conn.last_rx = time.monotonic()
            protocol = conn.protocol
            protocol.receive_data(data)
            events = protocol.events_received()
            if protocol.writes:  # pongs to pings, the answer to a close frame
                await conn.flush()
            for event in events:
                if isinstance(event, Frame):
                    message = self._frame(conn, event)
                    if message is not None:
                        self._dispatch(message, recv_ns, out)
            if out:
                return  # a close read with these messages is found on the next call, after they are handed out
            self._check_open(conn)

    @staticmethod
    def _check_open(conn: _Connection) -> None:
        protocol = conn.protocol
        if protocol.state is not OPEN:
            raise _Dropped(f"closed by the server ({protocol.close_code} {protocol.close_reason or ''})".strip())

    def _frame(self, conn: _Connection, frame: Frame) -> Any:
        """The decoded JSON of a complete text or binary message, ``None`` for anything else (a
        message that is not JSON is logged and skipped)."""
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            data = frame.data
            if not frame.fin:
                conn.fragments = [bytes(data)]
                return None
        elif opcode is Opcode.CONT:
            conn.fragments.append(bytes(frame.data))
            if not frame.fin:
                return None
            data = b"".join(conn.fragments)
            conn.fragments = []
        else:
            return None  # ping (answered by the protocol), pong, close (handled by the caller)
        try:
            return json.loads(data if type(data) is bytes else bytes(data))
        except ValueError:
            self._log.warning("bybit.ws.not_json", url=self._url, message=bytes(data[:200]).decode("utf-8", "replace"))
            return None

    def _dispatch(self, message: Any, recv_ns: int, out: deque[dict[str, Any]]) -> None:
        if not isinstance(message, dict):
            return
        if "topic" in message:
            message["_recv_ns"] = recv_ns
            out.append(message)
            return
        op = message.get("op")
        if op == "subscribe" and message.get("success") is False:
            raise BybitError(f"{self._url}: subscription refused: {message.get('ret_msg')!r} "
                             f"(topics {', '.join(self._topics)})", path=self._url,
                             ret_msg=str(message.get("ret_msg", "")))
        if op not in _CONTROL_OPS:
            self._log.debug("bybit.ws.ignored", url=self._url, message=str(message)[:200])

    def _delay(self, attempt: int) -> float:
        ceiling: float = min(self._backoff_max, self._backoff * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self._random.random())

    async def _open_with_retry(self) -> None:
        attempt = 0
        while True:
            if self._closed:
                raise RuntimeError("the WebSocket client is closed")
            try:
                with anyio.fail_after(self._open_timeout):
                    self._conn = await self._open()
                return
            except BybitError:
                raise
            except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError,
                    _Dropped) as exc:
                error = exc
            attempt += 1
            if self._max_attempts is not None and attempt >= self._max_attempts:
                raise ConnectionError(f"{self._url}: could not connect after {attempt} attempts: "
                                      f"{type(error).__name__}: {error}") from error
            delay = self._delay(attempt - 1)
            self._log.warning("bybit.ws.connect_failed", url=self._url, attempt=attempt, retry_in=round(delay, 3),
                              error=f"{type(error).__name__}: {error}")
            await anyio.sleep(delay)

    async def _open(self) -> _Connection:
        """Open the socket, upgrade it, authenticate (private) and subscribe to every topic."""
        uri = self._uri
        stream: anyio.abc.ByteStream
        if uri.secure:
            stream = await anyio.connect_tcp(uri.host, uri.port, tls=True, ssl_context=ssl.create_default_context(),
                                             tls_hostname=uri.host)
        else:
            stream = await anyio.connect_tcp(uri.host, uri.port)
        protocol = ClientProtocol(uri, max_size=2**24)
        conn = _Connection(stream, protocol, self._ping_interval)
        try:
            request = protocol.connect()
            request.headers["User-Agent"] = "tradehooks-bybit"
            protocol.send_request(request)
            await conn.flush()
            early: list[Frame] = []
            while protocol.state is not OPEN:
                try:
                    data = await stream.receive(_READ_SIZE)
                except anyio.EndOfStream:
                    protocol.receive_eof()
                    data = b""
                if data:
                    protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Frame):
                        early.append(event)
                    elif isinstance(event, Response) and protocol.handshake_exc is not None:
                        raise self._handshake_error(protocol.handshake_exc)
                if protocol.handshake_exc is not None:
                    raise self._handshake_error(protocol.handshake_exc)
                if not data and protocol.state is not OPEN:
                    raise _Dropped("the server closed the connection during the handshake")
            recv_ns = time.perf_counter_ns()
            for frame in early:
                message = self._frame(conn, frame)
                if message is not None:
                    self._dispatch(message, recv_ns, self._pending)
            if self._api_key is not None:
                await self._authenticate(conn)
            if self._topics:
                await self._send_subscribe(conn, self._topics, wait=True)
        except BaseException:
            await conn.close()
            raise
        self._opened += 1
        self._log.info("bybit.ws.connected", url=self._url, topics=len(self._topics), connection=self._opened)
        return conn

    def _handshake_error(self, exc: Exception) -> Exception:
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            if status in (401, 404):  # a wrong URL or key: trying again will not help
                error_cls = BybitAuthError if status == 401 else BybitError
                return error_cls(f"{self._url}: the WebSocket upgrade was refused with HTTP {status}",
                                 http_status=status, path=self._url)
            return ConnectionError(f"{self._url}: the WebSocket upgrade was refused with HTTP {status}")
        return ConnectionError(f"{self._url}: the WebSocket handshake failed: {exc}")

    async def _authenticate(self, conn: _Connection) -> None:
        assert self._api_key is not None and self._api_secret is not None
        expires = int(time.time() * 1000) + 10_000
        signature = ws_auth_signature(self._api_secret, expires)
        await conn.send_json({"req_id": "auth", "op": "auth", "args": [self._api_key, expires, signature]})
        await self._await_answers(conn, "auth", 1)

    async def _send_subscribe(self, conn: _Connection, topics: Sequence[str], *, wait: bool = False) -> None:
        requests = 0
        for start in range(0, len(topics), self._chunk):
            await conn.send_json({"op": "subscribe", "args": list(topics[start:start + self._chunk])})
            requests += 1
        if wait:
            await self._await_answers(conn, "subscribe", requests)

    async def _await_answers(self, conn: _Connection, op: str, count: int) -> None:
        """Read until ``count`` answers to ``op`` came (data read meanwhile is kept for :meth:`messages`);
        a refusal raises."""
        protocol = conn.protocol
        while count:
            try:
                data = await conn.stream.receive(_READ_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise _Dropped(f"connection lost waiting for the {op} answer: {type(exc).__name__}") from None
            recv_ns = time.perf_counter_ns()
            conn.last_rx = time.monotonic()
            protocol.receive_data(data)
            events = protocol.events_received()
            if protocol.writes:
                await conn.flush()
            for event in events:
                if not isinstance(event, Frame):
                    continue
                message = self._frame(conn, event)
                if isinstance(message, dict) and message.get("op") == op and "topic" not in message:
                    if message.get("success") is not True:
                        what = "authentication" if op == "auth" else "subscription"
                        error_cls = BybitAuthError if op == "auth" else BybitError
                        raise error_cls(f"{self._url}: {what} refused: {message.get('ret_msg')!r}"
                                        + ("" if op == "auth" else f" (topics {', '.join(self._topics)})"),
                                        path=self._url, ret_msg=str(message.get("ret_msg", "")))
                    count -= 1
                elif message is not None:
                    self._dispatch(message, recv_ns, self._pending)
            if count and protocol.state is not OPEN:
                raise _Dropped(f"closed by the server while waiting for the {op} answer")
