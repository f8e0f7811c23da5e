"""The built-in risk rules against a small in-memory portfolio."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import structlog

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.risk import (
    DailyLoss,
    MaxDrawdown,
    MaxExposure,
    MaxOpenOrders,
    MaxOrderRate,
    MaxPosition,
    PriceBand,
    register_risk_rules,
)
from tradehooks.contracts import ComponentContext, PortfolioView, RiskDecision, RiskRule
from tradehooks.exceptions import FieldError
from tradehooks.model import Instrument, InstrumentId, Order, OrderType, Side, parse_ts

D = Decimal
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.01")
ETH = Instrument(id="ETHUSDT", base="ETH", quote="USDT", tick_size="0.01", lot_size="0.1")
_ids = itertools.count(1)
MINUTE = 60_000_000_000


class Portfolio:
    """A small real :class:`PortfolioView`: positions, last prices and open orders set by the test."""

    def __init__(
        self,
        positions: dict[InstrumentId, str] | None = None,
        prices: dict[InstrumentId, float] | None = None,
        open_orders: list[Order] | None = None,
        equity: str = "100000",
    ) -> None:
        self.held = {key: D(value) for key, value in (positions or {}).items()}
        self.prices = dict(prices or {})
        self.orders = list(open_orders or [])
        self.cash = D(equity)

    def position(self, instrument_id: InstrumentId, strategy_id: str | None = None) -> Decimal:
        return self.held.get(instrument_id, D(0))

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        return dict(self.held)

    def equity(self) -> Decimal:
        return self.cash

    def last_price(self, instrument_id: InstrumentId) -> float | None:
        return self.prices.get(instrument_id)

    def open_orders(
        self, instrument_id: InstrumentId | None = None, strategy_id: str | None = None
    ) -> list[Order]:
        return [o for o in self.orders if instrument_id in (None, o.instrument_id)
                and strategy_id in (None, o.strategy_id)]


class _Clock:
    def __init__(self, now: int = 0) -> None:
        self.ns = now

    def now(self) -> int:
        return self.ns


def context(clock: _Clock | None = None) -> ComponentContext:
    return ComponentContext(
        engine_id="test",
        mode="backtest",
        clock=clock or _Clock(),
        log=structlog.get_logger(),
        base_dir=Path("."),
        instruments={BTC.id: BTC, ETH.id: ETH},
        timeframe=300_000_000_000,
    )


def order(
    side: str,
    quantity: str,
    instrument: str = "BTCUSDT",
    type: OrderType = OrderType.MARKET,
    price: str | None = None,
    trigger: str | None = None,
    filled: str = "0",
) -> Order:
    return Order(
        client_order_id=f"o{next(_ids)}",
        strategy_id="s1",
        instrument_id=instrument,
        side=Side(side),
        type=type,
        quantity=D(quantity),
        price=None if price is None else D(price),
        trigger_price=None if trigger is None else D(trigger),
        filled_quantity=D(filled),
    )


def max_position(max_quantity: str, instrument: str | None = None) -> MaxPosition:
    return MaxPosition(MaxPosition.Params(max_quantity=D(max_quantity), instrument=instrument), context())


def allowed(decision: RiskDecision | None) -> bool:
    return decision is None or decision.action == "allow"


def preset_params(cls: Any, raw: dict[str, object]) -> object:
    """``raw`` validated the way a preset's ``[[risk]] params`` table is."""
    return Factory("risk_rule", cls.name, cls, "risk", None).params(raw)


class TestRegisterRiskRules:
    def test_registers_the_rules_under_their_short_names(self) -> None:
        """The hook returns every built-in rule, each satisfying ``RiskRule``."""
        rules: list[RiskRule] = [
            max_position("1"),
            PriceBand(PriceBand.Params(max_deviation=D("0.05")), context()),
            MaxDrawdown(MaxDrawdown.Params(max_drawdown=D("0.2")), context()),
            DailyLoss(DailyLoss.Params(max_loss=D(100)), context()),
            MaxExposure(MaxExposure.Params(max_gross=D(100)), context()),
            MaxOrderRate(MaxOrderRate.Params(max_orders=1), context()),
            MaxOpenOrders(MaxOpenOrders.Params(max_orders=1), context()),
        ]
        assert all(isinstance(rule, RiskRule) for rule in rules)
        assert register_risk_rules() == [type(rule) for rule in rules]
        assert [rule.name for rule in rules] == [
            "max_position", "price_band", "max_drawdown", "daily_loss", "max_exposure", "max_order_rate",
            "max_open_orders",
        ]

    def test_the_equity_rules_watch_equity(self) -> None:
        """``max_drawdown`` and ``daily_loss`` have ``on_equity``, the engine's kill-switch seam."""
        assert hasattr(MaxDrawdown, "on_equity") and hasattr(DailyLoss, "on_equity")

    def test_portfolio_double_is_a_portfolio_view(self) -> None:
        """The test portfolio has the methods of the ``PortfolioView`` protocol."""
        view: PortfolioView = Portfolio(open_orders=[order("buy", "1")])
        assert view.position("BTCUSDT") == 0 and view.last_price("BTCUSDT") is None
        assert len(view.open_orders("BTCUSDT")) == 1 and view.open_orders("ETHUSDT") == []


