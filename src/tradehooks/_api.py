"""Plain synchronous entry points for scripts and notebooks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio

from ._engine import Engine
from ._results import BacktestResult
from .presets import Preset

__all__ = ["backtest"]


def backtest(preset: Preset | str | Path, *, backend: str = "asyncio", **engine_options: Any) -> BacktestResult:
    """Run a backtest of ``preset`` (a path or a :class:`Preset`) to the end and return its result.

    Works in plain scripts and inside a running event loop (a Jupyter notebook): there it runs the
    engine in a worker thread with its own loop and waits for it.

    Args:
        preset: the preset file or object.
        backend: ``"asyncio"`` or ``"trio"``.
        **engine_options: passed to :class:`Engine` (``plugins``, ``disable``, ``autoload_plugins``...).
    """

    async def main() -> BacktestResult:
        async with Engine.from_preset(preset, **engine_options) as engine:
            return await engine.run()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main, backend=backend)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradehooks-backtest") as pool:
        return pool.submit(anyio.run, main, backend=backend).result()
