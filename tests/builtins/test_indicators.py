"""The built-in indicators: registration, parameters, warm-up, ``batch``, and the first seven against
straightforward references written from TA-Lib's definitions.

This module also holds what the other ``test_indicators_*`` modules share: the data sets (the real
BTC/USDT 5-minute bars, a low-priced altcoin's 1-minute bars full of flat bars, and a synthetic
random walk with a flat stretch), the parameter sets every indicator is tested with, and the
comparison helpers. TA-Lib parity is in ``test_indicators_talib.py``, the indicators TA-Lib lacks in
``test_indicators_reference.py``, the numpy ``batch`` in ``test_indicators_arrays.py`` and the CLI in
``test_indicators_cli.py``.
"""

from __future__ import annotations

import csv
import functools
import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.indicators import (
    Aroon,
    AverageDirectionalIndex,
    AverageTrueRange,
    BollingerBands,
    CommodityChannelIndex,
    DonchianChannels,
    DoubleExponentialMovingAverage,
    ExponentialMovingAverage,
    KaufmanAdaptiveMovingAverage,
    KeltnerChannels,
    Momentum,
    MoneyFlowIndex,
    MovingAverageConvergenceDivergence,
    NormalizedAverageTrueRange,
    OnBalanceVolume,
    RateOfChange,
    RelativeStrengthIndex,
    SimpleMovingAverage,
    StandardDeviation,
    StochasticOscillator,
    StochasticRelativeStrengthIndex,
    TripleExponentialMovingAverage,
    TrueRange,
    VolumeWeightedAveragePrice,
    WeightedMovingAverage,
    WilliamsPercentRange,
    register_indicators,
)
from tradehooks.contracts import Indicator
from tradehooks.model import Bar, parse_ts

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC_FILE = DATA / "BTC_USDT-5m.csv"
ALTCOIN_FILE = DATA / "UNITTEST_BTC-1m.csv"  # priced around 0.0016, with many flat one-minute bars

REL = 1e-9
ABS = 1e-12  # for values that are exactly zero (a flat window's deviation, an RSI of 0)

Series = list[float | None]


# --- data -------------------------------------------------------------------------------------------


@functools.cache
def _file_bars(path: Path) -> tuple[Bar, ...]:
    with path.open(newline="") as handle:
        return tuple(
            Bar(
                path.stem,
                parse_ts(row["timestamp"]),
                float(row["open"]),
                float(row["high"]),
                float(row["low"]),
                float(row["close"]),
                float(row["volume"]),
            )
            for row in csv.DictReader(handle)
        )


def _btc_bars() -> tuple[Bar, ...]:
    return _file_bars(BTC_FILE)


@functools.cache
def _random_walk_bars(count: int = 4000, seed: int = 7) -> tuple[Bar, ...]:
    """A geometric random walk around 100 with a flat stretch of 40 identical bars in the middle."""
    rng = random.Random(seed)
    bars = []
    close = 100.0
    for i in range(count):
        open_ = close
        if count // 2 <= i < count // 2 + 40:
            bars.append(Bar("WALK", i, open_, open_, open_, open_, 0.0))
            continue
        close = open_ * math.exp(rng.gauss(0.0, 0.01))
        high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, 0.004)))
        low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, 0.004)))
        bars.append(Bar("WALK", i, open_, high, low, close, rng.uniform(1.0, 1000.0)))
    return tuple(bars)


def load_data_set(name: str) -> Sequence[Bar]:
    """``btc`` (real BTC/USDT 5-minute bars), ``altcoin`` (real 1-minute bars of a coin priced around
    0.0016 BTC, many of them flat) or ``random_walk`` (synthetic, with 40 identical bars in the
    middle); a missing data file skips the test."""
    if name == "random_walk":
        return _random_walk_bars()
    path = {"btc": BTC_FILE, "altcoin": ALTCOIN_FILE}[name]
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return _file_bars(path)


@pytest.fixture(params=["btc", "random_walk"])
def bars(request: pytest.FixtureRequest) -> Sequence[Bar]:
    """The real BTC/USDT 5-minute bars (skipped when the data file is absent) and a synthetic walk."""
    return load_data_set(request.param)


def _closes(bars: Sequence[Bar]) -> list[float]:
    return [bar.close for bar in bars]


# --- references: naive O(n * period) formulas from TA-Lib's definitions --------------------------


