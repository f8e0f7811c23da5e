"""Render the reStructuredText markup used in tradehooks' docstrings as Markdown.

A griffe extension, loaded by mkdocstrings (see ``mkdocs.yml``). It rewrites docstrings in memory
before they are parsed as Google-style sections:

* cross-reference roles (``:class:`~tradehooks.model.Order```) become links when the target is on a
  rendered reference page, and inline code otherwise;
* a paragraph ending in ``::`` ends in ``:`` (the literal block after it is already an indented
  Markdown code block), and a lone ``::`` disappears;
* simple tables (``====  ====`` borders) become Markdown tables;
* an attribute line naming several attributes (``open, high, low, close: prices``) becomes one line
  per attribute, so each gets its own row.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

#: modules whose members have a page of their own (docs/reference/*.md)
RENDERED = ("tradehooks.hookspecs.", "tradehooks.contracts.", "tradehooks.model.")

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|mod|obj|exc|const):`([^`]+)`")
_BORDER = re.compile(r"^(\s*)(=+(?:\s+=+)+)\s*$")
_SHARED = re.compile(r"^(\s+)(\w+(?:,\s*\w+)+):\s+(.*)$")


def _role(match: re.Match[str]) -> str:
    text = match.group(1).strip()
    explicit = re.fullmatch(r"(.+?)\s*<([^>]+)>", text)
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    else:
        target = text.lstrip("~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    target = target.lstrip("~").rstrip("()")
    if target.startswith(RENDERED):
        return f"[`{title}`][{target}]"
    return f"`{title}`"


def _columns(border: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", border)]


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    cells = []
    for index, (start, end) in enumerate(spans):
        stop = spans[index + 1][0] if index + 1 < len(spans) else len(line)
        cells.append(line[start:stop].strip())
    return cells


def _tables(lines: list[str]) -> list[str]:
    """Replace every RST simple table (top border, header, border, rows, bottom border)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        top = _BORDER.match(lines[i])
        if not top:
            out.append(lines[i])
            i += 1
            continue
        indent, border = top.group(1), lines[i]
        spans = _columns(border)
        borders = [j for j in range(i, len(lines)) if lines[j].rstrip() == border.rstrip()]
        if len(borders) < 3:
            out.append(lines[i])
            i += 1
            continue
        head_end, end = borders[1], borders[2]
        rows: list[list[str]] = []
        for line in lines[i + 1 : end]:
            if line.rstrip() == border.rstrip() or not line.strip():
                continue
            cells = _cells(line, spans)
            if rows and not cells[0] and len(rows) > (1 if head_end > i + 1 else 0):
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]  # a continuation line
            else:
                rows.append(cells)
        header, body = rows[0], rows[1:]
        out.append(indent + "| " + " | ".join(header) + " |")
        out.append(indent + "|" + "|".join(" --- " for _ in header) + "|")
        out.extend(indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body)
        i = end + 1
    return out


def _shared_attributes(lines: list[str]) -> list[str]:
    """``a, b, c: text`` (plus its continuation lines) -> ``a: text``, ``b: as `a`.``, ``c: as `a`.``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _SHARED.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, names, text = match.group(1), re.split(r",\s*", match.group(2)), match.group(3)
        out.append(f"{indent}{names[0]}: {text}")
        i += 1
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > len(indent):
            out.append(lines[i])
            i += 1
        out.extend(f"{indent}{name}: as `{names[0]}`." for name in names[1:])
    return out


def rst_to_markdown(text: str) -> str:
    text = _ROLE.sub(_role, text)
    lines = _shared_attributes(_tables(text.splitlines()))
    converted = []
    for line in lines:
        if line.strip() == "::":
            converted.append("")
        elif line.rstrip().endswith("::"):
            converted.append(line.rstrip()[:-1])
        else:
            converted.append(line)
    return "\n".join(converted)


class RstMarkup(griffe.Extension):
    """Convert the docstrings of every loaded object."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
