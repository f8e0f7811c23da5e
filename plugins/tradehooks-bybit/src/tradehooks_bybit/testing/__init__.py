"""A Bybit V5 exchange emulator for tests: real HTTP and WebSocket on 127.0.0.1.

::

    from tradehooks_bybit.testing import BybitEmulator

    with BybitEmulator() as emu:
        emu.add_account("KEY", "SECRET", balances={"USDT": "10000"})
        ...  # point the client at emu.rest_url and emu.ws_url

It needs the ``testing`` extra (aiohttp), imported only when ``BybitEmulator`` is first used, so the
pytest plugin (fixture ``bybit_emulator``) loads without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._emulator import BybitEmulator, RecordedRequest

__all__ = ["BybitEmulator", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        try:
            from . import _emulator
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                f"tradehooks_bybit.testing.{name} needs aiohttp: pip install 'tradehooks-bybit[testing]' ({exc})"
            ) from exc
        value = getattr(_emulator, name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
