"""The indicators TA-Lib has no function for (Keltner channels, the VWAP), against straightforward
references written from their documented definitions, and the edge cases of the others: ties,
flat windows, gaps in volume, session boundaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from tradehooks.builtins.indicators import (
    Aroon,
    AverageDirectionalIndex,
    CommodityChannelIndex,
    KaufmanAdaptiveMovingAverage,
    KeltnerChannels,
    MoneyFlowIndex,
    MovingAverageConvergenceDivergence,
    OnBalanceVolume,
    StochasticOscillator,
    StochasticRelativeStrengthIndex,
    TrueRange,
    VolumeWeightedAveragePrice,
    WeightedMovingAverage,
    WilliamsPercentRange,
)
from tradehooks.model import NS_PER_SECOND, Bar, parse_ts

from .test_indicators import (
    PARAMS,
    Series,
    _random_walk_bars,
    assert_close,
    load_data_set,
    outputs_of,
    ref_atr,
    ref_ema,
)

DATA_SETS = ["btc", "altcoin", "random_walk"]
DAY = 86_400 * NS_PER_SECOND


def _typical(bar: Bar) -> float:
    return (bar.high + bar.low + bar.close) / 3.0


def ref_keltner(bars: Sequence[Bar], n: int, multiplier: float) -> tuple[Series, Series, Series]:
    """EMA(close, n) (SMA-seeded) for the middle, +/- multiplier * ATR(n) (Wilder) for the outer lines,
    from the first bar where both are defined."""
    middle = ref_ema([bar.close for bar in bars], n)
    atr = ref_atr(bars, n)
    upper: Series = []
    lower: Series = []
    centre: Series = []
    for m, a in zip(middle, atr):
        if m is None or a is None:
            upper.append(None)
            centre.append(None)
            lower.append(None)
        else:
            upper.append(m + multiplier * a)
            centre.append(m)
            lower.append(m - multiplier * a)
    return upper, centre, lower


def _vwap(window: Sequence[Bar]) -> float:
    volume = math.fsum(bar.volume for bar in window)
    if volume == 0.0:
        return _typical(window[-1])
    return math.fsum(_typical(bar) * bar.volume for bar in window) / volume


def ref_session_vwap(bars: Sequence[Bar]) -> Series:
    """Cumulative sum(typical * volume) / sum(volume) since the first bar of the bar's UTC day."""
    out: Series = []
    start = 0
    for i, bar in enumerate(bars):
        if i and bar.ts // DAY != bars[i - 1].ts // DAY:
            start = i
        out.append(_vwap(bars[start : i + 1]))
    return out


def ref_rolling_vwap(bars: Sequence[Bar], n: int) -> Series:
    """sum(typical * volume) / sum(volume) over the last ``n`` bars."""
    return [None if i < n - 1 else _vwap(bars[i - n + 1 : i + 1]) for i in range(len(bars))]


def _bars(*rows: tuple[float, float, float, float, float], start: int = 0, step: int = 60 * NS_PER_SECOND) -> list[Bar]:
    """Bars from (open, high, low, close, volume) rows, one ``step`` apart from ``start``."""
    return [Bar("X", start + i * step, *row) for i, row in enumerate(rows)]


class TestKeltnerChannels:
    @pytest.mark.parametrize("data", DATA_SETS)
    @pytest.mark.parametrize("raw", PARAMS["keltner"], ids=lambda raw: str(raw) or "defaults")
    def test_matches_the_reference(self, data: str, raw: dict[str, Any]) -> None:
        """The middle is the EMA of the close and the outer lines are ``multiplier`` ATRs away from it."""
        params = KeltnerChannels.Params(**raw)
        bars = load_data_set(data)
        seen = outputs_of(KeltnerChannels(params), bars)
        expected = ref_keltner(bars, params.period, params.multiplier)
        scale = 1e-12 * bars[0].close
        for name, column in zip(("upper", "middle", "lower"), expected):
            assert_close(seen[name], column, abs_tol=scale, what=name)
        assert seen["value"] == seen["middle"]

    def test_the_channel_appears_when_the_atr_does(self) -> None:
        """With ``period`` 10 the EMA is ready at index 9 but the ATR only at 10, and so the channel."""
        seen = outputs_of(KeltnerChannels(KeltnerChannels.Params(period=10)), _random_walk_bars()[:12])
        assert seen["middle"][:10] == [None] * 10 and seen["middle"][10] is not None
        assert seen["lower"][10] < seen["middle"][10] < seen["upper"][10]  # type: ignore[operator]


