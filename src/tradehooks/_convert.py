"""The one strict cattrs converter, and turning its errors into key paths.

Presets, component parameters and (later) exchange payloads are all structured through
:func:`make_converter`: unknown keys are errors, numbers that must be exact become Decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from .exceptions import FieldError
from .model.numbers import to_decimal

__all__ = ["KeyPath", "StructureProblem", "make_converter", "structure_problems"]

KeyPath = tuple[str | int, ...]


def make_converter() -> cattrs.Converter:
    """A converter that forbids extra keys and reads Decimals from strings, ints and floats."""
    converter = cattrs.Converter(forbid_extra_keys=True)

    def _decimal(value: Any, _type: Any) -> Decimal:
        return to_decimal(value)

    def _strict_int(value: Any, _type: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")
        return value

    def _strict_float(value: Any, _type: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
        return float(value)

    def _strict_str(value: Any, _type: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        return value

    def _strict_bool(value: Any, _type: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {type(value).__name__} {value!r}")
        return value

    converter.register_structure_hook(Decimal, _decimal)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    return converter


StructureProblem = tuple[KeyPath, str]


def structure_problems(exc: BaseException, path: KeyPath = ()) -> list[StructureProblem]:
    """Flatten a cattrs validation error into ``(key path, reason)`` pairs, innermost first."""
    problems: list[StructureProblem] = []
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            key = getattr(note, "name", None)
            if key is None:
                key = getattr(note, "index", None)
            problems.extend(structure_problems(sub, path + ((key,) if key is not None else ())))
        for sub in without:
            problems.extend(structure_problems(sub, path))
    elif isinstance(exc, ForbiddenExtraKeysError):
        for extra in sorted(exc.extra_fields):
            problems.append((path + (extra,), f"unknown key {extra!r}"))
    elif isinstance(exc, KeyError):
        problems.append((path, f"required key {exc.args[0]!r} is missing" if exc.args else "missing key"))
    elif isinstance(exc, FieldError):
        problems.append((path + (exc.field,), exc.reason))
    elif isinstance(exc, (ValueError, TypeError)):
        problems.append((path, _reason(exc)))
    else:
        problems.append((path, f"{type(exc).__name__}: {exc}"))
    return problems


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TypeError) and "missing" in text and "required" in text:
        return "a required key is missing: " + text.split(":", 1)[-1].strip()
    return text or type(exc).__name__