class TestMaxPosition:
    def test_allows_an_order_that_stays_within_the_cap(self) -> None:
        """Buying 1 from flat under a cap of 2 passes."""
        assert allowed(max_position("2").check(order("buy", "1"), Portfolio()))

    def test_allows_an_order_that_reaches_the_cap_exactly(self) -> None:
        """Ending exactly at the cap is allowed."""
        assert allowed(max_position("2").check(order("sell", "1.5"), Portfolio({"BTCUSDT": "-0.5"})))

    def test_shrinks_an_order_to_what_fits(self) -> None:
        """Buying 3 at a position of 0.5 under a cap of 2 is shrunk to 1.5."""
        decision = max_position("2").check(order("buy", "3"), Portfolio({"BTCUSDT": "0.5"}))
        assert decision is not None and decision.action == "shrink" and decision.quantity == D("1.5")
        assert "cap of 2" in decision.reason

    def test_shrinks_down_to_the_instrument_lot(self) -> None:
        """What fits (0.45 ETH) is rounded down to the 0.1 lot."""
        decision = max_position("1").check(order("buy", "2", "ETHUSDT"), Portfolio({"ETHUSDT": "0.55"}))
        assert decision == RiskDecision.shrink(D("0.4"), decision.reason)  # type: ignore[union-attr]

    def test_caps_short_positions_the_same_way(self) -> None:
        """Selling 5 at a position of -1 under a cap of 2 is shrunk to 1."""
        decision = max_position("2").check(order("sell", "5"), Portfolio({"BTCUSDT": "-1"}))
        assert decision is not None and decision.action == "shrink" and decision.quantity == D("1")

    def test_denies_when_the_position_is_at_the_cap(self) -> None:
        """Nothing fits at a position of 2 under a cap of 2, so a buy is denied."""
        decision = max_position("2").check(order("buy", "0.01"), Portfolio({"BTCUSDT": "2"}))
        assert decision is not None and decision.action == "deny" and "BTCUSDT" in decision.reason

    def test_denies_when_less_than_a_lot_fits(self) -> None:
        """0.05 ETH of room is less than one 0.1 lot, so the order is denied."""
        decision = max_position("1").check(order("buy", "1", "ETHUSDT"), Portfolio({"ETHUSDT": "0.95"}))
        assert decision is not None and decision.action == "deny"

    @pytest.mark.parametrize(
        ("position", "side", "quantity"), [("5", "sell", "1"), ("-5", "buy", "4"), ("5", "sell", "5")]
    )
    def test_always_allows_reducing_the_position(self, position: str, side: str, quantity: str) -> None:
        """An order that moves a position over the cap towards zero passes (after the cap was lowered)."""
        assert allowed(max_position("2").check(order(side, quantity), Portfolio({"BTCUSDT": position})))

    def test_denies_adding_to_a_position_over_the_cap(self) -> None:
        """Buying more at a position of 5 under a cap of 2 is denied."""
        decision = max_position("2").check(order("buy", "1"), Portfolio({"BTCUSDT": "5"}))
        assert decision is not None and decision.action == "deny"

    def test_holds_a_flip_to_the_cap_on_the_other_side(self) -> None:
        """Selling 8 at a position of 5 under a cap of 2 is shrunk to 7: close 5, then short 2."""
        decision = max_position("2").check(order("sell", "8"), Portfolio({"BTCUSDT": "5"}))
        assert decision is not None and decision.action == "shrink" and decision.quantity == D("7")

    def test_applies_only_to_the_named_instrument(self) -> None:
        """A cap on ETHUSDT lets any BTCUSDT order through."""
        rule = max_position("1", instrument="ETHUSDT")
        assert allowed(rule.check(order("buy", "50"), Portfolio()))
        decision = rule.check(order("buy", "50", "ETHUSDT"), Portfolio())
        assert decision is not None and decision.quantity == D("1")

    def test_without_an_instrument_caps_each_instrument_separately(self) -> None:
        """Without ``instrument`` every instrument is capped on its own net position."""
        rule = max_position("1")
        portfolio = Portfolio({"BTCUSDT": "1"})
        assert not allowed(rule.check(order("buy", "0.5"), portfolio))
        assert allowed(rule.check(order("buy", "0.5", "ETHUSDT"), portfolio))

    def test_counts_open_orders_towards_the_position(self) -> None:
        """An open buy of 1 on a position of 0.5 leaves room for 0.5 under a cap of 2, and says so."""
        portfolio = Portfolio({"BTCUSDT": "0.5"}, open_orders=[order("buy", "1")])
        decision = max_position("2").check(order("buy", "1"), portfolio)
        assert decision is not None and decision.action == "shrink" and decision.quantity == D("0.5")
        assert "open orders included: 1" in decision.reason

    def test_counts_only_what_an_open_order_has_left_to_fill(self) -> None:
        """A buy of 1 with 0.6 filled (already in the position) adds its remaining 0.4."""
        portfolio = Portfolio({"BTCUSDT": "0.6"}, open_orders=[order("buy", "1", filled="0.6")])
        assert allowed(max_position("2").check(order("buy", "1"), portfolio))
        decision = max_position("2").check(order("buy", "1.5"), portfolio)
        assert decision is not None and decision.quantity == D("1")

    def test_an_open_sell_makes_room(self) -> None:
        """At the cap with an open sell of 1, a buy of 1 fits again."""
        portfolio = Portfolio({"BTCUSDT": "2"}, open_orders=[order("sell", "1")])
        assert allowed(max_position("2").check(order("buy", "1"), portfolio))

    def test_open_orders_of_other_instruments_do_not_count(self) -> None:
        """An open ETHUSDT order leaves BTCUSDT's room alone."""
        portfolio = Portfolio(open_orders=[order("buy", "5", "ETHUSDT")])
        assert allowed(max_position("2").check(order("buy", "2"), portfolio))

    def test_params_refuse_a_cap_that_is_not_positive(self) -> None:
        """``max_quantity`` must be > 0."""
        with pytest.raises(ValueError, match="max_quantity must be > 0, got 0"):
            MaxPosition.Params(max_quantity=D(0))

    def test_params_are_read_from_a_preset_table(self) -> None:
        """A preset gives the cap as a string or number and optionally an instrument."""
        factory = Factory("risk_rule", "max_position", MaxPosition, "risk", None)
        params = factory.params({"max_quantity": "0.5", "instrument": "BTCUSDT"})
        assert params == MaxPosition.Params(max_quantity=D("0.5"), instrument="BTCUSDT")
        assert factory.params({"max_quantity": 3}).instrument is None
        with pytest.raises(ParamsError):
            factory.params({"max_quantity": 1, "instrument": 7})


