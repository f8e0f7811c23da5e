"""The built-in indicators (plugin ``indicators``), grouped by family, with TA-Lib's conventions.

=============  ===============================================  ==============================  =================
name           class                                            outputs                         first value at
=============  ===============================================  ==============================  =================
``sma``        :class:`SimpleMovingAverage`                     ``value``                       ``period - 1``
``ema``        :class:`ExponentialMovingAverage`                ``value``                       ``period - 1``
``wma``        :class:`WeightedMovingAverage`                   ``value``                       ``period - 1``
``dema``       :class:`DoubleExponentialMovingAverage`          ``value``                       ``2 * (period - 1)``
``tema``       :class:`TripleExponentialMovingAverage`          ``value``                       ``3 * (period - 1)``
``kama``       :class:`KaufmanAdaptiveMovingAverage`            ``value``                       ``period``
``rsi``        :class:`RelativeStrengthIndex`                   ``value``                       ``period``
``stoch``      :class:`StochasticOscillator`                    ``k d``                         ``fastk_period + slowk_period + slowd_period - 3``
``stochrsi``   :class:`StochasticRelativeStrengthIndex`         ``k d``                         ``period + fastk_period + fastd_period - 2``
``macd``       :class:`MovingAverageConvergenceDivergence`      ``macd signal hist``            ``slow + signal - 2``
``roc``        :class:`RateOfChange`                            ``value``                       ``period``
``mom``        :class:`Momentum`                                ``value``                       ``period``
``cci``        :class:`CommodityChannelIndex`                   ``value``                       ``period - 1``
``willr``      :class:`WilliamsPercentRange`                    ``value``                       ``period - 1``
``atr``        :class:`AverageTrueRange`                        ``value``                       ``period``
``natr``       :class:`NormalizedAverageTrueRange`              ``value``                       ``period``
``trange``     :class:`TrueRange`                               ``value``                       ``1``
``bbands``     :class:`BollingerBands`                          ``upper middle lower``          ``period - 1``
``keltner``    :class:`KeltnerChannels`                         ``upper middle lower``          ``period``
``donchian``   :class:`DonchianChannels`                        ``upper middle lower``          ``period - 1``
``stddev``     :class:`StandardDeviation`                       ``value``                       ``period - 1``
``adx``        :class:`AverageDirectionalIndex`                 ``adx plus_di minus_di``        ``2 * period - 1``
``aroon``      :class:`Aroon`                                   ``up down``                     ``period``
``obv``        :class:`OnBalanceVolume`                         ``value``                       ``0``
``vwap``       :class:`VolumeWeightedAveragePrice`              ``value``                       ``0`` or ``period - 1``
``mfi``        :class:`MoneyFlowIndex`                          ``value``                       ``period``
=============  ===============================================  ==============================  =================

Each is built as ``cls(params)`` (or ``cls()`` for the defaults, or ``cls.from_kwargs(period=5)``) and
takes one bar per ``update(bar)`` in O(1) (amortised for the windowed extremes; CCI's mean deviation
is O(``period``)); ``value`` is ``None`` and ``ready`` is ``False`` until the warm-up is over.
Multi-output indicators have one attribute per name in ``outputs``, and ``value`` is the first.
``cls.batch(params, values_or_bars)`` runs one over a whole series (vectorised with numpy when given
arrays); ``cls.lookback(params)`` is the index of the first value.
"""

from __future__ import annotations

from tradehooks import hookimpl

from .averages import (
    DoubleExponentialMovingAverage,
    ExponentialMovingAverage,
    KaufmanAdaptiveMovingAverage,
    SimpleMovingAverage,
    TripleExponentialMovingAverage,
    WeightedMovingAverage,
)
from .momentum import (
    CommodityChannelIndex,
    Momentum,
    MovingAverageConvergenceDivergence,
    RateOfChange,
    RelativeStrengthIndex,
    StochasticOscillator,
    StochasticRelativeStrengthIndex,
    WilliamsPercentRange,
)
from .trend import Aroon, AverageDirectionalIndex, DonchianChannels
from .volatility import (
    AverageTrueRange,
    BollingerBands,
    KeltnerChannels,
    NormalizedAverageTrueRange,
    StandardDeviation,
    TrueRange,
)
from .volume import MoneyFlowIndex, OnBalanceVolume, VolumeWeightedAveragePrice

__all__ = [
    "Aroon",
    "AverageDirectionalIndex",
    "AverageTrueRange",
    "BollingerBands",
    "CommodityChannelIndex",
    "DonchianChannels",
    "DoubleExponentialMovingAverage",
    "ExponentialMovingAverage",
    "KaufmanAdaptiveMovingAverage",
    "KeltnerChannels",
    "Momentum",
    "MoneyFlowIndex",
    "MovingAverageConvergenceDivergence",
    "NormalizedAverageTrueRange",
    "OnBalanceVolume",
    "RateOfChange",
    "RelativeStrengthIndex",
    "SimpleMovingAverage",
    "StandardDeviation",
    "StochasticOscillator",
    "StochasticRelativeStrengthIndex",
    "TripleExponentialMovingAverage",
    "TrueRange",
    "VolumeWeightedAveragePrice",
    "WeightedMovingAverage",
    "WilliamsPercentRange",
    "register_indicators",
]


@hookimpl
def register_indicators() -> list[type]:
    """Register the built-in indicators."""
    return [
        SimpleMovingAverage,
        ExponentialMovingAverage,
        WeightedMovingAverage,
        DoubleExponentialMovingAverage,
        TripleExponentialMovingAverage,
        KaufmanAdaptiveMovingAverage,
        RelativeStrengthIndex,
        StochasticOscillator,
        StochasticRelativeStrengthIndex,
        MovingAverageConvergenceDivergence,
        RateOfChange,
        Momentum,
        CommodityChannelIndex,
        WilliamsPercentRange,
        AverageTrueRange,
        NormalizedAverageTrueRange,
        TrueRange,
        BollingerBands,
        KeltnerChannels,
        DonchianChannels,
        StandardDeviation,
        AverageDirectionalIndex,
        Aroon,
        OnBalanceVolume,
        VolumeWeightedAveragePrice,
        MoneyFlowIndex,
    ]
