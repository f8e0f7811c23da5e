"""Example strategy signals for tradehooks.

The plugin's whole wiring is one hook implementation: tradehooks finds it through the entry point
``examples`` in group ``tradehooks`` (see ``pyproject.toml``).
"""

from tradehooks import hookimpl

from .range_trading import RangeTrading
from .rsi_reversion import RsiReversion
from .sma_cross import SmaCross

__all__ = ["RangeTrading", "RsiReversion", "SmaCross", "register_signals"]


@hookimpl
def register_signals() -> list[type]:
    return [SmaCross, RsiReversion, RangeTrading]