class TestPriceBand:
    def rule(self, max_deviation: str = "0.05") -> PriceBand:
        return PriceBand(PriceBand.Params(max_deviation=D(max_deviation)), context())

    def test_always_allows_market_orders(self) -> None:
        """A market order has no price to check."""
        assert allowed(self.rule().check(order("buy", "1"), Portfolio(prices={"BTCUSDT": 20000.0})))

    def test_allows_a_limit_price_within_the_band(self) -> None:
        """A buy limit 4 % under the last price passes a 5 % band."""
        limit = order("buy", "1", type=OrderType.LIMIT, price="19200")
        assert allowed(self.rule().check(limit, Portfolio(prices={"BTCUSDT": 20000.0})))

    def test_allows_a_price_exactly_on_the_edge(self) -> None:
        """A deviation of exactly 5 % passes a 5 % band."""
        limit = order("sell", "1", type=OrderType.LIMIT, price="21000")
        assert allowed(self.rule().check(limit, Portfolio(prices={"BTCUSDT": 20000.0})))

    def test_denies_a_limit_price_outside_the_band(self) -> None:
        """A sell limit 10 % above the last price fails a 5 % band, and the reason says by how much."""
        limit = order("sell", "1", type=OrderType.LIMIT, price="22000")
        decision = self.rule().check(limit, Portfolio(prices={"BTCUSDT": 20000.0}))
        assert decision is not None and decision.action == "deny"
        assert "10.00%" in decision.reason and "5.00%" in decision.reason

    def test_denies_a_stop_trigger_outside_the_band(self) -> None:
        """A stop order is checked on its trigger price."""
        stop = order("sell", "1", type=OrderType.STOP, trigger="17000")
        decision = self.rule().check(stop, Portfolio(prices={"BTCUSDT": 20000.0}))
        assert decision is not None and decision.action == "deny" and "trigger price" in decision.reason

    def test_checks_both_prices_of_a_stop_limit(self) -> None:
        """A stop-limit with a sound trigger but a far limit price is denied."""
        stop_limit = order("buy", "1", type=OrderType.STOP_LIMIT, price="25000", trigger="20500")
        decision = self.rule().check(stop_limit, Portfolio(prices={"BTCUSDT": 20000.0}))
        assert decision is not None and decision.action == "deny"

    def test_allows_everything_without_a_last_price(self) -> None:
        """Before the first bar of an instrument there is nothing to compare with."""
        limit = order("buy", "1", type=OrderType.LIMIT, price="1")
        assert allowed(self.rule().check(limit, Portfolio()))

    def test_params_refuse_a_deviation_that_is_not_positive(self) -> None:
        """``max_deviation`` must be > 0."""
        with pytest.raises(ValueError, match="max_deviation must be > 0, got -0.1"):
            PriceBand.Params(max_deviation=D("-0.1"))


