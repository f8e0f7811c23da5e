"""The paper broker: fills against bars, fees, time in force, rejections and its own ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from tradehooks._convert import make_converter
from tradehooks.builtins.paper import PaperBroker, register_brokers
from tradehooks.contracts import Broker, ComponentContext
from tradehooks.exceptions import EngineStateError, InvalidOrderError
from tradehooks.model import (
    Bar,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

D = Decimal
MINUTE = 60 * 10**9
DAY = 86_400 * 10**9
T0 = 1_700_000_000 * 10**9 // DAY * DAY  # a UTC midnight
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001", min_notional="5")


class FixedClock:
    """A clock that says whatever time the test sets."""

    def __init__(self, now: int = T0) -> None:
        self.ts = now

    def now(self) -> int:
        return self.ts


class RecordingEvents:
    """Records every broker event, in order."""

    def __init__(self) -> None:
        self.events: list[Order | Fill] = []

    def order_updated(self, order: Order) -> None:
        self.events.append(order)

    def fill(self, fill: Fill) -> None:
        self.events.append(fill)

    @property
    def fills(self) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill)]

    @property
    def orders(self) -> list[Order]:
        return [e for e in self.events if isinstance(e, Order)]

    def last(self, client_order_id: str) -> Order:
        return [o for o in self.orders if o.client_order_id == client_order_id][-1]


def make_ctx(clock: FixedClock | None = None) -> ComponentContext:
    return ComponentContext(
        engine_id="t",
        mode="backtest",
        clock=clock or FixedClock(),
        log=structlog.get_logger(),
        base_dir=Path("."),
        instruments={BTC.id: BTC},
        timeframe=MINUTE,
    )


def make_broker(cash: str = "10000", **params: object) -> tuple[PaperBroker, RecordingEvents]:
    broker = PaperBroker(PaperBroker.Params(**params), make_ctx())  # type: ignore[arg-type]
    broker.set_initial_cash("USDT", D(cash))
    events = RecordingEvents()
    asyncio.run(broker.connect(events))
    return broker, events


def bar(i: int, o: float, h: float, lo: float, c: float, v: float = 100.0) -> Bar:
    return Bar("BTCUSDT", T0 + i * MINUTE, o, h, lo, c, v)


def order(
    coid: str = "o1",
    side: Side = Side.BUY,
    type: OrderType = OrderType.MARKET,
    quantity: str = "0.1",
    **kw: object,
) -> Order:
    return Order(
        client_order_id=coid,
        strategy_id="s",
        instrument_id="BTCUSDT",
        side=side,
        type=type,
        quantity=D(quantity),
        **kw,  # type: ignore[arg-type]
    )


class TestPlugin:
    def test_registers_the_broker_class(self) -> None:
        """The hook implementation registers PaperBroker under the name "paper"."""
        assert register_brokers() == [PaperBroker]
        assert PaperBroker.name == "paper"

    def test_satisfies_the_broker_protocol(self) -> None:
        """A built paper broker satisfies the Broker protocol."""
        assert isinstance(PaperBroker(None, make_ctx()), Broker)

    def test_params_validate_from_a_preset_table(self) -> None:
        """The strict converter reads decimals from strings and numbers into Params."""
        params = make_converter().structure(
            {"taker_fee": "0.0005", "slippage_bps": 2, "balances": {"USDT": "500"}}, PaperBroker.Params
        )
        assert params.taker_fee == D("0.0005")
        assert params.slippage_bps == D(2)
        assert params.balances == {"USDT": D(500)}

    @pytest.mark.parametrize(
        "kwargs",
        [{"taker_fee": "0.1"}, {"maker_fee": "-0.02"}, {"slippage_bps": "-1"}, {"max_volume_fraction": "0"}],
    )
    def test_params_refuse_out_of_range_values(self, kwargs: dict[str, str]) -> None:
        """Fee rates outside [-0.01, 0.1), negative slippage and a zero volume fraction raise ValueError."""
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            PaperBroker.Params(**kwargs)  # type: ignore[arg-type]

    def test_configured_balances_win_over_initial_cash(self) -> None:
        """Balances from the params are the starting cash; the engine's initial cash is then ignored."""
        broker = PaperBroker(PaperBroker.Params(balances={"USDT": D(7)}), make_ctx())
        broker.set_initial_cash("USDT", D(100))
        assert broker.balances() == {"USDT": D(7)}

    def test_initial_cash_after_connect_is_an_error(self) -> None:
        """Setting the starting cash once connected raises EngineStateError."""
        broker, _ = make_broker()
        with pytest.raises(EngineStateError):
            broker.set_initial_cash("USDT", D(1))

    def test_submit_before_connect_is_an_error(self) -> None:
        """Submitting before connect raises EngineStateError."""
        with pytest.raises(EngineStateError):
            PaperBroker(None, make_ctx()).submit(order())


