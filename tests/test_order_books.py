"""The paper broker fills against a data source's L2 order books in paper mode: levels walked by market
orders, partial fills by depth, resting limits filled by crossing updates, post-only refused, and bar
fills whenever no synced book exists."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradehooks import Engine, hookimpl
from tradehooks.contracts import OrderBookView
from tradehooks.model import Bar, Fill, Liquidity, Order, OrderStatus, OrderType, Side, TimeInForce
from tradehooks.presets import parse_preset

D = Decimal
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
MINUTE = 60 * 10**9
ID = "BTCUSDT"
TICK, LOT = D("0.1"), D("0.001")


class Book:
    """A real in-memory L2 book: a snapshot replaces it, a delta sets levels (size 0 deletes one)."""

    def __init__(self, instrument_id: str) -> None:
        self.instrument_id = instrument_id
        self.ts = 0
        self.synced = False
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    def snapshot(self, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]], ts: int) -> None:
        self._bids = {D(p): D(q) for p, q in bids if D(q)}
        self._asks = {D(p): D(q) for p, q in asks if D(q)}
        self.ts, self.synced = ts, True

    def delta(self, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]], ts: int) -> None:
        if not self.synced:
            raise AssertionError("a delta before a snapshot")
        for levels, changes in ((self._bids, bids), (self._asks, asks)):
            for price, size in changes:
                if D(size):
                    levels[D(price)] = D(size)
                else:
                    levels.pop(D(price), None)
        self.ts = ts

    def bids(self, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        return sorted(self._bids.items(), reverse=True)[:depth]

    def asks(self, depth: int | None = None) -> list[tuple[Decimal, Decimal]]:
        return sorted(self._asks.items())[:depth]


def bar(index: int, price: str = "100", *, low: str | None = None, high: str | None = None) -> Bar:
    p = float(price)
    return Bar(ID, T0 + index * MINUTE, p, float(high or p), float(low or p), p, 10.0)


class Books:
    """A test plugin: a data source ``scripted`` that plays ``script`` (bars, book snapshots and deltas,
    a loss of sync, calls into the test) and keeps a real book; a signal ``scripted`` whose exposure on
    bar *i* is ``exposures[i]``."""

    __name__ = "books"

    def __init__(self, script: Sequence[tuple[Any, ...]], exposures: dict[int, float] | None = None) -> None:
        self.script = script
        self.exposures = exposures or {}
        self.engine: Engine | None = None
        # (fills so far, bids, asks) at each book update, for checking what one book state gave
        self.book_states: list[tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]] = []

    @hookimpl
    def register_data_sources(self) -> list[type]:
        plugin = self

        class ScriptedSource:
            name = "scripted"

            def __init__(self, params: Any, ctx: Any) -> None:
                self.book = Book(ID)
                self.listeners: list[Callable[[OrderBookView], None]] = []

            def order_book(self, instrument_id: str) -> OrderBookView | None:
                return self.book if instrument_id == ID and self.book.synced else None

            def add_book_listener(self, callback: Callable[[OrderBookView], None]) -> None:
                self.listeners.append(callback)

            def _updated(self) -> None:
                assert plugin.engine is not None
                plugin.book_states.append((len(plugin.engine.fills), self.book.bids(), self.book.asks()))
                for listener in self.listeners:
                    listener(self.book)

            async def stream(self):  # type: ignore[no-untyped-def]
                ts = T0
                for step in plugin.script:
                    kind = step[0]
                    if kind == "bar":
                        ts = step[1].ts
                        yield [step[1]]
                    elif kind in ("snapshot", "delta"):
                        ts += 1
                        getattr(self.book, kind)(step[1], step[2], ts)
                        self._updated()
                    elif kind == "unsync":
                        self.book.synced = False
                    elif kind == "call":
                        assert plugin.engine is not None
                        step[1](plugin.engine)

            async def history(self, instrument_id: str, end: int, count: int) -> list[Bar]:
                return []

        return [ScriptedSource]

    @hookimpl
    def register_signals(self) -> list[type]:
        plugin = self

        class ScriptedSignal:
            name = "scripted"

            def __init__(self, params: Any, ctx: Any) -> None:
                self.bars = 0

            def on_bar(self, bar: Bar) -> float | None:
                self.bars += 1
                return plugin.exposures.get(self.bars - 1)

        return [ScriptedSignal]


def make_preset(mode: str = "paper", quantity: str = "1.5", broker: str = "") -> Any:
    return parse_preset(textwrap.dedent(f"""
        [engine]
        mode = "{mode}"
        initial_cash = "100000"
        [data]
        source = "scripted"
        timeframe = "1m"
        [[instruments]]
        id = "{ID}"
        tick_size = "{TICK}"
        lot_size = "{LOT}"
        [broker]
        name = "paper"
        params = {{ taker_fee = "0.0006", maker_fee = "0.0002"{broker} }}
        [[strategies]]
        id = "s"
        signal = "scripted"
        sizer = {{ name = "fixed", params = {{ quantity = "{quantity}" }} }}
    """))


def run(plugin: Books, *, mode: str = "paper", quantity: str = "1.5", broker: str = "") -> Engine:
    async def main() -> Engine:
        engine = Engine(make_preset(mode, quantity, broker), plugins=[plugin], autoload_plugins=False)
        plugin.engine = engine
        async with engine:
            await engine.run()
        return engine

    return anyio.run(main)


def submit(side: Side, quantity: str, type: OrderType = OrderType.LIMIT, price: str | None = None, *,
           tif: TimeInForce = TimeInForce.GTC, post_only: bool = False, cid: str | None = None,
           reduce_only: bool = False) -> Callable[[Engine], None]:
    """A script step's call: hand an order straight to the engine's broker (as code talking to the
    broker does; the router places market orders only)."""

    def call(engine: Engine) -> None:
        order = Order(
            client_order_id=cid or f"manual-{uuid.uuid4().hex[:12]}", strategy_id="manual", instrument_id=ID, side=side,
            type=type, quantity=D(quantity), price=None if price is None else D(price), time_in_force=tif,
            post_only=post_only, reduce_only=reduce_only, ts_created=engine.clock.now(),
        )
        engine.router.adopt(order)
        engine.broker.submit(order)

    return call


ASKS = [("100.0", "0.5"), ("100.5", "0.7"), ("101.0", "2")]
BIDS = [("99.5", "1"), ("99.0", "3")]


def fills_of(engine: Engine, cid: str) -> list[Fill]:
    return [f for f in engine.fills if f.client_order_id == cid]


def assert_ledgers_agree(engine: Engine) -> None:
    """The broker's own account, the engine's ledger and the fills agree to the last unit."""
    cash = D("100000") - sum((f.signed_quantity * f.price + f.fee for f in engine.fills), D(0))
    assert engine.broker.balances() == {"USDT": cash}
    assert engine.portfolio.cash == cash
    position = sum((f.signed_quantity for f in engine.fills), D(0))
    assert engine.broker.positions().get(ID, D(0)) == position == engine.portfolio.position(ID)


class TestMarketOrders:
    def test_a_market_order_walks_the_levels_one_fill_per_level_at_the_exact_vwap(self):
        """The strategy buys 1.5 on the first bar: 0.5 at 100.0, 0.7 at 100.5, 0.3 at 101.0, at once."""
        plugin = Books([("snapshot", BIDS, ASKS), ("bar", bar(0))], exposures={0: 1.0})
        engine = run(plugin)
        (order,) = engine.orders.values()
        fills = fills_of(engine, order.client_order_id)
        assert [(f.price, f.quantity, f.liquidity) for f in fills] == [
            (D("100.0"), D("0.5"), Liquidity.TAKER), (D("100.5"), D("0.7"), Liquidity.TAKER),
            (D("101.0"), D("0.3"), Liquidity.TAKER),
        ]
        assert order.status is OrderStatus.FILLED and order.filled_quantity == D("1.5")
        assert order.avg_fill_price == (D("50.0") + D("70.35") + D("30.3")) / D("1.5")
        assert [f.fee for f in fills] == [f.price * f.quantity * D("0.0006") for f in fills]
        assert_ledgers_agree(engine)

    def test_an_ioc_market_order_takes_the_depth_there_is_and_cancels_the_rest(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.SELL, "5", OrderType.MARKET, tif=TimeInForce.IOC, cid="ioc")),
            ("delta", [("99.4", "9")], []),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in fills_of(engine, "ioc")] == [(D("99.5"), D("1")), (D("99.0"), D("3"))]
        order = engine.orders["ioc"]
        assert order.status is OrderStatus.CANCELED and order.filled_quantity == D("4")
        assert "immediate-or-cancel" in order.reason
        assert_ledgers_agree(engine)

    def test_a_fok_market_order_fills_whole_or_not_at_all(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.BUY, "3.3", OrderType.MARKET, tif=TimeInForce.FOK, cid="too-big")),
            ("call", submit(Side.BUY, "3.2", OrderType.MARKET, tif=TimeInForce.FOK, cid="fits")),
        ])
        engine = run(plugin)
        assert not fills_of(engine, "too-big") and engine.orders["too-big"].status is OrderStatus.CANCELED
        assert sum(f.quantity for f in fills_of(engine, "fits")) == D("3.2")
        assert engine.orders["fits"].status is OrderStatus.FILLED

    def test_a_gtc_market_order_short_of_depth_waits_and_fills_on_a_later_update(self):
        """The strategy wants 5 with 3.2 offered: 3.2 fill now, the rest when asks appear."""
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)), ("delta", [], [("100.0", "0")]),
            ("delta", [], [("101.5", "1.5"), ("102.0", "1")]),
        ], exposures={0: 1.0})
        engine = run(plugin, quantity="5")
        (order,) = engine.orders.values()
        fills = fills_of(engine, order.client_order_id)
        assert [(f.price, f.quantity) for f in fills] == [
            (D("100.0"), D("0.5")), (D("100.5"), D("0.7")), (D("101.0"), D("2")),  # at submission
            (D("100.5"), D("0.7")), (D("101.0"), D("1.1")),  # the first delta: the book as it is now
        ]
        assert order.status is OrderStatus.FILLED and all(f.liquidity is Liquidity.TAKER for f in fills)
        assert_ledgers_agree(engine)

    def test_one_book_state_is_not_used_twice_but_a_new_update_offers_it_again(self):
        """Two market buys between updates share the 3.2 offered; after an update (the book is not
        consumed by our own fills) the same levels fill again."""
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.BUY, "1", OrderType.MARKET, cid="a")),
            ("call", submit(Side.BUY, "3", OrderType.MARKET, cid="b")),
            ("delta", [], [("105.0", "1")]),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in fills_of(engine, "a")] == [(D("100.0"), D("0.5")), (D("100.5"), D("0.5"))]
        assert [(f.price, f.quantity) for f in fills_of(engine, "b")] == [
            (D("100.5"), D("0.2")), (D("101.0"), D("2")),  # what "a" left of this state
            (D("100.0"), D("0.5")), (D("100.5"), D("0.3")),  # the update: the whole book again
        ]
        assert_ledgers_agree(engine)


class TestLimitOrders:
    def test_a_marketable_limit_takes_up_to_its_price_and_rests_the_rest(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.BUY, "2", price="100.5", cid="l")),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity, f.liquidity) for f in fills_of(engine, "l")] == [
            (D("100.0"), D("0.5"), Liquidity.TAKER), (D("100.5"), D("0.7"), Liquidity.TAKER),
        ]
        order = engine.orders["l"]
        assert order.status is OrderStatus.PARTIALLY_FILLED and order.remaining == D("0.8")
        assert engine.broker.open_orders()[0].client_order_id == "l"

    def test_a_resting_limit_fills_as_a_maker_when_an_update_crosses_it_limited_by_the_size_there(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.BUY, "0.8", price="99.8", cid="l")),
            ("delta", [], [("99.9", "0.3")]),  # an ask above the limit: nothing
            ("delta", [], [("99.8", "0.5"), ("99.7", "0.1")]),  # 0.6 at or through 99.8
            ("delta", [], [("99.6", "4")]),
        ])
        engine = run(plugin)
        fills = fills_of(engine, "l")
        assert [(f.price, f.quantity, f.liquidity) for f in fills] == [
            (D("99.8"), D("0.6"), Liquidity.MAKER), (D("99.8"), D("0.2"), Liquidity.MAKER),
        ]
        assert [f.fee for f in fills] == [f.price * f.quantity * D("0.0002") for f in fills]
        assert engine.orders["l"].status is OrderStatus.FILLED
        assert_ledgers_agree(engine)

    def test_resting_limits_share_a_crossing_level_best_price_first(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.SELL, "1", price="100.8", cid="high")),
            ("call", submit(Side.SELL, "1", price="100.6", cid="low")),
            ("delta", [("100.9", "1.5")], []),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in fills_of(engine, "low")] == [(D("100.6"), D("1"))]
        assert [(f.price, f.quantity) for f in fills_of(engine, "high")] == [(D("100.8"), D("0.5"))]

    def test_a_resting_limit_amended_through_the_book_takes_at_once(self):
        def amend(engine: Engine) -> None:
            engine.broker.amend("l", price=D("100.5"))

        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
            ("call", submit(Side.BUY, "1", price="99.6", cid="l")), ("call", amend),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity, f.liquidity) for f in fills_of(engine, "l")] == [
            (D("100.0"), D("0.5"), Liquidity.TAKER), (D("100.5"), D("0.5"), Liquidity.TAKER),
        ]
        assert engine.orders["l"].status is OrderStatus.FILLED

    def test_a_post_only_limit_that_would_cross_the_book_is_rejected(self):
        plugin = Books([
            ("snapshot", BIDS, ASKS), ("bar", bar(0, "90")),  # the last close alone would allow it
            ("call", submit(Side.BUY, "1", price="100.0", post_only=True, cid="cross")),
            ("call", submit(Side.BUY, "1", price="99.9", post_only=True, cid="rest")),
        ])
        engine = run(plugin)
        assert engine.orders["cross"].status is OrderStatus.REJECTED
        assert "would take liquidity" in engine.orders["cross"].reason
        assert engine.orders["rest"].status is OrderStatus.ACCEPTED and not engine.fills

    def test_an_order_submitted_before_the_book_meets_it_at_the_first_snapshot(self):
        """Submitted with no book, an IOC limit waits; the first snapshot fills what it can and ends it."""
        plugin = Books([
            ("call", submit(Side.BUY, "1", price="100.0", tif=TimeInForce.IOC, cid="early")),
            ("snapshot", BIDS, ASKS), ("bar", bar(0)),
        ])
        engine = run(plugin)
        assert [(f.price, f.quantity, f.liquidity) for f in fills_of(engine, "early")] == [
            (D("100.0"), D("0.5"), Liquidity.TAKER)
        ]
        assert engine.orders["early"].status is OrderStatus.CANCELED


class TestFallback:
    def test_without_a_book_orders_fill_on_the_next_bar(self):
        plugin = Books([("bar", bar(0)), ("bar", bar(1, "102"))], exposures={0: 1.0})
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in engine.fills] == [(D("102"), D("1.5"))]

    def test_a_book_that_lost_sync_is_not_used_until_the_next_snapshot(self):
        plugin = Books([("snapshot", BIDS, ASKS), ("unsync",), ("bar", bar(0)), ("bar", bar(1, "103"))],
                       exposures={0: 1.0})
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in engine.fills] == [(D("103"), D("1.5"))]

    def test_an_empty_book_is_no_book(self):
        plugin = Books([("snapshot", [], []), ("bar", bar(0)), ("bar", bar(1, "104"))], exposures={0: 1.0})
        engine = run(plugin)
        assert [(f.price, f.quantity) for f in engine.fills] == [(D("104"), D("1.5"))]

    def test_a_backtest_ignores_books(self):
        plugin = Books([("snapshot", BIDS, ASKS), ("bar", bar(0)), ("bar", bar(1, "102"))], exposures={0: 1.0})
        engine = run(plugin, mode="backtest")
        assert [(f.price, f.quantity) for f in engine.fills] == [(D("102"), D("1.5"))]

    def test_use_order_book_false_keeps_bar_fills(self):
        plugin = Books([("snapshot", BIDS, ASKS), ("bar", bar(0)), ("bar", bar(1, "102"))], exposures={0: 1.0})
        engine = run(plugin, broker=", use_order_book = false")
        assert [(f.price, f.quantity) for f in engine.fills] == [(D("102"), D("1.5"))]


# --- the ledger under random books and orders ---------------------------------------------------------

prices = st.integers(min_value=985, max_value=1015)  # ticks of 0.1, near enough to cross often
sizes = st.integers(min_value=1, max_value=3000).map(lambda n: str(D(n) * D("0.0007")))  # not all on the lot


@st.composite
def books(draw: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    mid = draw(prices)
    bid_ticks = draw(st.lists(st.integers(1, 30), min_size=1, max_size=6, unique=True))
    ask_ticks = draw(st.lists(st.integers(1, 30), min_size=1, max_size=6, unique=True))
    bids = [(str(D(mid - t) * TICK), draw(sizes)) for t in bid_ticks]
    asks = [(str(D(mid + t) * TICK), draw(sizes)) for t in ask_ticks]
    return bids, asks


@st.composite
def orders(draw: Any) -> Callable[[Engine], None]:
    side = draw(st.sampled_from(Side))
    quantity = str(D(draw(st.integers(1, 4000))) * LOT)
    kind = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT]))
    price = str(D(draw(prices)) * TICK) if kind is OrderType.LIMIT else None
    tif = draw(st.sampled_from(list(TimeInForce)))
    return submit(side, quantity, kind, price, tif=tif, reduce_only=draw(st.booleans()) and draw(st.booleans()))


@st.composite
def deltas(draw: Any) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """Levels set or removed (size 0) on either side, anywhere near the prices orders use."""
    change = st.tuples(prices.map(lambda n: str(D(n) * TICK)), st.one_of(st.just("0"), sizes))
    return "delta", draw(st.lists(change, max_size=4)), draw(st.lists(change, max_size=4))


steps = st.tuples(
    books().map(lambda b: ("snapshot", *b)),
    st.lists(st.one_of(books().map(lambda b: ("snapshot", *b)), deltas(),
                       orders().map(lambda call: ("call", call)), orders().map(lambda call: ("call", call))),
             min_size=4, max_size=20),
).map(lambda first_and_rest: [first_and_rest[0], *first_and_rest[1]])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_the_ledger_balances_exactly_under_random_books_and_orders(script: list[tuple[Any, ...]]):
    """Cash and positions of the broker and of the engine reconcile with the fills to the last unit;
    every fill is on the tick and the lot; no order overfills; within one book state no level gives more
    than its size to taker fills."""
    plugin = Books([("bar", bar(0)), *script])
    engine = run(plugin)
    assert_ledgers_agree(engine)
    for fill in engine.fills:
        assert fill.quantity > 0 and fill.quantity % LOT == 0 and fill.price % TICK == 0
        assert fill.fee == fill.price * fill.quantity * (D("0.0006") if fill.liquidity is Liquidity.TAKER
                                                         else D("0.0002"))
    for order in engine.orders.values():
        own = fills_of(engine, order.client_order_id)
        assert order.filled_quantity == sum((f.quantity for f in own), D(0)) <= order.quantity
        if own:
            assert order.avg_fill_price == sum((f.price * f.quantity for f in own), D(0)) / order.filled_quantity
    # Taker fills made in one book state (from one update to the next) take no more from a level than
    # it shows.
    bounds = [start for start, _, _ in plugin.book_states] + [len(engine.fills)]
    for (start, bids, asks), end in zip(plugin.book_states, bounds[1:]):
        offered = {(Side.SELL, p): q for p, q in bids} | {(Side.BUY, p): q for p, q in asks}
        taken: dict[tuple[Side, Decimal], Decimal] = {}
        for fill in engine.fills[start:end]:
            if fill.liquidity is Liquidity.TAKER:
                key = (fill.side, fill.price)
                taken[key] = taken.get(key, D(0)) + fill.quantity
        assert all(quantity <= offered[key] for key, quantity in taken.items()), (taken, offered)


class TestWiring:
    def test_the_engine_hands_a_book_keeping_source_to_the_broker_once_after_building(self):
        plugin = Books([("bar", bar(0))])
        engine = Engine(make_preset(), plugins=[plugin], autoload_plugins=False)
        assert engine.broker._book_of == engine.source.order_book
        assert engine.source.listeners == [engine.broker._on_book]

    def test_a_source_without_books_is_not_handed_over(self):
        """The built-in synthetic_live source keeps no book: the paper broker stays on bars."""
        preset = parse_preset(textwrap.dedent(f"""
            [engine]
            mode = "paper"
            [data]
            source = "synthetic_live"
            timeframe = "1m"
            [[instruments]]
            id = "{ID}"
            tick_size = "{TICK}"
            lot_size = "{LOT}"
            [[strategies]]
            id = "s"
            signal = "scripted"
            sizer = {{ name = "fixed", params = {{ quantity = "1" }} }}
        """))
        engine = Engine(preset, plugins=[Books([])], autoload_plugins=False)
        assert not hasattr(engine.source, "order_book") and engine.broker._book_of is None
