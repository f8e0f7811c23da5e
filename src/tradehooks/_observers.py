"""Observer hooks, called implementation by implementation so one failure never breaks the others."""

from __future__ import annotations

from typing import Any

from ._manager import PluginManager

__all__ = ["Observers"]


class Observers:
    """Calls one engine's observer hooks.

    pluggy stops at the first implementation that raises; trading must not. Each implementation is
    called on its own; an exception is logged and reported through the ``error`` hook (an exception in
    an ``error`` implementation is only logged).
    """

    def __init__(self, manager: PluginManager, engine: Any, log: Any) -> None:
        self._manager = manager
        self._engine = engine
        self._log = log
        self._hooks = manager.hook_manager
        # hook name -> its implementations, kept while no plugin is (un)registered (the manager's
        # generation): the engine notifies several times per order, mostly with nobody listening.
        self._impls: dict[str, list[Any]] = {}
        self._generation = -1

    def _implementations(self, hook_name: str) -> list[Any]:
        if self._generation != self._hooks.generation:
            self._impls.clear()
            self._generation = self._hooks.generation
        impls = self._impls.get(hook_name)
        if impls is None:
            impls = self._impls[hook_name] = getattr(self._manager.hook, hook_name).get_hookimpls()
        return impls

    def listens(self, hook_name: str) -> bool:
        """Whether any observer implements ``hook_name`` (spares building arguments nobody reads)."""
        return bool(self._implementations(hook_name))

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        impls = self._impls.get(hook_name) if self._generation == self._hooks.generation else None
        if impls is None:
            impls = self._implementations(hook_name)
        if not impls:
            return
        kwargs["engine"] = self._engine
        for impl in reversed(impls):  # the order pluggy itself would use: last registered first
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as exc:
                where = f"observer {self._manager.plugin_name(impl.plugin)}.{hook_name}"
                self._log.error("observer.failed", where=where, error=f"{type(exc).__name__}: {exc}")
                if hook_name != "error":
                    self.notify("error", where=where, exception=exc)
