"""The example signals, backtested with tradehooks.testing as any plugin author would."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tradehooks_examples import RangeTrading, RsiReversion, SmaCross
from tradehooks_examples.sma_cross import SmaCrossParams

import tradehooks
from tradehooks import Engine
from tradehooks.model import Bar, Side
from tradehooks.testing import run_backtest, synthetic_bars

MINUTE = 60 * 10**9


def bars_from_closes(closes: list[float]) -> list[Bar]:
    """Bars whose open equals the previous close, with a small range around open and close."""
    bars, previous = [], closes[0]
    for index, close in enumerate(closes):
        low, high = min(previous, close) - 0.5, max(previous, close) + 0.5
        bars.append(Bar("BTCUSDT", 1_704_067_200 * 10**9 + index * MINUTE, previous, high, low, close, 10.0))
        previous = close
    return bars


V_SHAPE = [100.0 - i for i in range(40)] + [61.0 + 2 * i for i in range(40)] + [139.0 - 2 * i for i in range(40)]


class TestSmaCross:
    def test_a_cross_above_buys_and_a_cross_below_sells_at_the_next_open(self):
        """Down, up, down: one buy after the upward cross, one sell after the downward cross."""
        bars = bars_from_closes(V_SHAPE)
        result = run_backtest(signal=SmaCross, bars=bars, params={"fast": 3, "slow": 8})
        assert [f.side for f in result.fills] == [Side.BUY, Side.SELL]
        for fill in result.fills:
            bar = next(b for b in bars if b.ts == fill.ts)
            assert fill.price == Decimal(repr(bar.open))  # filled at that bar's open, not the deciding close

    def test_allow_short_goes_short_on_the_cross_below(self):
        """With allow_short the downward cross sells twice the long: flat is skipped."""
        result = run_backtest(signal=SmaCross, bars=bars_from_closes(V_SHAPE),
                              params={"fast": 3, "slow": 8, "allow_short": True})
        assert [(f.side, f.quantity) for f in result.fills][-1] == (Side.SELL, Decimal(2))
        assert result.positions[("sma_cross", "BTCUSDT")].quantity == -1

    def test_slow_must_exceed_fast(self):
        """fast=30, slow=10 is refused with a reason."""
        with pytest.raises(ValueError, match="slow"):
            SmaCrossParams(fast=30, slow=10)

    def test_it_trades_on_realistic_synthetic_data(self):
        """On 3,000 synthetic bars the signal trades, and every position is closed or held consistently."""
        result = run_backtest(signal=SmaCross, bars=synthetic_bars(3_000), params={"fast": 10, "slow": 30})
        assert result.metrics.trades > 10
        assert result.positions[("sma_cross", "BTCUSDT")].quantity in (0, 1)


class TestRsiReversion:
    def test_buys_when_oversold_and_leaves_when_the_rsi_recovers(self):
        """A steady fall drives the RSI under 30 (buy); the rebound lifts it over 50 (sell)."""
        closes = [100.0 - i for i in range(30)] + [71.0 + i for i in range(30)]
        result = run_backtest(signal=RsiReversion, bars=bars_from_closes(closes), params={"period": 14})
        assert [f.side for f in result.fills] == [Side.BUY, Side.SELL]

    def test_levels_must_be_ordered(self):
        """oversold above overbought is refused."""
        with pytest.raises(ValueError, match="oversold < exit < overbought"):
            RsiReversion.Params(oversold=80, overbought=20)


class TestRangeTrading:
    def test_buys_near_the_low_and_sells_near_the_high_of_a_range(self):
        """A price oscillating in a range is bought at the bottom and sold at the top."""
        wave = [100, 102, 104, 106, 108, 110, 108, 106, 104, 102] * 6
        result = run_backtest(signal=RangeTrading, bars=bars_from_closes([float(c) for c in wave]),
                              params={"period": 10, "band": 0.15})
        sides = [f.side for f in result.fills]
        assert sides[:2] == [Side.BUY, Side.SELL] and len(sides) >= 4
        buys = [f.price for f in result.fills if f.side is Side.BUY]
        sells = [f.price for f in result.fills if f.side is Side.SELL]
        assert max(buys) < min(sells)


class TestPresets:
    """The presets a generated plugin ships, which need no data file."""

    PRESETS = Path(__file__).resolve().parents[1] / "presets"

    def test_the_example_preset_backtests_on_synthetic_data(self):
        result = tradehooks.backtest(self.PRESETS / "example.toml")
        assert result.metrics.bars == 8760 and result.metrics.fills > 0

    def test_the_paper_preset_is_valid(self):
        assert Engine.from_preset(self.PRESETS / "paper.toml").mode == "paper"
