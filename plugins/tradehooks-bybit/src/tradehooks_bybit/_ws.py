"""Bybit's WebSocket streams: public candles, private orders and executions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

__all__ = ["WebSocketClient"]


class WebSocketClient:
    """One WebSocket connection, its subscriptions, and the messages it receives.

    Args:
        url: a ``WS_*_URL`` of ``constants``.
        api_key: authenticates a private stream (``None`` for a public one).
        api_secret: signs the authentication message (``_signing.sign``).

    Building one does no I/O.
    """

    def __init__(self, *, url: str, api_key: str | None = None, api_secret: str | None = None) -> None:
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret

    async def connect(self) -> None:
        raise NotImplementedError(
            "WebSocketClient.connect(): open the connection (the websockets package works with anyio; add "
            "it to the dependencies), authenticate if there is an api_key, and keep it alive with the "
            "pings the exchange expects"
        )

    async def subscribe(self, topics: Sequence[str]) -> None:
        raise NotImplementedError(
            "WebSocketClient.subscribe(topics): send the exchange's subscribe message for these topics and "
            "remember them, so a reconnect can subscribe again"
        )

    async def messages(self) -> AsyncIterator[Mapping[str, Any]]:
        raise NotImplementedError(
            "WebSocketClient.messages(): yield each decoded data message (not pongs or acknowledgements); "
            "on a dropped connection reconnect, re-subscribe and go on"
        )
        yield {}  # unreachable: makes this method an async generator

    async def close(self) -> None:
        raise NotImplementedError("WebSocketClient.close(): close the connection")