class TestMarketOrders:
    def test_fills_at_the_next_bar_open_never_inside_submit(self) -> None:
        """A market order is only accepted on submit and fills at the next bar's open."""
        broker, events = make_broker(taker_fee="0")
        broker.on_bar(bar(0, 100, 101, 99, 100.5))
        broker.submit(order())
        assert events.fills == [] and events.last("o1").status is OrderStatus.ACCEPTED
        broker.on_bar(bar(1, 102, 110, 90, 105))
        (fill,) = events.fills
        assert fill.price == D("102") and fill.ts == T0 + MINUTE and fill.liquidity is Liquidity.TAKER
        assert events.last("o1").status is OrderStatus.FILLED
        assert events.last("o1").avg_fill_price == D("102")

    def test_a_bar_of_another_instrument_with_the_same_ts_does_not_fill(self) -> None:
        """An order placed after bars at ts T waits for a bar that opens after T (no look-ahead)."""
        broker, events = make_broker()
        broker.on_bar(bar(0, 100, 101, 99, 100))
        broker.submit(order())
        broker.on_bar(bar(0, 100, 101, 99, 100))
        assert events.fills == []

    def test_an_order_placed_from_a_fill_callback_waits_for_a_later_bar(self) -> None:
        """An order submitted while a bar is being matched does not fill on that bar."""
        broker, _ = make_broker()

        class Reacting(RecordingEvents):
            def fill(self, fill: Fill) -> None:
                super().fill(fill)
                if fill.client_order_id == "o1":
                    broker.submit(order("o2", side=Side.SELL))

        events = Reacting()
        asyncio.run(broker.connect(events))
        broker.submit(order())
        broker.on_bar(bar(1, 100, 101, 99, 100))
        assert [f.client_order_id for f in events.fills] == ["o1"]
        broker.on_bar(bar(2, 100, 101, 99, 100))
        assert [f.client_order_id for f in events.fills] == ["o1", "o2"]

    def test_fill_is_reported_before_the_order_update(self) -> None:
        """The fill event comes before the order update that says filled."""
        broker, events = make_broker()
        broker.submit(order())
        broker.on_bar(bar(1, 100, 101, 99, 100))
        assert [type(e).__name__ for e in events.events] == ["Order", "Fill", "Order"]

    def test_slippage_rounds_against_the_trader(self) -> None:
        """With slippage a buy's price is rounded up to the tick and a sell's down."""
        broker, events = make_broker(slippage_bps="3")
        broker.submit(order("b"))
        broker.submit(order("s", Side.SELL))
        broker.on_bar(bar(1, 100.03, 101, 99, 100))
        buy, sell = events.fills
        assert buy.price == D("100.1")  # 100.03 * 1.0003 = 100.060009 -> up
        assert sell.price == D("99.9")  # 100.03 * 0.9997 = 99.999991 -> down

    def test_off_tick_open_is_quantised_against_the_trader(self) -> None:
        """Without slippage an off-tick open is still rounded up for a buy and down for a sell."""
        broker, events = make_broker()
        broker.submit(order("b"))
        broker.submit(order("s", Side.SELL))
        broker.on_bar(bar(1, 100.04, 101, 99, 100))
        assert [f.price for f in events.fills] == [D("100.1"), D("100.0")]

    def test_taker_fee_is_exact(self) -> None:
        """A taker fill pays price * quantity * taker_fee exactly, in the quote currency."""
        broker, events = make_broker(taker_fee="0.00075")
        broker.submit(order(quantity="0.123"))
        broker.on_bar(bar(1, 43210.7, 43300, 43000, 43250))
        (fill,) = events.fills
        assert fill.fee == D("43210.7") * D("0.123") * D("0.00075") == D("3.986187075000")
        assert fill.fee_currency == "USDT"

    def test_trade_ids_are_deterministic(self) -> None:
        """Trade ids count up per broker."""
        broker, events = make_broker()
        broker.submit(order("a"))
        broker.submit(order("b"))
        broker.on_bar(bar(1, 100, 101, 99, 100))
        assert [f.trade_id for f in events.fills] == ["paper-1", "paper-2"]


