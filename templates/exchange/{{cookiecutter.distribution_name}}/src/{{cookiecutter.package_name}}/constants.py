"""Fixed facts about {{ cookiecutter.exchange_name }}: endpoints, intervals, limits.

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

EXCHANGE: Final = "{{ cookiecutter.exchange_name }}"

REST_URL: Final = "https://api.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid"
REST_URL_TESTNET: Final = "https://api-testnet.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid"
WS_PUBLIC_URL: Final = "wss://stream.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid/public"
WS_PUBLIC_URL_TESTNET: Final = "wss://stream-testnet.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid/public"
WS_PRIVATE_URL: Final = "wss://stream.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid/private"
WS_PRIVATE_URL_TESTNET: Final = "wss://stream-testnet.{{ cookiecutter.plugin_name|replace('_', '-') }}.invalid/private"

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