def ref_sma(xs: Sequence[float], n: int) -> Series:
    return [None if i < n - 1 else math.fsum(xs[i - n + 1 : i + 1]) / n for i in range(len(xs))]


def ref_ema(xs: Sequence[float], n: int) -> Series:
    out: Series = [None] * len(xs)
    if len(xs) < n:
        return out
    alpha = 2.0 / (n + 1)
    ema = math.fsum(xs[:n]) / n
    out[n - 1] = ema
    for i in range(n, len(xs)):
        ema = alpha * xs[i] + (1.0 - alpha) * ema
        out[i] = ema
    return out


def _rsi(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 0.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def ref_rsi(xs: Sequence[float], n: int) -> Series:
    out: Series = [None] * len(xs)
    changes = [xs[i] - xs[i - 1] for i in range(1, len(xs))]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    if len(changes) < n:
        return out
    gain = math.fsum(gains[:n]) / n
    loss = math.fsum(losses[:n]) / n
    out[n] = _rsi(gain, loss)
    for i in range(n + 1, len(xs)):
        gain = (gain * (n - 1) + gains[i - 1]) / n
        loss = (loss * (n - 1) + losses[i - 1]) / n
        out[i] = _rsi(gain, loss)
    return out


def ref_atr(bars: Sequence[Bar], n: int) -> Series:
    out: Series = [None] * len(bars)
    true_ranges = [
        max(bar.high, prev.close) - min(bar.low, prev.close) for prev, bar in zip(bars, bars[1:])
    ]
    if len(true_ranges) < n:
        return out
    atr = math.fsum(true_ranges[:n]) / n
    out[n] = atr
    for i in range(n + 1, len(bars)):
        atr = (atr * (n - 1) + true_ranges[i - 1]) / n
        out[i] = atr
    return out


def _pstdev(window: Sequence[float]) -> float:
    mean = math.fsum(window) / len(window)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in window) / len(window))


def ref_stddev(xs: Sequence[float], n: int, nbdev: float = 1.0) -> Series:
    return [None if i < n - 1 else _pstdev(xs[i - n + 1 : i + 1]) * nbdev for i in range(len(xs))]


def ref_bbands(xs: Sequence[float], n: int, k: float) -> tuple[Series, Series, Series]:
    middle = ref_sma(xs, n)
    spread = ref_stddev(xs, n, k)
    upper = [None if m is None else m + s for m, s in zip(middle, spread)]  # type: ignore[operator]
    lower = [None if m is None else m - s for m, s in zip(middle, spread)]  # type: ignore[operator]
    return upper, middle, lower


def ref_donchian(bars: Sequence[Bar], n: int) -> tuple[Series, Series, Series]:
    upper: Series = [None] * len(bars)
    lower: Series = [None] * len(bars)
    middle: Series = [None] * len(bars)
    for i in range(n - 1, len(bars)):
        window = bars[i - n + 1 : i + 1]
        high = max(bar.high for bar in window)
        low = min(bar.low for bar in window)
        upper[i], lower[i], middle[i] = high, low, (high + low) / 2.0
    return upper, middle, lower


# --- helpers ----------------------------------------------------------------------------------------


def run(indicator: Any, bars: Sequence[Bar], *attributes: str) -> list[Series]:
    """Feed ``bars`` one by one; return ``update``'s results, then each attribute after every update."""
    returned: Series = []
    seen: list[Series] = [[] for _ in attributes]
    for bar in bars:
        returned.append(indicator.update(bar))
        for column, attribute in zip(seen, attributes):
            column.append(getattr(indicator, attribute))
    return [returned, *seen]


def assert_series_close(actual: Sequence[float | None], expected: Sequence[float | None]) -> None:
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        if e is None or (isinstance(e, float) and math.isnan(e)):
            assert a is None, f"index {i}: expected no value yet, got {a}"
        else:
            assert a is not None, f"index {i}: expected {e}, got None"
            assert math.isclose(a, e, rel_tol=REL, abs_tol=ABS), f"index {i}: {a} != {e}"


def outputs_of(indicator: Any, bars: Sequence[Bar]) -> dict[str, Series]:
    """Feed ``bars`` one by one; return each output (and ``value``) after every update."""
    names = dict.fromkeys((*type(indicator).outputs, "value"))
    seen: dict[str, Series] = {name: [] for name in names}
    for bar in bars:
        returned = indicator.update(bar)
        assert returned == indicator.value or (returned is None and indicator.value is None)
        for name, column in seen.items():
            column.append(getattr(indicator, name))
    return seen


