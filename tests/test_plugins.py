"""The plugin manager and registry: built-ins, entry points, explicit plugins, and their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradehooks import Engine, PluginError, PluginManager, PresetError, hookimpl
from tradehooks._registry import Registry
from tradehooks.presets import load_preset


def make_distribution(root: Path, name: str, entry_point: str, module: str, source: str) -> None:
    """Write a minimal installed distribution (dist-info with an entry point) and its module."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = root / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[tradehooks]\n{entry_point} = {module}\n")


class TestBuiltins:
    def test_builtins_are_registered_under_short_names(self):
        """csv, parquet, synthetic, indicators, sizers, paper, risk and observers are plugins like any
        other."""
        manager = PluginManager(autoload=False)
        names = [info.name for info in manager.list_plugins()]
        assert names == ["csv", "parquet", "synthetic", "indicators", "sizers", "paper", "risk", "observers"]
        assert all(info.builtin and info.distribution == "tradehooks" for info in manager.list_plugins())

    def test_a_builtin_can_be_disabled_by_name(self):
        """Disabling 'csv' removes the csv data source and nothing else."""
        registry = Registry(PluginManager(disable=["csv"], autoload=False))
        assert "csv" not in registry.names("data_source")
        assert "synthetic" in registry.names("data_source")


class TestEntryPoints:
    def test_an_entry_point_plugin_is_found_with_its_distribution(self, tmp_path, monkeypatch):
        """A distribution with an entry point in group 'tradehooks' is loaded and named."""
        make_distribution(tmp_path, "tradehooks-hello", "hello", "tradehooks_hello", """
            from tradehooks import hookimpl
            class Hello:
                name = "hello"
                def __init__(self, params, ctx): pass
                def on_bar(self, bar): return None
            @hookimpl
            def register_signals():
                return [Hello]
        """)
        monkeypatch.syspath_prepend(str(tmp_path))
        manager = PluginManager()
        info = manager.info("hello")
        assert (info.distribution, info.version, info.hooks) == ("tradehooks-hello", "1.2.3", ("register_signals",))
        assert "hello" in Registry(manager).names("signal")
        assert "hello" not in Registry(PluginManager(disable=["hello"])).names("signal")

    def test_a_plugin_that_fails_to_import_names_its_distribution_and_entry_point(self, tmp_path, monkeypatch):
        """An ImportError inside a plugin becomes a PluginError naming the culprit."""
        make_distribution(tmp_path, "tradehooks-broken", "broken", "tradehooks_broken", """
            import module_that_does_not_exist
        """)
        monkeypatch.syspath_prepend(str(tmp_path))
        with pytest.raises(PluginError) as caught:
            PluginManager()
        message = str(caught.value)
        assert "'broken'" in message and "tradehooks-broken 1.2.3" in message
        assert "tradehooks_broken" in message and "module_that_does_not_exist" in message
        assert caught.value.distribution == "tradehooks-broken"

    def test_a_misspelled_hook_is_an_error_naming_the_plugin(self, tmp_path, monkeypatch):
        """'register_signal' (no s) is refused with the list of known hooks."""
        make_distribution(tmp_path, "tradehooks-typo", "typo", "tradehooks_typo", """
            from tradehooks import hookimpl
            @hookimpl
            def register_signal():
                return []
        """)
        monkeypatch.syspath_prepend(str(tmp_path))
        with pytest.raises(PluginError, match=r"plugin 'typo' \(distribution tradehooks-typo 1.2.3\).*"
                                              r"unknown hook\(s\) register_signal"):
            PluginManager()

    def test_two_plugins_registering_the_same_name_are_an_error_naming_both(self, tmp_path, monkeypatch):
        """Two distributions both offering a signal 'dup' cannot be loaded together."""
        for index in (1, 2):
            make_distribution(tmp_path, f"tradehooks-dup{index}", f"dup{index}", f"tradehooks_dup{index}", """
                from tradehooks import hookimpl
                class Dup:
                    name = "dup"
                @hookimpl
                def register_signals():
                    return [Dup]
            """)
        monkeypatch.syspath_prepend(str(tmp_path))
        with pytest.raises(PluginError) as caught:
            Registry(PluginManager())
        assert "tradehooks-dup1" in str(caught.value) and "tradehooks-dup2" in str(caught.value)
        Registry(PluginManager(disable=["dup2"]))  # disabling one resolves it


class Observer:
    __name__ = "explicit"

    @hookimpl
    def engine_started(self, engine):
        pass


class TestExplicitPlugins:
    def test_explicit_plugins_are_registered_last_and_listed(self):
        """A plugin object passed by the caller appears after built-ins, with its hooks."""
        manager = PluginManager(plugins=[Observer()], autoload=False)
        assert manager.list_plugins()[-1].name == "explicit"
        assert manager.info("explicit").hooks == ("engine_started",)

    def test_a_hook_with_a_wrong_argument_is_refused(self):
        """An implementation asking for an argument the hook does not have is a PluginError."""

        class Wrong:
            __name__ = "wrong"

            @hookimpl
            def fill_received(self, fil):
                pass

        with pytest.raises(PluginError, match="wrong"):
            PluginManager(plugins=[Wrong()], autoload=False)


class TestUnknownNamesInPresets:
    def test_an_unknown_signal_names_the_file_line_and_known_signals(self, tmp_path, preset_file):
        """A preset naming a signal nobody registers fails at engine build with a located error."""
        text = preset_file.read_text().replace('signal = "sma_cross"', 'signal = "sma_crosss"')
        preset_file.write_text(text)
        with pytest.raises(PresetError) as caught:
            Engine.from_preset(preset_file)
        error = caught.value
        assert error.key == "strategies[0].signal"
        assert error.line == text.splitlines().index('signal = "sma_crosss"') + 1
        assert "no signal named 'sma_crosss'" in str(error) and "sma_cross" in str(error)

    def test_bad_signal_parameters_point_at_the_parameter(self, preset_file):
        """fast = 'ten' is reported at strategies[0].params.fast with the reason."""
        text = preset_file.read_text().replace("fast = 10", 'fast = "ten"')
        preset_file.write_text(text)
        with pytest.raises(PresetError) as caught:
            Engine.from_preset(preset_file)
        assert caught.value.key == "strategies[0].params.fast"
        assert "expected an integer" in str(caught.value)
        assert caught.value.line is not None

    def test_an_unknown_signal_parameter_is_refused(self, preset_file):
        """A misspelled parameter (slw) is an unknown key, not silently ignored."""
        preset_file.write_text(preset_file.read_text().replace("slow = 30", "slw = 30"))
        with pytest.raises(PresetError, match=r"strategies\[0\]\.params\.slw: sma_cross: unknown key 'slw'"):
            Engine.from_preset(load_preset(preset_file))
