"""Bybit data and broker adapter for tradehooks.

The plugin's whole wiring is two hook implementations: tradehooks finds this package through the
entry point ``bybit`` in group ``tradehooks`` (see ``pyproject.toml``), and
presets name its components ``bybit``::

    [data]
    source = "bybit"

    [broker]
    name = "bybit"

Every adapter uses the same module names: ``config`` (the components' parameters), ``constants``,
``data`` (the data source), ``broker`` (the broker), and the private ``_http``, ``_ws``,
``_signing``, ``_schemas`` and ``_errors``; ``_book`` holds the L2 order book the data source keeps.
"""

from tradehooks import hookimpl

from .broker import BybitBroker
from .config import BybitBrokerConfig, BybitDataConfig
from .data import BybitDataSource

__all__ = [
    "BybitBroker",
    "BybitBrokerConfig",
    "BybitDataConfig",
    "BybitDataSource",
    "register_brokers",
    "register_data_sources",
]


@hookimpl
def register_data_sources() -> list[type]:
    """The data source presets name ``source = "bybit"``."""
    return [BybitDataSource]


@hookimpl
def register_brokers() -> list[type]:
    """The broker presets name ``[broker] name = "bybit"``."""
    return [BybitBroker]
