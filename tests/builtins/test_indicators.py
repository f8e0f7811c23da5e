"""The built-in indicators against straightforward references written from TA-Lib's definitions."""

from __future__ import annotations

import csv
import functools
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.indicators import (
    AverageTrueRange,
    BollingerBands,
    DonchianChannels,
    ExponentialMovingAverage,
    RelativeStrengthIndex,
    SimpleMovingAverage,
    StandardDeviation,
    register_indicators,
)
from tradehooks.contracts import Indicator
from tradehooks.model import Bar, parse_ts

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC_FILE = DATA / "BTC_USDT-5m.csv"

REL = 1e-9
ABS = 1e-12  # for values that are exactly zero (a flat window's deviation, an RSI of 0)

Series = list[float | None]


# --- data -------------------------------------------------------------------------------------------


@functools.cache
def _btc_bars() -> tuple[Bar, ...]:
    with BTC_FILE.open(newline="") as handle:
        return tuple(
            Bar(
                "BTCUSDT",
                parse_ts(row["timestamp"]),
                float(row["open"]),
                float(row["high"]),
                float(row["low"]),
                float(row["close"]),
                float(row["volume"]),
            )
            for row in csv.DictReader(handle)
        )


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


@pytest.fixture(params=["btc", "random_walk"])
def bars(request: pytest.FixtureRequest) -> Sequence[Bar]:
    """The real BTC/USDT 5-minute bars (skipped when the data file is absent) and a synthetic walk."""
    if request.param == "btc":
        if not BTC_FILE.exists():
            pytest.skip(f"{BTC_FILE} is absent")
        return _btc_bars()
    return _random_walk_bars()


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
    RelativeStrengthIndex,
    AverageTrueRange,
    StandardDeviation,
    BollingerBands,
    DonchianChannels,
]


class TestRegisterIndicators:
    def test_registers_every_indicator_once_under_its_short_name(self) -> None:
        """The hook returns the seven classes with their documented short names."""
        classes = register_indicators()
        assert classes == ALL
        assert [cls.name for cls in classes] == [
            "sma", "ema", "rsi", "atr", "stddev", "bbands", "donchian"
        ]

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
        ],
    )
    def test_bad_parameters_are_refused_with_a_clear_message(
        self, cls: Any, raw: dict[str, Any], message: str
    ) -> None:
        """Out-of-range parameters raise ``ValueError`` naming the parameter and the value."""
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
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


class TestBatch:
    def test_batch_of_numbers_returns_none_until_warmed_up(self) -> None:
        """``batch`` over plain numbers gives ``None`` during warm-up and then the values."""
        assert SimpleMovingAverage.batch(SimpleMovingAverage.Params(period=3), [1.0, 2.0, 3.0, 4.0, 8.0]) == [
            None, None, 2.0, 3.0, 5.0
        ]

    @pytest.mark.parametrize("cls", ALL)
    def test_batch_of_bars_equals_updating_one_by_one(self, cls: Any) -> None:
        """``batch`` over bars returns what successive ``update`` calls return."""
        bars = _random_walk_bars()[:300]
        params = cls.Params(period=5)
        assert cls.batch(params, bars) == run(cls(params), bars)[0]


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


# --- TA-Lib itself, when installed ---------------------------------------------------------------------


def _talib_cases() -> list[tuple[str, Callable[..., Any], Callable[..., list[Series]]]]:
    """(id, build our series from bars, build TA-Lib's from numpy arrays) for each indicator."""

    def ours(cls: Any, *attributes: str, **params: Any) -> Callable[[Sequence[Bar]], list[Series]]:
        return lambda bars: run(cls(cls.Params(**params)), bars, *attributes)[0 if not attributes else 1 :]

    return [
        ("sma-2", ours(SimpleMovingAverage, period=2), lambda t, h, l, c: [t.SMA(c, 2)]),
        ("sma-30", ours(SimpleMovingAverage, period=30), lambda t, h, l, c: [t.SMA(c, 30)]),
        ("ema-2", ours(ExponentialMovingAverage, period=2), lambda t, h, l, c: [t.EMA(c, 2)]),
        ("ema-26", ours(ExponentialMovingAverage, period=26), lambda t, h, l, c: [t.EMA(c, 26)]),
        ("rsi-2", ours(RelativeStrengthIndex, period=2), lambda t, h, l, c: [t.RSI(c, 2)]),
        ("rsi-14", ours(RelativeStrengthIndex, period=14), lambda t, h, l, c: [t.RSI(c, 14)]),
        ("atr-1", ours(AverageTrueRange, period=1), lambda t, h, l, c: [t.ATR(h, l, c, 1)]),
        ("atr-14", ours(AverageTrueRange, period=14), lambda t, h, l, c: [t.ATR(h, l, c, 14)]),
        ("stddev-5", ours(StandardDeviation, period=5), lambda t, h, l, c: [t.STDDEV(c, 5, 1.0)]),
        (
            "stddev-20x2",
            ours(StandardDeviation, period=20, nbdev=2.0),
            lambda t, h, l, c: [t.STDDEV(c, 20, 2.0)],
        ),
        (
            "bbands-20",
            ours(BollingerBands, "upper", "middle", "lower", period=20, stddev=2.0),
            lambda t, h, l, c: list(t.BBANDS(c, 20, 2.0, 2.0, 0)),
        ),
        (
            "donchian-20",
            ours(DonchianChannels, "upper", "lower", period=20),
            lambda t, h, l, c: [t.MAX(h, 20), t.MIN(l, 20)],
        ),
    ]


class TestTaLibParity:
    @pytest.mark.parametrize(
        ("ours", "theirs"), [case[1:] for case in _talib_cases()], ids=[case[0] for case in _talib_cases()]
    )
    def test_matches_talib(
        self, bars: Sequence[Bar], ours: Callable[..., Any], theirs: Callable[..., Any]
    ) -> None:
        """Each indicator agrees with TA-Lib to 1e-9 relative, with the same warm-up."""
        talib = pytest.importorskip("talib")
        numpy = pytest.importorskip("numpy")
        high, low, close = (numpy.array([getattr(bar, f) for bar in bars]) for f in ("high", "low", "close"))
        for got, expected in zip(ours(bars), theirs(talib, high, low, close), strict=True):
            assert_series_close(got, expected.tolist())
