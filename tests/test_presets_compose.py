"""Composing presets: a preset extends base presets, and holds secrets only by reference."""

from __future__ import annotations

import copy
import pickle
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from tradehooks import PresetError
from tradehooks.presets import Secret, load_preset

BASE = """
[engine]
mode = "backtest"
initial_cash = "100000"

[data]
source = "synthetic"
timeframe = "5m"
[data.params]
seed = 7
bars = 500

[[instruments]]
id = "BTCUSDT"
base = "BTC"
tick_size = "0.1"
lot_size = "0.001"

[[strategies]]
id = "trend"
signal = "sma_cross"
params = { fast = 10, slow = 30 }
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def error_of(path: Path) -> PresetError:
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    return caught.value


class TestExtends:
    def test_a_preset_extending_a_base_gets_every_key_it_does_not_override(self, tmp_path):
        """Only the changed scalar differs from the base."""
        write(tmp_path, "base.toml", BASE)
        child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[engine]\ninitial_cash = "5000"\n')
        preset = load_preset(child)
        assert preset.engine.initial_cash == Decimal(5000) and preset.engine.mode == "backtest"
        assert preset.data.source == "synthetic" and preset.strategies[0].id == "trend"

    def test_nested_tables_merge_key_by_key(self, tmp_path):
        """Overriding data.params.seed keeps data.params.bars and data.timeframe from the base."""
        write(tmp_path, "base.toml", BASE)
        child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[data.params]\nseed = 99\n')
        preset = load_preset(child)
        assert preset.data.params == {"seed": 99, "bars": 500} and preset.data.timeframe == "5m"

    def test_arrays_and_arrays_of_tables_are_replaced_whole(self, tmp_path):
        """A child's [[strategies]] replaces the base's list; it is not appended or merged by index."""
        write(tmp_path, "base.toml", BASE + '\n[[strategies]]\nid = "second"\nsignal = "sma_cross"\n'
              '\n[plugins]\ndisable = ["csv", "paper"]\n')
        child = write(tmp_path, "child.toml", """
            extends = "base.toml"
            [[strategies]]
            id = "only"
            signal = "rsi_reversion"

            [plugins]
            disable = ["csv"]
        """)
        preset = load_preset(child)
        assert [s.id for s in preset.strategies] == ["only"] and preset.strategies[0].params == {}
        assert preset.plugins.disable == ("csv",)

    def test_a_chain_of_two_bases_applies_the_furthest_first(self, tmp_path):
        """root <- middle <- leaf: each later file wins, and the lists merge in order."""
        write(tmp_path, "root.toml", BASE)
        write(tmp_path, "presets/middle.toml", """
            extends = "../root.toml"
            [engine]
            initial_cash = "2000"
            mode = "paper"
        """)
        leaf = write(tmp_path, "presets/leaf.toml", 'extends = "middle.toml"\n[engine]\nmode = "live"\n')
        preset = load_preset(leaf)
        assert (preset.engine.mode, preset.engine.initial_cash) == ("live", Decimal(2000))
        assert preset.source.files == (str(leaf), str(tmp_path / "presets" / "middle.toml"),
                                       str(tmp_path / "root.toml"))

    def test_several_bases_merge_in_the_order_they_are_listed(self, tmp_path):
        """extends = [a, b]: b overrides a, the preset overrides both."""
        write(tmp_path, "base.toml", BASE)
        write(tmp_path, "live.toml", '[engine]\nmode = "live"\ninitial_cash = "1"\n')
        write(tmp_path, "small.toml", '[engine]\ninitial_cash = "50"\n')
        child = write(tmp_path, "child.toml", 'extends = ["base.toml", "live.toml", "small.toml"]\n')
        preset = load_preset(child)
        assert (preset.engine.mode, preset.engine.initial_cash) == ("live", Decimal(50))
        assert set(preset.source.files) == {str(tmp_path / name) for name in
                                            ("child.toml", "base.toml", "live.toml", "small.toml")}
        assert preset.source.files[0] == str(child)

    def test_the_preset_itself_stays_the_source_path_and_base_dir(self, tmp_path):
        """Relative paths in params stay relative to the top preset, wherever the base is."""
        write(tmp_path, "shared/base.toml", BASE)
        child = write(tmp_path, "desk/child.toml", 'extends = "../shared/base.toml"\n')
        source = load_preset(child).source
        assert source.path == str(child) and source.base_dir == tmp_path / "desk"

    def test_a_bad_key_in_the_base_is_reported_at_the_base_file_and_line(self, tmp_path):
        """A typo in the base names the base, not the preset that extends it."""
        base = write(tmp_path, "base.toml", BASE.replace('timeframe = "5m"', 'timeframe = "5x"'))
        child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[engine]\nmode = "paper"\n')
        error = error_of(child)
        assert (error.path, error.line, error.key) == (str(base), line_of(base, '"5x"'), "data.timeframe")

    def test_a_component_error_in_a_nested_base_table_is_reported_in_the_base(self, tmp_path):
        """data.params.sed (checked when the engine builds the source) comes from the base when the
        child only sets data.params.bars."""
        base = write(tmp_path, "base.toml", BASE.replace("seed = 7", "sed = 7"))
        child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[data.params]\nbars = 10\n')
        error = load_preset(child).source.error(("data", "params", "sed"), "synthetic: unknown key 'sed'")
        assert (error.path, error.line) == (str(base), line_of(base, "sed = 7"))
        error = load_preset(child).source.error(("data", "params", "bars"), "synthetic: too few")
        assert (error.path, error.line) == (str(child), 3)

    def test_a_bad_key_in_the_child_is_reported_at_the_child_file_and_line(self, tmp_path):
        """The child's own mistake names the child."""
        write(tmp_path, "base.toml", BASE)
        child = write(tmp_path, "child.toml", 'extends = "base.toml"\n\n[engine]\nmode = "replay"\n')
        error = error_of(child)
        assert (error.path, error.line, error.key) == (str(child), 4, "engine.mode")

    def test_a_key_overridden_inline_is_reported_in_the_file_that_wins(self, tmp_path):
        """The child's inline params table overrides the base's fast: the error is the child's."""
        broker = '[broker]\nparams = { taker_fee = "0.001" }\n'
        write(tmp_path, "base.toml", BASE.replace("[data.params]", broker + "[data.params]"))
        child = write(tmp_path, "child.toml",
                      'extends = "base.toml"\nbroker = { params = { taker_fee = "x" } }\n')
        source = load_preset(write(tmp_path, "ok.toml", 'extends = "base.toml"\n')).source
        assert source.error(("broker", "params", "taker_fee"), "r").path == str(tmp_path / "base.toml")
        error = load_preset(child).source.error(("broker", "params", "taker_fee"), "r")
        assert (error.path, error.line) == (str(child), 2)

    def test_an_error_inside_a_replaced_array_is_reported_in_the_file_that_replaced_it(self, tmp_path):
        """The base's strategies are gone once the child lists its own, even where the base says more."""
        write(tmp_path, "base.toml", BASE)
        child = write(tmp_path, "child.toml", """
            extends = "base.toml"

            [[strategies]]
            id = "trend"
            signal = "sma_cross"
        """)
        error = load_preset(child).source.error(("strategies", 0, "params", "fast"), "r")
        assert (error.path, error.line) == (str(child), line_of(child, "[[strategies]]"))

    def test_a_missing_base_is_reported_at_the_extends_line(self, tmp_path):
        """The error is the child's, at its extends key, and names the missing file."""
        write(tmp_path, "base.toml", BASE)
        child = write(tmp_path, "child.toml", '# a comment\nextends = ["base.toml", "nope.toml"]\n')
        error = error_of(child)
        assert (error.path, error.line, error.key) == (str(child), 2, "extends[1]")
        assert str(tmp_path / "nope.toml") in error.reason

    def test_a_syntax_error_in_a_base_names_the_base(self, tmp_path):
        """A broken base is reported with its own path and line."""
        base = write(tmp_path, "base.toml", BASE.replace('mode = "backtest"', 'mode = "backtest'))
        error = error_of(write(tmp_path, "child.toml", 'extends = "base.toml"\n'))
        assert error.path == str(base) and error.line == line_of(base, 'mode = "backtest')

    def test_a_cycle_is_refused_naming_the_files(self, tmp_path):
        """a -> b -> a is an error at b's extends line that lists the cycle."""
        a = write(tmp_path, "a.toml", 'extends = "b.toml"\n' + BASE)
        b = write(tmp_path, "b.toml", 'extends = "a.toml"\n')
        error = error_of(a)
        assert (error.path, error.line, error.key) == (str(b), 1, "extends")
        assert "cycle" in error.reason and error.reason.count(str(a)) == 2 and str(b) in error.reason

    def test_a_preset_extending_itself_is_a_cycle(self, tmp_path):
        """extends = 'self.toml' in self.toml is refused."""
        error = error_of(write(tmp_path, "self.toml", 'extends = "self.toml"\n' + BASE))
        assert "cycle" in error.reason

    def test_a_base_shared_by_two_parents_is_not_a_cycle(self, tmp_path):
        """Diamonds are allowed; the base is listed once in files."""
        write(tmp_path, "root.toml", BASE)
        write(tmp_path, "left.toml", 'extends = "root.toml"\n[engine]\nmode = "paper"\n')
        write(tmp_path, "right.toml", 'extends = "root.toml"\n')
        child = write(tmp_path, "child.toml", 'extends = ["left.toml", "right.toml"]\n')
        preset = load_preset(child)
        assert preset.engine.mode == "paper" and len(preset.source.files) == 4

    def test_extends_must_be_a_path_or_paths(self, tmp_path):
        """extends = 3 is refused at its line."""
        error = error_of(write(tmp_path, "child.toml", "extends = 3\n" + BASE))
        assert (error.key, error.line) == ("extends", 1)

    def test_extends_is_not_a_preset_key(self, tmp_path):
        """extends inside a table is an unknown key, like any other."""
        error = error_of(write(tmp_path, "child.toml", BASE + '\n[plugins]\nextends = "base.toml"\n'))
        assert error.key == "plugins.extends" and "unknown key" in error.reason

    def test_a_preset_without_extends_lists_only_itself(self, tmp_path):
        assert load_preset(write(tmp_path, "p.toml", BASE)).source.files == (str(tmp_path / "p.toml"),)


