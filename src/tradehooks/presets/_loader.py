"""Loading presets: TOML text -> validated :class:`Preset`, every error naming file, line and key.

A preset may build on base presets (``extends``): the files are merged into one document before it is
structured, and :class:`PresetSource` keeps every file of the chain so an error points at the file and
line that defined the bad key. Secret references in ``params`` are resolved last (see ``_secrets``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from cattrs.errors import BaseValidationError

from .._convert import KeyPath, make_converter, structure_problems
from ..exceptions import PresetError
from ._locate import KeyLines
from ._model import Preset
from ._secrets import resolve_secrets

__all__ = ["PresetFile", "PresetSource", "load_preset", "parse_preset"]

_converter = make_converter()


@attrs.frozen(eq=False)
class PresetFile:
    """One file of a preset's chain: its path, where its keys are, and what it says (without ``extends``)."""

    path: str | None
    lines: KeyLines | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class PresetSource:
    """Where a preset came from, to point errors at the right file and line.

    Attributes:
        path: the preset file itself (``None`` for text or a mapping given without a path).
        lines: where the keys of that file are.
        chain: every file the preset was merged from, in the reverse of the merge order (the file
            that wins first): the preset itself, then its bases. Empty for a preset that extends
            nothing.
    """

    path: str | None
    lines: KeyLines | None = None
    chain: tuple[PresetFile, ...] = ()

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the preset are resolved against: the preset file's, even for
        values written in a base preset elsewhere."""
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    @property
    def files(self) -> tuple[str, ...]:
        """The paths of every file of the chain, the preset itself first (what a watcher watches)."""
        paths = [self.path] + [file.path for file in self.chain]
        return tuple(dict.fromkeys(path for path in paths if path is not None))

    def error(self, key: KeyPath, reason: str) -> PresetError:
        """A :class:`PresetError` for ``key`` (a path such as ``("strategies", 0, "params", "fast")``),
        located in the file of the chain that defined it."""
        file = self._file_of(key)
        line = file.lines.line(key) if file.lines is not None and key else None
        return PresetError(reason, path=file.path, line=line, key=format_key(key))

    def _file_of(self, key: KeyPath) -> PresetFile:
        """The file holding the longest part of ``key``; the one that wins the merge on a tie. A file
        that sets a whole (non-table) value on the way hides every file below it."""
        if not self.chain:
            return PresetFile(self.path, self.lines)
        best, best_depth = self.chain[0], -1
        for file in self.chain:
            depth, whole = _depth(file.data, key)
            if depth > best_depth:
                best, best_depth = file, depth
            if whole:
                break
        return best


def _depth(data: Any, key: KeyPath) -> tuple[int, bool]:
    """How many leading parts of ``key`` ``data`` holds, and whether one of them is a whole value."""
    node, whole = data, False
    for depth, part in enumerate(key):
        held = part in node if isinstance(node, Mapping) else (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not held:
            return depth, whole
        node = node[part]
        whole = whole or not isinstance(node, Mapping)
    return len(key), whole


def format_key(key: KeyPath) -> str:
    """``("strategies", 0, "params", "fast")`` -> ``"strategies[0].params.fast"``."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load_preset(path: str | Path) -> Preset:
    """Read and validate the preset TOML file at ``path`` (and the base presets it extends).

    Raises:
        PresetError: the file is missing, not TOML, or not a valid preset; the message names the file,
            the line and the key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError("file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"cannot read the file: {exc}", path=str(path)) from None
    return parse_preset(text, path=str(path))


def parse_preset(document: str | Mapping[str, Any], *, path: str | None = None) -> Preset:
    """Validate a preset given as TOML text or as an already-parsed mapping.

    ``path`` is used in error messages and to resolve relative paths: base presets named by
    ``extends``, files in component parameters and ``file:`` secrets.
    """
    if isinstance(document, str):
        lines: KeyLines | None = KeyLines(document)
        raw = _parse_toml(document, path)
    else:
        lines, raw = None, dict(document)
    order: dict[str | None, PresetFile] = {}
    _merge_order(PresetFile(path, lines, raw), (), order)
    merged: dict[str, Any] = {}
    for file in order.values():
        merged = _merge(merged, file.data)
    chain = tuple(reversed(order.values()))
    source = PresetSource(path, lines, chain if len(chain) > 1 else ())
    try:
        preset = _converter.structure(merged, Preset)
    except BaseValidationError as exc:
        problems = structure_problems(exc)
        key, reason = problems[0]
        raise source.error(key, reason) from None
    except (ValueError, TypeError) as exc:
        raise source.error((), str(exc)) from None
    preset = attrs.evolve(preset, source=source)
    _check_references(preset, source)
    return resolve_secrets(preset, source)


def _parse_toml(text: str, path: str | None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise PresetError(f"not valid TOML: {reason}", path=path, line=line) from None


def _merge_order(
    file: PresetFile, below: tuple[tuple[str, str], ...], order: dict[str | None, PresetFile]
) -> None:
    """Add ``file`` to ``order`` after its bases (each base depth first, in the order listed). A file
    reached again (two bases sharing one) keeps its first place, so it is merged once.

    ``below`` holds ``(resolved path, path as shown)`` of the files that extend ``file``, to refuse a
    cycle and to show it.
    """
    data = dict(file.data)
    extends = data.pop("extends", None)
    file = PresetFile(file.path, file.lines, data)
    here = Path(file.path).parent if file.path else Path()
    trail = below + (((str(Path(file.path).resolve()), file.path),) if file.path else ())
    for key, name in _bases(extends, file):
        base_path = os.path.normpath(here / name)
        resolved = str(Path(base_path).resolve())
        if any(resolved == seen for seen, _ in trail):
            cycle = " -> ".join([*(shown for _, shown in trail), base_path])
            raise _extends_error(file, key, f"extends makes a cycle: {cycle}")
        if resolved in order:
            continue
        try:
            text = Path(base_path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _extends_error(file, key, f"base preset not found: {base_path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _extends_error(file, key, f"cannot read base preset {base_path}: {exc}") from None
        _merge_order(PresetFile(base_path, KeyLines(text), _parse_toml(text, base_path)), trail, order)
    order[trail[-1][0] if file.path else None] = file


def _bases(extends: Any, file: PresetFile) -> list[tuple[KeyPath, str]]:
    """``extends`` as ``(key, path)`` pairs; a string or an array of strings."""
    if extends is None:
        return []
    if isinstance(extends, str) and extends:
        return [(("extends",), extends)]
    if isinstance(extends, list) and all(isinstance(name, str) and name for name in extends):
        return [(("extends", index), name) for index, name in enumerate(extends)]
    raise _extends_error(file, ("extends",), "must be a path or an array of paths to base presets")


def _extends_error(file: PresetFile, key: KeyPath, reason: str) -> PresetError:
    line = file.lines.line(key) if file.lines is not None else None
    return PresetError(reason, path=file.path, line=line, key=format_key(key))


def _merge(below: Mapping[str, Any], above: Mapping[str, Any]) -> dict[str, Any]:
    """``above`` over ``below``: tables merge key by key, any other value (arrays too) replaces whole."""
    merged = dict(below)
    for key, value in above.items():
        under = merged.get(key)
        if isinstance(value, Mapping) and isinstance(under, Mapping):
            merged[key] = _merge(under, value)
        else:
            merged[key] = value
    return merged


def _check_references(preset: Preset, source: PresetSource) -> None:
    """Checks that span keys: unique ids, strategies naming instruments the preset has."""
    if not preset.instruments:
        raise source.error(("instruments",), "the preset lists no instruments")
    seen: set[str] = set()
    currency = preset.engine.currency
    for index, instrument in enumerate(preset.instruments):
        if instrument.quote != currency:
            raise source.error(
                ("instruments", index, "quote"),
                f"quote currency {instrument.quote!r} of {instrument.id!r} differs from the account currency "
                f"{currency!r} (engine.currency); one account holds one currency",
            )
        if instrument.id in seen:
            raise source.error(("instruments", index, "id"), f"instrument {instrument.id!r} is listed twice")
        seen.add(instrument.id)
    ids: set[str] = set()
    for index, strategy in enumerate(preset.strategies):
        if strategy.id in ids:
            raise source.error(("strategies", index, "id"), f"strategy id {strategy.id!r} is used twice")
        ids.add(strategy.id)
        for instrument_id in strategy.instruments:
            if instrument_id not in seen:
                raise source.error(
                    ("strategies", index, "instruments"),
                    f"instrument {instrument_id!r} is not in the preset's instruments ({', '.join(sorted(seen))})",
                )