class TestVolumeWeightedAveragePrice:
    @pytest.mark.parametrize("data", DATA_SETS)
    def test_session_vwap_matches_the_reference(self, data: str) -> None:
        """Without a period the VWAP is cumulative over the UTC day, reset at midnight."""
        bars = load_data_set(data)
        got = VolumeWeightedAveragePrice.batch(None, bars)
        assert_close(got, ref_session_vwap(bars), abs_tol=1e-12 * bars[0].close)

    @pytest.mark.parametrize("data", DATA_SETS)
    @pytest.mark.parametrize("period", [1, 2, 20, 288])
    def test_rolling_vwap_matches_the_reference(self, data: str, period: int) -> None:
        """With a period the VWAP is over the last ``period`` bars, from index ``period - 1``."""
        bars = load_data_set(data)
        got = VolumeWeightedAveragePrice.batch(VolumeWeightedAveragePrice.Params(period=period), bars)
        assert_close(got, ref_rolling_vwap(bars, period), abs_tol=1e-12 * bars[0].close)

    def test_the_session_resets_at_utc_midnight(self) -> None:
        """The first bar opening at or after 00:00 UTC starts a new average from its own typical price."""
        start = parse_ts("2024-03-01T23:58:00Z")
        bars = _bars((10, 12, 8, 10, 1), (10, 12, 8, 10, 3), (20, 22, 18, 20, 5), (30, 33, 27, 30, 5), start=start)
        assert VolumeWeightedAveragePrice.batch(None, bars) == [10.0, 10.0, 20.0, 25.0]

    def test_no_volume_yet_gives_the_typical_price(self) -> None:
        """A session (or window) that has traded nothing reads the latest typical price."""
        bars = _bars((10, 12, 8, 10, 0), (11, 14, 11, 11, 0), (12, 12, 12, 12, 2))
        assert VolumeWeightedAveragePrice.batch(None, bars) == [10.0, 12.0, 12.0]
        rolling = VolumeWeightedAveragePrice.Params(period=2)
        assert VolumeWeightedAveragePrice.batch(rolling, bars) == [None, 12.0, 12.0]

    def test_rolling_sums_stay_exact_when_volume_collapses(self) -> None:
        """After a million-fold drop in volume the rolling VWAP still matches the reference to 1e-9."""
        big = [Bar("X", i, 100.0 + i % 7, 101.0 + i % 7, 99.0 + i % 7, 100.0 + i % 7, 1e6) for i in range(3000)]
        small = [Bar("X", 3000 + i, 50.0 + i % 5, 51.0 + i % 5, 49.0 + i % 5, 50.0 + i % 5, 1.0) for i in range(50)]
        bars = big + small
        got = VolumeWeightedAveragePrice.batch(VolumeWeightedAveragePrice.Params(period=10), bars)
        assert_close(got[-40:], ref_rolling_vwap(bars, 10)[-40:], abs_tol=0.0)


