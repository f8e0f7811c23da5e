"""Bybit's REST API: one client per component, signing private requests.

Private requests carry ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (the server's clock, estimated from
``/v5/market/time``), ``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN``; the signature covers the query
string of a GET and the body of a POST exactly as they are sent (the query is built here, in the
caller's key order, and put on the URL as is; the body is compact JSON).

What is retried, and how:

* a rate limit (retCode 10006, HTTP 403 or 429): waited out until ``X-Bapi-Limit-Reset-Timestamp``
  when the answer has it, else with exponential backoff, then re-sent (GET and POST: the server did
  not act on it). An HTTP 403 or 429 (the IP limit) also holds back every other path meanwhile.
* retCode 10002 (the clocks disagree): the server time is read again, then the request is re-sent once.
* a network error, a timeout, HTTP 5xx or retCode 10016: GETs (and POSTs sent with ``retry=True``) are
  re-sent with exponential backoff and jitter; a POST is otherwise sent once and the error raised
  (the caller decides whether the request may have been executed, see
  :class:`~tradehooks_bybit._errors.BybitNetworkError`).

Before each request the client waits while the path's ``X-Bapi-Limit-Status`` budget is spent
(:meth:`HttpClient.wait_hint`), so it slows down instead of being refused. Secrets are never logged.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import anyio.lowlevel

from ._errors import (
    BybitError,
    BybitNetworkError,
    BybitRateLimited,
    BybitServerError,
    BybitTimestampError,
    error_for,
)
from ._signing import rest_signature

if TYPE_CHECKING:  # imported where a client is made: loading the plugin for a backtest does not need it
    import httpx

__all__ = ["HttpClient", "NullLog", "encode_query"]


class NullLog:
    """A logger that drops everything (when a component is given none)."""

    def _drop(self, *args: Any, **kwargs: Any) -> None:
        return None

    debug = info = warning = error = critical = exception = _drop


def encode_query(params: Mapping[str, Any] | None) -> str:
    """``params`` as a query string, in their order, ``None`` values left out (booleans as
    ``true``/``false``). This exact string is signed and sent."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{quote(str(key), safe='')}={quote(str(value), safe='')}")
    return "&".join(parts)


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class HttpClient:
    """Sends REST requests to Bybit and returns the ``result`` of their answers.

    Args:
        base_url: ``https://api.bybit.com``, the testnet's, or an emulator's ``http://127.0.0.1:PORT``.
        api_key: signs private requests (``None`` for public data only).
        api_secret: the key's secret.
        timeout: seconds before a request is abandoned (connect, read, write and pool).
        recv_window: milliseconds a signed request stays valid on the server.
        max_retries: re-sends after the first attempt before the error is raised.
        log: a structlog-style logger (``None``: silent).
        backoff: the first retry delay in seconds; it doubles per retry (with jitter) up to
            ``backoff_max``.

    Building one does no I/O; the connection pool opens with the first request and closes with
    :meth:`aclose` (a closed client opens a new pool when used again).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        timeout: float = 10.0,
        recv_window: int = 5000,
        max_retries: int = 5,
        log: Any = None,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout = timeout
        self._recv_window = str(recv_window)
        self._max_retries = max_retries
        self._log = log if log is not None else NullLog()
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._client: httpx.AsyncClient | None = None
        self._loop: object = None  # the event loop the client's connections belong to
        self._offset_ms = 0  # server clock minus local clock
        self._synced = False
        self._limits: dict[str, tuple[int, int]] = {}  # path -> (remaining, reset at, server ms)
        self._held_until = 0.0  # time.monotonic() before which nothing is sent (the IP limit)
        self._random = random.Random(os.urandom(8))

    # --- public ------------------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> dict[str, Any]:
        """``GET path?params``; returns the answer's ``result``. Retried as the module says."""
        query = encode_query(params)
        return await self._send("GET", path, query, "", signed=signed, retry=True)

    async def post(self, path: str, body: Mapping[str, Any], *, signed: bool = True,
                   retry: bool = False) -> dict[str, Any]:
        """``POST path`` with ``body`` as compact JSON; returns the answer's ``result``.

        With ``retry=False`` the request is sent once: a network error, timeout or server error is
        raised for the caller to resolve (rate limits and clock skew are still waited out and re-sent,
        since the server refused those without acting).
        """
        text = json.dumps(dict(body), separators=(",", ":"))
        return await self._send("POST", path, "", text, signed=signed, retry=retry)

    async def sync_time(self) -> None:
        """Estimate the server clock from ``/v5/market/time`` (the middle of the round trip); signed
        requests carry timestamps on that clock."""
        before = time.time_ns()
        result = await self._send("GET", "/v5/market/time", "", "", signed=False, retry=True)
        after = time.time_ns()
        if result.get("timeNano"):
            server_ms = int(result["timeNano"]) // 1_000_000
        elif result.get("timeSecond"):
            server_ms = int(result["timeSecond"]) * 1000
        else:
            raise BybitError(f"/v5/market/time: no time in the answer: {result!r:.200}", path="/v5/market/time")
        self._offset_ms = server_ms - (before + after) // 2_000_000
        self._synced = True
        self._log.debug("bybit.http.time_synced", offset_ms=self._offset_ms, rtt_ms=(after - before) // 1_000_000)

    @property
    def synced(self) -> bool:
        """Whether :meth:`sync_time` has measured the server clock."""
        return self._synced

    @property
    def time_offset_ms(self) -> int:
        """The server clock minus the local clock, in milliseconds, as last measured."""
        return self._offset_ms

    def server_time_ms(self) -> int:
        """The server's clock now, as estimated (milliseconds)."""
        return time.time_ns() // 1_000_000 + self._offset_ms

    def wait_hint(self, path: str) -> float:
        """Seconds until ``path`` may be requested again without being refused: ``0`` while its
        ``X-Bapi-Limit-Status`` budget is left (or unknown) and no IP-limit pause is running."""
        held = self._held_until - time.monotonic()
        limit = self._limits.get(path)
        if limit is not None and limit[0] <= 0:
            held = max(held, (limit[1] - self.server_time_ms()) / 1000)
        return held if held > 0 else 0.0

    async def aclose(self) -> None:
        """Close the connection pool."""
        client, self._client = self._client, None
        if client is not None and self._loop is anyio.lowlevel.current_token().native_token:
            await client.aclose()

    # --- machinery ---------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        loop = anyio.lowlevel.current_token().native_token
        if self._client is not None and self._loop is not loop:
            self._client = None  # its pool belongs to an event loop that has ended: start afresh
        if self._client is None:
            import httpx  # on first use (see the imports at the top)

            self._loop = loop
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                headers={"User-Agent": "tradehooks-bybit", "Accept": "application/json"},
                follow_redirects=False,
            )
        return self._client

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of ``backoff * 2**attempt``."""
        ceiling: float = min(self._backoff_max, self._backoff * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self._random.random())

    def _headers(self, payload: str, post: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if post else {}
        if self._api_key is None or self._api_secret is None:
            raise BybitError("a private request needs api_key and api_secret")
        timestamp = str(self.server_time_ms())
        headers["X-BAPI-API-KEY"] = self._api_key
        headers["X-BAPI-TIMESTAMP"] = timestamp
        headers["X-BAPI-RECV-WINDOW"] = self._recv_window
        headers["X-BAPI-SIGN"] = rest_signature(self._api_secret, timestamp=timestamp, api_key=self._api_key,
                                                recv_window=self._recv_window, payload=payload)
        return headers

    def _note_limits(self, path: str, headers: httpx.Headers) -> None:
        remaining = _header_int(headers, "X-Bapi-Limit-Status")
        if remaining is None:
            return
        reset = _header_int(headers, "X-Bapi-Limit-Reset-Timestamp") or 0
        if remaining <= 0:
            # The budget is spent. On an accepted request the header carries about the current time,
            # not when the budget refills: the per-key window rolls over one second, so wait that long.
            reset = max(reset, self.server_time_ms() + 1000)
        self._limits[path] = (remaining, reset)

    async def _send(self, method: str, path: str, query: str, body: str, *, signed: bool,
                    retry: bool) -> dict[str, Any]:
        import httpx  # loaded already by the client that sends the request

        url = f"{self._base_url}{path}?{query}" if query else f"{self._base_url}{path}"
        post = method == "POST"
        if signed and not self._synced:
            await self.sync_time()
        attempt = 0
        clock_retried = False
        while True:
            hold = self.wait_hint(path)
            if hold > 0:
                self._log.info("bybit.http.pacing", path=path, wait_s=round(hold, 3))
                await anyio.sleep(hold)
            headers = self._headers(body if post else query, post) if signed else (
                {"Content-Type": "application/json"} if post else {})
            try:
                if post:
                    response = await self._http().post(url, content=body.encode(), headers=headers)
                else:
                    response = await self._http().get(url, headers=headers)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                error: BybitError = BybitNetworkError(
                    f"{method} {path}: {type(exc).__name__}: {exc or 'no answer'}",
                    maybe_executed=post and not never_sent, path=path)
                if (post and not retry) or attempt >= self._max_retries:
                    raise error from exc
                delay = self._delay(attempt)
            else:
                self._note_limits(path, response.headers)
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                if not isinstance(payload, dict):
                    payload = None
                found = error_for(payload, http_status=response.status_code, path=path)
                if found is None:
                    assert payload is not None
                    result = payload.get("result")
                    return result if isinstance(result, dict) else {}
                error = found
                if isinstance(error, BybitTimestampError) and not clock_retried:
                    clock_retried = True
                    self._log.warning("bybit.http.clock_skew", path=path, error=error.ret_msg)
                    await self.sync_time()
                    continue
                if isinstance(error, BybitRateLimited):
                    delay = self._rate_limited(path, response, error, attempt)
                elif isinstance(error, BybitServerError) and (retry or not post):
                    delay = self._delay(attempt)
                else:
                    raise error
                if attempt >= self._max_retries:
                    raise error
            attempt += 1
            self._log.warning("bybit.http.retry", method=method, path=path, attempt=attempt,
                              wait_s=round(delay, 3), error=str(error))
            await anyio.sleep(delay)

    def _rate_limited(self, path: str, response: httpx.Response, error: BybitRateLimited, attempt: int) -> float:
        """How long to wait after a rate-limit answer (and hold other paths back for an IP limit)."""
        reset = _header_int(response.headers, "X-Bapi-Limit-Reset-Timestamp")
        error.reset_at_ms = reset
        delay = self._delay(attempt)
        if reset is not None:
            until_reset = (reset - self.server_time_ms()) / 1000
            if until_reset > 0:
                delay = min(self._backoff_max, until_reset + 0.05)
            self._limits[path] = (0, reset)
        if response.status_code in (403, 429):
            self._held_until = max(self._held_until, time.monotonic() + delay)
        return delay
