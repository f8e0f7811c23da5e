"""Find the line a TOML key is on, so preset errors can say ``file:line: key: reason``.

tomllib gives values, not positions; this scanner reads the same text and records, for every key and
table header, the line it appears on. It understands what presets use: ``[table]``,
``[[array.of.tables]]``, dotted keys and inline tables (keys inside an inline table map to its line).
A table only ever named through a longer header or dotted key (``[data.params]``, ``data.source = ...``)
is placed on the first line that names it.
"""

from __future__ import annotations

import re

from .._convert import KeyPath

__all__ = ["KeyLines"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


class KeyLines:
    """Key path -> 1-based line number for one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        current: list[str | int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                names = _split_key(header.group(2))
                if header.group(1) == "[[":
                    array = tuple(names)
                    counts[array] = counts.get(array, -1) + 1
                    current = [*self._resolve(names[:-1], counts), names[-1], counts[array]]
                else:
                    current = list(self._resolve(names, counts))
                self._record(tuple(current), number)
                continue
            key = _KEY.match(line)
            if key:
                self._record(tuple(current) + tuple(_split_key(key.group(1))), number)

    def _record(self, path: KeyPath, number: int) -> None:
        """``path`` and each enclosing table not seen yet are on line ``number``."""
        for end in range(len(path), 0, -1):
            self._lines.setdefault(path[:end], number)

    def _resolve(self, names: list[str], counts: dict[tuple[str, ...], int]) -> list[str | int]:
        """Insert array-of-tables indexes into a header path: ``strategies.params`` ->
        ``strategies, 2, params`` when ``[[strategies]]`` was seen three times."""
        resolved: list[str | int] = []
        for i, name in enumerate(names):
            resolved.append(name)
            prefix = tuple(names[: i + 1])
            if prefix in counts:
                resolved.append(counts[prefix])
        return resolved

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest enclosing key that has one."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None
