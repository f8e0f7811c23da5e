"""Secrets in presets, only by reference: ``"env:NAME"`` or ``"file:PATH"`` in a component's ``params``.

:func:`resolve_secrets` is the one place references are read. It walks every component's ``params``
(``data``, ``broker``, each strategy and its sizer, each risk rule), replaces each reference by a
:class:`Secret` holding the value, and refuses unset variables, unreadable files, empty values,
placeholders, and literal strings under a key whose name says it holds a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import attrs

from .._convert import KeyPath
from ..exceptions import PresetError
from ._model import Preset

if TYPE_CHECKING:
    from ._loader import PresetSource

__all__ = ["SECRET_WORDS", "Secret", "is_placeholder", "looks_secret", "resolve_secrets"]

_SINGULAR = ("key", "secret", "token", "password", "passphrase")
#: a key holds a secret when one of its word parts is one of these
SECRET_WORDS = frozenset(_SINGULAR + tuple(word + "s" for word in _SINGULAR))

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PLACEHOLDER_WORDS = frozenset({"todo", "secret", "placeholder"})
_PLACEHOLDER_PREFIX = re.compile(r"change[-_ ]?me|your([-_ .]|api|key|secret|token|pass)")
_PLACEHOLDER_WHOLE = re.compile(r"\.{3,}|\u2026|<.*>", re.DOTALL)
_PLACEHOLDER_XS = re.compile(r"[x\-_ ]*")
_INLINE = "inline secret: write env:NAME or file:PATH"


class Secret(str):
    """A secret read from a reference: a ``str`` whose ``repr`` is ``Secret('***')``.

    It is the value wherever a string is used (``str(secret)``, comparisons, an HTTP header); only its
    ``repr`` (and so the ``repr`` of a preset, of a ``params`` dict, and log lines that render values
    with ``repr``) hides it. Pickling and copying keep it a ``Secret``.

    Attributes:
        reference: the reference it was read from (``"env:BYBIT_KEY"``), or ``""``.
    """

    reference: str

    def __new__(cls, value: str, reference: str = "") -> Self:
        self = super().__new__(cls, value)
        self.reference = reference
        return self

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return str.__str__(self)

    def __reduce__(self) -> tuple[type[Secret], tuple[str, str]]:
        return (Secret, (str.__str__(self), self.reference))


def looks_secret(name: str) -> bool:
    """Whether a key named ``name`` holds a secret: one of its word parts (split at ``_``, ``-``, ``.``,
    spaces, digits and lower-to-upper case changes) is in :data:`SECRET_WORDS`.

    ``api_key``, ``api-secret``, ``botToken`` and ``passphrase`` do; ``monkey``, ``keyboard`` and
    ``tokenizer`` do not.
    """
    return any(word.lower() in SECRET_WORDS for word in _WORDS.findall(name))


def is_placeholder(value: str) -> bool:
    """Whether ``value`` (stripped, any case) is a placeholder rather than a secret: ``changeme``,
    ``change-me``, ``todo``, ``secret``, ``placeholder``, three or more ``x`` (``xxxx-xxxx``),
    ``your...`` (``YOUR_API_KEY``), ``<...>``, or ``...``."""
    text = value.strip().lower()
    return bool(
        text in _PLACEHOLDER_WORDS
        or _PLACEHOLDER_PREFIX.match(text)
        or _PLACEHOLDER_WHOLE.fullmatch(text)
        or (_PLACEHOLDER_XS.fullmatch(text) and text.count("x") >= 3)
    )


def resolve_secrets(preset: Preset, source: PresetSource) -> Preset:
    """``preset`` with every reference in its components' ``params`` replaced by a :class:`Secret`.

    Raises:
        PresetError: at the key of a reference that cannot be resolved or resolves to an empty value or
            a placeholder, or of a literal string under a secret-looking key.
    """
    resolver = _Resolver(source)
    strategies = tuple(
        attrs.evolve(
            strategy,
            params=resolver.table(strategy.params, ("strategies", index, "params")),
            sizer=attrs.evolve(
                strategy.sizer,
                params=resolver.table(strategy.sizer.params, ("strategies", index, "sizer", "params")),
            ),
        )
        for index, strategy in enumerate(preset.strategies)
    )
    return attrs.evolve(
        preset,
        data=attrs.evolve(preset.data, params=resolver.table(preset.data.params, ("data", "params"))),
        broker=attrs.evolve(preset.broker, params=resolver.table(preset.broker.params, ("broker", "params"))),
        strategies=strategies,
        risk=tuple(
            attrs.evolve(rule, params=resolver.table(rule.params, ("risk", index, "params")))
            for index, rule in enumerate(preset.risk)
        ),
    )


class _Resolver:
    def __init__(self, source: PresetSource) -> None:
        self.source = source

    def table(self, params: Mapping[str, Any], key: KeyPath) -> dict[str, Any]:
        return {name: self.value(value, key + (name,), str(name)) for name, value in params.items()}

    def value(self, value: Any, key: KeyPath, name: str) -> Any:
        """``value`` found at ``key`` under a key called ``name`` (a list's items share its name)."""
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            if value.startswith(("env:", "file:")):
                return self.reference(value, key)
            if looks_secret(name):
                raise self.source.error(key, _INLINE)
            return value
        if isinstance(value, Mapping):
            return self.table(value, key)
        if isinstance(value, (list, tuple)):
            items = [self.value(item, key + (index,), name) for index, item in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        return value

    def reference(self, reference: str, key: KeyPath) -> Secret:
        kind, _, target = reference.partition(":")
        def fail(problem: str) -> PresetError:
            return self.source.error(key, f"secret {reference} {problem}")

        if kind == "env":
            if not _ENV_NAME.fullmatch(target):
                raise fail("needs a variable name of letters, digits and '_'")
            value = os.environ.get(target)
            if value is None:
                raise fail("is not set")
        else:
            if not target.strip():
                raise fail("needs a path")
            path = self.source.base_dir / Path(target).expanduser()
            try:
                value = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                raise fail(f"cannot be read: no file {path}") from None
            except UnicodeDecodeError:
                raise fail(f"cannot be read: {path} is not UTF-8 text") from None
            except OSError as exc:
                raise fail(f"cannot be read: {exc.strerror or exc}") from None
        if not value.strip():
            raise fail("is empty")
        if is_placeholder(value):
            raise fail("is a placeholder")
        return Secret(value, reference)
