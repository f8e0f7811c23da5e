"""Running an engine from code that has no event loop: a background thread and a blocking portal."""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._engine import Engine
from ._reload import PresetDiff
from ._results import BacktestResult
from .exceptions import EngineStateError
from .presets import Preset

__all__ = ["EngineThread"]


class EngineThread:
    """An engine running in a background thread with its own event loop.

    Every method is a plain blocking call, safe from any other thread::

        runner = EngineThread("paper.toml")
        runner.start()                 # returns once the engine runs
        runner.apply("paper.toml")     # between two events
        runner.stop()                  # waits for the engine to stop
        print(runner.result().metrics)

    Args:
        preset: a preset file or :class:`Preset`.
        backend: ``"asyncio"`` or ``"trio"``.
        **engine_options: passed to :class:`Engine`.
    """

    def __init__(self, preset: Preset | str | Path, *, backend: str = "asyncio", **engine_options: Any) -> None:
        self._preset = preset
        self._backend = backend
        self._options = engine_options
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._run: Future[BacktestResult] | None = None
        self._run_scope: anyio.CancelScope | None = None
        self.engine: Engine | None = None

    def start(self) -> Engine:
        """Start the thread and the engine; return the engine (read it, but call its methods
        through this object)."""
        if self._portal is not None:
            raise EngineStateError("this EngineThread was already started")
        self._portal_cm = start_blocking_portal(self._backend)
        portal = self._portal = self._portal_cm.__enter__()
        try:
            self.engine = portal.call(lambda: Engine.from_preset(self._preset, **self._options))
            portal.call(self.engine.start)
        except BaseException:
            self._close_portal()
            raise
        self._run = portal.start_task_soon(self._run_engine)
        return self.engine

    async def _run_engine(self) -> BacktestResult:
        """The engine's ``run()``, in a scope :meth:`stop` cancels: a live source may be waiting for
        its next message, and ``run()`` would see the stop only after the next batch."""
        assert self.engine is not None
        with anyio.CancelScope() as scope:
            self._run_scope = scope
            return await self.engine.run()
        return self.engine.result()  # cancelled by stop(): the result so far

    def _cancel_run(self) -> None:
        if self._run_scope is not None:
            self._run_scope.cancel()

    def _running(self) -> tuple[BlockingPortal, Engine]:
        """The portal and the engine while the thread runs; :class:`EngineStateError` otherwise."""
        if self._portal is None or self.engine is None:
            raise EngineStateError("this EngineThread is not running (call start() first)")
        return self._portal, self.engine

    def apply(self, preset: Preset | str | Path) -> PresetDiff:
        """Apply a new preset; raises :class:`~tradehooks.PresetError` and changes nothing if invalid."""
        portal, engine = self._running()
        diff: PresetDiff = portal.call(engine.apply, preset)
        return diff

    def pause(self, strategy_id: str) -> None:
        portal, engine = self._running()
        portal.call(engine.pause, strategy_id)

    def resume(self, strategy_id: str) -> None:
        portal, engine = self._running()
        portal.call(engine.resume, strategy_id)

    def kill_switch(self, reason: str, *, flatten: bool = True) -> None:
        portal, engine = self._running()
        portal.call(lambda: engine.kill_switch(reason, flatten=flatten))

    def reset_kill_switch(self) -> None:
        portal, engine = self._running()
        portal.call(engine.reset_kill_switch)

    def stop(self, reason: str = "stopped by host", *, cancel_orders: bool = False, flatten: bool = False,
             timeout: float | None = 30) -> BacktestResult:
        """Stop the engine, wait for its thread, and return its result."""
        portal, engine = self._running()
        try:
            portal.call(lambda: engine.stop(reason, cancel_orders=cancel_orders, flatten=flatten))
            portal.call(self._cancel_run)  # the engine is stopped: its run may end wherever it waits
            assert self._run is not None
            return self._run.result(timeout)
        finally:
            self._close_portal()

    def wait(self, timeout: float | None = None) -> BacktestResult:
        """Wait until the data source ends (a backtest), stop, and return the result."""
        if self._run is None:
            raise EngineStateError("this EngineThread is not running (call start() first)")
        self._run.result(timeout)
        return self.stop("data exhausted")

    def result(self) -> BacktestResult:
        if self.engine is None:
            raise EngineStateError("this EngineThread was never started")
        return self.engine.result()

    def _close_portal(self) -> None:
        if self._portal_cm is not None:
            cm, self._portal_cm, self._portal = self._portal_cm, None, None
            cm.__exit__(None, None, None)

    def __enter__(self) -> EngineThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._portal is not None:
            self.stop()
