"""The built-in risk rules against a small in-memory portfolio."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.risk import MaxPosition, PriceBand, register_risk_rules
from tradehooks.contracts import ComponentContext, PortfolioView, RiskDecision, RiskRule
from tradehooks.model import Instrument, InstrumentId, Order, OrderType, Side

D = Decimal
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.01")
ETH = Instrument(id="ETHUSDT", base="ETH", quote="USDT", tick_size="0.01", lot_size="0.1")
_ids = itertools.count(1)


class Portfolio:
    """A minimal :class:`PortfolioView`: positions and last prices set by the test."""

    def __init__(
        self,
        positions: dict[InstrumentId, str] | None = None,
        prices: dict[InstrumentId, float] | None = None,
    ) -> None:
        self.positions = {key: D(value) for key, value in (positions or {}).items()}
        self.prices = dict(prices or {})

    def position(self, instrument_id: InstrumentId, strategy_id: str | None = None) -> Decimal:
        return self.positions.get(instrument_id, D(0))

    def equity(self) -> Decimal:
        return D(100_000)

    def last_price(self, instrument_id: InstrumentId) -> float | None:
        return self.prices.get(instrument_id)


class _Clock:
    def now(self) -> int:
        return 0


def context() -> ComponentContext:
    return ComponentContext(
        engine_id="test",
        mode="backtest",
        clock=_Clock(),
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
    )


def max_position(max_quantity: str, instrument: str | None = None) -> MaxPosition:
    return MaxPosition(MaxPosition.Params(max_quantity=D(max_quantity), instrument=instrument), context())


def allowed(decision: RiskDecision | None) -> bool:
    return decision is None or decision.action == "allow"


class TestRegisterRiskRules:
    def test_registers_the_rules_under_their_short_names(self) -> None:
        """The hook returns ``max_position`` and ``price_band``, both satisfying ``RiskRule``."""
        assert [cls.name for cls in register_risk_rules()] == ["max_position", "price_band"]
        band = PriceBand(PriceBand.Params(max_deviation=D("0.05")), context())
        assert isinstance(max_position("1"), RiskRule) and isinstance(band, RiskRule)

    def test_portfolio_double_is_a_portfolio_view(self) -> None:
        """The test portfolio has the methods of the ``PortfolioView`` protocol."""
        view: PortfolioView = Portfolio()
        assert view.position("BTCUSDT") == 0 and view.last_price("BTCUSDT") is None


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
