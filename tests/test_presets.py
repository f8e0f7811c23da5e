"""Presets: strict validation, every error naming file, line and key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradehooks import PresetError
from tradehooks.presets import load_preset, parse_preset

from .conftest import preset_text


def error_of(tmp_path, text: str) -> PresetError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError) as caught:
        load_preset(path)
    assert str(path) in str(caught.value)
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


class TestValidPresets:
    def test_a_full_preset_is_structured_into_frozen_classes(self, tmp_path):
        """Numbers become exact decimals; defaults fill what is not said."""
        path = tmp_path / "ok.toml"
        path.write_text(preset_text("data.csv"))
        preset = load_preset(path)
        assert preset.engine.initial_cash == Decimal("100000")
        assert preset.instruments[0].tick_size == Decimal("0.1")
        assert preset.strategies[0].sizer.params == {"quantity": "0.01"}
        assert preset.broker.name == "paper" and preset.strategies[0].enabled
        assert preset.source.base_dir == tmp_path
        with pytest.raises(AttributeError):
            preset.engine.mode = "live"  # type: ignore[misc]

    def test_a_mapping_validates_like_toml(self):
        """parse_preset accepts an already-parsed mapping."""
        preset = parse_preset({"data": {"source": "synthetic"}, "instruments": [
            {"id": "ETHUSDT", "tick_size": "0.01", "lot_size": "0.001"}]})
        assert preset.data.timeframe == "1m" and preset.instruments[0].id == "ETHUSDT"


class TestBadPresets:
    def test_toml_syntax_errors_give_the_line(self, tmp_path):
        """A missing quote is reported with the file and line tomllib found."""
        text = preset_text("data.csv").replace('mode = "backtest"', 'mode = "backtest')
        error = error_of(tmp_path, text)
        assert "not valid TOML" in str(error) and error.line == line_of(text, 'mode = "backtest')

    def test_an_unknown_key_names_key_and_line(self, tmp_path):
        """A typo in a key (initial_csh) is an error at its line."""
        text = preset_text("data.csv").replace("initial_cash", "initial_csh")
        error = error_of(tmp_path, text)
        assert error.key == "engine.initial_csh" and error.line == line_of(text, "initial_csh")

    def test_a_bad_value_names_key_line_and_reason(self, tmp_path):
        """mode = 'paperr' lists the allowed modes."""
        text = preset_text("data.csv").replace('mode = "backtest"', 'mode = "paperr"')
        error = error_of(tmp_path, text)
        assert error.key == "engine.mode" and error.line == line_of(text, "paperr")
        assert "'backtest', 'paper', 'live'" in error.reason

    def test_a_bad_tick_size_in_an_instrument_is_located(self, tmp_path):
        """tick_size = '-0.1' names instruments[0].tick_size."""
        text = preset_text("data.csv").replace('tick_size = "0.1"', 'tick_size = "-0.1"')
        error = error_of(tmp_path, text)
        assert error.key == "instruments[0].tick_size" and error.line == line_of(text, "-0.1")

    def test_a_bad_timeframe_is_explained(self, tmp_path):
        """timeframe = '1x' says what a timeframe looks like."""
        error = error_of(tmp_path, preset_text("data.csv", timeframe="1x"))
        assert error.key == "data.timeframe" and "'1m'" in error.reason

    def test_a_missing_required_key_is_reported(self, tmp_path):
        """A strategy without a signal is refused."""
        text = preset_text("data.csv").replace('signal = "sma_cross"\n', "")
        error = error_of(tmp_path, text)
        assert error.key.startswith("strategies[0]") and "signal" in str(error)

    def test_duplicate_strategy_ids_are_refused(self, tmp_path):
        """Two strategies named 'trend' cannot both exist."""
        strategies = '\n[[strategies]]\nid = "trend"\nsignal = "sma_cross"\n' * 2
        text = preset_text("data.csv", strategies=strategies)
        error = error_of(tmp_path, text)
        assert error.key == "strategies[1].id" and "used twice" in error.reason

    def test_a_strategy_on_an_unknown_instrument_is_refused(self, tmp_path):
        """instruments = ['ETHUSDT'] in a BTCUSDT-only preset names the instruments it has."""
        strategies = '\n[[strategies]]\nid = "t"\nsignal = "sma_cross"\ninstruments = ["ETHUSDT"]\n'
        error = error_of(tmp_path, preset_text("data.csv", strategies=strategies))
        assert error.key == "strategies[0].instruments" and "BTCUSDT" in error.reason

    def test_a_missing_file_says_so(self, tmp_path):
        """Loading a preset that does not exist names the path."""
        with pytest.raises(PresetError, match="nope.toml: file not found"):
            load_preset(tmp_path / "nope.toml")
