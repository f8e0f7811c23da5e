"""Presets: TOML files that say what an engine runs, validated strictly into frozen attrs classes."""

from ._loader import PresetSource, load_preset, parse_preset
from ._model import (
    BrokerSettings,
    DataSettings,
    EngineSettings,
    PluginSettings,
    Preset,
    RiskSettings,
    SizerSettings,
    StrategySettings,
)

__all__ = [
    "BrokerSettings",
    "DataSettings",
    "EngineSettings",
    "PluginSettings",
    "Preset",
    "PresetSource",
    "RiskSettings",
    "SizerSettings",
    "StrategySettings",
    "load_preset",
    "parse_preset",
]
