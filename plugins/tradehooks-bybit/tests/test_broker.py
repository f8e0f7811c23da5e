"""The bybit broker against the Bybit V5 emulator, over real sockets on 127.0.0.1: every order type
and time in force through its life, amend, cancel, refusals, reconciliation, and a restart on a
journal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import tradehooks
from _bybit_helpers import (
    KEY,
    SECRET,
    SPOT,
    Recorder,
    compare_with_exchange,
    connected,
    journal_orders,
    make_broker,
    order,
    quiet_logger,
    wait_until,
)
from tradehooks import Engine
from tradehooks.model import OrderStatus, TimeInForce

import tradehooks_bybit
from tradehooks_bybit._errors import BybitAuthError
from tradehooks_bybit._orders import OrderRefused, create_body, link_id_for, plain
from tradehooks_bybit.testing import BybitEmulator


@pytest.fixture
def emu():
    with BybitEmulator() as emulator:
        emulator.add_account(KEY, SECRET, balances={"USDT": "100000"})
        yield emulator


def emu_order(emu: Any, link_id: str) -> dict[str, Any]:
    found = [o for o in emu.orders(KEY) if o.get("orderLinkId") == link_id]
    assert len(found) == 1, f"{link_id}: {len(found)} orders at the exchange"
    return found[0]


def best(emu: Any, side: str, category: str = "linear") -> Decimal:
    book = emu.book(category, "BTCUSDT")
    return Decimal(book["b" if side == "bid" else "a"][0][0])


class TestLifeCycles:
    def test_a_market_order_fills_with_the_exchanges_exact_fills(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                o = order("buy", "0.01")
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
                await wait_until(lambda: broker.positions().get("BTCUSDT") == Decimal("0.01"), what="position")
                return o, events

        o, events = anyio.run(main)
        execs = [e for e in emu.executions(KEY) if e["orderLinkId"] == o.client_order_id]
        fills = events.fills[o.client_order_id]
        assert {f.trade_id for f in fills} == {e["execId"] for e in execs}
        for f in fills:
            e = next(e for e in execs if e["execId"] == f.trade_id)
            assert (f.quantity, f.price, f.fee) == (Decimal(e["execQty"]), Decimal(e["execPrice"]),
                                                    Decimal(e["execFee"]))
            assert isinstance(f.price, Decimal) and f.fee_currency
        final = events.orders[o.client_order_id]
        assert final.filled_quantity == Decimal("0.01") and final.venue_order_id == emu_order(
            emu, o.client_order_id)["orderId"]
        # the fills came before the update that says filled
        kinds = [kind for kind, item in events.calls if item.client_order_id == o.client_order_id]
        assert kinds.index("fill") < len(kinds) - 1 and kinds[-1] == "order"

    def test_a_resting_limit_is_amended_then_cancelled(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(500)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price))
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.ACCEPTED)
                assert emu_order(emu, o.client_order_id)["orderStatus"] == "New"
                broker.amend(o.client_order_id, quantity=Decimal("0.02"), price=price - Decimal(10))
                await wait_until(lambda: events.orders[o.client_order_id].quantity == Decimal("0.02"))
                amended = events.orders[o.client_order_id]
                assert amended.price == price - Decimal(10) and amended.status is OrderStatus.ACCEPTED
                at_exchange = emu_order(emu, o.client_order_id)
                assert Decimal(at_exchange["qty"]) == Decimal("0.02")
                assert Decimal(at_exchange["price"]) == price - Decimal(10)
                broker.cancel(o.client_order_id)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.CANCELED)
                return o

        o = anyio.run(main)
        assert emu_order(emu, o.client_order_id)["orderStatus"] == "Cancelled"

    def test_an_amend_that_breaks_the_lot_size_is_refused_at_once(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(500)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price))
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.ACCEPTED)
                with pytest.raises(tradehooks.exceptions.InvalidOrderError, match="lot"):
                    broker.amend(o.client_order_id, quantity=Decimal("0.0105"))
                broker.cancel(o.client_order_id)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.CANCELED)

        anyio.run(main)

    def test_an_amend_the_exchange_refuses_is_reported_and_changes_nothing(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(500)).quantize(Decimal("0.1"))
                o = order("sell", "0.01", type="limit", price=str(price + Decimal(1000)))
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.ACCEPTED)
                emu.inject_http_status(400, count=1, path="/v5/order/amend")  # refused, not to be retried
                broker.amend(o.client_order_id, price=price + Decimal(900))
                await wait_until(lambda: events.errors, what="the refusal")
                assert "amend" in str(events.errors[0]) and events.errors[0].recoverable
                assert events.orders[o.client_order_id].price == price + Decimal(1000)
                assert events.status(o.client_order_id) is OrderStatus.ACCEPTED
                broker.cancel(o.client_order_id)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.CANCELED)

        anyio.run(main)

    def test_a_limit_that_crosses_fills_at_once(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "ask") + Decimal(50)).quantize(Decimal("0.1"))
                o = order("buy", "0.005", type="limit", price=str(price))
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
                assert events.orders[o.client_order_id].avg_fill_price <= price

        anyio.run(main)

    @pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
    def test_ioc_and_fok_that_cannot_fill_are_cancelled_unfilled(self, emu, tif):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(1000)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price), tif=tif)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) in (OrderStatus.CANCELED,
                                                                              OrderStatus.REJECTED))
                final = events.orders[o.client_order_id]
                assert final.filled_quantity == 0 and not events.fills.get(o.client_order_id)
                return o

        o = anyio.run(main)
        assert emu_order(emu, o.client_order_id)["timeInForce"] == tif.name

    def test_a_fok_that_can_fill_fills_whole(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "ask") + Decimal(100)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price), tif=TimeInForce.FOK)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)

        anyio.run(main)

    @pytest.mark.parametrize("kind", ["stop", "stop_limit"])
    def test_a_stop_waits_for_its_trigger_then_fills(self, emu, kind):
        async def main():
            async with connected(emu) as (broker, events):
                trigger = (best(emu, "bid") - Decimal(200)).quantize(Decimal("0.1"))
                limit = str(trigger - Decimal(50)) if kind == "stop_limit" else None
                o = order("sell", "0.01", type=kind, trigger=str(trigger), price=limit)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.ACCEPTED)
                assert emu_order(emu, o.client_order_id)["orderStatus"] == "Untriggered"
                emu.set_price("linear", "BTCUSDT", trigger - Decimal(20))  # the market falls through it
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
                return o

        o = anyio.run(main)
        at_exchange = emu_order(emu, o.client_order_id)
        assert Decimal(at_exchange["triggerPrice"]) == o.trigger_price and at_exchange["orderStatus"] == "Filled"

    def test_a_post_only_that_would_take_is_rejected_with_the_reason(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "ask") + Decimal(10)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price), post_only=True)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) in (OrderStatus.REJECTED,
                                                                              OrderStatus.CANCELED))
                return events.orders[o.client_order_id]

        final = anyio.run(main)
        assert "post-only" in final.reason and final.filled_quantity == 0

    def test_a_post_only_that_rests_is_accepted(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(100)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price), post_only=True)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.ACCEPTED)
                broker.cancel(o.client_order_id)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.CANCELED)
                return o

        o = anyio.run(main)
        assert emu_order(emu, o.client_order_id)["timeInForce"] == "PostOnly"

    def test_reduce_only_closes_and_never_opens(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                lonely = order("sell", "0.01", reduce_only=True)
                broker.submit(lonely)
                await wait_until(lambda: events.status(lonely.client_order_id) is OrderStatus.REJECTED)
                opened = order("buy", "0.01")
                broker.submit(opened)
                await wait_until(lambda: events.status(opened.client_order_id) is OrderStatus.FILLED)
                closing = order("sell", "0.02", reduce_only=True)
                broker.submit(closing)
                await wait_until(lambda: events.status(closing.client_order_id) is OrderStatus.FILLED)
                await wait_until(lambda: broker.positions().get("BTCUSDT") == 0, what="flat position")
                return events.orders[lonely.client_order_id], events.orders[closing.client_order_id]

        lonely, closing = anyio.run(main)
        assert lonely.reason.startswith("invalid order") and "110017" in lonely.reason
        assert closing.filled_quantity == Decimal("0.01")

    def test_insufficient_balance_is_a_rejection_saying_so(self, emu):
        emu.add_account("POOR", "POORSECRET", balances={"USDT": "10"})

        async def main():
            async with connected(emu, key=("POOR", "POORSECRET")) as (broker, events):
                o = order("buy", "1")
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.REJECTED)
                return events.orders[o.client_order_id]

        rejected = anyio.run(main)
        assert rejected.reason.startswith("insufficient balance")

    def test_orders_bybit_cannot_express_are_refused_without_a_request(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                day = order("buy", "0.01", type="limit", price="1000", tif=TimeInForce.DAY)
                market_post_only = order("buy", "0.01", post_only=True)
                for o in (day, market_post_only):
                    broker.submit(o)
                return events.orders[day.client_order_id], events.orders[market_post_only.client_order_id]

        day, post_only = anyio.run(main)
        assert day.status is OrderStatus.REJECTED and "DAY has no Bybit equivalent" in day.reason
        assert post_only.status is OrderStatus.REJECTED and "post-only" in post_only.reason
        assert not [o for o in emu.orders(KEY) if o["orderLinkId"] in (day.client_order_id,
                                                                       post_only.client_order_id)]

    def test_a_repeated_submission_is_placed_once(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                o = order("buy", "0.01")
                broker.submit(o)
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
                broker.submit(o)
                await anyio.sleep(0.1)
                return o

        o = anyio.run(main)
        emu_order(emu, o.client_order_id)  # exactly one

    def test_spot_balances_are_the_positions(self, emu):
        async def main():
            async with connected(emu, category="spot", instruments=SPOT) as (broker, events):
                before = broker.positions().get("BTCUSDT", Decimal(0))
                o = order("buy", "0.001")
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
                fills = events.fills[o.client_order_id]
                base_fee = sum((f.fee for f in fills if f.fee_currency == "BTC"), Decimal(0))
                await wait_until(lambda: broker.positions().get("BTCUSDT") == before + Decimal("0.001") - base_fee,
                                 what="the BTC balance")
                assert broker.balances()["USDT"] < Decimal(100000)

        anyio.run(main)

    def test_client_order_ids_that_do_not_fit_are_mapped_and_found_again(self, emu):
        long_id = "strategy-with-a-long-name/BTCUSDT/order-000000001"
        link = link_id_for(long_id)
        assert len(link) <= 36 and link != long_id and link_id_for(long_id) == link

        async def main():
            async with connected(emu) as (broker, events):
                o = order("buy", "0.01", cid=long_id)
                broker.submit(o)
                await wait_until(lambda: events.status(long_id) is OrderStatus.FILLED)
                return events.fills[long_id]

        fills = anyio.run(main)
        assert fills and emu_order(emu, link)["orderStatus"] == "Filled"

    def test_fills_missed_while_the_private_stream_was_down_are_fetched_once(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                broker.confirm_after = 0.3
                emu.drop_sockets("private")
                orders = [order("buy", "0.01"), order("sell", "0.005")]
                for o in orders:
                    broker.submit(o)
                for o in orders:
                    await wait_until(lambda o=o: events.status(o.client_order_id) is OrderStatus.FILLED)
                await anyio.sleep(0.5)  # the reconnect's reconciliation ran meanwhile: nothing twice
                return orders, events

        orders, events = anyio.run(main)
        for o in orders:
            execs = {e["execId"] for e in emu.executions(KEY) if e["orderLinkId"] == o.client_order_id}
            reported = [f.trade_id for f in events.fills[o.client_order_id]]
            assert len(reported) == len(execs) and set(reported) == execs

    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test_connect_and_close_may_be_awaited_from_different_tasks(self, emu, backend):
        """As an engine in a thread does (each call in a task of its own): the broker's tasks live in a
        task of their own, not in the caller's scopes."""
        async def main():
            broker, events = make_broker(emu), Recorder()
            async with anyio.create_task_group() as group:
                group.start_soon(broker.connect, events)  # connect's task ends here
            o = order("buy", "0.01")
            broker.submit(o)
            await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)
            async with anyio.create_task_group() as group:
                group.start_soon(broker.close)
            with pytest.raises(tradehooks.exceptions.EngineStateError):
                broker.submit(order("buy", "0.01"))
            assert not events.problems

        anyio.run(main, backend=backend)

    def test_under_trio_too(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                o = order("buy", "0.01")
                broker.submit(o)
                await wait_until(lambda: events.status(o.client_order_id) is OrderStatus.FILLED)

        anyio.run(main, backend="trio")


class TestMapping:
    def test_decimals_are_sent_in_positional_notation(self):
        assert [plain(Decimal(x)) for x in ("1E-3", "30000.00", "0.0010", "1E+2")] == ["0.001", "30000", "0.001",
                                                                                       "100"]

    def test_the_create_body_of_each_kind_of_order(self):
        instrument = SPOT["BTCUSDT"]
        market = create_body(order("buy", "0.001"), category="spot", link_id="a-1", instrument=instrument)
        assert market == {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
                          "qty": "0.001", "timeInForce": "IOC", "marketUnit": "baseCoin", "orderLinkId": "a-1"}
        post_only = create_body(order("sell", "0.5", type="limit", price="31000.5", post_only=True),
                                category="linear", link_id="a-2", instrument=instrument)
        assert (post_only["timeInForce"], post_only["price"], post_only["side"]) == ("PostOnly", "31000.5", "Sell")
        reduce = create_body(order("sell", "0.5", reduce_only=True), category="linear", link_id="a-3",
                             instrument=instrument)
        assert reduce["reduceOnly"] is True

    @pytest.mark.parametrize(("kwargs", "category", "words"), [
        ({"type": "limit", "price": "100", "tif": TimeInForce.DAY}, "linear", "DAY"),
        ({"post_only": True}, "linear", "post-only"),
        ({"type": "limit", "price": "100", "post_only": True, "tif": TimeInForce.IOC}, "linear", "GTC"),
        ({"reduce_only": True}, "spot", "reduce-only"),
    ])
    def test_orders_without_a_bybit_equivalent_are_refused_saying_why(self, kwargs, category, words):
        with pytest.raises(OrderRefused, match=words):
            create_body(order(**kwargs), category=category, link_id="a", instrument=SPOT["BTCUSDT"])

    def test_link_ids_keep_ids_that_fit_and_map_the_others_stably(self):
        assert link_id_for("th19ab3c4d5e6-12") == "th19ab3c4d5e6-12"
        assert link_id_for("x" * 36) == "x" * 36
        for odd in ("x" * 37, "a b", "strategy/order.1"):
            mapped = link_id_for(odd)
            assert len(mapped) == 36 and mapped.startswith("x-") and mapped == link_id_for(odd)


class TestConnecting:
    def test_a_wrong_secret_fails_the_start_naming_the_refusal(self, emu):
        async def main():
            async with connected(emu, key=(KEY, "NOT_THE_SECRET")):
                pass

        with pytest.raises(BybitAuthError, match="refused|10004") as caught:
            anyio.run(main)
        assert caught.value.recoverable is False


class TestReconciliation:
    @staticmethod
    def place_elsewhere(emu: Any, link_id: str) -> None:
        """An order placed on the account by another client (another broker instance)."""

        async def main():
            async with connected(emu) as (broker, events):
                price = (best(emu, "bid") - Decimal(700)).quantize(Decimal("0.1"))
                o = order("buy", "0.01", type="limit", price=str(price), cid=link_id)
                broker.submit(o)
                await wait_until(lambda: events.status(link_id) is OrderStatus.ACCEPTED)

        anyio.run(main)

    def test_an_unknown_order_is_reported_and_left_alone(self, emu):
        self.place_elsewhere(emu, "manual-1")

        async def main():
            async with connected(emu) as (_broker, events):
                return events

        events = anyio.run(main)
        assert not events.orders
        assert any("manual-1" in str(e) and "unknown to the engine" in str(e) for e in events.errors)
        assert emu_order(emu, "manual-1")["orderStatus"] == "New"

    def test_adopt_tracks_it_as_an_external_order(self, emu):
        self.place_elsewhere(emu, "manual-2")

        async def main():
            async with connected(emu, on_unknown="adopt") as (broker, events):
                adopted = events.orders["manual-2"]
                assert adopted.strategy_id == "external" and adopted.status is OrderStatus.ACCEPTED
                broker.cancel("manual-2")
                await wait_until(lambda: events.status("manual-2") is OrderStatus.CANCELED)

        anyio.run(main)
        assert emu_order(emu, "manual-2")["orderStatus"] == "Cancelled"

    def test_cancel_cancels_it(self, emu):
        self.place_elsewhere(emu, "manual-3")

        async def main():
            async with connected(emu, on_unknown="cancel") as (_broker, events):
                await wait_until(lambda: emu_order(emu, "manual-3")["orderStatus"] == "Cancelled")
                return events

        events = anyio.run(main)
        assert not events.orders and events.errors

    def test_an_unknown_position_is_reported(self, emu):
        async def main():
            async with connected(emu) as (broker, events):
                broker.submit(order("buy", "0.01"))
                await wait_until(lambda: broker.positions().get("BTCUSDT") == Decimal("0.01"))
            async with connected(emu) as (broker, events):  # a new engine that knows no fill
                return events

        events = anyio.run(main)
        assert any("position BTCUSDT is 0.01" in str(e) for e in events.errors)


def engine_preset(emu: Any, journal: Path, **params: Any) -> tradehooks.Preset:
    return tradehooks.parse_preset({
        "engine": {"mode": "live", "journal": str(journal), "initial_cash": "100000", "currency": "USDT"},
        "data": {"source": "synthetic_live"},
        "instruments": [{"id": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.1",
                         "lot_size": "0.001", "min_notional": "5"}],
        "broker": {"name": "bybit", "params": {"api_key": "env:BYBIT_TEST_KEY", "api_secret": "env:BYBIT_TEST_SECRET",
                                               "rest_url": emu.rest_url, "ws_url": emu.ws_url, "timeout": 2.0,
                                               **params}},
    })


class TestRestart:
    def test_a_restart_on_the_journal_loses_and_duplicates_nothing(self, emu, tmp_path, monkeypatch):
        """Orders filled, one resting, one whose create was still waiting for its answer when the engine
        stopped: after the restart the engine knows each exactly as the exchange does."""
        monkeypatch.setenv("BYBIT_TEST_KEY", KEY)
        monkeypatch.setenv("BYBIT_TEST_SECRET", SECRET)
        journal = tmp_path / "journal.sqlite"

        async def first():
            engine = Engine(engine_preset(emu, journal, close_timeout=0.2), plugins=[tradehooks_bybit],
                            autoload_plugins=False, logger=quiet_logger())
            await engine.start()
            engine.router.set_target("s1", "BTCUSDT", Decimal("0.02"))
            await wait_until(lambda: engine.portfolio.position("BTCUSDT", "s1") == Decimal("0.02"))
            resting = order("buy", "0.01", type="limit",
                            price=str((best(emu, "bid") - Decimal(800)).quantize(Decimal("0.1"))), strategy="s2")
            engine.broker.submit(resting)  # its updates reach the journal and the router through the engine
            await wait_until(lambda: getattr(engine.orders.get(resting.client_order_id), "status", None)
                             is OrderStatus.ACCEPTED)
            emu.inject_delay(seconds=1.5, count=1, path="/v5/order/create")
            engine.router.set_target("s1", "BTCUSDT", Decimal("0.05"))
            await anyio.sleep(0.1)
            await engine.stop("test restart")  # the last create is still in flight
            return resting.client_order_id

        resting_id = anyio.run(first)
        await_quiet = 2.0  # let the delayed create land at the exchange (or not) before the restart

        async def second():
            await anyio.sleep(await_quiet)
            engine = Engine(engine_preset(emu, journal), plugins=[tradehooks_bybit], autoload_plugins=False,
                            logger=quiet_logger())
            await engine.start()
            await wait_until(lambda: not [o for o in engine.router.open_orders() if o.strategy_id == "s1"],
                             what="the in-flight order resolved")
            positions = engine.portfolio.position("BTCUSDT", "s1")
            open_ids = [o.client_order_id for o in engine.router.open_orders()]
            await engine.stop("done")
            return positions, open_ids

        position, open_ids = anyio.run(second)
        assert position == Decimal("0.05")
        assert open_ids == [resting_id]
        orders, fills = journal_orders(journal)
        problems = compare_with_exchange(orders, fills, emu.orders(KEY), emu.executions(KEY))
        assert not problems, problems

    def test_an_order_filled_while_the_engine_was_down_is_reported_on_restart(self, emu, tmp_path, monkeypatch):
        monkeypatch.setenv("BYBIT_TEST_KEY", KEY)
        monkeypatch.setenv("BYBIT_TEST_SECRET", SECRET)
        journal = tmp_path / "journal.sqlite"
        price = (best(emu, "bid") - Decimal(300)).quantize(Decimal("0.1"))
        resting = order("buy", "0.01", type="limit", price=str(price), strategy="s1")

        async def first():
            engine = Engine(engine_preset(emu, journal), plugins=[tradehooks_bybit], autoload_plugins=False,
                            logger=quiet_logger())
            await engine.start()
            engine.broker.submit(resting)
            await wait_until(lambda: getattr(engine.orders.get(resting.client_order_id), "status", None)
                             is OrderStatus.ACCEPTED)
            await engine.stop("down for a while")  # the order stays at the exchange

        anyio.run(first)
        emu.set_price("linear", "BTCUSDT", price - Decimal(100))  # the market comes down through the limit
        assert emu_order(emu, resting.client_order_id)["orderStatus"] == "Filled"

        async def second():
            engine = Engine(engine_preset(emu, journal), plugins=[tradehooks_bybit], autoload_plugins=False,
                            logger=quiet_logger())
            await engine.start()  # reconciles before it returns
            state = engine.orders[resting.client_order_id]
            position = engine.portfolio.position("BTCUSDT", "s1")
            await engine.stop("done")
            return state, position

        state, position = anyio.run(second)
        assert state.status is OrderStatus.FILLED and state.filled_quantity == Decimal("0.01")
        assert position == Decimal("0.01")
        orders, fills = journal_orders(journal)
        assert not compare_with_exchange(orders, fills, emu.orders(KEY), emu.executions(KEY))
