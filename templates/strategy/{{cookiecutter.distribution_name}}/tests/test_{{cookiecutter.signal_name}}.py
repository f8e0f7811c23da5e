"""The {{ cookiecutter.signal_name }} signal, backtested on synthetic data with tradehooks.testing.

Run with ``pytest`` after ``pip install -e .`` (the last tests need the installed entry point).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import tradehooks
from tradehooks import Engine, PresetError
from tradehooks.exceptions import FieldError
from tradehooks.model import Bar, Side
from tradehooks.testing import run_backtest, synthetic_bars

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }} import {{ cookiecutter.__signal_class }}, {{ cookiecutter.__signal_class }}Params

PRESETS = Path(__file__).resolve().parents[1] / "presets"
MINUTE = 60 * 10**9
SMALL = ("fixed", {"quantity": "0.01"})


def bars_from_closes(closes: list[float]) -> list[Bar]:
    """One-minute bars whose open is the previous close, with a small range around open and close."""
    bars, previous = [], closes[0]
    for index, close in enumerate(closes):
        low, high = min(previous, close) - 0.5, max(previous, close) + 0.5
        bars.append(Bar("BTCUSDT", 1_704_067_200 * 10**9 + index * MINUTE, previous, high, low, close, 10.0))
        previous = close
    return bars


#: down 40 bars, up 40, down 40
V_SHAPE = [100.0 - i for i in range(40)] + [61.0 + 2 * i for i in range(40)] + [139.0 - 2 * i for i in range(40)]


class Test{{ cookiecutter.__signal_class }}:
    def test_it_buys_on_the_way_up_and_sells_on_the_way_down(self):
        """Down, up, down: one buy once the close runs above its average, one sell once it falls behind."""
        result = run_backtest(signal={{ cookiecutter.__signal_class }}, bars=bars_from_closes(V_SHAPE),
                              params={"period": 5, "threshold": 0.01})
        assert [fill.side for fill in result.fills] == [Side.BUY, Side.SELL]
        assert result.positions[("{{ cookiecutter.signal_name }}", "BTCUSDT")].quantity == 0

    def test_allow_short_ends_short(self):
        """With allow_short the last fall turns the long into a short: the last fill sells twice the long."""
        result = run_backtest(signal={{ cookiecutter.__signal_class }}, bars=bars_from_closes(V_SHAPE),
                              params={"period": 5, "threshold": 0.01, "allow_short": True})
        assert (result.fills[-1].side, result.fills[-1].quantity) == (Side.SELL, 2)
        assert result.positions[("{{ cookiecutter.signal_name }}", "BTCUSDT")].quantity == -1

    def test_it_trades_on_synthetic_bars_and_every_fill_is_reported(self, bars, recording_observer):
        """On 2,000 synthetic bars it trades, and observers hear of every fill."""
        result = run_backtest(signal={{ cookiecutter.__signal_class }}, bars=bars, params={"period": 20, "threshold": 0.001},
                              sizer=SMALL, plugins=[recording_observer])
        assert result.metrics.fills > 0
        assert len(recording_observer.of("fill_received")) == result.metrics.fills

    def test_the_same_bars_give_the_same_fills(self):
        """Backtests are deterministic: two runs on the same bars fill identically."""
        first, second = (run_backtest(signal={{ cookiecutter.__signal_class }}, bars=synthetic_bars(3_000, seed=3),
                                      params={"period": 20, "threshold": 0.001}, sizer=SMALL) for _ in range(2))
        assert first.fills
        assert first.fills == second.fills


class TestParams:
    def test_the_defaults_are_valid(self):
        assert {{ cookiecutter.__signal_class }}Params().period == 50

    @pytest.mark.parametrize(("field", "value"), [("period", 1), ("threshold", -0.1), ("threshold", 1.0)])
    def test_out_of_range_values_are_refused_naming_the_field(self, field: str, value: float):
        with pytest.raises(FieldError) as caught:
            {{ cookiecutter.__signal_class }}Params(**{field: value})
        assert caught.value.field == field

    def test_a_bad_value_in_a_preset_is_a_preset_error_at_its_key(self):
        """The preset's params table is validated into Params: the error names the key. (The plugin is
        passed to the engine here, so this works without the entry point too.)"""
        text = (PRESETS / "example.toml").read_text(encoding="utf-8").replace("period = 50", "period = 1")
        with pytest.raises(PresetError, match=r"strategies\[0\]\.params\.period: .*must be >= 2, got 1"):
            Engine(tradehooks.parse_preset(text, path="example.toml"), plugins=[{{ cookiecutter.package_name }}],
                   autoload_plugins=False)


class TestPlugin:
    def test_it_registers_the_signal(self):
        assert {{ cookiecutter.package_name }}.register_signals() == [{{ cookiecutter.__signal_class }}]

    def test_the_entry_point_is_installed(self):
        """`pip install -e .` put the entry point in group tradehooks: the engine finds the plugin."""
        found = {ep.name: ep.value for ep in entry_points(group="tradehooks")}
        assert found.get("{{ cookiecutter.plugin_name }}") == "{{ cookiecutter.package_name }}"

    def test_the_example_preset_backtests(self):
        """presets/example.toml runs to the end through the installed plugin, and trades."""
        result = tradehooks.backtest(PRESETS / "example.toml")
        assert result.metrics.bars == 8760 and result.metrics.fills > 0

    def test_the_paper_preset_is_valid(self):
        """presets/paper.toml builds an engine in paper mode (what `tradehooks validate` checks)."""
        engine = Engine.from_preset(PRESETS / "paper.toml")
        assert engine.mode == "paper"