def equity_rule_denies(rule: MaxDrawdown | DailyLoss, portfolio: Portfolio, *orders: Order) -> list[bool]:
    return [not allowed(rule.check(o, portfolio)) for o in orders]


class TestMaxDrawdown:
    def rule(self, max_drawdown: str = "0.2") -> MaxDrawdown:
        return MaxDrawdown(MaxDrawdown.Params(max_drawdown=D(max_drawdown)), context())

    def test_says_nothing_while_the_drawdown_is_under_the_limit(self) -> None:
        """From a peak of 1000, an equity of 801 (19.9 %) does not trip a 20 % limit."""
        rule = self.rule()
        assert [rule.on_equity(e, i) for i, e in enumerate([900.0, 1000.0, 950.0, 801.0])] == [None] * 4
        assert rule.peak == 1000.0 and rule.tripped is None

    def test_trips_at_the_limit_with_a_reason(self) -> None:
        """An equity of 800 is 20 % under the peak of 1000: the reason says so, for the kill switch."""
        rule = self.rule()
        rule.on_equity(1000.0, 1)
        reason = rule.on_equity(800.0, 2)
        assert reason is not None and "20.00% below its peak of 1,000.00" in reason
        assert "at or past the 20.00% limit" in reason

    def test_measures_from_the_highest_equity_not_the_first(self) -> None:
        """After a rise from 1000 to 1500, a fall to 1190 (20.7 % under 1500) trips."""
        rule = self.rule()
        for i, equity in enumerate([1000.0, 1500.0, 1300.0]):
            assert rule.on_equity(equity, i) is None
        assert rule.on_equity(1190.0, 3) is not None

    def test_a_trip_starts_a_new_peak(self) -> None:
        """After tripping at 800, the same equity does not trip again; a new 20 % fall (to 640) does."""
        rule = self.rule()
        rule.on_equity(1000.0, 1)
        assert rule.on_equity(800.0, 2) is not None
        assert rule.on_equity(800.0, 3) is None and rule.peak == 800.0
        assert rule.on_equity(700.0, 4) is None
        assert rule.on_equity(640.0, 5) is not None

    def test_check_allows_every_order_before_a_trip(self) -> None:
        """The rule does not limit orders while the drawdown is within the limit."""
        rule = self.rule()
        rule.on_equity(1000.0, 1)
        portfolio = Portfolio({"BTCUSDT": "1"})
        assert equity_rule_denies(rule, portfolio, order("buy", "5"), order("sell", "9")) == [False, False]

    def test_check_denies_orders_that_add_risk_while_tripped(self) -> None:
        """Tripped, at a position of 2: buying more and flipping short are denied; selling 1 or 2 passes."""
        rule = self.rule()
        rule.on_equity(1000.0, 1)
        rule.on_equity(700.0, 2)
        portfolio = Portfolio({"BTCUSDT": "2"})
        assert equity_rule_denies(
            rule, portfolio, order("buy", "1"), order("sell", "3"), order("sell", "1"), order("sell", "2")
        ) == [True, True, False, False]
        decision = rule.check(order("buy", "1", "ETHUSDT"), portfolio)
        assert decision is not None and decision.action == "deny"
        assert decision.reason.startswith("max_drawdown tripped (equity 700.00 is 30.00% below")

    def test_check_lets_orders_through_again_after_a_sample_that_does_not_trip(self) -> None:
        """The engine samples again only once the kill switch was reset; that sample clears the denial."""
        rule = self.rule()
        rule.on_equity(1000.0, 1)
        rule.on_equity(700.0, 2)
        rule.on_equity(700.0, 3)
        assert allowed(rule.check(order("buy", "1"), Portfolio()))

    @pytest.mark.parametrize("value", ["0", "-0.1", "1.5"])
    def test_params_refuse_a_drawdown_outside_zero_to_one(self, value: str) -> None:
        """``max_drawdown`` is a fraction in (0, 1]; the error names the field."""
        with pytest.raises(FieldError, match="max_drawdown must be > 0 and <= 1") as info:
            MaxDrawdown.Params(max_drawdown=D(value))
        assert info.value.field == "max_drawdown"

    def test_params_are_read_from_a_preset_table(self) -> None:
        """A preset gives the fraction as a string or a number."""
        expected = MaxDrawdown.Params(max_drawdown=D("0.25"))
        assert preset_params(MaxDrawdown, {"max_drawdown": 0.25}) == expected


DAY1 = parse_ts("2024-03-01T00:00:00Z")
DAY2 = parse_ts("2024-03-02T00:00:00Z")
HOUR = 60 * MINUTE