def assert_close(actual: Sequence[Any], expected: Sequence[Any], *, abs_tol: float, what: str = "") -> None:
    """``actual`` equals ``expected`` to 1e-9 relative (or ``abs_tol``), with ``None`` (or NaN) in exactly
    the same places: the same warm-up."""
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected)):
        a_missing = a is None or (isinstance(a, float) and math.isnan(a))
        e_missing = e is None or (isinstance(e, float) and math.isnan(e))
        assert a_missing == e_missing, f"{what} index {i}: {a} where {e} was expected"
        if not e_missing:
            assert math.isclose(a, e, rel_tol=REL, abs_tol=abs_tol), f"{what} index {i}: {a} != {e}"


def assert_first_value_at(indicator: Any, bars: Sequence[Bar], index: int) -> None:
    for i, bar in enumerate(bars[: index + 1]):
        result = indicator.update(bar)
        if i < index:
            assert result is None and indicator.value is None and not indicator.ready, f"index {i}"
    assert result is not None and indicator.value == result and indicator.ready


# --- tests --------------------------------------------------------------------------------------------


ALL = [
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

#: parameter sets every indicator is tested with (the defaults first)
PARAMS: dict[str, list[dict[str, Any]]] = {
    "sma": [{}, {"period": 1}, {"period": 2}, {"period": 50}],
    "ema": [{}, {"period": 1}, {"period": 2}, {"period": 50}],
    "wma": [{}, {"period": 1}, {"period": 2}, {"period": 50}],
    "dema": [{}, {"period": 1}, {"period": 2}, {"period": 9}],
    "tema": [{}, {"period": 1}, {"period": 2}, {"period": 9}],
    "kama": [{}, {"period": 2}, {"period": 10}],
    "rsi": [{}, {"period": 2}, {"period": 6}, {"period": 30}],
    "stoch": [{}, {"fastk_period": 1, "slowk_period": 1, "slowd_period": 1},
              {"fastk_period": 14, "slowk_period": 1, "slowd_period": 1},
              {"fastk_period": 21, "slowk_period": 5, "slowd_period": 4}],
    "stochrsi": [{}, {"period": 2, "fastk_period": 3, "fastd_period": 5},
                 {"period": 5, "fastk_period": 14, "fastd_period": 1}],
    "macd": [{}, {"fast": 2, "slow": 3, "signal": 1}, {"fast": 5, "slow": 35, "signal": 5}],
    "roc": [{}, {"period": 1}, {"period": 30}],
    "mom": [{}, {"period": 1}, {"period": 30}],
    "cci": [{}, {"period": 2}, {"period": 20}, {"period": 50}],
    "willr": [{}, {"period": 2}, {"period": 50}],
    "atr": [{}, {"period": 1}, {"period": 2}, {"period": 50}],
    "natr": [{}, {"period": 2}, {"period": 50}],
    "trange": [{}],
    "bbands": [{}, {"period": 2, "stddev": 1.0}, {"period": 50, "stddev": 3.0}],
    "keltner": [{}, {"period": 1, "multiplier": 1.0}, {"period": 10, "multiplier": 1.5}],
    "donchian": [{}, {"period": 1}, {"period": 55}],
    "stddev": [{}, {"period": 2}, {"period": 50, "nbdev": 2.0}],
    "adx": [{}, {"period": 2}, {"period": 3}, {"period": 30}],
    "aroon": [{}, {"period": 2}, {"period": 25}],
    "obv": [{}],
    "vwap": [{}, {"period": 1}, {"period": 20}],
    "mfi": [{}, {"period": 2}, {"period": 30}],
}

CASES = [(cls, raw) for cls in ALL for raw in PARAMS[cls.name]]
CASE_IDS = [f"{cls.name}-{'-'.join(f'{k}={v}' for k, v in raw.items()) or 'defaults'}" for cls, raw in CASES]


class TestRegisterIndicators:
    def test_registers_every_indicator_once_under_its_short_name(self) -> None:
        """The hook returns the twenty-six classes, by family, with their documented short names."""
        classes = register_indicators()
        assert classes == ALL
        assert [cls.name for cls in classes] == [
            "sma", "ema", "wma", "dema", "tema", "kama",
            "rsi", "stoch", "stochrsi", "macd", "roc", "mom", "cci", "willr",
            "atr", "natr", "trange", "bbands", "keltner", "donchian", "stddev",
            "adx", "aroon", "obv", "vwap", "mfi",
        ]

    def test_every_indicator_has_parameter_sets_under_test(self) -> None:
        """The parameter catalogue the other test modules use covers every indicator."""
        assert set(PARAMS) == {cls.name for cls in ALL}

    @pytest.mark.parametrize("cls", ALL)
    def test_every_indicator_satisfies_the_contract(self, cls: Any) -> None:
        """Each class builds with its default parameters into an ``Indicator`` that is not yet ready."""
        indicator = cls()
        assert isinstance(indicator, Indicator)
        assert indicator.value is None and indicator.ready is False

    @pytest.mark.parametrize("cls", ALL)
    def test_every_indicator_is_slotted(self, cls: Any) -> None:
        """Indicators keep their state in slots, with no per-instance ``__dict__``."""
        assert not hasattr(cls(), "__dict__")

    @pytest.mark.parametrize("cls", ALL)
    def test_every_output_is_an_attribute_that_starts_as_none(self, cls: Any) -> None:
        """``outputs`` names attributes (``value`` for a single output), all ``None`` before any bar."""
        assert cls.outputs and all(isinstance(name, str) for name in cls.outputs)
        indicator = cls()
        assert all(getattr(indicator, name) is None for name in cls.outputs)

    def test_multi_output_indicators_name_their_outputs_in_csv_order(self) -> None:
        """The documented outputs, and ``value`` is the first of them (Aroon's is the oscillator)."""
        expected = {
            "macd": ("macd", "signal", "hist"), "bbands": ("upper", "middle", "lower"),
            "keltner": ("upper", "middle", "lower"), "donchian": ("upper", "middle", "lower"),
            "stoch": ("k", "d"), "stochrsi": ("k", "d"), "adx": ("adx", "plus_di", "minus_di"),
            "aroon": ("up", "down"),
        }
        for cls in ALL:
            assert cls.outputs == expected.get(cls.name, ("value",)), cls.name


class TestWarmUp:
    @pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
    def test_the_first_value_comes_at_the_lookback_index(self, cls: Any, raw: dict[str, Any]) -> None:
        """``update`` returns ``None`` (and ``ready`` is false) exactly until index ``lookback(params)``."""
        params = cls.Params(**raw)
        assert_first_value_at(cls(params), _random_walk_bars(), cls.lookback(params))

    @pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
    def test_the_warmup_expression_says_the_same(self, cls: Any, raw: dict[str, Any]) -> None:
        """``warmup``, evaluated with the parameters, is ``lookback(params)``."""
        params = cls.Params(**raw)
        assert eval(cls.warmup, {}, attrs.asdict(params)) == cls.lookback(params)  # our own expression

    @pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
    def test_every_output_appears_by_the_lookback_index(self, cls: Any, raw: dict[str, Any]) -> None:
        """Every output is defined from ``lookback`` on, and only ADX's DIs (at ``period``) come earlier."""
        params = cls.Params(**raw)
        lookback = cls.lookback(params)
        seen = outputs_of(cls(params), _random_walk_bars()[: lookback + 30])
        for name, column in seen.items():
            first = next(i for i, v in enumerate(column) if v is not None)
            assert all(v is not None for v in column[first:]), name
            early = cls.name == "adx" and name in ("plus_di", "minus_di")
            assert first == (params.period if early else lookback), name

    def test_lookback_defaults_to_the_default_parameters(self) -> None:
        """``lookback()`` without parameters is that of the defaults."""
        assert MovingAverageConvergenceDivergence.lookback() == 33
        assert AverageDirectionalIndex.lookback() == 27
        assert VolumeWeightedAveragePrice.lookback() == 0
        assert VolumeWeightedAveragePrice.lookback(VolumeWeightedAveragePrice.Params(period=20)) == 19


class TestParams:
    @pytest.mark.parametrize(
        ("cls", "raw", "message"),
        [
            (SimpleMovingAverage, {"period": 0}, "period must be >= 1, got 0"),
            (ExponentialMovingAverage, {"period": -3}, "period must be >= 1, got -3"),
            (RelativeStrengthIndex, {"period": 0}, "period must be >= 1, got 0"),
            (AverageTrueRange, {"period": 0}, "period must be >= 1, got 0"),
            (StandardDeviation, {"period": 1}, "period must be >= 2, got 1"),
            (BollingerBands, {"period": 1}, "period must be >= 2, got 1"),
            (DonchianChannels, {"period": 0}, "period must be >= 1, got 0"),
            (BollingerBands, {"stddev": 0.0}, "stddev must be > 0, got 0.0"),
            (StandardDeviation, {"nbdev": -1.0}, "nbdev must be > 0, got -1.0"),
            (SimpleMovingAverage, {"source": "median"}, "source must be one of open, high, low, close"),
            (SimpleMovingAverage, {"period": 2.5}, "period must be an integer, got 2.5"),
            (WeightedMovingAverage, {"period": 0}, "period must be >= 1, got 0"),
            (DoubleExponentialMovingAverage, {"period": 0}, "period must be >= 1, got 0"),
            (TripleExponentialMovingAverage, {"period": 0}, "period must be >= 1, got 0"),
            (KaufmanAdaptiveMovingAverage, {"period": 1}, "period must be >= 2, got 1"),
            (StochasticOscillator, {"fastk_period": 0}, "fastk_period must be >= 1, got 0"),
            (StochasticOscillator, {"slowd_period": 0}, "slowd_period must be >= 1, got 0"),
            (StochasticRelativeStrengthIndex, {"period": 1}, "period must be >= 2, got 1"),
            (StochasticRelativeStrengthIndex, {"fastd_period": 0}, "fastd_period must be >= 1, got 0"),
            (MovingAverageConvergenceDivergence, {"fast": 1}, "fast must be >= 2, got 1"),
            (MovingAverageConvergenceDivergence, {"fast": 26, "slow": 12}, "slow must be > fast (26), got 12"),
            (MovingAverageConvergenceDivergence, {"fast": 12, "slow": 12}, "slow must be > fast (12), got 12"),
            (MovingAverageConvergenceDivergence, {"signal": 0}, "signal must be >= 1, got 0"),
            (RateOfChange, {"period": 0}, "period must be >= 1, got 0"),
            (Momentum, {"period": 0}, "period must be >= 1, got 0"),
            (CommodityChannelIndex, {"period": 1}, "period must be >= 2, got 1"),
            (WilliamsPercentRange, {"period": 1}, "period must be >= 2, got 1"),
            (NormalizedAverageTrueRange, {"period": 0}, "period must be >= 1, got 0"),
            (KeltnerChannels, {"multiplier": 0.0}, "multiplier must be > 0, got 0.0"),
            (KeltnerChannels, {"period": 0}, "period must be >= 1, got 0"),
            (AverageDirectionalIndex, {"period": 1}, "period must be >= 2, got 1"),
            (Aroon, {"period": 1}, "period must be >= 2, got 1"),
            (OnBalanceVolume, {"source": "vwap"}, "source must be one of open, high, low, close, volume"),
            (VolumeWeightedAveragePrice, {"period": 0}, "period must be >= 1, got 0"),
            (VolumeWeightedAveragePrice, {"period": 1.5}, "period must be an integer, got 1.5"),
            (MoneyFlowIndex, {"period": 1}, "period must be >= 2, got 1"),
        ],
    )
    def test_bad_parameters_are_refused_with_a_clear_message(
        self, cls: Any, raw: dict[str, Any], message: str
    ) -> None:
        """Out-of-range parameters raise ``ValueError`` naming the parameter and the value."""
        with pytest.raises(ValueError, match=re.escape(message)):
            cls.Params(**raw)

    def test_parameters_are_structured_from_a_preset_table(self) -> None:
        """The registry builds ``Params`` from a preset table, refusing unknown keys and bad values."""
        factory = Factory("indicator", "bbands", BollingerBands, "indicators", None)
        params = factory.params({"period": 10, "stddev": 2.5, "source": "high"})
        assert params == BollingerBands.Params(period=10, stddev=2.5, source="high")
        with pytest.raises(ParamsError) as caught:
            factory.params({"lenght": 10})
        assert caught.value.problems == [(("lenght",), "unknown key 'lenght'")]
        with pytest.raises(ParamsError, match=r"stddev must be > 0, got 0\.0"):
            factory.params({"stddev": 0})

    def test_from_kwargs_builds_from_keyword_parameters(self) -> None:
        """``from_kwargs`` is a shortcut for ``cls(cls.Params(**kwargs))``."""
        sma = SimpleMovingAverage.from_kwargs(period=3, source="open")
        assert sma.params == SimpleMovingAverage.Params(period=3, source="open")

    def test_defaults_follow_common_practice(self) -> None:
        """Without parameters the indicators use the usual periods (20, RSI and ATR 14, 2 deviations)."""
        assert SimpleMovingAverage().params.period == 20
        assert RelativeStrengthIndex().params.period == 14
        assert AverageTrueRange().params.period == 14
        assert BollingerBands().params == BollingerBands.Params(period=20, stddev=2.0, source="close")

    def test_defaults_follow_talib_where_it_has_them(self) -> None:
        """MACD 12/26/9, Stochastic 5/3/3, StochRSI 14/5/3, KAMA 30, CCI/ADX/MFI 14, ROC/MOM 10."""
        assert MovingAverageConvergenceDivergence().params == MovingAverageConvergenceDivergence.Params(
            fast=12, slow=26, signal=9)
        assert StochasticOscillator().params == StochasticOscillator.Params(
            fastk_period=5, slowk_period=3, slowd_period=3)
        assert StochasticRelativeStrengthIndex().params == StochasticRelativeStrengthIndex.Params(
            period=14, fastk_period=5, fastd_period=3)
        assert KaufmanAdaptiveMovingAverage().params.period == 30
        assert [cls().params.period for cls in (CommodityChannelIndex, AverageDirectionalIndex, MoneyFlowIndex)] == [
            14, 14, 14]
        assert RateOfChange().params.period == Momentum().params.period == 10
        assert VolumeWeightedAveragePrice().params.period is None
        assert KeltnerChannels().params == KeltnerChannels.Params(period=20, multiplier=2.0)


class TestBatch:
    def test_batch_of_numbers_returns_none_until_warmed_up(self) -> None:
        """``batch`` over plain numbers gives ``None`` during warm-up and then the values."""
        assert SimpleMovingAverage.batch(SimpleMovingAverage.Params(period=3), [1.0, 2.0, 3.0, 4.0, 8.0]) == [
            None, None, 2.0, 3.0, 5.0
        ]

    @pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
    def test_batch_of_bars_equals_updating_one_by_one(self, cls: Any, raw: dict[str, Any]) -> None:
        """``batch`` over bars returns what successive ``update`` calls return: a list of values, or for a
        multi-output indicator a dict of such lists keyed by ``outputs``."""
        bars = _random_walk_bars()[:300]
        params = cls.Params(**raw)
        seen = outputs_of(cls(params), bars)
        expected = seen["value"] if cls.outputs == ("value",) else {name: seen[name] for name in cls.outputs}
        assert cls.batch(params, bars) == expected

    def test_batch_of_a_multi_output_indicator_is_a_dict_of_lists(self) -> None:
        """Bollinger bands over numbers give their three bands, in ``outputs`` order."""
        got = BollingerBands.batch(BollingerBands.Params(period=2, stddev=1.0), [1.0, 3.0, 3.0])
        assert list(got) == ["upper", "middle", "lower"]
        assert got == {"upper": [None, 3.0, 3.0], "middle": [None, 2.0, 3.0], "lower": [None, 1.0, 3.0]}

    def test_batch_without_parameters_uses_the_defaults(self) -> None:
        """``batch(None, ...)`` is ``batch(cls.Params(), ...)``."""
        xs = [float(i % 7) for i in range(40)]
        assert RelativeStrengthIndex.batch(None, xs) == RelativeStrengthIndex.batch(RelativeStrengthIndex.Params(), xs)


class TestSimpleMovingAverage:
    @pytest.mark.parametrize("period", [1, 2, 20, 200])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int) -> None:
        """The SMA equals the mean of the last ``period`` closes."""
        (got,) = run(SimpleMovingAverage(SimpleMovingAverage.Params(period=period)), bars)
        assert_series_close(got, ref_sma(_closes(bars), period))

    @pytest.mark.parametrize("period", [1, 2, 30])
    def test_first_value_comes_at_index_period_minus_one(self, period: int) -> None:
        """The first value is at index ``period - 1``, as TA-Lib's."""
        sma = SimpleMovingAverage(SimpleMovingAverage.Params(period=period))
        assert_first_value_at(sma, _random_walk_bars(), period - 1)

    @pytest.mark.parametrize("source", ["open", "high", "low", "volume"])
    def test_reads_the_chosen_source(self, source: str) -> None:
        """With ``source`` set, the average is of that field instead of the close."""
        bars = _random_walk_bars()
        (got,) = run(SimpleMovingAverage(SimpleMovingAverage.Params(period=7, source=source)), bars)
        assert_series_close(got, ref_sma([getattr(bar, source) for bar in bars], 7))

    def test_does_not_drift_over_a_long_run_across_magnitudes(self) -> None:
        """After 60,000 values spanning nine orders of magnitude the running sum is still exact to 1e-9."""
        rng = random.Random(3)
        xs = [rng.uniform(1e5, 1e6) for _ in range(30_000)] + [rng.uniform(1e-3, 1e-2) for _ in range(30_000)]
        sma = SimpleMovingAverage(SimpleMovingAverage.Params(period=50))
        for x in xs:
            value = sma.update(Bar("X", 0, x, x, x, x, x))
        assert math.isclose(value, math.fsum(xs[-50:]) / 50, rel_tol=REL)  # type: ignore[arg-type]


