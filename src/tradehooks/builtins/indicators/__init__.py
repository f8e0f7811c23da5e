"""The built-in indicators (plugin ``indicators``), grouped by family, with TA-Lib's conventions.

============  ====================================  ========================  ===================
name          class                                 outputs                   first value at index
============  ====================================  ========================  ===================
``sma``       :class:`SimpleMovingAverage`          ``value``                 ``period - 1``
``ema``       :class:`ExponentialMovingAverage`     ``value``                 ``period - 1``
``rsi``       :class:`RelativeStrengthIndex`        ``value``                 ``period``
``atr``       :class:`AverageTrueRange`             ``value``                 ``period``
``stddev``    :class:`StandardDeviation`            ``value``                 ``period - 1``
``bbands``    :class:`BollingerBands`               ``upper middle lower``    ``period - 1``
``donchian``  :class:`DonchianChannels`             ``upper middle lower``    ``period - 1``
============  ====================================  ========================  ===================

Each is built as ``cls(params)`` (or ``cls()`` for the defaults, or ``cls.from_kwargs(period=5)``) and
takes one bar per ``update(bar)`` in O(1); ``value`` is ``None`` and ``ready`` is ``False`` until the
warm-up is over. ``cls.batch(params, values_or_bars)`` runs one over a whole series.
"""

from __future__ import annotations

from tradehooks import hookimpl

from .averages import ExponentialMovingAverage, SimpleMovingAverage
from .momentum import RelativeStrengthIndex
from .trend import DonchianChannels
from .volatility import AverageTrueRange, BollingerBands, StandardDeviation

__all__ = [
    "AverageTrueRange",
    "BollingerBands",
    "DonchianChannels",
    "ExponentialMovingAverage",
    "RelativeStrengthIndex",
    "SimpleMovingAverage",
    "StandardDeviation",
    "register_indicators",
]


@hookimpl
def register_indicators() -> list[type]:
    """Register the built-in indicators."""
    return [
        SimpleMovingAverage,
        ExponentialMovingAverage,
        RelativeStrengthIndex,
        AverageTrueRange,
        StandardDeviation,
        BollingerBands,
        DonchianChannels,
    ]