class TestLimitOrders:
    @pytest.mark.parametrize(
        ("side", "limit", "ohlc", "expected"),
        [
            (Side.BUY, "99.0", (100, 101, 98.5, 100), "99.0"),  # touched intrabar: at the limit
            (Side.BUY, "99.0", (97.55, 98, 97, 97.5), "97.6"),  # gapped through: at the open, rounded up
            (Side.SELL, "101.0", (100, 101.5, 99, 100), "101.0"),
            (Side.SELL, "101.0", (102.05, 103, 102, 102), "102.0"),
        ],
    )
    def test_fills_at_the_limit_or_at_a_better_open(
        self, side: Side, limit: str, ohlc: tuple[float, ...], expected: str
    ) -> None:
        """A limit fills at its price when touched, or at the open when the bar gaps through it."""
        broker, events = make_broker(maker_fee="0.0002")
        broker.submit(order(side=side, type=OrderType.LIMIT, price=D(limit)))
        broker.on_bar(bar(1, *ohlc))
        (fill,) = events.fills
        assert fill.price == D(expected) and fill.liquidity is Liquidity.MAKER
        assert fill.fee == D(expected) * D("0.1") * D("0.0002")

    def test_rests_until_reached(self) -> None:
        """A limit that the bar does not reach stays open for later bars."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.LIMIT, price=D("95")))
        broker.on_bar(bar(1, 100, 101, 96, 100))
        assert events.fills == [] and [o.client_order_id for o in broker.open_orders()] == ["o1"]
        broker.on_bar(bar(2, 100, 101, 94, 100))
        assert events.fills[0].price == D("95") and broker.open_orders() == ()

    def test_post_only_crossing_the_last_close_is_rejected(self) -> None:
        """A post-only buy at or above the last close would take liquidity, so it is rejected."""
        broker, events = make_broker()
        broker.on_bar(bar(0, 100, 101, 99, 100))
        broker.submit(order(type=OrderType.LIMIT, price=D("100.5"), post_only=True))
        broker.submit(order("ok", type=OrderType.LIMIT, price=D("99.5"), post_only=True))
        assert events.last("o1").status is OrderStatus.REJECTED and "post-only" in events.last("o1").reason
        assert events.last("ok").status is OrderStatus.ACCEPTED


class TestStopOrders:
    @pytest.mark.parametrize(
        ("side", "stop", "ohlc", "expected"),
        [
            (Side.BUY, "105.0", (100, 106, 99, 104), "105.0"),  # triggered intrabar
            (Side.BUY, "105.0", (107, 108, 106, 107), "107.0"),  # gapped through: at the open
            (Side.SELL, "95.0", (100, 101, 94, 96), "95.0"),
            (Side.SELL, "95.0", (93, 94, 92, 93), "93.0"),
        ],
    )
    def test_stop_triggers_at_the_stop_or_the_open(
        self, side: Side, stop: str, ohlc: tuple[float, ...], expected: str
    ) -> None:
        """A stop fills at its trigger when hit intrabar, or at the open when gapped, as a taker."""
        broker, events = make_broker()
        broker.submit(order(side=side, type=OrderType.STOP, trigger_price=D(stop)))
        broker.on_bar(bar(1, *ohlc))
        (fill,) = events.fills
        assert fill.price == D(expected) and fill.liquidity is Liquidity.TAKER

    def test_stop_gets_slippage(self) -> None:
        """A triggered buy stop pays slippage, rounded up to the tick."""
        broker, events = make_broker(slippage_bps="10")
        broker.submit(order(type=OrderType.STOP, trigger_price=D("105")))
        broker.on_bar(bar(1, 100, 106, 99, 104))
        assert events.fills[0].price == D("105.2")  # 105 * 1.001 = 105.105 -> 105.2

    def test_untouched_stop_rests(self) -> None:
        """A stop whose trigger is not reached does not fill."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.STOP, trigger_price=D("105")))
        broker.on_bar(bar(1, 100, 104.9, 99, 104))
        assert events.fills == []

    def test_stop_limit_triggered_intrabar_fills_at_the_stop_within_the_limit(self) -> None:
        """A buy stop-limit hit intrabar fills at the stop when the stop is at or below the limit."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.STOP_LIMIT, trigger_price=D("105"), price=D("106")))
        broker.on_bar(bar(1, 100, 107, 99, 104))
        (fill,) = events.fills
        assert fill.price == D("105") and fill.liquidity is Liquidity.MAKER

    def test_stop_limit_triggered_at_the_open_applies_the_limit_rule(self) -> None:
        """A stop-limit triggered by a gap fills at the open if within the limit, else at the limit."""
        broker, events = make_broker()
        broker.submit(order("in", type=OrderType.STOP_LIMIT, trigger_price=D("105"), price=D("110")))
        broker.submit(order("out", type=OrderType.STOP_LIMIT, trigger_price=D("105"), price=D("107")))
        broker.on_bar(bar(1, 108, 109, 106.5, 108))
        assert [(f.client_order_id, f.price) for f in events.fills] == [("in", D("108")), ("out", D("107"))]

    def test_stop_limit_beyond_its_limit_rests_as_a_limit(self) -> None:
        """A stop-limit hit intrabar with its stop beyond the limit rests as a limit from the next bar."""
        broker, events = make_broker()
        broker.submit(order(side=Side.SELL, type=OrderType.STOP_LIMIT, trigger_price=D("95"), price=D("96")))
        broker.on_bar(bar(1, 100, 101, 94, 95))
        assert events.fills == []
        broker.on_bar(bar(2, 95, 96.5, 94, 96))  # no longer at the trigger, but the limit is reached
        assert events.fills[0].price == D("96")


class TestTimeInForce:
    def test_ioc_cancels_what_does_not_fill_on_the_first_bar(self) -> None:
        """An IOC limit not reached on the first bar is cancelled."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.LIMIT, price=D("90"), time_in_force=TimeInForce.IOC))
        broker.on_bar(bar(1, 100, 101, 99, 100))
        assert events.last("o1").status is OrderStatus.CANCELED and broker.open_orders() == ()

    def test_ioc_keeps_its_partial_fill_and_cancels_the_rest(self) -> None:
        """An IOC capped by volume fills what it can and cancels the remainder."""
        broker, events = make_broker(max_volume_fraction="0.1")
        broker.submit(order(quantity="2", time_in_force=TimeInForce.IOC))
        broker.on_bar(bar(1, 100, 101, 99, 100, v=5))
        assert events.fills[0].quantity == D("0.5")
        last = events.last("o1")
        assert last.status is OrderStatus.CANCELED and last.filled_quantity == D("0.5")

    def test_fok_that_cannot_fill_whole_fills_nothing(self) -> None:
        """A FOK order the volume cap would only partly fill fills nothing and is cancelled."""
        broker, events = make_broker(max_volume_fraction="0.1")
        broker.submit(order(quantity="2", time_in_force=TimeInForce.FOK))
        broker.on_bar(bar(1, 100, 101, 99, 100, v=5))
        assert events.fills == [] and events.last("o1").status is OrderStatus.CANCELED

    def test_fok_that_can_fill_whole_fills(self) -> None:
        """A FOK order with enough volume fills whole."""
        broker, events = make_broker(max_volume_fraction="0.5")
        broker.submit(order(quantity="2", time_in_force=TimeInForce.FOK))
        broker.on_bar(bar(1, 100, 101, 99, 100, v=5))
        assert events.last("o1").status is OrderStatus.FILLED

    def test_day_order_expires_on_the_next_utc_day(self) -> None:
        """A DAY order rests through its own UTC day and expires on the first bar of the next one."""
        broker, events = make_broker()
        broker.on_bar(bar(0, 100, 101, 99, 100))
        broker.submit(order(type=OrderType.LIMIT, price=D("90"), time_in_force=TimeInForce.DAY))
        broker.on_bar(bar(1439, 100, 101, 99, 100))  # 23:59 of the same day
        assert events.last("o1").status is OrderStatus.ACCEPTED
        broker.on_bar(bar(1440, 100, 101, 89, 100))  # 00:00 the next day: expired before it could fill
        assert events.fills == [] and events.last("o1").status is OrderStatus.EXPIRED

    def test_day_order_uses_its_creation_time(self) -> None:
        """A DAY order created on the next day is not expired by that day's first bar."""
        broker, events = make_broker()
        broker.on_bar(bar(1439, 100, 101, 99, 100))
        tif = TimeInForce.DAY
        day_order = order(type=OrderType.LIMIT, price=D("90"), time_in_force=tif, ts_created=T0 + DAY)
        broker.submit(day_order)
        broker.on_bar(bar(1440, 100, 101, 89, 100))
        assert events.last("o1").status is OrderStatus.FILLED


