"""Fixed facts about Bybit V5: hosts, paths, intervals, limits."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from tradehooks.model import NS_PER_SECOND

__all__ = [
    "BOOK_DEPTHS",
    "CATEGORIES",
    "EXCHANGE",
    "KLINE_LIMIT",
    "REST_URL",
    "REST_URL_TESTNET",
    "TIMEFRAMES",
    "WS_PRIVATE_URL",
    "WS_PRIVATE_URL_TESTNET",
    "WS_URL",
    "WS_URL_TESTNET",
    "rest_base",
    "ws_private_url",
    "ws_public_url",
]

EXCHANGE: Final = "Bybit"

REST_URL: Final = "https://api.bybit.com"
REST_URL_TESTNET: Final = "https://api-testnet.bybit.com"
#: WebSocket hosts; a stream's path is appended: ``/v5/public/linear``, ``/v5/public/spot``, ``/v5/private``
WS_URL: Final = "wss://stream.bybit.com"
WS_URL_TESTNET: Final = "wss://stream-testnet.bybit.com"
WS_PRIVATE_URL: Final = WS_URL + "/v5/private"
WS_PRIVATE_URL_TESTNET: Final = WS_URL_TESTNET + "/v5/private"

#: the categories the plugin trades and reads
CATEGORIES: Final = ("linear", "spot")

#: order book depths with a public stream (``orderbook.{depth}.{symbol}``) that ``book_depth`` may name
#: (1000 exists too, but its 200 ms pace adds nothing for paper fills)
BOOK_DEPTHS: Final = (1, 50, 200)

#: the most candles one ``/v5/market/kline`` request returns
KLINE_LIMIT: Final = 1000

_MINUTE = 60 * NS_PER_SECOND

#: a preset's bar length (``ctx.timeframe``, in nanoseconds) -> Bybit's kline interval. Bybit also has
#: ``M`` (a calendar month), which is not a fixed length and so has no timeframe here.
TIMEFRAMES: Final = MappingProxyType({
    _MINUTE: "1",
    3 * _MINUTE: "3",
    5 * _MINUTE: "5",
    15 * _MINUTE: "15",
    30 * _MINUTE: "30",
    60 * _MINUTE: "60",
    120 * _MINUTE: "120",
    240 * _MINUTE: "240",
    360 * _MINUTE: "360",
    720 * _MINUTE: "720",
    1440 * _MINUTE: "D",
    7 * 1440 * _MINUTE: "W",
})


def rest_base(testnet: bool, override: str | None) -> str:
    """The REST base URL: ``override`` if given, else mainnet's or testnet's."""
    if override:
        return override.rstrip("/")
    return REST_URL_TESTNET if testnet else REST_URL


def _ws(testnet: bool, override: str | None, path: str) -> str:
    if override:
        base = override.rstrip("/")
        return base if "/v5/" in base else base + path
    return (WS_URL_TESTNET if testnet else WS_URL) + path


def ws_public_url(category: str, testnet: bool, override: str | None) -> str:
    """The public stream of ``category``; an ``override`` without a ``/v5/...`` path gets
    ``/v5/public/{category}`` appended."""
    return _ws(testnet, override, f"/v5/public/{category}")


def ws_private_url(testnet: bool, override: str | None) -> str:
    """The private stream; an ``override`` without a ``/v5/...`` path gets ``/v5/private`` appended."""
    return _ws(testnet, override, "/v5/private")