class TestDailyLoss:
    def rule(self, **params: str) -> DailyLoss:
        return DailyLoss(DailyLoss.Params(**{k: D(v) for k, v in params.items()}), context())

    def test_says_nothing_while_the_loss_is_within_the_limit(self) -> None:
        """From a day start of 10,000, a loss of exactly 500 does not pass a limit of 500."""
        rule = self.rule(max_loss="500")
        assert rule.on_equity(10_000.0, DAY1 + HOUR) is None
        assert rule.on_equity(9_500.0, DAY1 + 2 * HOUR) is None and rule.start == 10_000.0

    def test_trips_beyond_the_limit_with_a_reason(self) -> None:
        """A loss of 501 from the day's start passes a limit of 500: the reason names the day."""
        rule = self.rule(max_loss="500")
        rule.on_equity(10_000.0, DAY1 + HOUR)
        reason = rule.on_equity(9_499.0, DAY1 + 2 * HOUR)
        assert reason is not None and "501.00 below the 10,000.00 the day 2024-03-01 started with" in reason

    def test_the_start_is_the_first_sample_of_the_day_not_the_peak(self) -> None:
        """A rise to 10,800 during the day does not move the start: 9,600 is a loss of 400 only."""
        rule = self.rule(max_loss="500")
        rule.on_equity(10_000.0, DAY1 + HOUR)
        rule.on_equity(10_800.0, DAY1 + 2 * HOUR)
        assert rule.on_equity(9_600.0, DAY1 + 3 * HOUR) is None

    def test_takes_the_start_again_each_utc_day(self) -> None:
        """A loss of 400 on each of two days never passes 500: the second day starts at 9,600."""
        rule = self.rule(max_loss="500")
        rule.on_equity(10_000.0, DAY1 + HOUR)
        assert rule.on_equity(9_600.0, DAY1 + 23 * HOUR) is None
        assert rule.on_equity(9_600.0, DAY2) is None and rule.start == 9_600.0  # midnight opens day 2
        assert rule.on_equity(9_200.0, DAY2 + HOUR) is None
        assert rule.on_equity(9_099.0, DAY2 + 2 * HOUR) is not None

    def test_a_limit_as_a_fraction_of_the_day_start(self) -> None:
        """``max_loss_fraction = 0.05`` of a 20,000 start is 1,000."""
        rule = self.rule(max_loss_fraction="0.05")
        rule.on_equity(20_000.0, DAY1)
        assert rule.on_equity(19_000.0, DAY1 + HOUR) is None
        assert rule.on_equity(18_999.0, DAY1 + 2 * HOUR) is not None

    def test_the_same_day_the_loss_still_counts_after_a_trip(self) -> None:
        """Tripped in the morning, the next sample of that day trips again; the next day starts over."""
        rule = self.rule(max_loss="500")
        rule.on_equity(10_000.0, DAY1)
        assert rule.on_equity(9_000.0, DAY1 + HOUR) is not None
        assert rule.on_equity(9_000.0, DAY1 + 2 * HOUR) is not None
        assert rule.on_equity(9_000.0, DAY2) is None

    def test_check_denies_orders_that_add_risk_while_tripped(self) -> None:
        """While tripped, only orders that reduce a position pass; a new day clears the denial."""
        rule = self.rule(max_loss="500")
        rule.on_equity(10_000.0, DAY1)
        rule.on_equity(9_000.0, DAY1 + HOUR)
        portfolio = Portfolio({"BTCUSDT": "-1"})
        assert equity_rule_denies(rule, portfolio, order("sell", "1"), order("buy", "1")) == [True, False]
        rule.on_equity(9_000.0, DAY2)
        assert allowed(rule.check(order("sell", "1"), portfolio))

    @pytest.mark.parametrize("params", [{}, {"max_loss": "1", "max_loss_fraction": "0.1"}])
    def test_params_need_exactly_one_limit(self, params: dict[str, str]) -> None:
        """Neither or both of ``max_loss`` and ``max_loss_fraction`` is an error."""
        with pytest.raises(FieldError, match="exactly one of max_loss"):
            DailyLoss.Params(**{k: D(v) for k, v in params.items()})

    def test_params_refuse_limits_out_of_range(self) -> None:
        """``max_loss`` must be > 0 and ``max_loss_fraction`` in (0, 1]."""
        with pytest.raises(FieldError, match="max_loss must be > 0, got 0"):
            DailyLoss.Params(max_loss=D(0))
        with pytest.raises(FieldError, match="max_loss_fraction must be > 0 and <= 1, got 2"):
            DailyLoss.Params(max_loss_fraction=D(2))

    def test_params_are_read_from_a_preset_table(self) -> None:
        """A preset gives one of the two limits; giving none is a key error."""
        assert preset_params(DailyLoss, {"max_loss": "250.5"}) == DailyLoss.Params(max_loss=D("250.5"))
        with pytest.raises(ParamsError, match="exactly one"):
            preset_params(DailyLoss, {})


PRICES = {"BTCUSDT": 100.0, "ETHUSDT": 10.0}