class TestPartialFills:
    def test_volume_cap_splits_an_order_across_bars(self) -> None:
        """With a volume cap an order fills in parts, with an exact VWAP, until it is whole."""
        broker, events = make_broker(max_volume_fraction="0.1", taker_fee="0")
        broker.submit(order(quantity="1"))
        broker.on_bar(bar(1, 100, 101, 99, 100, v=6.0))
        assert events.last("o1").status is OrderStatus.PARTIALLY_FILLED
        assert events.last("o1").filled_quantity == D("0.6")
        broker.on_bar(bar(2, 103, 104, 102, 103, v=100.0))
        last = events.last("o1")
        assert [f.quantity for f in events.fills] == [D("0.6"), D("0.4")]
        assert last.status is OrderStatus.FILLED
        assert last.avg_fill_price == (D("0.6") * 100 + D("0.4") * 103) / 1 == D("101.2")

    def test_volume_cap_is_shared_by_orders_in_submission_order(self) -> None:
        """The per-bar volume budget goes to earlier orders first."""
        broker, events = make_broker(max_volume_fraction="0.1")
        broker.submit(order("a", quantity="0.3"))
        broker.submit(order("b", quantity="0.3"))
        broker.on_bar(bar(1, 100, 101, 99, 100, v=5.0))
        assert [(f.client_order_id, f.quantity) for f in events.fills] == [("a", D("0.3")), ("b", D("0.2"))]