class TestExponentialMovingAverage:
    @pytest.mark.parametrize("period", [1, 2, 12, 26, 200])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int) -> None:
        """The EMA starts at the SMA of the first ``period`` closes, then smooths by 2 / (period + 1)."""
        (got,) = run(ExponentialMovingAverage(ExponentialMovingAverage.Params(period=period)), bars)
        assert_series_close(got, ref_ema(_closes(bars), period))

    @pytest.mark.parametrize("period", [1, 5, 30])
    def test_first_value_comes_at_index_period_minus_one(self, period: int) -> None:
        """The first value is at index ``period - 1``, as TA-Lib's."""
        ema = ExponentialMovingAverage(ExponentialMovingAverage.Params(period=period))
        assert_first_value_at(ema, _random_walk_bars(), period - 1)

    def test_reads_the_chosen_source(self) -> None:
        """With ``source="high"`` the EMA follows the highs."""
        bars = _random_walk_bars()
        (got,) = run(ExponentialMovingAverage(ExponentialMovingAverage.Params(period=9, source="high")), bars)
        assert_series_close(got, ref_ema([bar.high for bar in bars], 9))


class TestRelativeStrengthIndex:
    @pytest.mark.parametrize("period", [2, 6, 14, 100])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int) -> None:
        """The RSI uses Wilder averages seeded with the simple averages of the first ``period`` changes."""
        (got,) = run(RelativeStrengthIndex(RelativeStrengthIndex.Params(period=period)), bars)
        assert_series_close(got, ref_rsi(_closes(bars), period))

    @pytest.mark.parametrize("period", [1, 2, 14])
    def test_first_value_comes_at_index_period(self, period: int) -> None:
        """The first value is at index ``period`` (it needs ``period`` changes), as TA-Lib's."""
        rsi = RelativeStrengthIndex(RelativeStrengthIndex.Params(period=period))
        assert_first_value_at(rsi, _random_walk_bars(), period)

    def test_a_flat_series_has_an_rsi_of_zero(self) -> None:
        """With neither gains nor losses the RSI is 0, TA-Lib's convention."""
        flat = [5.0] * 20
        assert RelativeStrengthIndex.batch(RelativeStrengthIndex.Params(period=14), flat)[14:] == [0.0] * 6

    def test_only_gains_give_one_hundred(self) -> None:
        """A series that only rises has an RSI of 100."""
        rising = [float(i) for i in range(1, 30)]
        assert RelativeStrengthIndex.batch(RelativeStrengthIndex.Params(period=5), rising)[5:] == [100.0] * 24


