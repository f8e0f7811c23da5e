"""The documentation tells the truth about the code: it builds cleanly, and every hook, preset key, CLI
command and public name is documented."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import attrs
import pytest

import tradehooks
from tradehooks import hookspecs, presets
from tradehooks._cli import BUILTIN_COMMANDS, _parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKS_PAGE = DOCS / "reference" / "hooks.md"

HOOKSPECS = sorted(
    name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "tradehooks_spec")
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation built with ``mkdocs build --strict`` (any warning fails the build)."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


class TestBuild:
    def test_the_site_builds_with_no_warning(self, site: Path):
        assert (site / "index.html").is_file()

    def test_the_hook_reference_is_generated_from_the_hookspecs_module(self, site: Path):
        assert "::: tradehooks.hookspecs" in HOOKS_PAGE.read_text(encoding="utf-8")
        html = (site / "reference" / "hooks" / "index.html").read_text(encoding="utf-8")
        for name in HOOKSPECS:
            assert f'id="tradehooks.hookspecs.{name}"' in html, f"{name} is missing from the built hook reference"

    def test_the_contract_and_model_references_are_generated(self, site: Path):
        contracts = (site / "reference" / "contracts" / "index.html").read_text(encoding="utf-8")
        model = (site / "reference" / "model" / "index.html").read_text(encoding="utf-8")
        for name in ("DataSource", "Indicator", "Signal", "Sizer", "RiskRule", "Broker", "ComponentContext"):
            assert f'id="tradehooks.contracts.{name}"' in contracts
        for name in ("Bar", "Instrument", "Order", "Fill", "Position"):
            assert f'id="tradehooks.model.{name}"' in model


class TestHookspecs:
    def test_there_are_hookspecs(self):
        assert "register_signals" in HOOKSPECS and "fill_received" in HOOKSPECS

    @pytest.mark.parametrize("name", HOOKSPECS)
    def test_every_hookspec_documents_its_arguments_and_shows_an_example(self, name: str):
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        if inspect.signature(getattr(hookspecs, name)).parameters:
            assert "Args:" in doc, f"{name}: the docstring has no Args: section"
        else:
            assert "Returns:" in doc or "Example" in doc, f"{name}: the docstring has no Returns: or Example"
        assert re.search(r"^Example", doc, re.MULTILINE), f"{name}: the docstring has no Example section"

    @pytest.mark.parametrize("name", HOOKSPECS)
    def test_every_hookspec_is_on_the_hook_reference_page(self, name: str, request: pytest.FixtureRequest):
        if re.search(rf"\b{name}\b", HOOKS_PAGE.read_text(encoding="utf-8")):
            return
        site = request.getfixturevalue("site")
        html = (site / "reference" / "hooks" / "index.html").read_text(encoding="utf-8")
        assert f'id="tradehooks.hookspecs.{name}"' in html, f"{name} is not in the hook reference"


def _settings_classes(cls: type, seen: dict[type, None] | None = None) -> dict[type, None]:
    """``cls`` and every attrs class its fields hold (directly or in a tuple), in order."""
    seen = {} if seen is None else seen
    if cls in seen:
        return seen
    seen[cls] = None
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint = hints.get(field.name, field.type)
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and attrs.has(candidate):
                _settings_classes(candidate, seen)
    return seen


PRESET_KEYS = sorted(
    {
        (cls.__name__, field.name)
        for cls in _settings_classes(presets.Preset)
        for field in attrs.fields(cls)
        if field.name != "source"
    }
)


class TestPresets:
    def test_the_preset_model_reaches_every_settings_class(self):
        found = {cls.__name__ for cls in _settings_classes(presets.Preset)}
        assert {"Preset", "EngineSettings", "DataSettings", "BrokerSettings", "StrategySettings",
                "SizerSettings", "RiskSettings", "PluginSettings", "Instrument"} <= found

    @pytest.mark.parametrize(("owner", "key"), PRESET_KEYS)
    def test_every_preset_key_has_a_row_in_the_presets_page(self, owner: str, key: str):
        text = (DOCS / "presets.md").read_text(encoding="utf-8")
        assert re.search(rf"^\| `{re.escape(key)}` \|", text, re.MULTILINE), (
            f"{owner}.{key} has no table row in docs/presets.md"
        )


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every long option of ``parser`` and of its subcommands."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(option for option in action.option_strings if option.startswith("--") and option != "--help")
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


class TestCli:
    @pytest.mark.parametrize("command", BUILTIN_COMMANDS, ids=lambda command: command.name)
    def test_every_builtin_command_and_its_options_are_in_the_cli_reference(self, command: type):
        text = (DOCS / "cli.md").read_text(encoding="utf-8")
        assert f"tradehooks {command.name}" in text, f"command {command.name!r} is not in docs/cli.md"
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)  # type: ignore[attr-defined]
        for option in sorted(_options(parser)):
            assert f"`{option}" in text, f"option {option} of {command.name!r} is not in docs/cli.md"

    def test_every_global_option_is_in_the_cli_reference(self):
        text = (DOCS / "cli.md").read_text(encoding="utf-8")
        for option in sorted(_options(_parser([]))):
            assert f"`{option}" in text, f"global option {option} is not in docs/cli.md"


class TestPublicNames:
    def test_every_name_in_all_exists(self):
        missing = [name for name in tradehooks.__all__ if not hasattr(tradehooks, name)]
        assert not missing

    def test_all_has_no_duplicates(self):
        assert len(set(tradehooks.__all__)) == len(tradehooks.__all__)

    def test_every_public_name_imported_in_the_package_init_is_in_all(self):
        tree = ast.parse((ROOT / "src" / "tradehooks" / "__init__.py").read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if not (alias.asname or alias.name).startswith("_")
        }
        assert imported - set(tradehooks.__all__) == set()

    def test_every_public_class_and_function_of_the_package_is_in_all(self):
        public = {
            name
            for name, value in vars(tradehooks).items()
            if not name.startswith("_")
            and not isinstance(value, types.ModuleType)
            and (inspect.isclass(value) or inspect.isfunction(value))
        }
        assert public - set(tradehooks.__all__) == set()


class TestPluginDirectory:
    def test_every_builtin_plugin_and_shipped_distribution_is_listed(self):
        """The directory page names every built-in plugin and every distribution under plugins/."""
        from tradehooks._manager import BUILTIN_PLUGINS

        text = (DOCS / "plugin-directory.md").read_text(encoding="utf-8")
        for name in BUILTIN_PLUGINS:
            assert f"| `{name}` |" in text, f"built-in plugin {name} is not in the plugin directory"
        for folder in (ROOT / "plugins").iterdir():
            if (folder / "pyproject.toml").exists():
                assert f"`{folder.name}`" in text, f"{folder.name} is not in the plugin directory"
