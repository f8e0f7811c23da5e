"""The L2 book kept from the orderbook stream: Bybit's rules, gaps, truncation, the OrderBookView contract."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tradehooks.contracts import OrderBookView

from tradehooks_bybit._book import OrderBook

D = Decimal


def snapshot(book: OrderBook, bids: list[list[str]], asks: list[list[str]], u: int = 10, ts: int = 1000) -> bool:
    return book.apply("snapshot", {"s": book.instrument_id, "b": bids, "a": asks, "u": u, "seq": 1}, ts)


def delta(book: OrderBook, bids: list[list[str]], asks: list[list[str]], u: int, ts: int = 2000) -> bool:
    return book.apply("delta", {"s": book.instrument_id, "b": bids, "a": asks, "u": u, "seq": 2}, ts)


class TestSnapshot:
    def test_it_is_an_order_book_view(self):
        assert isinstance(OrderBook("BTCUSDT", 50), OrderBookView)

    def test_a_snapshot_syncs_the_book_best_first(self):
        book = OrderBook("BTCUSDT", 50)
        assert not book.synced
        assert snapshot(book, [["99.9", "1"], ["100.0", "2"]], [["100.2", "3"], ["100.1", "4"]])
        assert book.synced and book.u == 10 and book.ts == 1000 * 1_000_000
        assert book.bids() == [(D("100.0"), D("2")), (D("99.9"), D("1"))]
        assert book.asks() == [(D("100.1"), D("4")), (D("100.2"), D("3"))]
        assert book.bids(1) == [(D("100.0"), D("2"))]
        assert book.best_bid() == (D("100.0"), D("2")) and book.best_ask() == (D("100.1"), D("4"))

    def test_a_new_snapshot_replaces_everything(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        snapshot(book, [["90", "5"]], [["91", "6"]], u=500)
        assert book.bids() == [(D("90"), D("5"))] and book.asks() == [(D("91"), D("6"))] and book.u == 500

    def test_u_1_is_a_snapshot_whatever_the_type(self):
        """The service restarted: the message overwrites the book."""
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        assert delta(book, [["80", "1"]], [["81", "2"]], u=1)
        assert book.synced and book.u == 1
        assert book.bids() == [(D("80"), D("1"))] and book.asks() == [(D("81"), D("2"))]

    def test_a_snapshot_resyncs_an_unsynced_book(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        delta(book, [], [], u=12)
        assert not book.synced
        assert snapshot(book, [["100", "3"]], [["101", "1"]], u=20)
        assert book.synced and book.bids() == [(D("100"), D("3"))]


class TestDelta:
    def test_sizes_are_replaced_inserted_and_deleted(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"], ["99", "1"]], [["101", "1"], ["102", "1"]], u=10)
        assert delta(book, [["100", "5"], ["99", "0"], ["98.5", "2"]], [["101", "0"], ["101.5", "7"]], u=11,
                     ts=3000)
        assert book.bids() == [(D("100"), D("5")), (D("98.5"), D("2"))]
        assert book.asks() == [(D("101.5"), D("7")), (D("102"), D("1"))]
        assert book.u == 11 and book.ts == 3000 * 1_000_000

    def test_deleting_a_price_the_book_does_not_hold_is_ignored(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        assert delta(book, [["97", "0"]], [["120", "0"]], u=11)
        assert book.bids() == [(D("100"), D("1"))] and book.asks() == [(D("101"), D("1"))]

    def test_prices_in_other_spellings_are_the_same_level(self):
        """``100.10`` and ``100.1`` are one price: levels are keyed by exact value."""
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100.10", "1"]], [["101", "1"]], u=10)
        delta(book, [["100.1", "0.000"]], [], u=11)
        assert book.bids() == []

    def test_a_gap_in_u_unsyncs_the_book_and_later_deltas_are_ignored(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        assert not delta(book, [["100", "9"]], [], u=12)
        assert not book.synced and book.resyncs == 1
        assert not delta(book, [["100", "8"]], [], u=13)
        assert book.bids() == [(D("100"), D("1"))]  # nothing applied while unsynced

    def test_a_delta_before_any_snapshot_is_ignored(self):
        book = OrderBook("BTCUSDT", 50)
        assert not delta(book, [["100", "1"]], [], u=5)
        assert not book.synced and len(book) == 0

    def test_a_repeated_u_is_a_gap(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]], u=10)
        assert not delta(book, [], [], u=10)
        assert not book.synced

    def test_unsync_marks_a_resync(self):
        book = OrderBook("BTCUSDT", 50)
        snapshot(book, [["100", "1"]], [["101", "1"]])
        book.unsync()
        book.unsync()
        assert not book.synced and book.resyncs == 1


class TestDepth:
    def test_the_book_keeps_only_depth_levels_per_side(self):
        book = OrderBook("BTCUSDT", 2)
        snapshot(book, [["100", "1"], ["99", "1"], ["98", "1"]], [["101", "1"], ["102", "1"], ["103", "1"]])
        assert [p for p, _ in book.bids()] == [D("100"), D("99")]
        assert [p for p, _ in book.asks()] == [D("101"), D("102")]
        delta(book, [["100.5", "1"]], [["100.8", "1"]], u=11)
        assert [p for p, _ in book.bids()] == [D("100.5"), D("100")]
        assert [p for p, _ in book.asks()] == [D("100.8"), D("101")]

    def test_depth_none_keeps_everything(self):
        book = OrderBook("BTCUSDT", None)
        snapshot(book, [[str(100 - i), "1"] for i in range(300)], [])
        assert len(book.bids()) == 300 and book.bids(None)[0][0] == D("100")


_price = st.integers(min_value=1, max_value=60).map(lambda i: f"{i / 2:.1f}")
_size = st.sampled_from(["0", "0.001", "1", "2.5", "10"])
_levels = st.lists(st.tuples(_price, _size), max_size=8)


@settings(max_examples=200, deadline=None)
@given(first=st.tuples(_levels, _levels), deltas=st.lists(st.tuples(_levels, _levels), max_size=20),
       depth=st.sampled_from([1, 3, 50]))
def test_the_book_equals_a_plain_model_of_the_rules(first, deltas, depth):
    """After any snapshot and deltas, each side is the model's dict (zero sizes removed), sorted best first,
    cut to depth."""
    book = OrderBook("X", depth)
    model_b: dict[Decimal, Decimal] = {}
    model_a: dict[Decimal, Decimal] = {}

    def cut() -> None:
        for model, best_first in ((model_b, True), (model_a, False)):
            for price in sorted(model, reverse=best_first)[depth:]:
                del model[price]

    def merge(model: dict[Decimal, Decimal], levels: list[tuple[str, str]]) -> None:
        for price, size in levels:
            if D(size) == 0:
                model.pop(D(price), None)
            else:
                model[D(price)] = D(size)

    snapshot(book, [list(x) for x in first[0]], [list(x) for x in first[1]], u=100)
    merge(model_b, first[0])
    merge(model_a, first[1])
    cut()
    for n, (b, a) in enumerate(deltas, start=101):
        assert delta(book, [list(x) for x in b], [list(x) for x in a], u=n)
        merge(model_b, b)
        merge(model_a, a)
        cut()
    assert book.bids() == sorted(model_b.items(), reverse=True)
    assert book.asks() == sorted(model_a.items())
    assert all(size > 0 for _, size in (*book.bids(), *book.asks()))