class TestMaxExposure:
    def rule(self, instrument: str | None = None, **limits: str) -> MaxExposure:
        params = MaxExposure.Params(instrument=instrument, **{k: D(v) for k, v in limits.items()})
        return MaxExposure(params, context())

    def test_allows_an_order_within_the_limit(self) -> None:
        """Buying 10 BTC at 100 (1,000) next to 50 ETH at 10 (500) fits a gross limit of 1,500."""
        portfolio = Portfolio({"ETHUSDT": "50"}, PRICES)
        assert allowed(self.rule(max_gross="1500").check(order("buy", "10"), portfolio))

    def test_shrinks_an_order_to_what_fits_gross(self) -> None:
        """With 500 of ETH held, 1,200 of room under 1,700 is 12 BTC: a buy of 20 is shrunk to 12."""
        portfolio = Portfolio({"ETHUSDT": "-50"}, PRICES)
        decision = self.rule(max_gross="1700").check(order("buy", "20"), portfolio)
        assert decision is not None and decision.action == "shrink" and decision.quantity == D(12)
        assert "gross exposure from 500 to 2500" in decision.reason and "limit of 1700" in decision.reason

    def test_counts_open_orders_and_rounds_down_to_the_lot(self) -> None:
        """An open ETH buy of 30 (300) and 1 BTC (100) leave 5.5 ETH of room under 500: shrunk to 5.5."""
        portfolio = Portfolio({"BTCUSDT": "1"}, PRICES, open_orders=[order("buy", "30", "ETHUSDT")])
        decision = self.rule(max_gross="455").check(order("buy", "9", "ETHUSDT"), portfolio)
        assert decision is not None and decision.quantity == D("5.5")

    def test_denies_when_nothing_fits(self) -> None:
        """Other instruments already use the whole limit, so a new BTC position is denied."""
        portfolio = Portfolio({"ETHUSDT": "100"}, PRICES)
        decision = self.rule(max_gross="1000").check(order("buy", "1"), portfolio)
        assert decision is not None and decision.action == "deny" and "nothing fits" in decision.reason

    @pytest.mark.parametrize(("side", "quantity"), [("sell", "5"), ("sell", "15")])
    def test_always_allows_an_order_that_reduces_exposure(self, side: str, quantity: str) -> None:
        """Over the limit at 10 BTC (1,000 > 500), selling 5, or 15 (ending short 5), lowers exposure."""
        portfolio = Portfolio({"BTCUSDT": "10"}, PRICES)
        assert allowed(self.rule(max_gross="500").check(order(side, quantity), portfolio))

    def test_a_flip_opens_at_most_the_limit_on_the_other_side(self) -> None:
        """Long 10 BTC under a 500 limit, a sell of 30 would end short 20: it is shrunk to 15 (short 5)."""
        portfolio = Portfolio({"BTCUSDT": "10"}, PRICES)
        decision = self.rule(max_gross="500").check(order("sell", "30"), portfolio)
        assert decision is not None and decision.action == "shrink" and decision.quantity == D(15)

    def test_net_exposure_lets_a_hedge_through(self) -> None:
        """Long 1,000 of BTC, selling 100 ETH (1,000) nets to zero under a net limit of 1,000 ..."""
        portfolio = Portfolio({"BTCUSDT": "10"}, PRICES)
        rule = self.rule(max_net="1000")
        assert allowed(rule.check(order("sell", "100", "ETHUSDT"), portfolio))

    def test_net_exposure_caps_adding_on_the_same_side(self) -> None:
        """... while buying ETH on top of it is denied, and a gross limit would have denied the hedge."""
        portfolio = Portfolio({"BTCUSDT": "10"}, PRICES)
        decision = self.rule(max_net="1000").check(order("buy", "1", "ETHUSDT"), portfolio)
        assert decision is not None and decision.action == "deny" and "net exposure" in decision.reason
        assert not allowed(self.rule(max_gross="1000").check(order("sell", "100", "ETHUSDT"), portfolio))

    def test_the_tighter_of_two_limits_wins(self) -> None:
        """Short 50 ETH (500): a 30 BTC buy fits net 2,000 up to 25, gross 2,000 up to 15: shrunk to 15."""
        portfolio = Portfolio({"ETHUSDT": "-50"}, PRICES)
        decision = self.rule(max_gross="2000", max_net="2000").check(order("buy", "30"), portfolio)
        assert decision is not None and decision.quantity == D(15) and "gross" in decision.reason

    def test_an_instrument_limit_looks_at_that_instrument_only(self) -> None:
        """A BTC limit of 500 ignores the ETH position and every ETH order."""
        portfolio = Portfolio({"ETHUSDT": "1000", "BTCUSDT": "2"}, PRICES)
        rule = self.rule("BTCUSDT", max_gross="500")
        assert allowed(rule.check(order("buy", "10000", "ETHUSDT"), portfolio))
        decision = rule.check(order("buy", "5"), portfolio)
        assert decision is not None and decision.quantity == D(3) and decision.reason.startswith("BTCUSDT:")

    def test_allows_an_order_it_cannot_value(self) -> None:
        """Without a last price for the order's instrument there is nothing to value."""
        assert allowed(self.rule(max_gross="1").check(order("buy", "100"), Portfolio()))

    def test_params_need_a_limit(self) -> None:
        """At least one of ``max_gross`` and ``max_net``; both must be > 0."""
        with pytest.raises(FieldError, match="give max_gross, max_net or both"):
            MaxExposure.Params()
        with pytest.raises(FieldError, match="max_net must be > 0"):
            MaxExposure.Params(max_net=D(-1))

    def test_params_are_read_from_a_preset_table(self) -> None:
        """A preset gives the limits as strings or numbers, and optionally an instrument."""
        assert preset_params(MaxExposure, {"max_net": 5000, "instrument": "BTCUSDT"}) == MaxExposure.Params(
            max_net=D(5000), instrument="BTCUSDT"
        )


