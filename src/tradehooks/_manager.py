"""One plugin manager per engine: built-ins, then entry points, then the caller's plugins."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .exceptions import PluginError

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "PluginInfo", "PluginManager"]

ENTRY_POINT_GROUP = "tradehooks"

#: Built-in plugins: short name -> module. Registered exactly like entry points, disabled the same way.
BUILTIN_PLUGINS: dict[str, str] = {
    "csv": "tradehooks.builtins.data_csv",
    "parquet": "tradehooks.builtins.data_parquet",
    "synthetic": "tradehooks.builtins.data_synthetic",
    "indicators": "tradehooks.builtins.indicators",
    "sizers": "tradehooks.builtins.sizers",
    "paper": "tradehooks.builtins.paper",
    "risk": "tradehooks.builtins.risk",
    "observers": "tradehooks.builtins.observers",
}


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``tradehooks plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool = False


class _HookManager(pluggy.PluginManager):
    """pluggy's plugin manager, counting (un)registrations in ``generation`` so that callers may keep
    a hook's implementations until it changes (observers are looked up on every order event)."""

    generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self.generation += 1

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self.generation += 1


def _describe(dist: importlib.metadata.Distribution | None) -> str:
    if dist is None:
        return "an unknown distribution"
    return f"distribution {dist.metadata['Name']} {dist.version}"


