"""Plain synchronous entry points for scripts and notebooks."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from ._engine import Engine
from ._results import BacktestResult
from .presets import Preset

__all__ = ["backtest"]


def _in_event_loop() -> bool:
    """True when called from inside a running asyncio or trio event loop."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
            return True
        except RuntimeError:
            pass
    return False


@contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Spare a long backtest most of Python's cyclic garbage collections.

    A backtest allocates millions of short-lived, acyclic objects (bars, floats); each batch of them
    triggers a collection that scans every live object. For the duration of the block this freezes the
    objects that exist already (collections skip them) and collects the youngest generation less often;
    both settings are restored afterwards. It changes process-wide settings, so it is something a
    script or the command line opts into, not something an embedded engine does.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 100_000), threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def backtest(
    preset: Preset | str | Path, *, backend: str = "asyncio", tune_gc: bool = True, **engine_options: Any
) -> BacktestResult:
    """Run a backtest of ``preset`` (a path or a :class:`Preset`) to the end and return its result.

    Works in plain scripts and inside a running event loop (a Jupyter notebook, an asyncio or trio
    program): there it runs the engine in a worker thread with its own loop and waits for it.

    Args:
        preset: the preset file or object.
        backend: ``"asyncio"`` or ``"trio"``.
        tune_gc: run with :func:`fewer_gc_pauses` (about a third faster on large backtests).
        **engine_options: passed to :class:`Engine` (``plugins``, ``disable``, ``autoload_plugins``...).
    """

    async def main() -> BacktestResult:
        async with Engine.from_preset(preset, **engine_options) as engine:
            if not tune_gc:
                return await engine.run()
            with fewer_gc_pauses():
                return await engine.run()

    def run_main() -> BacktestResult:
        return anyio.run(main, backend=backend)

    if not _in_event_loop():
        return run_main()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradehooks-backtest") as pool:
        return pool.submit(run_main).result()