class TestAverageTrueRange:
    @pytest.mark.parametrize("period", [1, 2, 14, 100])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int) -> None:
        """The ATR starts at the mean of the first ``period`` true ranges, then is Wilder-smoothed."""
        (got,) = run(AverageTrueRange(AverageTrueRange.Params(period=period)), bars)
        assert_series_close(got, ref_atr(bars, period))

    @pytest.mark.parametrize("period", [1, 3, 14])
    def test_first_value_comes_at_index_period(self, period: int) -> None:
        """The first value is at index ``period``, as TA-Lib's (the first bar has no true range)."""
        atr = AverageTrueRange(AverageTrueRange.Params(period=period))
        assert_first_value_at(atr, _random_walk_bars(), period)

    def test_true_range_includes_gaps_from_the_previous_close(self) -> None:
        """A gap up counts from the previous close, not from the bar's own low."""
        bars = [Bar("X", 0, 10.0, 11.0, 9.0, 10.0, 1.0), Bar("X", 1, 15.0, 16.0, 14.0, 15.0, 1.0)]
        atr = AverageTrueRange(AverageTrueRange.Params(period=1))
        assert [atr.update(bar) for bar in bars] == [None, 6.0]


class TestStandardDeviation:
    @pytest.mark.parametrize(("period", "nbdev"), [(2, 1.0), (5, 1.0), (20, 2.0), (200, 1.0)])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int, nbdev: float) -> None:
        """The value is ``nbdev`` times the population standard deviation of the last ``period`` closes."""
        (got,) = run(StandardDeviation(StandardDeviation.Params(period=period, nbdev=nbdev)), bars)
        assert_series_close(got, ref_stddev(_closes(bars), period, nbdev))

    @pytest.mark.parametrize("period", [2, 5, 20])
    def test_first_value_comes_at_index_period_minus_one(self, period: int) -> None:
        """The first value is at index ``period - 1``, as TA-Lib's."""
        stddev = StandardDeviation(StandardDeviation.Params(period=period))
        assert_first_value_at(stddev, _random_walk_bars(), period - 1)

    def test_a_flat_window_is_exactly_zero_even_far_from_earlier_prices(self) -> None:
        """A window of identical values gives exactly 0, even after a long volatile stretch elsewhere."""
        rng = random.Random(5)
        xs = [rng.uniform(20_000.0, 30_000.0) for _ in range(500)] + [0.5] * 30
        assert StandardDeviation.batch(StandardDeviation.Params(period=10), xs)[-20:] == [0.0] * 20

    def test_does_not_lose_precision_when_the_spread_is_tiny_next_to_the_price(self) -> None:
        """Steps of 1e-6 on a level of 1e6, after a volatile stretch, still match to 1e-9 relative."""
        rng = random.Random(11)
        xs = [rng.uniform(5e5, 2e6) for _ in range(2_000)]
        xs += [1e6 + rng.uniform(-1e-6, 1e-6) for _ in range(2_000)]
        got = StandardDeviation.batch(StandardDeviation.Params(period=8), xs)
        assert_series_close(got, ref_stddev(xs, 8))