def with_params(table: str, params: str) -> str:
    """BASE with ``params`` (TOML lines) added to the ``table`` table."""
    return BASE + f"\n[{table}]\n" + params + "\n"


def broker_preset(directory: Path, params: str) -> Path:
    """p.toml: BASE whose [broker.params] table holds ``params``."""
    return write(directory, "p.toml", with_params("broker.params", params))


class TestSecrets:
    def test_an_env_reference_is_resolved_into_a_secret(self, tmp_path, monkeypatch):
        """env:NAME reads the variable; the value works as a str."""
        monkeypatch.setenv("TH_TEST_KEY", "k-123456")
        preset = load_preset(broker_preset(tmp_path, 'api_key = "env:TH_TEST_KEY"'))
        value = preset.broker.params["api_key"]
        assert isinstance(value, Secret) and value == "k-123456" and str(value) == "k-123456"
        assert type(str(value)) is str and value.reference == "env:TH_TEST_KEY"

    def test_an_unset_variable_is_an_error_at_its_key(self, tmp_path, monkeypatch):
        """The message names the file, the line, the key and the variable."""
        monkeypatch.delenv("TH_TEST_UNSET", raising=False)
        path = broker_preset(tmp_path, 'api_key = "env:TH_TEST_UNSET"')
        error = error_of(path)
        assert (error.path, error.line) == (str(path), line_of(path, "TH_TEST_UNSET"))
        assert error.key == "broker.params.api_key"
        assert error.reason == "secret env:TH_TEST_UNSET is not set"

    def test_a_file_reference_is_read_relative_to_the_preset_and_stripped(self, tmp_path):
        """file:PATH reads the file next to the preset, without its trailing newline."""
        write(tmp_path, "keys/bybit.secret", "s3cr3t-value\n")
        text = BASE.replace("bars = 500", 'bars = 500\nsecret = "file:keys/bybit.secret"')
        path = write(tmp_path, "p.toml", text)
        preset = load_preset(path)
        assert preset.data.params["secret"] == "s3cr3t-value" and preset.data.params["bars"] == 500

    def test_a_file_reference_in_a_base_is_relative_to_the_top_preset(self, tmp_path, monkeypatch):
        """Relative paths in params, file: references too, follow the preset, not the base."""
        write(tmp_path, "shared/base.toml", with_params("broker.params", 'api_key = "file:api.key"'))
        write(tmp_path, "desk/api.key", "desk-key-9876")
        preset = load_preset(write(tmp_path, "desk/p.toml", 'extends = "../shared/base.toml"\n'))
        assert preset.broker.params["api_key"] == "desk-key-9876"

    def test_a_missing_file_is_an_error_at_its_key(self, tmp_path):
        """The message names the reference and the file looked for."""
        path = broker_preset(tmp_path, 'api_secret = "file:nope.key"')
        error = error_of(path)
        assert (error.line, error.key) == (line_of(path, "nope.key"), "broker.params.api_secret")
        assert "file:nope.key" in error.reason and str(tmp_path / "nope.key") in error.reason

    def test_references_are_found_in_every_components_params_and_nested_values(self, tmp_path, monkeypatch):
        """Strategies, sizers, risk rules, nested tables and arrays are all searched."""
        monkeypatch.setenv("TH_TEST_KEY", "value-1")
        text = BASE.replace("params = { fast = 10, slow = 30 }",
                            'params = { feeds = ["env:TH_TEST_KEY"], auth = { token = "env:TH_TEST_KEY" } }\n'
                            'sizer = { name = "fixed", params = { quantity = "env:TH_TEST_KEY" } }')
        text += '\n[[risk]]\nrule = "max_position"\nparams = { limit = "env:TH_TEST_KEY" }\n'
        preset = load_preset(write(tmp_path, "p.toml", text))
        strategy = preset.strategies[0]
        found = [strategy.params["feeds"][0], strategy.params["auth"]["token"],
                 strategy.sizer.params["quantity"], preset.risk[0].params["limit"]]
        assert all(isinstance(value, Secret) and value == "value-1" for value in found)

    def test_an_error_in_a_nested_value_names_the_full_key(self, tmp_path, monkeypatch):
        monkeypatch.delenv("TH_TEST_UNSET", raising=False)
        text = with_params("broker.params", 'accounts = [{ id = "a" }, { id = "env:TH_TEST_UNSET" }]')
        assert error_of(write(tmp_path, "p.toml", text)).key == "broker.params.accounts[1].id"

    @pytest.mark.parametrize("value", [
        "changeme", "CHANGE-ME", "xxx", "XXXX-XXXX-XXXX", "YOUR_API_KEY", "your-secret-here", "<api key>",
        "TODO", "secret", "placeholder", "...", "  ",
    ])
    def test_a_placeholder_or_empty_value_is_refused(self, tmp_path, monkeypatch, value):
        """A value someone forgot to fill in is caught before it reaches an exchange."""
        monkeypatch.setenv("TH_TEST_KEY", value)
        error = error_of(broker_preset(tmp_path, 'api_key = "env:TH_TEST_KEY"'))
        assert error.key == "broker.params.api_key"
        assert error.reason in ("secret env:TH_TEST_KEY is a placeholder", "secret env:TH_TEST_KEY is empty")

    @pytest.mark.parametrize("value", ["xK9fQ2-7aZ", "secretive-but-real-4411", "yourself9"])
    def test_a_real_looking_value_is_accepted(self, tmp_path, monkeypatch, value):
        monkeypatch.setenv("TH_TEST_KEY", value)
        preset = load_preset(broker_preset(tmp_path, 'api_key = "env:TH_TEST_KEY"'))
        assert preset.broker.params["api_key"] == value

    def test_an_empty_file_is_refused(self, tmp_path):
        write(tmp_path, "empty.key", "\n")
        error = error_of(broker_preset(tmp_path, 'token = "file:empty.key"'))
        assert error.reason == "secret file:empty.key is empty"

    @pytest.mark.parametrize("name", ["api_key", "secret", "api-secret", "bot_token", "passphrase", "apiKey",
                                      "db_password", "keys"])
    def test_a_literal_string_under_a_secret_looking_key_is_refused_without_echoing_it(self, tmp_path, name):
        """The message says how to write it and never shows the value."""
        path = broker_preset(tmp_path, f'{name} = "hunter2-leaked"')
        error = error_of(path)
        assert (error.key, error.line) == (f"broker.params.{name}", line_of(path, "hunter2"))
        assert error.reason == "inline secret: write env:NAME or file:PATH" and "hunter2" not in str(error)

    def test_a_literal_in_an_array_under_a_secret_looking_key_is_refused(self, tmp_path):
        error = error_of(broker_preset(tmp_path, 'api_keys = ["k1-leaked"]'))
        assert error.key == "broker.params.api_keys[0]" and "k1-leaked" not in str(error)

    @pytest.mark.parametrize(("name", "value"), [
        ("monkey", '"george"'), ("keyboard", '"qwerty"'), ("tokenizer", '"words"'), ("monkey_count", "3"),
        ("max_tokens", "100"), ("use_passphrase", "true"),
    ])
    def test_keys_merely_containing_a_secret_word_or_holding_no_string_are_not_secrets(self, tmp_path, name,
                                                                                        value):
        """Word parts decide (monkey is not key), and only strings can be inline secrets."""
        preset = load_preset(broker_preset(tmp_path, f"{name} = {value}"))
        assert name in preset.broker.params

    def test_the_preset_repr_never_shows_a_secret(self, tmp_path, monkeypatch):
        """repr(preset) and repr(params) show Secret('***')."""
        monkeypatch.setenv("TH_TEST_KEY", "very-private-value")
        preset = load_preset(broker_preset(tmp_path, 'api_key = "env:TH_TEST_KEY"'))
        assert "very-private-value" not in repr(preset)
        assert "Secret('***')" in repr(preset.broker)
        assert repr(preset.broker.params["api_key"]) == "Secret('***')"

    def test_a_secret_survives_pickling_and_copying(self):
        """It stays a Secret with its value and reference."""
        secret = Secret("value-2", "env:X")
        for again in (pickle.loads(pickle.dumps(secret)), copy.copy(secret), copy.deepcopy(secret)):
            assert isinstance(again, Secret) and again == "value-2" and again.reference == "env:X"
            assert repr(again) == "Secret('***')"

    def test_a_secret_in_a_base_is_reported_in_the_base(self, tmp_path, monkeypatch):
        """An unset variable named in a base points at the base's line."""
        monkeypatch.delenv("TH_TEST_UNSET", raising=False)
        base = write(tmp_path, "base.toml", with_params("broker.params", 'api_key = "env:TH_TEST_UNSET"'))
        error = error_of(write(tmp_path, "child.toml", 'extends = "base.toml"\n[broker]\nname = "paper"\n'))
        assert (error.path, error.line) == (str(base), line_of(base, "TH_TEST_UNSET"))
