"""The order router: target - position - open orders, never a double order."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from tradehooks import RiskDecision, Target, hookimpl
from tradehooks.model import OrderStatus, Side
from tradehooks.testing import run_backtest, synthetic_bars


def scripted(script: dict[int, float], name: str = "scripted") -> type:
    """A signal class that returns ``script[i]`` on the i-th bar (and None otherwise)."""

    class Scripted:
        def __init__(self, params, ctx):
            self.index = -1

        def on_bar(self, bar):
            self.index += 1
            exposure = script.get(self.index)
            return None if exposure is None else Target(exposure, f"bar {self.index}")

    Scripted.name = name
    return Scripted


class Always:
    """A signal that says +1 on every bar."""

    name: ClassVar[str] = "always"

    def __init__(self, params, ctx):
        pass

    def on_bar(self, bar):
        return 1.0


class TestNoDoubleOrders:
    def test_repeating_the_same_target_places_one_order(self):
        """A signal saying +1 on all 500 bars buys once."""
        result = run_backtest(signal=Always, bars=synthetic_bars(500))
        assert len(result.orders) == 1 and len(result.fills) == 1
        assert result.positions[("always", "BTCUSDT")].quantity == Decimal(1)

    def test_a_target_repeated_while_the_order_is_unfilled_adds_nothing(self):
        """With fills capped by volume, the open order's remainder counts towards the target."""
        bars = synthetic_bars(300)
        result = run_backtest(signal=Always, bars=bars, sizer=("fixed", {"quantity": "50"}),
                              broker={"max_volume_fraction": "0.05"})
        assert len(result.orders) == 1
        assert len(result.fills) > 1  # filled in parts over several bars
        assert sum(f.quantity for f in result.fills) <= Decimal(50)

    def test_a_changed_target_cancels_the_open_remainder_then_trades_the_difference(self):
        """Going flat while a big buy is half filled cancels it and sells what was bought."""
        signal = scripted({0: 1.0, 5: 0.0})
        result = run_backtest(signal=signal, bars=synthetic_bars(50), sizer=("fixed", {"quantity": "100"}),
                              broker={"max_volume_fraction": "0.05"})
        buy, sell = result.orders
        assert buy.side is Side.BUY and buy.status is OrderStatus.CANCELED and 0 < buy.filled_quantity < 100
        assert sell.side is Side.SELL and sell.status is OrderStatus.FILLED
        assert sell.quantity == buy.filled_quantity
        assert result.positions[("scripted", "BTCUSDT")].quantity == 0

    def test_a_flip_from_long_to_short_is_one_order(self):
        """+1 then -1 trades 1 then 2: one order for the whole difference."""
        result = run_backtest(signal=scripted({0: 1.0, 10: -1.0}), bars=synthetic_bars(30))
        assert [(o.side, o.quantity) for o in result.orders] == [(Side.BUY, 1), (Side.SELL, 2)]
        assert result.positions[("scripted", "BTCUSDT")].quantity == -1

    def test_an_order_under_the_minimum_notional_is_not_sent(self):
        """A 0.0001 BTC order (under 5 USDT) is skipped, not rejected by the broker."""
        result = run_backtest(signal=Always, bars=synthetic_bars(20, initial_price=30_000.0),
                              sizer=("fixed", {"quantity": "0.001"}), initial_cash=1000,
                              instruments=None)
        assert len(result.orders) == 1  # 0.001 * 30000 = 30 USDT: fine
        tiny = run_backtest(signal=Always, bars=synthetic_bars(20, initial_price=3_000.0),
                            sizer=("fixed", {"quantity": "0.001"}))
        assert tiny.orders == ()  # 0.001 * 3000 = 3 USDT < 5


class HalveEverything:
    """A risk plugin (registered explicitly) whose rule halves each order."""

    __name__ = "halver"

    @hookimpl
    def register_risk_rules(self):
        class Halve:
            name = "halve"

            def __init__(self, params, ctx):
                self.ctx = ctx

            def check(self, order, portfolio):
                return RiskDecision.shrink(order.quantity / 2, "half is enough")

        return [Halve]


class TestRiskGate:
    def test_a_risk_rule_can_shrink_an_order_and_observers_hear_of_it(self):
        """The halve rule turns a 1 BTC order into 0.5 and reports the trip."""
        from tradehooks.testing import RecordingObserver

        recorder = RecordingObserver()
        result = run_backtest(signal=scripted({0: 1.0}), bars=synthetic_bars(10), risk=[{"rule": "halve"}],
                              plugins=[HalveEverything(), recorder])
        assert [o.quantity for o in result.orders][:3] == [Decimal("0.5"), Decimal("0.25"), Decimal("0.125")]
        assert all(o.status is OrderStatus.FILLED for o in result.orders[:-1])  # the last one is still open
        trips = recorder.of("risk_tripped")
        assert trips[0]["rule"] == "halve" and trips[0]["action"] == "shrink"

    def test_max_position_denies_orders_beyond_the_cap(self):
        """max_position 0.4 shrinks a 1 BTC target to 0.4 and then stops."""
        result = run_backtest(signal=Always, bars=synthetic_bars(20),
                              risk=[{"rule": "max_position", "params": {"max_quantity": "0.4"}}])
        assert result.positions[("always", "BTCUSDT")].quantity == Decimal("0.4")


class RecordingSizer:
    """A sizer plugin that records what the engine feeds it."""

    __name__ = "recording_sizer"

    def __init__(self) -> None:
        self.made: list[object] = []

    @hookimpl
    def register_sizers(self):
        plugin = self

        class Recording:
            name = "recording"

            def __init__(self, params, ctx):
                self.instrument = ctx.instrument
                self.bars: list[object] = []
                self.closed: list[Decimal] = []
                plugin.made.append(self)

            def on_bar(self, bar):
                self.bars.append(bar)

            def on_trade_closed(self, pnl):
                self.closed.append(pnl)

            def size(self, exposure, *, instrument, price, equity, position):
                return instrument.quantity_down(Decimal(repr(exposure)))

        return [Recording]


class TestSizerFeeds:
    def test_a_sizer_sees_every_bar_and_the_net_pnl_of_each_closed_trade(self):
        """on_bar gets all bars of its instrument; on_trade_closed gets realised PnL minus fees."""
        sizers = RecordingSizer()
        bars = synthetic_bars(40)
        result = run_backtest(signal=scripted({0: 1.0, 10: 0.0, 20: -1.0, 30: 0.0}), bars=bars,
                              sizer=("recording", {}), plugins=[sizers], broker={"taker_fee": "0.001"})
        (sizer,) = sizers.made
        assert sizer.instrument.id == "BTCUSDT" and sizer.bars == bars
        fills = result.fills
        expected = []
        for opening, closing in ((fills[0], fills[1]), (fills[2], fills[3])):
            gross = (closing.price - opening.price) * opening.signed_quantity
            expected.append(gross - opening.fee - closing.fee)
        assert sizer.closed == expected
