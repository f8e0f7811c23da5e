"""The layout stays true to the architecture: plugins use only the public API, and the kernel keeps
no module-level mutable state."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

PUBLIC = {"tradehooks", "tradehooks.contracts", "tradehooks.model", "tradehooks.exceptions",
          "tradehooks.hookspecs", "tradehooks.presets", "tradehooks.testing"}

PLUGIN_FILES = sorted((ROOT / "src" / "tradehooks" / "builtins").rglob("*.py")) + sorted(
    (ROOT / "plugins").glob("*/src/**/*.py")
)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's own package
                continue
            found.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_api(path: Path):
    """Built-in and separate plugins never reach into tradehooks' private modules."""
    private = [f"{path.name}:{line}: {module}" for line, module in imported_modules(path)
               if module.startswith("tradehooks.") and module.split(".")[0] == "tradehooks"
               and not any(module == p or module.startswith(p + ".") for p in PUBLIC)]
    assert private == []


def test_builtins_do_not_import_each_other_relatively_into_the_kernel():
    """Relative imports inside builtins stay inside builtins (no '..' up into the kernel)."""
    offenders = []
    for path in (ROOT / "src" / "tradehooks" / "builtins").rglob("*.py"):
        depth = len(path.relative_to(ROOT / "src" / "tradehooks" / "builtins").parts)  # 1 = builtins/x.py
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= depth + 1:
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_the_kernel_has_no_module_level_mutable_state():
    """No module of the kernel binds a list, dict or set at module level except constant tables."""
    allowed = {"__all__", "BUILTIN_PLUGINS", "KINDS", "BUILTIN_COMMANDS", "_UNITS", "_OPEN", "MODES", "_RESTART", "MIGRATIONS"}
    offenders = []
    for path in (ROOT / "src" / "tradehooks").rglob("*.py"):
        if "builtins" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, (ast.List, ast.Dict, ast.Set)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if not names <= allowed:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {', '.join(sorted(names))}")
    assert offenders == []
