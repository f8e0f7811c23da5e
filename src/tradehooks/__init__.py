"""tradehooks: a small, fast, plugin-based framework for algorithmic trading.

The public face. Hosts read typed events from :mod:`tradehooks.events`. Plugin authors also import
the families :mod:`tradehooks.hookspecs`,
:mod:`tradehooks.contracts`, :mod:`tradehooks.model`, :mod:`tradehooks.presets`,
:mod:`tradehooks.exceptions` and :mod:`tradehooks.testing`.
"""

from ._api import backtest
from ._clock import SimClock, WallClock
from ._engine import Engine, EngineState, StrategyInfo
from ._manager import PluginInfo, PluginManager
from ._reload import PresetDiff
from ._results import BacktestResult, Metrics
from ._thread import EngineThread
from .contracts import RiskDecision, Target
from .exceptions import (
    BrokerError,
    DataError,
    EngineStateError,
    FieldError,
    InvalidOrderError,
    PluginError,
    PresetError,
    StrategyError,
    TradehooksError,
)
from .hookspecs import hookimpl
from .presets import Preset, load_preset, parse_preset

__all__ = [
    "BacktestResult",
    "BrokerError",
    "DataError",
    "Engine",
    "EngineState",
    "EngineThread",
    "EngineStateError",
    "FieldError",
    "InvalidOrderError",
    "Metrics",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "Preset",
    "PresetDiff",
    "PresetError",
    "RiskDecision",
    "SimClock",
    "StrategyError",
    "StrategyInfo",
    "Target",
    "TradehooksError",
    "WallClock",
    "backtest",
    "hookimpl",
    "load_preset",
    "parse_preset",
]

__version__ = "0.1.0"

# Tracebacks and reprs say ``tradehooks.Engine``, not ``tradehooks._engine.Engine``.
for _name in ("backtest", "SimClock", "WallClock", "Engine", "EngineState", "EngineThread", "PluginInfo",
              "PluginManager", "PresetDiff", "StrategyInfo", "BacktestResult", "Metrics"):
    globals()[_name].__module__ = "tradehooks"
del _name
