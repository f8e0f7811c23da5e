"""The Bybit adapter: wiring and configuration.

Run with ``pytest`` after ``pip install -e .`` (some tests need the installed entry point).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import tradehooks
from tradehooks import Engine, PresetError
from tradehooks.contracts import Broker, DataSource
from tradehooks.exceptions import FieldError

import tradehooks_bybit
from tradehooks_bybit import (
    BybitBroker,
    BybitBrokerConfig,
    BybitDataConfig,
    BybitDataSource,
)

PRESETS = Path(__file__).resolve().parents[1] / "presets"


def broker_preset(**params: Any) -> tradehooks.Preset:
    """A paper-mode preset whose broker is this plugin's."""
    return tradehooks.parse_preset({
        "engine": {"mode": "paper"},
        "data": {"source": "synthetic_live"},
        "instruments": [{"id": "BTCUSDT", "quote": "USDT", "tick_size": "0.1", "lot_size": "0.001"}],
        "broker": {"name": "bybit", "params": params},
    })


class TestPlugin:
    def test_it_registers_its_data_source_and_broker(self):
        assert tradehooks_bybit.register_data_sources() == [BybitDataSource]
        assert tradehooks_bybit.register_brokers() == [BybitBroker]

    def test_the_entry_point_is_installed(self):
        """`pip install -e .` put the entry point in group tradehooks: the engine finds the plugin."""
        found = {ep.name: ep.value for ep in entry_points(group="tradehooks")}
        assert found.get("bybit") == "tradehooks_bybit"

    @pytest.mark.parametrize("name", sorted(p.name for p in PRESETS.glob("*.toml")))
    def test_every_shipped_preset_builds_the_data_source(self, name: str):
        """Each preset validates, and its data source satisfies the DataSource contract (building does
        no I/O)."""
        engine = Engine.from_preset(PRESETS / name)
        assert isinstance(engine.source, BybitDataSource)
        assert isinstance(engine.source, DataSource)

    def test_the_source_has_the_optional_capabilities(self):
        source = Engine.from_preset(PRESETS / "paper-book.toml").source
        for capability in ("order_book", "add_book_listener", "download"):
            assert callable(getattr(source, capability))

    def test_a_preset_builds_the_broker_with_keys_by_reference(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("BYBIT_API_KEY", "a1b2c3")
        monkeypatch.setenv("BYBIT_API_SECRET", "d4e5f6")
        engine = Engine(broker_preset(api_key="env:BYBIT_API_KEY",
                                      api_secret="env:BYBIT_API_SECRET"),
                        plugins=[tradehooks_bybit], autoload_plugins=False)
        assert isinstance(engine.broker, BybitBroker)
        assert isinstance(engine.broker, Broker)


class TestConfig:
    def test_the_data_defaults_are_valid(self):
        assert BybitDataConfig().testnet is False

    @pytest.mark.parametrize(("field", "value"), [
        ("timeout", 0.0), ("history_limit", 0), ("history_limit", 1001), ("book_depth", 10), ("category", "inverse"),
        ("stale_after", 0.0), ("rest_url", "ftp://x"), ("ws_url", "http://127.0.0.1:1"),
    ])
    def test_out_of_range_values_are_refused_naming_the_field(self, field: str, value: Any):
        with pytest.raises(FieldError) as caught:
            BybitDataConfig(**{field: value})
        assert caught.value.field == field

    def test_the_broker_needs_its_keys(self):
        with pytest.raises(PresetError, match="api_key"):
            Engine(broker_preset(), plugins=[tradehooks_bybit], autoload_plugins=False)

    def test_keys_written_inline_are_refused(self):
        """A preset holds secrets only by reference (env:NAME, file:PATH)."""
        with pytest.raises(PresetError, match="inline secret"):
            broker_preset(api_key="abc123", api_secret="def456")

    def test_the_keys_stay_out_of_reprs(self):
        config = BybitBrokerConfig(api_key="key-value", api_secret="secret-value")
        assert "key-value" not in repr(config) and "secret-value" not in repr(config)