class PluginManager:
    """The plugins of one engine (or one CLI run). Holds no global state: build as many as you like.

    Args:
        plugins: extra plugin objects (modules or instances with ``@hookimpl`` functions), registered
            last, under their ``__name__`` (or class name).
        disable: names of plugins (built-in or entry point) not to load.
        autoload: load the entry points of group ``tradehooks``.
    """

    def __init__(
        self, *, plugins: Iterable[object] = (), disable: Iterable[str] = (), autoload: bool = True
    ) -> None:
        self.hook_manager = _HookManager(hookspecs.PROJECT_NAME)
        self.hook_manager.add_hookspecs(hookspecs)
        self.disabled = frozenset(disable)
        self._infos: dict[str, PluginInfo] = {}
        self._entry_points_seen: set[str] = set()
        for name, module_name in BUILTIN_PLUGINS.items():
            if name not in self.disabled:
                self._register(importlib.import_module(module_name), name, None, builtin=True)
        if autoload:
            self.load_entry_points()
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            if name in self.disabled:
                continue
            self._register(plugin, name, None)

    @property
    def hook(self) -> Any:
        return self.hook_manager.hook

    def new_entry_points(self) -> list[importlib.metadata.EntryPoint]:
        """The entry points of group ``tradehooks`` neither loaded yet nor disabled (a scan of the
        installed distributions, safe to run in a worker thread)."""
        return [
            entry_point
            for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
            if entry_point.name not in self.disabled and entry_point.name not in self._entry_points_seen
        ]

    def load_entry_points(self, entry_points: list[importlib.metadata.EntryPoint] | None = None) -> list[str]:
        """Load the entry points of group ``tradehooks`` not loaded yet (or those given, found by
        :meth:`new_entry_points`); return the new names.

        Called at construction, and again on reload to pick up plugins installed since.
        """
        loaded = []
        for entry_point in self.new_entry_points() if entry_points is None else entry_points:
            name = entry_point.name
            if name in self._entry_points_seen:
                continue
            dist = entry_point.dist
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} (entry point {entry_point.value!r} of {_describe(dist)}) "
                    f"failed to import: {type(exc).__name__}: {exc}",
                    plugin=name,
                    distribution=dist.metadata["Name"] if dist else None,
                ) from exc
            self._entry_points_seen.add(name)
            self._register(plugin, name, dist)
            loaded.append(name)
        return loaded

    def _register(
        self,
        plugin: object,
        name: str,
        dist: importlib.metadata.Distribution | None,
        *,
        builtin: bool = False,
    ) -> None:
        where = f"plugin {name!r}" + (f" ({_describe(dist)})" if dist is not None else "")
        existing = self.hook_manager.get_plugin(name)
        if existing is not None:
            other = self._infos.get(name)
            other_where = f" from distribution {other.distribution}" if other and other.distribution else ""
            raise PluginError(
                f"{where}: the name {name!r} is already taken by another plugin{other_where}",
                plugin=name,
                distribution=dist.metadata["Name"] if dist else None,
            )
        self._register_checked(plugin, name, where, dist.metadata["Name"] if dist else None)
        hooks = tuple(sorted(caller.name for caller in self.hook_manager.get_hookcallers(plugin) or ()))
        self._infos[name] = PluginInfo(
            name=name,
            distribution=(dist.metadata["Name"] if dist else ("tradehooks" if builtin else None)),
            version=(dist.version if dist else (_own_version() if builtin else None)),
            hooks=hooks,
            builtin=builtin,
        )

    def _check_unknown_hooks(self, plugin: object) -> None:
        """A hookimpl whose name matches no hookspec is a misspelling: refuse it by name."""
        unknown = [
            caller.name
            for caller in (self.hook_manager.get_hookcallers(plugin) or ())
            if not caller.has_spec()
            and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
        ]
        if unknown:
            known = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "tradehooks_spec"))
            raise pluggy.PluginValidationError(
                plugin,
                f"implements unknown hook(s) {', '.join(sorted(unknown))} "
                f"(known hooks: {', '.join(known)})",
            )

    def _register_checked(self, plugin: object, name: str, where: str, distribution: str | None) -> None:
        """Register ``plugin`` under ``name`` and refuse unknown hooks; on any refusal nothing stays
        registered and a :class:`PluginError` says ``where``."""
        try:
            self.hook_manager.register(plugin, name=name)
            self._check_unknown_hooks(plugin)
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.hook_manager.is_registered(plugin):
                self.hook_manager.unregister(plugin)
            raise PluginError(f"{where}: {exc}", plugin=name, distribution=distribution) from None

    def attach(self, component: object, name: str) -> None:
        """Register an engine's own observer object (from ``[[observers]]``) under ``name``; it is not
        listed among the plugins. Raises :class:`PluginError` if its hooks do not validate."""
        self._register_checked(component, name, name, None)

    def detach(self, component: object) -> None:
        if self.hook_manager.is_registered(component):
            self.hook_manager.unregister(component)

    def replace_plugin(self, name: str, plugin: object) -> None:
        """Swap the plugin registered as ``name`` for ``plugin`` (its re-imported module), keeping
        its distribution. Raises :class:`PluginError` (and keeps the old one) if it does not validate."""
        old = self.hook_manager.get_plugin(name)
        info = self._infos[name]
        if old is not None:
            self.hook_manager.unregister(old)
        try:
            self._register_checked(plugin, name, f"plugin {name!r}", info.distribution)
        except PluginError:
            if old is not None:
                self.hook_manager.register(old, name=name)
            raise
        hooks = tuple(sorted(caller.name for caller in self.hook_manager.get_hookcallers(plugin) or ()))
        self._infos[name] = attrs.evolve(info, hooks=hooks)

    def plugin_name(self, plugin: object) -> str:
        return self.hook_manager.get_name(plugin) or repr(plugin)

    def info(self, name: str) -> PluginInfo:
        return self._infos[name]

    def list_plugins(self) -> list[PluginInfo]:
        """Every registered plugin, built-ins first, in registration order."""
        return list(self._infos.values())


def _own_version() -> str | None:
    try:
        return importlib.metadata.version("tradehooks")
    except importlib.metadata.PackageNotFoundError:
        return None


def plugin_module(name: str) -> ModuleType:
    """Import a built-in plugin module by short name (used by tests and docs)."""
    return importlib.import_module(BUILTIN_PLUGINS[name])