class TestRequests:
    def test_submit_is_idempotent(self) -> None:
        """A second submission with the same client order id is ignored."""
        broker, events = make_broker()
        broker.submit(order())
        broker.submit(order(quantity="0.5"))
        broker.on_bar(bar(1, 100, 101, 99, 100))
        assert len(events.orders) == 2 and [f.quantity for f in events.fills] == [D("0.1")]

    def test_cancel_closes_an_open_order(self) -> None:
        """Cancel reports the order cancelled, and it never fills."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.LIMIT, price=D("99")))
        broker.cancel("o1")
        broker.on_bar(bar(1, 100, 101, 90, 100))
        assert events.last("o1").status is OrderStatus.CANCELED and events.fills == []

    def test_cancel_of_an_unknown_order_is_ignored(self) -> None:
        """Cancelling an unknown id reports nothing."""
        broker, events = make_broker()
        broker.cancel("nope")
        assert events.events == []

    def test_amend_changes_an_open_order(self) -> None:
        """Amend reports the order accepted with its new price and quantity, and it fills at them."""
        broker, events = make_broker()
        broker.submit(order(type=OrderType.LIMIT, price=D("90")))
        broker.amend("o1", price=D("99"), quantity=D("0.2"))
        amended = events.last("o1")
        assert amended.status is OrderStatus.ACCEPTED
        assert (amended.price, amended.quantity) == (D("99"), D("0.2"))
        broker.on_bar(bar(1, 100, 101, 98, 100))
        assert (events.fills[0].price, events.fills[0].quantity) == (D("99"), D("0.2"))

    def test_amend_off_tick_is_refused_and_leaves_the_order(self) -> None:
        """An amend to an off-tick price raises InvalidOrderError and the order keeps its price."""
        broker, _ = make_broker()
        broker.submit(order(type=OrderType.LIMIT, price=D("90")))
        with pytest.raises(InvalidOrderError):
            broker.amend("o1", price=D("90.05"))
        assert broker.open_orders()[0].price == D("90")

    @pytest.mark.parametrize(
        ("kwargs", "reason"),
        [
            ({"type": OrderType.LIMIT, "price": D("100.05")}, "tick size"),
            ({"quantity": "0.0005"}, "lot size"),
            ({"type": OrderType.LIMIT, "price": D("100"), "quantity": "0.001"}, "minimum notional"),
        ],
    )
    def test_invalid_orders_are_rejected(self, kwargs: dict[str, object], reason: str) -> None:
        """Orders off the tick or lot, or under the minimum notional, are reported rejected."""
        broker, events = make_broker()
        broker.submit(order(**kwargs))  # type: ignore[arg-type]
        (rejected,) = events.orders
        assert rejected.status is OrderStatus.REJECTED and reason in rejected.reason

    def test_unknown_instrument_is_rejected(self) -> None:
        """An order for an instrument the context does not know is rejected."""
        broker, events = make_broker()
        broker.submit(attrs.evolve(order(), instrument_id="ETHUSDT"))
        assert events.last("o1").status is OrderStatus.REJECTED

    def test_reduce_only_that_would_increase_the_position_is_rejected(self) -> None:
        """A reduce-only order when flat, or over the position, is rejected; one that reduces is accepted."""
        broker, events = make_broker()
        broker.submit(order("flat", side=Side.SELL, reduce_only=True))
        broker.submit(order("buy", quantity="0.2"))
        broker.on_bar(bar(1, 100, 101, 99, 100))
        broker.submit(order("too_big", side=Side.SELL, quantity="0.3", reduce_only=True))
        broker.submit(order("same_way", side=Side.BUY, reduce_only=True))
        broker.submit(order("fine", side=Side.SELL, quantity="0.2", reduce_only=True))
        statuses = {c: events.last(c).status for c in ("flat", "too_big", "same_way", "fine")}
        assert statuses == {
            "flat": OrderStatus.REJECTED,
            "too_big": OrderStatus.REJECTED,
            "same_way": OrderStatus.REJECTED,
            "fine": OrderStatus.ACCEPTED,
        }


class TestLedger:
    def test_round_trip_balances_and_positions_are_exact(self) -> None:
        """After buying and selling back, cash is down exactly the price difference and both fees."""
        broker, _ = make_broker(taker_fee="0.001", maker_fee="-0.0001")
        broker.submit(order("buy", quantity="0.5"))
        broker.on_bar(bar(1, 100.1, 101, 99, 100))
        assert broker.positions() == {"BTCUSDT": D("0.5")}
        broker.submit(order("sell", side=Side.SELL, type=OrderType.LIMIT, price=D("102.3"), quantity="0.5"))
        broker.on_bar(bar(2, 101, 103, 100, 102))
        expected = D(10000) - D("0.5") * D("100.1") - D("0.5") * D("100.1") * D("0.001")
        expected += D("0.5") * D("102.3") + D("0.5") * D("102.3") * D("0.0001")  # maker rebate
        assert broker.balances() == {"USDT": expected}
        assert broker.positions() == {"BTCUSDT": D(0)}

    @settings(max_examples=60, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from([Side.BUY, Side.SELL]),
                st.integers(min_value=50, max_value=2000),  # lots of 0.001
                st.integers(min_value=10_000, max_value=500_000),  # open price in ticks of 0.1
                st.integers(min_value=0, max_value=999),  # extra off-tick digits of the open
            ),
            min_size=1,
            max_size=25,
        ),
        taker_fee=st.decimals(min_value="-0.0005", max_value="0.005", places=5),
        slippage=st.decimals(min_value="0", max_value="50", places=2),
    )
    def test_cash_and_position_match_an_independent_ledger(
        self, steps: list[tuple[Side, int, int, int]], taker_fee: Decimal, slippage: Decimal
    ) -> None:
        """Cash is the start minus each fill's signed notional and fee; the position is the signed sum."""
        broker, events = make_broker(cash="1000000", taker_fee=taker_fee, slippage_bps=slippage)
        for i, (side, lots, ticks, extra) in enumerate(steps, start=1):
            broker.submit(order(f"o{i}", side=side, quantity=str(D(lots) / 1000)))
            open_ = float(D(ticks) / 10 + D(extra) / 100_000)
            broker.on_bar(bar(i, open_, open_ * 1.01, open_ * 0.99, open_))
        fills = events.fills
        assert len(fills) == len(steps)
        for fill in fills:
            assert fill.price % BTC.tick_size == 0
            assert fill.fee == fill.price * fill.quantity * taker_fee
        cash = D(1000000) - sum((f.signed_quantity * f.price + f.fee for f in fills), D(0))
        assert broker.balances() == {"USDT": cash}
        assert broker.positions() == {"BTCUSDT": sum((f.signed_quantity for f in fills), D(0))}
