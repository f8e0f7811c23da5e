"""Name -> factory tables, built once per engine (and per reload) from the ``register_*`` hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.errors import BaseValidationError

from ._convert import KeyPath, make_converter, structure_problems
from ._manager import PluginManager
from .exceptions import PluginError

__all__ = ["KINDS", "Factory", "ParamsError", "Registry"]

#: kind -> the registration hook that provides it
KINDS: dict[str, str] = {
    "data_source": "register_data_sources",
    "indicator": "register_indicators",
    "signal": "register_signals",
    "sizer": "register_sizers",
    "broker": "register_brokers",
    "risk_rule": "register_risk_rules",
    "observer": "register_observers",
}

_converter = make_converter()


class ParamsError(ValueError):
    """A component's parameters do not validate; ``problems`` are ``(key path, reason)`` pairs."""

    def __init__(self, problems: list[tuple[KeyPath, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


@attrs.frozen
class Factory:
    """One registered class and who registered it."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str | None

    def params(self, raw: Mapping[str, Any] | None) -> Any:
        """Validate ``raw`` into the class's ``Params`` (``None`` if it has none and ``raw`` is empty).

        Raises:
            ParamsError: with the key paths (relative to ``raw``) and reasons.
        """
        params_cls = getattr(self.cls, "Params", None)
        raw = dict(raw or {})
        if params_cls is None:
            if raw:
                raise ParamsError([((key,), f"unknown key {key!r}: {self.name} takes no parameters")
                                   for key in sorted(raw)])
            return None
        try:
            return _converter.structure(raw, params_cls)
        except BaseValidationError as exc:
            raise ParamsError(structure_problems(exc)) from None
        except (ValueError, TypeError) as exc:
            raise ParamsError([((), str(exc))]) from None


class Registry:
    """The classes every plugin of one :class:`PluginManager` registered, by kind and name."""

    def __init__(self, manager: PluginManager, engine: Any = None) -> None:
        self._tables: dict[str, dict[str, Factory]] = {}
        for kind, hook_name in KINDS.items():
            table: dict[str, Factory] = {}
            caller = getattr(manager.hook, hook_name)
            for impl in reversed(caller.get_hookimpls()):
                plugin_name = manager.plugin_name(impl.plugin)
                info = manager.info(plugin_name)
                kwargs = {"engine": engine}
                try:
                    classes = impl.function(*[kwargs[arg] for arg in impl.argnames])
                except Exception as exc:
                    raise PluginError(
                        f"plugin {plugin_name!r}{_from(info.distribution)}: {hook_name} raised "
                        f"{type(exc).__name__}: {exc}",
                        plugin=plugin_name,
                        distribution=info.distribution,
                    ) from exc
                for cls in classes or ():
                    name = getattr(cls, "name", None)
                    if not isinstance(name, str) or not name:
                        raise PluginError(
                            f"plugin {plugin_name!r}{_from(info.distribution)}: {hook_name} returned "
                            f"{cls!r}, which has no string 'name' attribute",
                            plugin=plugin_name, distribution=info.distribution,
                        )
                    if name in table:
                        other = table[name]
                        raise PluginError(
                            f"two plugins register a {kind.replace('_', ' ')} named {name!r}: "
                            f"plugin {other.plugin!r}{_from(other.distribution)} and plugin "
                            f"{plugin_name!r}{_from(info.distribution)}; disable one of them",
                            plugin=plugin_name, distribution=info.distribution,
                        )
                    table[name] = Factory(kind, name, cls, plugin_name, info.distribution)
            self._tables[kind] = table

    def get(self, kind: str, name: str) -> Factory:
        """The factory of ``kind`` named ``name`` (``KeyError`` with the known names otherwise)."""
        try:
            return self._tables[kind][name]
        except KeyError:
            known = ", ".join(sorted(self._tables[kind])) or "none"
            raise KeyError(f"no {kind.replace('_', ' ')} named {name!r} (known: {known})") from None

    def names(self, kind: str) -> list[str]:
        return sorted(self._tables[kind])

    def factories(self, kind: str) -> list[Factory]:
        return [self._tables[kind][name] for name in sorted(self._tables[kind])]


def _from(distribution: str | None) -> str:
    return f" from distribution {distribution}" if distribution else ""
