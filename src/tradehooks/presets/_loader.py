"""Loading presets: TOML text -> validated :class:`Preset`, every error naming file, line and key."""

from __future__ import annotations

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

__all__ = ["PresetSource", "load_preset", "parse_preset"]

_converter = make_converter()


@attrs.frozen
class PresetSource:
    """Where a preset came from, to point errors at the right file and line."""

    path: str | None
    lines: KeyLines | None = None

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the preset are resolved against."""
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    def error(self, key: KeyPath, reason: str) -> PresetError:
        """A :class:`PresetError` for ``key`` (a path such as ``("strategies", 0, "params", "fast")``)."""
        line = self.lines.line(key) if self.lines is not None and key else None
        return PresetError(reason, path=self.path, line=line, key=format_key(key))


def format_key(key: KeyPath) -> str:
    """``("strategies", 0, "params", "fast")`` -> ``"strategies[0].params.fast"``."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load_preset(path: str | Path) -> Preset:
    """Read and validate the preset TOML file at ``path``.

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

    ``path`` is only used in error messages and to resolve relative paths.
    """
    if isinstance(document, str):
        source = PresetSource(path, KeyLines(document))
        try:
            raw = tomllib.loads(document)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
            line = int(match.group(1)) if match else None
            reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            raise PresetError(f"not valid TOML: {reason}", path=path, line=line) from None
    else:
        source = PresetSource(path)
        raw = dict(document)
    try:
        preset = _converter.structure(raw, Preset)
    except BaseValidationError as exc:
        problems = structure_problems(exc)
        key, reason = problems[0]
        raise source.error(key, reason) from None
    except (ValueError, TypeError) as exc:
        raise source.error((), str(exc)) from None
    preset = attrs.evolve(preset, source=source)
    _check_references(preset, source)
    return preset


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
