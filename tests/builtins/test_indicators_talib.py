"""Every indicator TA-Lib has, against TA-Lib itself (the PyPI ``ta-lib`` package, skipped without it):
the same values to 1e-9 relative and the same warm-up (NaN exactly where ours is ``None``), on real
and synthetic data, for every parameter set of the catalogue.

The absolute tolerance only matters for values at or near zero. It is 1e-9 for the 0-100 oscillators
and 1e-12 of the price level for price-like values. MACD's three lines are differences of EMAs, and
TA-Lib 0.8 computes its EMAs with a fused multiply-add on CPUs that have one (which Python cannot do
bit for bit), so they agree to 1e-12 of the price level too, not to 1e-9 of themselves where they
cross zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tradehooks.model import Bar

from .test_indicators import ALL, PARAMS, assert_close, load_data_set, outputs_of

talib = pytest.importorskip("talib")
np = pytest.importorskip("numpy")

DATA_SETS = ["btc", "altcoin", "random_walk"]

Arrays = dict[str, Any]

#: name -> TA-Lib's outputs, by our output names, for the parameters ``p`` on the columns ``c``
TALIB: dict[str, Callable[[Any, Arrays], dict[str, Any]]] = {
    "sma": lambda p, c: {"value": talib.SMA(c[p.source], p.period)},
    "ema": lambda p, c: {"value": talib.EMA(c[p.source], p.period)},
    "wma": lambda p, c: {"value": talib.WMA(c[p.source], p.period)},
    "dema": lambda p, c: {"value": talib.DEMA(c[p.source], p.period)},
    "tema": lambda p, c: {"value": talib.TEMA(c[p.source], p.period)},
    "kama": lambda p, c: {"value": talib.KAMA(c[p.source], p.period)},
    "rsi": lambda p, c: {"value": talib.RSI(c[p.source], p.period)},
    "stoch": lambda p, c: dict(zip(("k", "d"), talib.STOCH(
        c["high"], c["low"], c["close"], p.fastk_period, p.slowk_period, 0, p.slowd_period, 0))),
    "stochrsi": lambda p, c: dict(zip(("k", "d"), talib.STOCHRSI(
        c[p.source], p.period, p.fastk_period, p.fastd_period, 0))),
    "macd": lambda p, c: dict(zip(("macd", "signal", "hist"), talib.MACD(c[p.source], p.fast, p.slow, p.signal))),
    "roc": lambda p, c: {"value": talib.ROC(c[p.source], p.period)},
    "mom": lambda p, c: {"value": talib.MOM(c[p.source], p.period)},
    "cci": lambda p, c: {"value": talib.CCI(c["high"], c["low"], c["close"], p.period)},
    "willr": lambda p, c: {"value": talib.WILLR(c["high"], c["low"], c["close"], p.period)},
    "atr": lambda p, c: {"value": talib.ATR(c["high"], c["low"], c["close"], p.period)},
    "natr": lambda p, c: {"value": talib.NATR(c["high"], c["low"], c["close"], p.period)},
    "trange": lambda p, c: {"value": talib.TRANGE(c["high"], c["low"], c["close"])},
    "bbands": lambda p, c: dict(zip(("upper", "middle", "lower"),
                                    talib.BBANDS(c[p.source], p.period, p.stddev, p.stddev, 0))),
    "donchian": lambda p, c: {"upper": talib.MAX(c["high"], p.period), "lower": talib.MIN(c["low"], p.period)},
    "stddev": lambda p, c: {"value": talib.STDDEV(c[p.source], p.period, p.nbdev)},
    "adx": lambda p, c: {
        "adx": talib.ADX(c["high"], c["low"], c["close"], p.period),
        "plus_di": talib.PLUS_DI(c["high"], c["low"], c["close"], p.period),
        "minus_di": talib.MINUS_DI(c["high"], c["low"], c["close"], p.period),
    },
    "aroon": lambda p, c: {
        **dict(zip(("down", "up"), talib.AROON(c["high"], c["low"], p.period))),
        "value": talib.AROONOSC(c["high"], c["low"], p.period),
    },
    "obv": lambda p, c: {"value": talib.OBV(c[p.source], c["volume"])},
    "mfi": lambda p, c: {"value": talib.MFI(c["high"], c["low"], c["close"], c["volume"], p.period)},
}

#: outputs on a 0-100 scale (or -100-0, or CCI's), compared to 1e-9 absolute near zero
OSCILLATORS = {"rsi", "stoch", "stochrsi", "roc", "cci", "willr", "natr", "adx", "aroon", "mfi"}

#: parameter sets TA-Lib refuses
REFUSED = {("donchian", (("period", 1),))}

CASES = [
    (cls, raw)
    for cls in ALL
    if cls.name in TALIB
    for raw in PARAMS[cls.name]
    if (cls.name, tuple(raw.items())) not in REFUSED
]
CASE_IDS = [f"{cls.name}-{'-'.join(f'{k}={v}' for k, v in raw.items()) or 'defaults'}" for cls, raw in CASES]


@functools.cache
def _columns(name: str) -> Arrays:
    bars = load_data_set(name)
    return {field: np.array([getattr(bar, field) for bar in bars]) for field in Bar._fields[2:]}


def abs_tolerance(name: str, columns: Arrays) -> float:
    return 1e-9 if name in OSCILLATORS else 1e-12 * float(np.mean(np.abs(columns["close"])))


def test_every_indicator_talib_has_is_compared() -> None:
    """All but Keltner and VWAP (which TA-Lib lacks) are compared with TA-Lib."""
    assert {cls.name for cls in ALL} - set(TALIB) == {"keltner", "vwap"}


@pytest.mark.parametrize("data", DATA_SETS)
@pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
def test_update_matches_talib(data: str, cls: Any, raw: dict[str, Any]) -> None:
    """Bar by bar, every output equals TA-Lib's, with ``None`` exactly where TA-Lib has NaN."""
    params = cls.Params(**raw)
    bars: Sequence[Bar] = load_data_set(data)
    columns = _columns(data)
    seen = outputs_of(cls(params), bars)
    for output, expected in TALIB[cls.name](params, columns).items():
        assert_close(seen[output], expected.tolist(), abs_tol=abs_tolerance(cls.name, columns),
                     what=f"{cls.name} {output} on {data}:")


@pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
def test_lookback_is_talibs(cls: Any, raw: dict[str, Any]) -> None:
    """``lookback(params)`` is the index of TA-Lib's first value (of its primary output)."""
    params = cls.Params(**raw)
    columns = _columns("random_walk")
    result = TALIB[cls.name](params, columns)
    primary = cls.outputs[0] if cls.outputs[0] in result else "upper"
    assert int(np.argmax(~np.isnan(result[primary]))) == cls.lookback(params)


class TestTaLibQuirks:
    def test_macd_seeds_the_fast_ema_where_it_meets_the_slow_one(self) -> None:
        """TA-Lib's fast EMA starts from the mean of the ``fast`` values ending at ``slow - 1``, not from the
        first ``fast`` values; ours does the same, and a plain EMA difference would not match."""
        from tradehooks.builtins.indicators import (
            ExponentialMovingAverage,
            MovingAverageConvergenceDivergence,
        )

        columns = _columns("btc")
        close = columns["close"][:200]
        params = MovingAverageConvergenceDivergence.Params(fast=5, slow=35, signal=5)
        macd = MovingAverageConvergenceDivergence.batch(params, close.tolist())["macd"]
        naive = [None if f is None or s is None else f - s for f, s in zip(
            ExponentialMovingAverage.batch(ExponentialMovingAverage.Params(period=5), close.tolist()),
            ExponentialMovingAverage.batch(ExponentialMovingAverage.Params(period=35), close.tolist()))]
        expected = talib.MACD(close, 5, 35, 5)[0]
        assert macd[38] == pytest.approx(expected[38], rel=1e-9)
        assert naive[38] != pytest.approx(expected[38], rel=1e-3)

    def test_a_flat_window_reads_as_flat_despite_rounding_residue(self) -> None:
        """Identical typical prices whose sum does not divide back exactly still give a CCI of 0, as in
        TA-Lib 0.8 (a range within 1e-14 of the prices is rounding residue)."""
        from tradehooks.builtins.indicators import CommodityChannelIndex

        price = 90.03  # 14 * 90.03 / 14 != 90.03 in binary floating point
        bars = [Bar("X", i, price, price, price, price, 1.0) for i in range(20)]
        values = CommodityChannelIndex.batch(CommodityChannelIndex.Params(period=14), bars)
        assert values[13:] == [0.0] * 7
        x = np.full(20, price)
        assert talib.CCI(x, x, x, 14)[13:].tolist() == [0.0] * 7