class TestBollingerBands:
    @pytest.mark.parametrize(("period", "k"), [(2, 2.0), (20, 2.0), (20, 1.5), (100, 3.0)])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int, k: float) -> None:
        """The middle band is the SMA, the outer bands are ``k`` population deviations away from it."""
        bbands = BollingerBands(BollingerBands.Params(period=period, stddev=k))
        returned, upper, middle, lower, value = run(bbands, bars, "upper", "middle", "lower", "value")
        ref_upper, ref_middle, ref_lower = ref_bbands(_closes(bars), period, k)
        assert_series_close(upper, ref_upper)
        assert_series_close(middle, ref_middle)
        assert_series_close(lower, ref_lower)
        assert returned == value == middle

    def test_first_values_come_at_index_period_minus_one(self) -> None:
        """All three bands appear together at index ``period - 1``."""
        bbands = BollingerBands(BollingerBands.Params(period=20))
        assert_first_value_at(bbands, _random_walk_bars(), 19)
        assert bbands.lower < bbands.middle < bbands.upper  # type: ignore[operator]


class TestDonchianChannels:
    @pytest.mark.parametrize("period", [1, 2, 20, 55])
    def test_matches_the_reference(self, bars: Sequence[Bar], period: int) -> None:
        """Upper is the highest high, lower the lowest low of the last ``period`` bars, middle their mean."""
        donchian = DonchianChannels(DonchianChannels.Params(period=period))
        returned, upper, middle, lower = run(donchian, bars, "upper", "middle", "lower")
        ref_upper, ref_middle, ref_lower = ref_donchian(bars, period)
        assert upper == ref_upper and lower == ref_lower
        assert_series_close(middle, ref_middle)
        assert returned == middle

    def test_first_values_come_at_index_period_minus_one(self) -> None:
        """The channel appears at index ``period - 1``."""
        assert_first_value_at(DonchianChannels(DonchianChannels.Params(period=10)), _random_walk_bars(), 9)

    def test_repeated_extremes_leave_the_window_one_at_a_time(self) -> None:
        """Equal highs entering and leaving the window keep the maximum right."""
        highs = [5.0, 5.0, 3.0, 5.0, 2.0, 2.0, 1.0, 1.0, 4.0, 4.0, 0.5]
        bars = [Bar("X", i, h, h, h, h, 0.0) for i, h in enumerate(highs)]
        (_, upper, lower) = run(DonchianChannels(DonchianChannels.Params(period=3)), bars, "upper", "lower")
        expected_upper, _, expected_lower = ref_donchian(bars, 3)
        assert upper == expected_upper and lower == expected_lower