class TestMaxOrderRate:
    def rule(self, clock: _Clock, max_orders: int = 2, per: str = "1m") -> MaxOrderRate:
        return MaxOrderRate(MaxOrderRate.Params(max_orders=max_orders, per=per), context(clock))

    def test_allows_up_to_the_limit_then_denies_with_the_rate(self) -> None:
        """Two orders in a minute pass a limit of 2 per 1m; the third is denied."""
        clock = _Clock(0)
        rule = self.rule(clock)
        assert allowed(rule.check(order("buy", "1"), Portfolio()))
        clock.ns = 30_000_000_000
        assert allowed(rule.check(order("buy", "1"), Portfolio()))
        decision = rule.check(order("buy", "1"), Portfolio())
        assert decision == RiskDecision.deny("2 orders in the last 1m: the limit is 2 per 1m")

    def test_the_window_slides(self) -> None:
        """An order allowed at 0 drops out of a 1m window at exactly 1m."""
        clock = _Clock(0)
        rule = self.rule(clock, max_orders=1)
        assert allowed(rule.check(order("buy", "1"), Portfolio()))
        clock.ns = MINUTE - 1
        assert not allowed(rule.check(order("buy", "1"), Portfolio()))
        clock.ns = MINUTE
        assert allowed(rule.check(order("buy", "1"), Portfolio()))

    def test_denied_orders_are_not_counted(self) -> None:
        """Denials do not extend the wait: once the allowed order is out of the window, the next passes."""
        clock = _Clock(0)
        rule = self.rule(clock, max_orders=1, per="5m")
        rule.check(order("buy", "1"), Portfolio())
        for minute in range(1, 5):
            clock.ns = minute * MINUTE
            assert not allowed(rule.check(order("buy", "1"), Portfolio()))
        clock.ns = 5 * MINUTE
        assert allowed(rule.check(order("buy", "1"), Portfolio()))

    def test_always_allows_an_order_that_reduces_a_position(self) -> None:
        """At the limit, selling part of a long passes (an exit is never throttled); a flip does not."""
        clock = _Clock(0)
        rule = self.rule(clock, max_orders=1)
        portfolio = Portfolio({"BTCUSDT": "2"})
        rule.check(order("buy", "1"), portfolio)
        assert allowed(rule.check(order("sell", "2"), portfolio))
        assert not allowed(rule.check(order("sell", "3"), portfolio))

    def test_params_default_to_a_one_minute_window(self) -> None:
        """``per`` defaults to ``"1m"`` and must be a timeframe; ``max_orders`` an integer >= 1."""
        assert preset_params(MaxOrderRate, {"max_orders": 10}) == MaxOrderRate.Params(max_orders=10, per="1m")
        with pytest.raises(FieldError, match="per must be a timeframe") as info:
            MaxOrderRate.Params(max_orders=1, per="often")
        assert info.value.field == "per"
        with pytest.raises(FieldError, match="max_orders must be >= 1, got 0"):
            MaxOrderRate.Params(max_orders=0)
        with pytest.raises(ParamsError):
            preset_params(MaxOrderRate, {"max_orders": "10"})


