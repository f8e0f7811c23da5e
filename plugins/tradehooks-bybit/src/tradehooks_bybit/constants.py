"""Fixed facts about Bybit: endpoints, intervals, limits.

Replace every value with the exchange's own; the ``.invalid`` hosts below can never resolve, so
nothing reaches a real exchange by accident before you do.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from tradehooks.model import NS_PER_SECOND

__all__ = [
    "EXCHANGE",
    "REST_URL",
    "REST_URL_TESTNET",
    "TIMEFRAMES",
    "WS_PRIVATE_URL",
    "WS_PRIVATE_URL_TESTNET",
    "WS_PUBLIC_URL",
    "WS_PUBLIC_URL_TESTNET",
]

EXCHANGE: Final = "Bybit"

REST_URL: Final = "https://api.bybit.invalid"
REST_URL_TESTNET: Final = "https://api-testnet.bybit.invalid"
WS_PUBLIC_URL: Final = "wss://stream.bybit.invalid/public"
WS_PUBLIC_URL_TESTNET: Final = "wss://stream-testnet.bybit.invalid/public"
WS_PRIVATE_URL: Final = "wss://stream.bybit.invalid/private"
WS_PRIVATE_URL_TESTNET: Final = "wss://stream-testnet.bybit.invalid/private"

_MINUTE = 60 * NS_PER_SECOND

#: a preset's bar length (``ctx.timeframe``, in nanoseconds) -> the exchange's name for that interval
TIMEFRAMES: Final = MappingProxyType({
    _MINUTE: "1",
    5 * _MINUTE: "5",
    15 * _MINUTE: "15",
    60 * _MINUTE: "60",
    240 * _MINUTE: "240",
    1440 * _MINUTE: "D",
})
