"""Presets: TOML files that say what an engine runs, validated strictly into frozen attrs classes.

A preset may extend base presets, and holds secrets only by reference (``env:NAME``, ``file:PATH``).
"""

from .._convert import make_converter
from ._loader import PresetFile, PresetSource, load_preset, parse_preset
from ._model import (
    BrokerSettings,
    DataSettings,
    EngineSettings,
    ObserverSettings,
    PluginSettings,
    Preset,
    RiskSettings,
    SizerSettings,
    StrategySettings,
)
from ._secrets import Secret

__all__ = [
    "make_converter",
    "BrokerSettings",
    "DataSettings",
    "EngineSettings",
    "ObserverSettings",
    "PluginSettings",
    "Preset",
    "PresetFile",
    "PresetSource",
    "RiskSettings",
    "Secret",
    "SizerSettings",
    "StrategySettings",
    "load_preset",
    "parse_preset",
]
