"""The Bybit adapter: wiring, configuration, and what is left to implement.

Run with ``pytest`` after ``pip install -e .`` (some tests need the installed entry point).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anyio
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
from tradehooks_bybit._errors import raise_for_error
from tradehooks_bybit._signing import sign

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

    def test_the_example_preset_builds_the_data_source(self):
        """presets/example.toml validates, and its data source satisfies the DataSource contract."""
        engine = Engine.from_preset(PRESETS / "example.toml")
        assert isinstance(engine.source, BybitDataSource)
        assert isinstance(engine.source, DataSource)

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

    @pytest.mark.parametrize(("field", "value"), [("timeout", 0.0), ("history_limit", 0)])
    def test_out_of_range_values_are_refused_naming_the_field(self, field: str, value: float):
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


def _source() -> BybitDataSource:
    return Engine.from_preset(PRESETS / "example.toml").source  # type: ignore[no-any-return]


async def _first(iterator: Any) -> Any:
    return await iterator.__anext__()


#: What is left to implement. Each row calls one stub and expects NotImplementedError: delete the
#: row when you implement it, and test the real behaviour instead (with recorded payloads, not the
#: network).
TODO = [
    pytest.param(lambda: anyio.run(_first, _source().stream()), id="data.stream"),
    pytest.param(lambda: anyio.run(_source().history, "BTCUSDT", 0, 10), id="data.history"),
    pytest.param(lambda: sign("secret", "payload"), id="_signing.sign"),
    pytest.param(lambda: raise_for_error({}), id="_errors.raise_for_error"),
]


@pytest.mark.parametrize("call", TODO)
def test_still_to_implement(call: Any):
    with pytest.raises(NotImplementedError) as caught:
        call()
    assert "(" in str(caught.value)  # the message names the method and says what to do