class TestEdgeCases:
    def test_aroon_counts_from_the_latest_of_equal_extremes(self) -> None:
        """When several bars share the highest high, the most recent one counts (as in TA-Lib)."""
        bars = _bars(*[(5, 5, 1, 3, 1)] * 6)
        aroon = Aroon(Aroon.Params(period=3))
        seen = outputs_of(aroon, bars)
        assert seen["up"][3:] == [100.0] * 3 and seen["down"][3:] == [100.0] * 3 and seen["value"][3:] == [0.0] * 3

    def test_aroon_reads_how_long_ago_the_extremes_were(self) -> None:
        """A high two bars ago over a period of 4 is an Aroon up of 50; the low today is a down of 100."""
        highs = [1, 9, 2, 3, 2]
        bars = [Bar("X", i, h, h, h - 1 if i < 4 else -5, h, 1) for i, h in enumerate(highs)]
        aroon = Aroon(Aroon.Params(period=4))
        for bar in bars:
            aroon.update(bar)
        assert (aroon.up, aroon.down, aroon.value) == (25.0, 100.0, -75.0)

    def test_adx_directional_indicators_come_before_the_adx(self) -> None:
        """+DI and -DI are defined from index ``period``, the ADX from ``2 * period - 1``."""
        seen = outputs_of(AverageDirectionalIndex(AverageDirectionalIndex.Params(period=5)), _random_walk_bars()[:12])
        assert seen["plus_di"].index(next(v for v in seen["plus_di"] if v is not None)) == 5
        assert seen["adx"][:9] == [None] * 9 and seen["adx"][9] is not None

    def test_adx_of_a_flat_market_is_zero_and_stays_put(self) -> None:
        """With no true range at all the DIs are 0 and the ADX, which has no DX to average, is 0."""
        bars = _bars(*[(5, 5, 5, 5, 1)] * 20)
        seen = outputs_of(AverageDirectionalIndex(AverageDirectionalIndex.Params(period=3)), bars)
        assert seen["adx"][5:] == [0.0] * 15 and seen["plus_di"][3:] == [0.0] * 17

    def test_stochastics_of_a_flat_window_are_zero(self) -> None:
        """A window whose highest high equals its lowest low gives %K, %D and %R of 0."""
        bars = _bars(*[(5, 5, 5, 5, 1)] * 12)
        stoch = StochasticOscillator.batch(None, bars)
        assert stoch["k"][8:] == [0.0] * 4 and stoch["d"][8:] == [0.0] * 4
        assert WilliamsPercentRange.batch(WilliamsPercentRange.Params(period=3), bars)[2:] == [0.0] * 10
        flat_rsi = StochasticRelativeStrengthIndex.batch(StochasticRelativeStrengthIndex.Params(period=2), [5.0] * 12)
        assert flat_rsi["k"][8:] == [0.0] * 4

    def test_williams_r_is_minus_100_at_the_low_and_0_at_the_high(self) -> None:
        """%R is in [-100, 0]: -100 when the close is the lowest low, 0 when it is the highest high."""
        bars = _bars((5, 10, 5, 7, 1), (7, 9, 6, 5, 1), (5, 10, 5, 10, 1))
        assert WilliamsPercentRange.batch(WilliamsPercentRange.Params(period=2), bars) == [None, -100.0, 0.0]

    def test_mfi_is_zero_when_the_window_has_no_money_flow(self) -> None:
        """Typical prices that do not move put no money flow in the window, which reads 0."""
        bars = _bars(*[(5, 6, 4, 5, 10)] * 8)
        assert MoneyFlowIndex.batch(MoneyFlowIndex.Params(period=3), bars)[3:] == [0.0] * 5

    def test_mfi_is_100_when_all_money_flowed_in(self) -> None:
        """Rising typical prices only: MFI 100."""
        bars = _bars(*[(p, p + 1, p - 1, p, 10) for p in range(10, 20)])
        assert MoneyFlowIndex.batch(MoneyFlowIndex.Params(period=4), bars)[4:] == [100.0] * 6

    def test_obv_starts_at_the_first_volume(self) -> None:
        """OBV begins with the first bar's volume, then adds on up-closes and subtracts on down-closes."""
        bars = _bars((1, 1, 1, 1, 5), (2, 2, 2, 2, 3), (2, 2, 2, 2, 4), (1, 1, 1, 1, 2))
        assert OnBalanceVolume.batch(None, bars) == [5.0, 8.0, 8.0, 6.0]

    def test_true_range_widens_to_the_previous_close(self) -> None:
        """A gap down counts from the previous close."""
        bars = _bars((10, 11, 9, 10, 1), (5, 6, 4, 5, 1))
        assert TrueRange.batch(None, bars) == [None, 6.0]

    def test_weighted_average_weighs_the_newest_most(self) -> None:
        """WMA(3) of 1, 2, 3 is (1 + 4 + 9) / 6."""
        assert WeightedMovingAverage.batch(WeightedMovingAverage.Params(period=3), [1.0, 2.0, 3.0]) == [
            None, None, 14.0 / 6.0]

    def test_weighted_average_does_not_drift_over_a_long_run(self) -> None:
        """After 50,000 values the WMA is still exact to 1e-12 relative."""
        xs = [20_000.0 + (i * 7919 % 1000) / 10.0 for i in range(50_000)]
        got = WeightedMovingAverage.batch(WeightedMovingAverage.Params(period=1), xs)
        assert got[-1] == pytest.approx(xs[-1], rel=1e-12)
        got = WeightedMovingAverage.batch(WeightedMovingAverage.Params(period=5), xs)
        expected = math.fsum(x * w for x, w in zip(xs[-5:], range(1, 6))) / 15
        assert got[-1] == pytest.approx(expected, rel=1e-12)

    def test_kama_moves_fast_in_a_trend_and_slowly_in_noise(self) -> None:
        """A straight trend is efficient (ratio 1): KAMA follows it with the EMA-2 constant."""
        xs = [float(i) for i in range(20)]
        kama = KaufmanAdaptiveMovingAverage.batch(KaufmanAdaptiveMovingAverage.Params(period=5), xs)
        # from x[4] = 4, one step with constant (2/3) ** 2 towards x[5] = 5
        assert kama[5] == pytest.approx(4.0 + 4.0 / 9.0, rel=1e-15)

    def test_cci_of_a_typical_price_at_the_mean_is_zero(self) -> None:
        """A typical price equal to the window's mean gives 0 whatever the deviation."""
        bars = _bars((1, 1, 1, 1, 1), (3, 3, 3, 3, 1), (2, 2, 2, 2, 1))
        assert CommodityChannelIndex.batch(CommodityChannelIndex.Params(period=3), bars) == [None, None, 0.0]

    def test_macd_histogram_is_the_line_minus_the_signal(self) -> None:
        """Every bar, ``hist == macd - signal`` exactly."""
        got = MovingAverageConvergenceDivergence.batch(None, _random_walk_bars()[:300])
        for macd, signal, hist in zip(got["macd"], got["signal"], got["hist"]):
            assert hist == (None if macd is None else macd - signal)
