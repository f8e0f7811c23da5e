"""Every built-in risk rule trips inside a real engine backtest, and the engine does what it says:
the kill switch flattens and refuses, exposure is shrunk, the order rate and the open orders are held.

Each trip reaches the ``risk_tripped`` observers with the rule's name and the action taken.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from tradehooks import Target
from tradehooks.model import Bar, Order, OrderStatus, Side, parse_timeframe, parse_ts
from tradehooks.testing import RecordingObserver, run_backtest

NO_FEES = {"taker_fee": "0"}


def bars(prices: list[float], instrument: str = "BTCUSDT", *, start: str = "2024-01-01T00:00:00Z",
         timeframe: str = "1m", volume: float = 1_000_000.0) -> list[Bar]:
    """Flat bars (open = high = low = close) at ``prices``, one ``timeframe`` apart."""
    step = parse_timeframe(timeframe)
    first = parse_ts(start)
    return [Bar(instrument, first + i * step, p, p, p, p, volume) for i, p in enumerate(prices)]


def interleave(*series: list[Bar]) -> list[Bar]:
    """Bars of several instruments in time order (instruments in the order given at equal times)."""
    return [bar for group in zip(*series, strict=True) for bar in group]


def scripted(script: dict[int, float], name: str = "scripted") -> type:
    """A signal saying ``script[i]`` on its i-th bar and nothing otherwise."""

    class Scripted:
        def __init__(self, params: Any, ctx: Any) -> None:
            self.index = -1

        def on_bar(self, bar: Bar) -> Target | None:
            self.index += 1
            exposure = script.get(self.index)
            return None if exposure is None else Target(exposure, f"bar {self.index}")

    Scripted.name = name  # type: ignore[attr-defined]
    return Scripted


class Always:
    """Fully long on every bar of every instrument."""

    name: ClassVar[str] = "always"

    def __init__(self, params: Any, ctx: Any) -> None:
        pass

    def on_bar(self, bar: Bar) -> float:
        return 1.0


class Flip:
    """Long on even bars, short on odd ones: a runaway strategy."""

    name: ClassVar[str] = "flip"

    def __init__(self, params: Any, ctx: Any) -> None:
        self.index = -1

    def on_bar(self, bar: Bar) -> float:
        self.index += 1
        return 1.0 if self.index % 2 == 0 else -1.0


def trips(recorder: RecordingObserver) -> list[tuple[str, str]]:
    return [(call["rule"], call["action"]) for call in recorder.of("risk_tripped")]


def orders_of(result: Any) -> list[Order]:
    return sorted(result.orders, key=lambda o: (o.ts_created, o.client_order_id))


class TestMaxDrawdown:
    # Flat at 100, up to a peak of 110, then down 1 per bar.
    PRICES = [100.0] * 3 + [100.0 + 2 * i for i in range(6)] + [109.0 - i for i in range(26)]

    def test_a_drawdown_throws_the_kill_switch_which_flattens_and_refuses_new_orders(self) -> None:
        """Long 50 from 100 on 10,000 of cash: at 99 the equity (9,950) is 5.2 % under its peak of 10,500,
        so a 5 % limit trips; the position is sold at once and the later targets place nothing."""
        prices = self.PRICES
        trip = next(i for i, p in enumerate(prices) if (10_500 - (5_000 + 50 * p)) / 10_500 >= 0.05)
        assert prices[trip] == 99.0
        later = {0: 1.0, trip + 4: 0.5, trip + 6: 1.0, trip + 8: -1.0}  # a strategy that keeps trying
        assert max(later) < len(prices)
        recorder = RecordingObserver()
        series = bars(prices)
        result = run_backtest(signal=scripted(later), bars=series, sizer=("fixed", {"quantity": "50"}),
                              initial_cash=10_000, broker=NO_FEES, plugins=[recorder],
                              risk=[{"rule": "max_drawdown", "params": {"max_drawdown": "0.05"}}])

        assert trips(recorder) == [("max_drawdown", "kill")]
        assert "below its peak of 10,500.00" in recorder.of("risk_tripped")[0]["reason"]
        tripped_at = series[trip + 1].ts  # the close of the bar that made the drawdown
        buy, flatten = orders_of(result)
        assert (buy.side, buy.quantity) == (Side.BUY, Decimal(50))
        assert (flatten.side, flatten.quantity, flatten.ts_created) == (Side.SELL, Decimal(50), tripped_at)
        assert flatten.status is OrderStatus.FILLED  # on the next bar, at its open
        assert result.fills[-1].price == Decimal(str(prices[trip + 1]))
        assert result.positions[("scripted", "BTCUSDT")].quantity == 0
        assert all(o.ts_created <= tripped_at for o in result.orders)  # nothing after the trip


class TestDailyLoss:
    # Hourly bars from 18:00 UTC: the first day loses 240 (10 x 24), then midnight starts a new day.
    START = "2024-01-01T18:00:00Z"
    PRICES = [100.0, 100.0, 94.0, 88.0, 82.0, 76.0] + [76.0 - 2 * i for i in range(1, 25)]

    def test_a_days_loss_past_the_limit_throws_the_kill_switch(self) -> None:
        """Long 10: the first day ends 240 down, under the 300 limit; the second day starts over at 76,
        so the switch is thrown only at 44 (320 under the day's start), though 68 was 320 under 100."""
        prices = self.PRICES
        series = bars(prices, start=self.START, timeframe="1h")
        midnight = parse_ts("2024-01-02T00:00:00Z")
        day_start = next(i for i, b in enumerate(series) if b.ts + 3_600_000_000_000 >= midnight)
        assert prices[day_start] == 76.0
        trip = next(i for i, p in enumerate(prices) if i > day_start and 10 * (76 - p) > 300)
        assert prices[trip] == 44.0
        later = {0: 1.0, trip + 2: 0.5, trip + 3: 1.0}
        assert max(later) < len(prices)
        recorder = RecordingObserver()
        result = run_backtest(signal=scripted(later), bars=series, sizer=("fixed", {"quantity": "10"}),
                              initial_cash=10_000, broker=NO_FEES, plugins=[recorder],
                              risk=[{"rule": "daily_loss", "params": {"max_loss": "300"}}])

        assert trips(recorder) == [("daily_loss", "kill")]
        assert "the day 2024-01-02 started with" in recorder.of("risk_tripped")[0]["reason"]
        tripped_at = series[trip + 1].ts
        buy, flatten = orders_of(result)
        assert buy.side is Side.BUY and (flatten.side, flatten.ts_created) == (Side.SELL, tripped_at)
        assert result.positions[("scripted", "BTCUSDT")].quantity == 0
        assert all(o.ts_created <= tripped_at for o in result.orders)


class TestMaxExposure:
    def test_an_order_past_the_gross_limit_is_shrunk_and_the_rest_denied(self) -> None:
        """A target of 10 at 100 (1,000) under a gross limit of 450 buys 4.5; the missing 5.5 is denied."""
        recorder = RecordingObserver()
        result = run_backtest(signal=Always, bars=bars([100.0] * 10), sizer=("fixed", {"quantity": "10"}),
                              broker=NO_FEES, plugins=[recorder],
                              risk=[{"rule": "max_exposure", "params": {"max_gross": "450"}}])

        assert trips(recorder) == [("max_exposure", "shrink"), ("max_exposure", "deny")]
        shrink, deny = recorder.of("risk_tripped")
        assert "gross exposure from 0 to 1000" in shrink["reason"] and shrink["order"].quantity == 10
        assert deny["order"].quantity == Decimal("5.5") and "nothing fits" in deny["reason"]
        assert [(o.quantity, o.status) for o in result.orders] == [(Decimal("4.5"), OrderStatus.FILLED)]
        assert result.positions[("always", "BTCUSDT")].quantity == Decimal("4.5")

    def test_a_net_limit_over_all_instruments_shrinks_the_second_instrument(self) -> None:
        """Long 10 BTC at 100 first, then ETH at 100 under a net limit of 1,500: ETH gets 5."""
        recorder = RecordingObserver()
        series = interleave(bars([100.0] * 8), bars([100.0] * 8, "ETHUSDT"))
        result = run_backtest(signal=Always, bars=series, sizer=("fixed", {"quantity": "10"}),
                              broker=NO_FEES, plugins=[recorder],
                              risk=[{"rule": "max_exposure", "params": {"max_net": "1500"}}])

        assert trips(recorder) == [("max_exposure", "shrink"), ("max_exposure", "deny")]
        assert all(call["order"].instrument_id == "ETHUSDT" for call in recorder.of("risk_tripped"))
        assert result.positions[("always", "BTCUSDT")].quantity == 10
        assert result.positions[("always", "ETHUSDT")].quantity == 5


class TestMaxOrderRate:
    def test_orders_past_the_rate_are_denied(self) -> None:
        """A strategy flipping every minute under 2 orders per 5m: never more than 2 orders in any 5
        minutes, and the excess is denied with the rate in the reason."""
        recorder = RecordingObserver()
        result = run_backtest(signal=Flip, bars=bars([100.0] * 30), plugins=[recorder],
                              risk=[{"rule": "max_order_rate", "params": {"max_orders": 2, "per": "5m"}}])

        denied = recorder.of("risk_tripped")
        assert denied and set(trips(recorder)) == {("max_order_rate", "deny")}
        assert {call["reason"] for call in denied} == {"2 orders in the last 5m: the limit is 2 per 5m"}
        window = parse_timeframe("5m")
        created = [o.ts_created for o in result.orders]
        assert all(sum(ts - window < t <= ts for t in created) <= 2 for ts in created)
        unlimited = run_backtest(signal=Flip, bars=bars([100.0] * 30))
        assert len(created) < len(unlimited.orders) == 30  # an order every minute without the rule


class TestMaxOpenOrders:
    def test_a_new_order_is_denied_while_the_limit_is_open(self) -> None:
        """Fills capped at 5 a bar keep the BTC and ETH buys of 20 open, so SOL's buy is denied."""
        recorder = RecordingObserver()
        symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
        series = interleave(*(bars([100.0] * 12, symbol, volume=100.0) for symbol in symbols))
        result = run_backtest(signal=Always, bars=series, sizer=("fixed", {"quantity": "20"}),
                              broker={**NO_FEES, "max_volume_fraction": "0.05"}, plugins=[recorder],
                              risk=[{"rule": "max_open_orders", "params": {"max_orders": 2}}])

        assert trips(recorder) == [("max_open_orders", "deny")]
        call = recorder.of("risk_tripped")[0]
        assert call["order"].instrument_id == "SOLUSDT"
        assert call["reason"] == "2 orders are open: the limit is 2"
        assert sorted(o.instrument_id for o in result.orders) == ["BTCUSDT", "ETHUSDT"]
        assert len(result.fills) == 8  # 4 partial fills of 5 each
        assert ("always", "SOLUSDT") not in result.positions


class TestEquityBands:
    """``equity_band()`` spares calls of ``on_equity`` while the equity stays where a call would change
    nothing; the trips, orders and fills are those of a run that calls the rules on every bar."""

    @staticmethod
    def run(monkeypatch: Any, rule_class: type, risk: dict[str, Any], prices: list[float], *, banded: bool,
            **kwargs: Any) -> tuple[Any, RecordingObserver, int]:
        calls = 0
        on_equity = rule_class.on_equity

        def counted(self: Any, equity: float, ts: int) -> str | None:
            nonlocal calls
            calls += 1
            return on_equity(self, equity, ts)  # type: ignore[no-any-return]

        with monkeypatch.context() as patch:
            patch.setattr(rule_class, "on_equity", counted)
            if not banded:
                patch.setattr(rule_class, "equity_band", lambda self: None)
            recorder = RecordingObserver()
            result = run_backtest(bars=bars(prices, **kwargs), plugins=[recorder], risk=[risk],
                                  initial_cash=10_000, broker=NO_FEES, sizer=("fixed", {"quantity": "10"}),
                                  signal=scripted({0: 1.0, 40: 0.0, 60: 1.0}))
        return result, recorder, calls

    def same(self, banded: tuple[Any, RecordingObserver, int], every: tuple[Any, RecordingObserver, int]) -> None:
        assert trips(banded[1]) == trips(every[1]) and banded[1].of("risk_tripped") == every[1].of("risk_tripped")
        assert orders_of(banded[0]) == orders_of(every[0])
        assert banded[0].fills == every[0].fills and list(banded[0].equity) == list(every[0].equity)

    def test_max_drawdown_is_called_only_outside_its_band(self, monkeypatch: Any) -> None:
        """Up 1 a bar, flat, then down: called for each new peak and past the limit's level, and it
        trips on the same bar as when it is called on every bar."""
        from tradehooks.builtins.risk import MaxDrawdown

        prices = [100.0 + i for i in range(30)] + [129.0] * 30 + [129.0 - 2 * i for i in range(1, 40)]
        risk = {"rule": "max_drawdown", "params": {"max_drawdown": "0.05"}}
        banded = self.run(monkeypatch, MaxDrawdown, risk, prices, banded=True)
        every = self.run(monkeypatch, MaxDrawdown, risk, prices, banded=False)
        self.same(banded, every)
        assert trips(banded[1]) == [("max_drawdown", "kill")]
        assert every[2] > banded[2] + 40  # the flat stretch and the small falls cost no call

    def test_daily_loss_is_called_again_when_a_day_starts(self, monkeypatch: Any) -> None:
        """Hourly bars over four days: a new day always gets a call (its start is taken then)."""
        from tradehooks.builtins.risk import DailyLoss

        prices = [100.0 + (i % 24) * 0.5 for i in range(72)] + [130.0 - 3 * i for i in range(1, 24)]
        risk = {"rule": "daily_loss", "params": {"max_loss": "150"}}
        banded = self.run(monkeypatch, DailyLoss, risk, prices, banded=True, timeframe="1h")
        every = self.run(monkeypatch, DailyLoss, risk, prices, banded=False, timeframe="1h")
        self.same(banded, every)
        assert trips(banded[1]) == [("daily_loss", "kill")]
        assert every[2] > banded[2] >= 4  # at least the first sample of each day