class TestMaxOpenOrders:
    def rule(self, max_orders: int = 2, instrument: str | None = None) -> MaxOpenOrders:
        return MaxOpenOrders(MaxOpenOrders.Params(max_orders=max_orders, instrument=instrument), context())

    def test_allows_an_order_while_fewer_are_open(self) -> None:
        """One open order under a limit of 2 lets another through."""
        assert allowed(self.rule().check(order("buy", "1"), Portfolio(open_orders=[order("buy", "1")])))

    def test_denies_an_order_when_the_limit_is_open(self) -> None:
        """Two open orders (of any instruments) under a limit of 2: the next is denied, with the count."""
        portfolio = Portfolio(open_orders=[order("buy", "1"), order("sell", "1", "ETHUSDT")])
        decision = self.rule().check(order("buy", "1"), portfolio)
        assert decision == RiskDecision.deny("2 orders are open: the limit is 2")

    def test_an_instrument_limit_counts_that_instrument_only(self) -> None:
        """A limit of 1 on ETHUSDT ignores BTCUSDT orders, and denies a second ETHUSDT order."""
        portfolio = Portfolio(open_orders=[order("buy", "1"), order("buy", "1")])
        rule = self.rule(1, "ETHUSDT")
        assert allowed(rule.check(order("buy", "1", "ETHUSDT"), portfolio))
        assert allowed(rule.check(order("buy", "1"), portfolio))
        portfolio.orders.append(order("buy", "1", "ETHUSDT"))
        decision = rule.check(order("buy", "1", "ETHUSDT"), portfolio)
        assert decision is not None and decision.reason == "1 orders are open in ETHUSDT: the limit is 1"

    def test_always_allows_an_order_that_reduces_a_position(self) -> None:
        """At the limit, closing a short passes, so the kill switch can always flatten."""
        portfolio = Portfolio({"BTCUSDT": "-3"}, open_orders=[order("buy", "1"), order("buy", "1")])
        assert allowed(self.rule().check(order("buy", "3"), portfolio))

    def test_params_need_a_positive_integer(self) -> None:
        """``max_orders`` is an integer >= 1."""
        with pytest.raises(FieldError, match="max_orders must be >= 1"):
            MaxOpenOrders.Params(max_orders=-1)
        assert preset_params(MaxOpenOrders, {"max_orders": 4}) == MaxOpenOrders.Params(max_orders=4)


class TestEquityBands:
    """An equity rule's ``equity_band()`` is a promise: for a sample inside it, ``on_equity`` would say
    nothing and change nothing. Checked by feeding the same samples to one rule on every sample and to
    another only outside its band, as the engine does: the same trips, at the same samples, and the
    same state after each sample that was not skipped. The samples move at random, and now and then
    land within a few parts in a billion of the level where the rule trips."""

    @staticmethod
    def feed(make: Any, steps: list[tuple[bool, float, int]], edge: Any) -> None:
        every, banded = make(), make()
        band: tuple[float, float, int] | None = None
        equity, ts = 10_000.0, DAY1
        for near, x, step in steps:
            ts += step
            equity = edge(every, x) if near and edge(every, x) is not None else max(equity * (1 + x), 0.0)
            said = every.on_equity(equity, ts)
            if band is not None and band[0] < equity < band[1] and ts < band[2]:
                assert said is None, (equity, ts, band)  # the skipped call would have said nothing
                continue
            assert banded.on_equity(equity, ts) == said
            assert vars(banded) == vars(every)  # the same state: peak or day start, limit, tripped
            band = banded.equity_band() if said is None else None

    STEPS = st.lists(
        st.tuples(st.booleans(), st.floats(min_value=-0.05, max_value=0.05, allow_nan=False),
                  st.sampled_from([MINUTE, HOUR, 5 * HOUR])),
        min_size=1, max_size=300,
    )

    @hypothesis.given(limit=st.sampled_from(["0.01", "0.05", "0.2", "0.5", "1"]), steps=STEPS)
    @hypothesis.settings(max_examples=200, deadline=None)
    def test_max_drawdown_skips_only_what_changes_nothing(self, limit: str,
                                                          steps: list[tuple[bool, float, int]]) -> None:
        ctx, settings = context(), MaxDrawdown.Params(max_drawdown=D(limit))

        def edge(rule: MaxDrawdown, x: float) -> float | None:  # x * 1e-7 around the limit's level
            return None if rule.peak is None else rule.peak * (1 - float(limit)) * (1 + x * 1e-7)

        self.feed(lambda: MaxDrawdown(settings, ctx), steps, edge)

    @hypothesis.given(
        params=st.sampled_from([{"max_loss": "50"}, {"max_loss": "500"}, {"max_loss_fraction": "0.02"}]),
        steps=STEPS,
    )
    @hypothesis.settings(max_examples=200, deadline=None)
    def test_daily_loss_skips_only_what_changes_nothing(self, params: dict[str, str],
                                                        steps: list[tuple[bool, float, int]]) -> None:
        ctx, settings = context(), DailyLoss.Params(**{k: D(v) for k, v in params.items()})

        def edge(rule: DailyLoss, x: float) -> float | None:  # x * 1e-7 around the day's limit
            if rule.day is None:
                return None
            limit = float(settings.max_loss) if settings.max_loss is not None \
                else float(settings.max_loss_fraction) * rule.start  # type: ignore[arg-type]
            return (rule.start - limit) * (1 + x * 1e-7)

        self.feed(lambda: DailyLoss(settings, ctx), steps, edge)

    def test_no_band_before_the_first_sample_or_after_a_trip(self) -> None:
        rule = MaxDrawdown(MaxDrawdown.Params(max_drawdown=D("0.1")), context())
        assert rule.equity_band() is None
        rule.on_equity(1_000.0, 1)
        low, high, until = rule.equity_band()  # type: ignore[misc]
        assert 900.0 < low < 900.001 and high > 1_000.0 and until > 2**62
        assert rule.on_equity(899.0, 2) is not None and rule.equity_band() is None
