"""Bybit's REST API: one client per component, signing private requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["HttpClient"]


class HttpClient:
    """Sends REST requests and returns their decoded results.

    Args:
        base_url: ``constants.REST_URL`` or ``constants.REST_URL_TESTNET``.
        timeout: seconds before a request is abandoned.
        api_key: for signed (private) requests; ``None`` for public data only.
        api_secret: signs private requests (``_signing.sign``).

    Building one does no I/O; the connection is opened by the first request.
    """

    def __init__(self, *, base_url: str, timeout: float, api_key: str | None = None,
                 api_secret: str | None = None) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._api_key = api_key
        self._api_secret = api_secret

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                      signed: bool = False) -> Any:
        raise NotImplementedError(
            "HttpClient.request(method, path, params, signed=): send the request to base_url + path with "
            "an async HTTP client (httpx.AsyncClient works with anyio; add it to the dependencies), "
            "with the timeout; for signed requests add the key, a timestamp and _signing.sign(...) "
            "headers; decode the JSON, call _errors.raise_for_error(payload), and return the result "
            "part; retry only what is safe to retry (GETs, rate limits after the advertised wait)"
        )

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> Any:
        """``GET path`` (see :meth:`request`)."""
        return await self.request("GET", path, params, signed=signed)

    async def post(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True) -> Any:
        """``POST path`` (see :meth:`request`); signed by default."""
        return await self.request("POST", path, params, signed=signed)

    async def close(self) -> None:
        raise NotImplementedError("HttpClient.close(): close the underlying HTTP client's connections")
