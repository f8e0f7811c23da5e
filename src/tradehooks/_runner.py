"""``tradehooks run``: one engine in paper or live mode until stopped, with hot reload and a status file.

* Every engine event is logged with its sequence number (``--log-format json`` gives one JSON object a
  line), read with backpressure so none is lost.
* The preset file (and every file it extends) is watched; a change, or SIGHUP, applies it between two
  events. A bad preset is refused and logged; the running one goes on.
* SIGINT or SIGTERM stops gracefully: the strategies stop, open orders are cancelled or kept as
  ``engine.on_stop`` says, the broker is closed, exit code 0. A second signal stops at once.
* A status file (JSON, replaced atomically) says what ``tradehooks status`` shows.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import anyio
import attrs

from ._engine import Engine
from .events import BarProcessed, ErrorOccurred, Event, PresetApplied, PresetRejected
from .exceptions import PluginError, TradehooksError

__all__ = ["run_preset", "status_path_for"]


def status_path_for(preset: Path) -> Path:
    """Where the status file of ``preset`` lives by default: beside it, ``.<name>.status.json``."""
    return preset.with_name(f".{preset.name}.status.json")


def control_path_for(status_path: Path) -> Path:
    """Where ``tradehooks kill`` leaves its request before it sends SIGUSR1."""
    return status_path.with_name(status_path.name + ".control")


def journal_path_for(preset: Path) -> Path:
    """The journal ``tradehooks run`` keeps when the preset names none: ``.<name>.journal.sqlite``."""
    return preset.with_name(f".{preset.name}.journal.sqlite")


def _plain(value: Any) -> Any:
    """A JSON-friendly copy: decimals as strings, enums as values, attrs classes as dicts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value)) if f.repr}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a Bar
        return {name: _plain(item) for name, item in zip(value._fields, value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def event_name(event: Event) -> str:
    """``FillReceived`` -> ``event.fill_received``."""
    name = type(event).__name__
    return "event." + "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class StatusFile:
    """The running engine's state, for ``tradehooks status``."""

    def __init__(self, path: Path, engine: Engine, preset_path: Path) -> None:
        self.path = path
        self.engine = engine
        self.preset_path = preset_path
        self.last_error: dict[str, Any] | None = None
        self.last_rejection: dict[str, Any] | None = None
        self.state = "starting"

    def note(self, event: Event) -> None:
        if isinstance(event, ErrorOccurred):
            self.last_error = {"where": event.where, "error": _plain(event.exception), "seq": event.seq}
        elif isinstance(event, PresetRejected):
            error = event.error
            self.last_rejection = {"error": str(error), "path": getattr(error, "path", None),
                                   "line": getattr(error, "line", None), "key": getattr(error, "key", None),
                                   "seq": event.seq, "at": time.time()}
        elif isinstance(event, PresetApplied) and event.version > 1:
            self.last_rejection = None  # the preset in force is newer than the refused one

    def write(self) -> None:
        engine = self.engine
        portfolio = engine.portfolio
        data = {
            "pid": os.getpid(),
            "engine_id": engine.id,
            "state": self.state,
            "mode": engine.mode,
            "preset": str(self.preset_path),
            "version": engine.version,
            "strategies": {sid: {"state": info.state, "signal": info.settings.signal,
                                 "exposures": info.exposures} for sid, info in engine.strategies.items()},
            "positions": {iid: str(q) for iid, q in portfolio.positions().items()},
            "strategy_positions": {f"{sid}/{iid}": str(p.quantity)
                                   for (sid, iid), p in portfolio.strategy_positions().items()},
            "balances": {portfolio.currency: str(portfolio.cash)},
            "equity": str(portfolio.equity()),
            "open_orders": len(engine.router.open_orders()),
            "killed": engine.killed,
            "last_error": self.last_error,
            "last_rejection": self.last_rejection,
            "updated": time.time(),
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, self.path)


class _PluginCode:
    """``--reload-plugins``: notice edited modules of entry-point plugins and re-import them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stamps = self._stamps()

    def _modules(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for info in self.engine.plugins():
            if info.builtin:
                continue
            plugin = self.engine.manager.hook_manager.get_plugin(info.name)
            root = getattr(plugin, "__name__", None)
            if not isinstance(root, str) or root not in sys.modules:
                continue
            found[info.name] = [m for n, m in sorted(sys.modules.items())
                                if (n == root or n.startswith(root + ".")) and getattr(m, "__file__", None)]
        return found

    def _stamps(self) -> dict[str, int]:
        stamps: dict[str, int] = {}
        for modules in self._modules().values():
            for module in modules:
                try:
                    stamps[module.__file__] = os.stat(module.__file__).st_mtime_ns
                except OSError:
                    pass
        return stamps

    def reload_changed(self) -> list[str]:
        """Re-import the plugins whose files changed; return the strategies to rebuild.

        Raises:
            PluginError: a changed plugin fails to import; the old code keeps running.
        """
        now = self._stamps()
        changed = {f for f, stamp in now.items() if self.stamps.get(f) != stamp}
        if not changed:
            return []
        manager = self.engine.manager
        rebuilt: list[str] = []
        for name, modules in self._modules().items():
            if not any(m.__file__ in changed for m in modules):
                continue
            try:
                for module in sorted(modules, key=lambda m: -m.__name__.count(".")):  # leaves first
                    importlib.reload(module)
            except Exception as exc:
                self.stamps = now  # report once per edit
                raise PluginError(f"plugin {name!r} failed to re-import: {type(exc).__name__}: {exc}",
                                  plugin=name) from exc
            new = sys.modules[modules[0].__name__]
            manager.replace_plugin(name, new)
            rebuilt.extend(
                s.id for s in self.engine.preset.strategies
                if self.engine.registry.get("signal", s.signal).plugin == name
            )
        self.stamps = now
        return rebuilt


async def run_preset(preset_path: Path, *, log: Any, status_path: Path | None = None, watch: bool = True,
                     reload_plugins: bool = False) -> int:
    """Run the preset until stopped; return the exit code."""
    engine = Engine.from_preset(preset_path, logger=log, journal=journal_path_for(preset_path))
    status = StatusFile(status_path or status_path_for(preset_path), engine, preset_path)
    code = 0
    stop_reason = "data exhausted"
    plugin_code = _PluginCode(engine) if reload_plugins else None
    reload_lock = anyio.Lock()

    async def reload(reason: str) -> None:
        async with reload_lock:
            log.info("preset.reloading", reason=reason)
            rebuild: list[str] = []
            try:
                if plugin_code is not None:
                    rebuild = plugin_code.reload_changed()
                await engine.apply(preset_path, rebuild=rebuild)
            except PluginError as exc:  # apply() reports its own rejections; this one came before it
                log.warning("preset.rejected", path=str(preset_path), error=str(exc))
                engine._notify("preset_rejected", path=str(preset_path), error=exc)
                engine._emit(PresetRejected, error=exc)
            except TradehooksError:
                pass  # logged, sent to observers and to the event stream by apply()
            status.write()

    async def watch_files(stop: anyio.Event) -> None:
        from watchfiles import awatch

        while not stop.is_set():
            files = {Path(f).resolve() for f in _preset_files(engine, preset_path)}
            folders = {f.parent for f in files}
            async for changes in awatch(*folders, debounce=20, step=5, stop_event=stop, recursive=False,
                                        rust_timeout=1000, yield_on_timeout=False):
                if any(Path(path).resolve() in files for _, path in changes):
                    await reload("file changed")
                    break  # the files of the new preset may differ: watch afresh

    async def handle_signals(scope: anyio.CancelScope, stop: anyio.Event) -> None:
        nonlocal code, stop_reason
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await reload("SIGHUP")
                    continue
                if signum == signal.SIGUSR1:
                    control(status.path)
                    continue
                if stop.is_set():
                    log.warning("engine.forced_exit", signal=signal.Signals(signum).name)
                    code = 130
                    scope.cancel()
                    return
                stop_reason = f"signal {signal.Signals(signum).name}"
                log.info("engine.stopping", signal=signal.Signals(signum).name)
                stop.set()

    def control(status_file: Path) -> None:
        """A request from ``tradehooks kill``: throw or reset the kill switch."""
        path = control_path_for(status_file)
        try:
            request = json.loads(path.read_text())
            path.unlink()
        except (OSError, ValueError):
            return
        if request.get("reset"):
            engine.reset_kill_switch()
        elif "kill" in request and engine.state.value == "running":
            engine.kill_switch(str(request["kill"]))
        status.write()

    async def log_events(stream: Any) -> None:
        async for event in stream:
            status.note(event)
            if isinstance(event, BarProcessed):
                log.info(event_name(event), seq=event.seq, instrument_id=event.bar.instrument_id,
                         ts=event.bar.ts, close=event.bar.close, equity=event.equity)
            else:
                fields = _plain(event)
                fields.pop("seq", None)
                log.info(event_name(event), seq=event.seq, **fields)

    async def write_status(stop: anyio.Event) -> None:
        while not stop.is_set():
            status.write()
            with anyio.move_on_after(0.5):
                await stop.wait()

    stream = engine.events(maxsize=100_000, policy="backpressure")
    stop = anyio.Event()
    async with anyio.create_task_group() as outer:
        outer.start_soon(log_events, stream)
        async with anyio.create_task_group() as group:
            group.start_soon(handle_signals, outer.cancel_scope, stop)
            await engine.start()
            status.state = "running"
            status.write()
            if watch:
                group.start_soon(watch_files, stop)
            group.start_soon(write_status, stop)

            async def trade() -> None:
                with anyio.CancelScope() as scope:
                    group.start_soon(_cancel_on, stop, scope)
                    await engine.run()
                stop.set()

            group.start_soon(trade)
            await stop.wait()
            status.state = "stopping"
            await engine.stop(stop_reason, cancel_orders=engine.preset.engine.on_stop == "cancel")
            status.state = "stopped"
            status.write()
            group.cancel_scope.cancel()
    return code


async def _cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def _preset_files(engine: Engine, preset_path: Path) -> list[str]:
    source = engine.preset.source
    files = list(getattr(source, "files", None) or [])
    return files or [str(preset_path)]
