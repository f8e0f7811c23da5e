"""The ``bybit`` data source against the emulator over real sockets: the instruments check, history
and download paging, closed candles from the stream, the gap of a reconnect, the order book and its
resync, public trades, and a paper engine running on it."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import anyio
import pytest
import tradehooks
from tradehooks import Engine, PresetError, hookimpl
from tradehooks.contracts import OrderBookView
from tradehooks.model import Bar, format_ts

import tradehooks_bybit
from tradehooks_bybit import BybitDataSource
from tradehooks_bybit._http import HttpClient
from tradehooks_bybit._ws import WebSocketClient
from tradehooks_bybit.data import Trade
from tradehooks_bybit.testing import BybitEmulator

MINUTE_MS = 60_000
MS = 1_000_000
BTC = {"id": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.1", "lot_size": "0.001",
       "min_notional": "5"}
ETH = {"id": "ETHUSDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.01",
       "min_notional": "5"}


def _base_ms(minutes_ago: int = 10_000) -> int:
    """A minute boundary that long ago (played candles are in the past, so they count as closed)."""
    return (int(time.time()) // 60 - minutes_ago) * MINUTE_MS


def _rows(start_ms: int, n: int, price: float = 30_000.0) -> list[tuple[int, float, float, float, float, float]]:
    """``n`` one-minute candles from ``start_ms``, prices on a 0.1 tick."""
    rows = []
    for i in range(n):
        o = round(price + (i % 7) * 0.5, 1)
        c = round(o + 0.3, 1)
        rows.append((start_ms + i * MINUTE_MS, o, round(c + 0.2, 1), round(o - 0.2, 1), c, 1.0 + i % 3))
    return rows


def _bar(row: tuple[Any, ...], instrument_id: str = "BTCUSDT") -> Bar:
    return Bar(instrument_id, row[0] * MS, *(float(x) for x in row[1:6]))


def _source(emu: BybitEmulator, *, instruments: list[dict[str, Any]] | None = None, timeframe: str = "1m",
            **params: Any) -> BybitDataSource:
    preset = tradehooks.parse_preset({
        "engine": {"mode": "paper"},
        "data": {"source": "bybit", "timeframe": timeframe,
                 "params": {"rest_url": emu.rest_url, "ws_url": emu.ws_url, **params}},
        "instruments": instruments or [BTC],
        "broker": {"name": "paper"},
    })
    source = Engine(preset, plugins=[tradehooks_bybit], autoload_plugins=False).source
    assert isinstance(source, BybitDataSource)
    return source


def _paths(emu: BybitEmulator, path: str) -> int:
    return sum(1 for r in emu.requests if r.path == path)


async def _stream_until(source: BybitDataSource, count: int, timeout: float = 20.0, during: Any = None,
                        play: Any = None) -> list[Bar]:
    """Bars from ``stream()`` until ``count`` arrived. Once the stream is subscribed, ``play()`` is called
    (it starts the emulator's price path) and ``during(bars)`` is awaited in another task."""
    bars: list[Bar] = []
    done = anyio.Event()

    async def consume() -> None:
        async for batch in source.stream():
            assert len(batch) == 1
            bars.extend(batch)
            if len(bars) >= count:
                done.set()
                return

    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            await _until(lambda: source.streaming)
            if play is not None:
                play()
            if during is not None:
                await during(bars)
            await done.wait()
            tasks.cancel_scope.cancel()
    return bars


async def _start_and_stop(source: BybitDataSource) -> None:
    """Run ``stream()`` until it is subscribed, then cancel it."""

    async def consume() -> None:
        async for _ in source.stream():
            pass

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            await _until(lambda: source.streaming)
            tasks.cancel_scope.cancel()


async def _until(check: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.01)


class TestInstruments:
    def test_matching_instruments_pass(self, emu: BybitEmulator, backend: str):
        source = _source(emu, instruments=[BTC, ETH])

        async def main() -> None:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=0.05))

        anyio.run(main, backend=backend)
        info = source.instrument_info
        assert info["BTCUSDT"].tick_size == Decimal("0.1") and info["ETHUSDT"].lot_size == Decimal("0.01")

    @pytest.mark.parametrize(("field", "value", "key"), [
        ("tick_size", "0.5", "instruments[1].tick_size"),
        ("lot_size", "0.0001", "instruments[1].lot_size"),
        ("min_notional", "1", "instruments[1].min_notional"),
        ("id", "DOGEUSDT", "instruments[1].id"),
    ])
    def test_a_mismatch_names_the_instrument_and_the_key(self, emu: BybitEmulator, field: str, value: str,
                                                         key: str):
        wrong = {**ETH, field: value}
        source = _source(emu, instruments=[BTC, wrong])

        async def main() -> None:
            async for _ in source.stream():
                break

        with pytest.raises(PresetError) as caught:
            anyio.run(main)
        assert caught.value.key == key and wrong["id"] in str(caught.value)
        assert emu.ws_connections() == 0  # refused before subscribing

    def test_the_spot_rules_are_its_own(self, emu: BybitEmulator):
        spot = {"id": "BTCUSDT", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.000001",
                "min_quantity": "0.000048", "min_notional": "5"}
        source = _source(emu, instruments=[spot], category="spot")

        async def main() -> None:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("spot", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=0.05))

        anyio.run(main)
        assert source.instrument_info["BTCUSDT"].min_notional == Decimal(5)

    def test_instruments_info_is_read_page_by_page(self, emu: BybitEmulator):
        for i in range(1000):
            emu.add_instrument("linear", f"X{i:04d}USDT", tick_size="0.01", qty_step="1", min_qty="1")
        emu.add_instrument("linear", "ZZZUSDT", tick_size="0.001", qty_step="1", min_qty="1")
        zzz = {"id": "ZZZUSDT", "quote": "USDT", "tick_size": "0.001", "lot_size": "1", "min_notional": "5"}
        source = _source(emu, instruments=[zzz])
        anyio.run(_start_and_stop, source)
        assert _paths(emu, "/v5/market/instruments-info") == 2
        assert source.instrument_info["ZZZUSDT"].tick_size == Decimal("0.001")

    def test_the_check_can_be_turned_off(self, emu: BybitEmulator):
        source = _source(emu, instruments=[{**BTC, "tick_size": "0.5"}], check_instruments=False)

        async def main() -> None:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=0.05))

        anyio.run(main)
        assert _paths(emu, "/v5/market/instruments-info") == 0

    def test_a_timeframe_bybit_lacks_is_refused_when_building(self, emu: BybitEmulator):
        with pytest.raises(PresetError, match="no candles of timeframe 2m"):
            _source(emu, timeframe="2m")


class TestHistory:
    def test_it_pages_back_and_returns_oldest_first(self, emu: BybitEmulator, backend: str):
        base = _base_ms()
        rows = _rows(base, 2500)
        emu.load_klines("linear", "BTCUSDT", "1", rows)
        source = _source(emu, history_limit=1000)
        end = (base + 2500 * MINUTE_MS) * MS  # the close of the last candle

        async def main() -> Any:
            try:
                return await source.history("BTCUSDT", end, 2200)
            finally:
                await source.aclose()

        bars = anyio.run(main, backend=backend)
        assert bars == [_bar(r) for r in rows[-2200:]]
        assert _paths(emu, "/v5/market/kline") == 3

    def test_only_candles_closed_by_end_are_returned(self, emu: BybitEmulator):
        base = _base_ms()
        rows = _rows(base, 10)
        emu.load_klines("linear", "BTCUSDT", "1", rows)
        source = _source(emu)
        end = (base + 5 * MINUTE_MS) * MS + 1  # candle 4 closed at +5 min; candle 5 not yet

        bars = anyio.run(source.history, "BTCUSDT", end, 100)
        assert bars == [_bar(r) for r in rows[:5]]
        assert anyio.run(source.history, "BTCUSDT", base * MS + MINUTE_MS - 1, 10) == []
        anyio.run(source.aclose)

    def test_a_small_page_size_pages_more(self, emu: BybitEmulator):
        base = _base_ms()
        rows = _rows(base, 95)
        emu.load_klines("linear", "BTCUSDT", "1", rows)
        source = _source(emu, history_limit=20)

        bars = anyio.run(source.history, "BTCUSDT", (base + 95 * MINUTE_MS) * MS, 1000)
        anyio.run(source.aclose)
        assert bars == [_bar(r) for r in rows]
        assert _paths(emu, "/v5/market/kline") == 5  # 20+20+20+20+15: the short page ends it

    def test_a_rate_limit_on_the_way_is_waited_out(self, emu: BybitEmulator):
        base = _base_ms()
        emu.load_klines("linear", "BTCUSDT", "1", _rows(base, 30))
        emu.inject_rate_limit(count=1, path="/v5/market/kline", with_reset_header=True)
        source = _source(emu)
        bars = anyio.run(source.history, "BTCUSDT", (base + 30 * MINUTE_MS) * MS, 30)
        anyio.run(source.aclose)
        assert len(bars) == 30


class TestDownload:
    def test_pages_come_oldest_first_within_the_range(self, emu: BybitEmulator, backend: str):
        base = _base_ms()
        rows = _rows(base, 250)
        emu.load_klines("linear", "BTCUSDT", "1", rows)
        source = _source(emu, history_limit=100)
        start, end = (base + 10 * MINUTE_MS) * MS, (base + 240 * MINUTE_MS) * MS

        async def main() -> list[list[Bar]]:
            return [list(page) async for page in source.download("BTCUSDT", start, end)]

        pages = anyio.run(main, backend=backend)
        assert [len(p) for p in pages] == [100, 100, 30]
        assert [bar for page in pages for bar in page] == [_bar(r) for r in rows[10:240]]

    def test_a_range_without_candles_gives_no_pages(self, emu: BybitEmulator):
        source = _source(emu)
        start = _base_ms() * MS

        async def main() -> list[Any]:
            return [page async for page in source.download("BTCUSDT", start, start + 50 * MINUTE_MS * MS)]

        assert anyio.run(main) == []


    def test_the_download_command_writes_the_range(self, emu: BybitEmulator, tmp_path: Any):
        """``tradehooks data download`` builds the source from --param settings and writes its pages."""
        pq = pytest.importorskip("pyarrow.parquet")
        base = _base_ms()
        rows = _rows(base, 1500)
        emu.load_klines("linear", "BTCUSDT", "1", rows)
        output = tmp_path / "btc.parquet"
        done = subprocess.run(
            [sys.executable, "-m", "tradehooks", "data", "download", "--source", "bybit", "--symbol", "BTCUSDT",
             "--timeframe", "1m", "--start", format_ts((base + 100 * MINUTE_MS) * MS),
             "--end", format_ts((base + 1400 * MINUTE_MS) * MS), "--output", str(output), "--quiet",
             "--param", f"rest_url={emu.rest_url}", "--param", "history_limit=500"],
            capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        table = pq.read_table(output)
        assert table.num_rows == 1300
        assert table.column("close").to_pylist() == [r[4] for r in rows[100:1400]]
        assert _paths(emu, "/v5/market/kline") == 3


class TestStream:
    def test_closed_candles_once_each_in_order(self, emu: BybitEmulator, backend: str):
        rows = _rows(_base_ms(), 4)
        source = _source(emu)

        async def main() -> list[Bar]:
            return await _stream_until(source, 4,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", rows, interval_s=0.1))

        assert anyio.run(main, backend=backend) == [_bar(r) for r in rows]

    def test_every_instrument_streams(self, emu: BybitEmulator):
        base = _base_ms()
        btc, eth = _rows(base, 3), _rows(base, 3, price=2000.0)
        source = _source(emu, instruments=[BTC, ETH])

        async def main() -> list[Bar]:
            def play() -> None:
                emu.play("linear", "BTCUSDT", "1", btc, interval_s=0.1)
                emu.play("linear", "ETHUSDT", "1", eth, interval_s=0.1)

            return await _stream_until(source, 6, play=play)

        bars = anyio.run(main)
        assert sorted(bars) == sorted([_bar(r) for r in btc] + [_bar(r, "ETHUSDT") for r in eth])

    def test_after_a_reconnect_the_missed_candles_come_from_rest(self, emu: BybitEmulator, backend: str):
        rows = _rows(_base_ms(), 12)
        source = _source(emu)

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: len(bars) >= 2)
            emu.drop_sockets("public")

        async def main() -> list[Bar]:
            return await _stream_until(source, 12,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", rows, interval_s=0.15), during=during)

        bars = anyio.run(main, backend=backend)
        assert bars == [_bar(r) for r in rows]  # nothing lost, nothing twice
        assert source.reconnects == 1

    def test_a_gap_that_cannot_be_filled_hands_the_retry_to_the_engine(self, emu: BybitEmulator):
        """REST failing for good while filling a reconnect's gap: the stream raises ConnectionError (not a
        tradehooks error), so the engine marks the instruments stale and restarts the source."""
        rows = _rows(_base_ms(), 30)
        source = _source(emu)
        source._http = HttpClient(base_url=emu.rest_url, backoff=0.01, backoff_max=0.02, max_retries=2)

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: len(bars) >= 1)
            emu.inject_http_status(503, count=100, path="/v5/market/kline")
            emu.drop_sockets("public")

        async def main() -> None:
            await _stream_until(source, 30, during=during,
                                play=lambda: emu.play("linear", "BTCUSDT", "1", rows, interval_s=0.1))

        with pytest.raises(BaseExceptionGroup) as caught:
            anyio.run(main)
        assert caught.group_contains(ConnectionError, match="missed while disconnected")
        assert not caught.group_contains(tradehooks.TradehooksError)

    def test_a_timeframe_above_a_minute_uses_its_interval(self, emu: BybitEmulator):
        base = (int(time.time()) // 300 - 1000) * 300_000
        rows = [(base + i * 300_000, 100.0, 101.0, 99.0, 100.5, 3.0) for i in range(2)]
        source = _source(emu, timeframe="5m")

        async def main() -> list[Bar]:
            return await _stream_until(source, 2,
                                      play=lambda: emu.play("linear", "BTCUSDT", "5", rows, interval_s=0.1))

        assert anyio.run(main) == [_bar(r) for r in rows]


def _levels(side: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in side]


class TestOrderBook:
    def test_the_book_is_the_exchanges_and_listeners_hear_each_update(self, emu: BybitEmulator, backend: str):
        source = _source(emu, book_depth=50)
        heard: list[tuple[int, bool]] = []
        source.add_book_listener(lambda book: heard.append((book.u, book.synced)))
        assert source.order_book("BTCUSDT") is None  # not synced before the stream starts

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: source.order_book("BTCUSDT") is not None)
            for price in ("30010", "30020.5", "29990"):
                emu.set_price("linear", "BTCUSDT", price)
            await _until(lambda: (book := source.order_book("BTCUSDT")) is not None
                         and book.u == emu.book("linear", "BTCUSDT")["u"])

        async def main() -> OrderBookView | None:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=1.0), during=during)
            return source.order_book("BTCUSDT")

        book = anyio.run(main, backend=backend)
        assert isinstance(book, OrderBookView)
        theirs = emu.book("linear", "BTCUSDT", 50)
        assert list(book.bids()) == _levels(theirs["b"]) and list(book.asks()) == _levels(theirs["a"])
        assert len(book.bids()) <= 50 and book.bids(1)[0][0] < book.asks(1)[0][0]
        us = [u for u, _ in heard]
        assert all(synced for _, synced in heard) and us == sorted(us) and us[-1] == theirs["u"]

    def test_a_failing_listener_does_not_stop_the_data(self, emu: BybitEmulator):
        rows = _rows(_base_ms(), 2)
        source = _source(emu, book_depth=50)
        heard: list[int] = []

        def broken(book: Any) -> None:
            raise RuntimeError("listener bug")

        source.add_book_listener(broken)
        source.add_book_listener(lambda book: heard.append(book.u))

        async def main() -> list[Bar]:
            return await _stream_until(source, 2, play=lambda: emu.play("linear", "BTCUSDT", "1", rows,
                                                                        interval_s=0.1))

        assert anyio.run(main) == [_bar(r) for r in rows]
        assert heard and source.listener_errors == len(heard)

    def test_a_skipped_delta_resyncs_the_book(self, emu: BybitEmulator, backend: str):
        source = _source(emu, book_depth=50)

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: source.order_book("BTCUSDT") is not None)
            emu.skip_book_delta("linear", "BTCUSDT")
            emu.set_price("linear", "BTCUSDT", "30050")  # not sent: u advances
            emu.set_price("linear", "BTCUSDT", "30060")  # the client sees the gap
            await _until(lambda: source._books["BTCUSDT"].resyncs == 1)
            await _until(lambda: (book := source.order_book("BTCUSDT")) is not None
                         and book.u == emu.book("linear", "BTCUSDT")["u"])
            emu.set_price("linear", "BTCUSDT", "30070")  # deltas apply again after the new snapshot
            await _until(lambda: (book := source.order_book("BTCUSDT")) is not None
                         and book.u == emu.book("linear", "BTCUSDT")["u"])

        async def main() -> Any:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=1.0), during=during)
            return source._books["BTCUSDT"]

        book = anyio.run(main, backend=backend)
        theirs = emu.book("linear", "BTCUSDT", 50)
        assert list(book.bids()) == _levels(theirs["b"]) and list(book.asks()) == _levels(theirs["a"])
        assert book.synced and book.resyncs == 1
        assert source.reconnects == 0  # a new snapshot on the same connection

    def test_an_unsynced_book_is_not_handed_out(self, emu: BybitEmulator):
        source = _source(emu, book_depth=50)
        book = source._books["BTCUSDT"]
        book.apply("snapshot", {"b": [["100", "1"]], "a": [["101", "1"]], "u": 5}, 1)
        assert source.order_book("BTCUSDT") is book
        book.apply("delta", {"b": [], "a": [], "u": 7}, 2)
        assert source.order_book("BTCUSDT") is None

    def test_a_reconnect_unsyncs_then_resyncs_the_book(self, emu: BybitEmulator):
        source = _source(emu, book_depth=200)

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: source.order_book("BTCUSDT") is not None)
            emu.drop_sockets("public")
            await _until(lambda: source.reconnects == 1)
            emu.set_price("linear", "BTCUSDT", "31000")
            await _until(lambda: (book := source.order_book("BTCUSDT")) is not None
                         and book.u == emu.book("linear", "BTCUSDT")["u"])

        async def main() -> Any:
            await _stream_until(source, 1,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=2.0), during=during)
            return source.order_book("BTCUSDT")

        book = anyio.run(main)
        theirs = emu.book("linear", "BTCUSDT", 200)
        assert list(book.bids()) == _levels(theirs["b"]) and list(book.asks()) == _levels(theirs["a"])

    def test_a_new_snapshot_from_the_exchange_resets_the_book(self, emu: BybitEmulator):
        source = _source(emu, book_depth=50)
        heard: list[int] = []
        source.add_book_listener(lambda book: heard.append(book.updates))

        levels: list[Any] = []

        async def during(bars: list[Bar]) -> None:
            await _until(lambda: source.order_book("BTCUSDT") is not None)
            emu.set_book("linear", "BTCUSDT", [("29000", "1"), ("28999.9", "2")], [("29000.5", "3")])
            emu.resend_book_snapshot("linear", "BTCUSDT")
            await _until(lambda: (book := source.order_book("BTCUSDT")) is not None
                         and book.asks() == [(Decimal("29000.5"), Decimal(3))])
            book = source._books["BTCUSDT"]
            levels.append((book.bids(), book.asks(), book.resyncs))
            emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=0.1)  # ends the stream

        anyio.run(_stream_until, source, 1, 20.0, during)
        bids, _asks, resyncs = levels[0]
        assert bids == [(Decimal(29000), Decimal(1)), (Decimal("28999.9"), Decimal(2))]
        assert resyncs == 0 and heard == sorted(heard)

    def test_a_snapshot_that_never_comes_reopens_the_connection(self, emu: BybitEmulator, backend: str):
        """A book that asked for a snapshot and waited longer than its patience reopens the stream."""
        source = _source(emu, book_depth=50)
        topic = "orderbook.50.BTCUSDT"

        async def main() -> list[dict[str, Any]]:
            ws = WebSocketClient(url=emu.ws_url + "/v5/public/linear", backoff=0.01)
            try:
                await ws.subscribe([topic])
                book = source._books["BTCUSDT"]
                await source._resync(ws, book, topic)  # asks again: the same connection
                assert ws.connected and "BTCUSDT" in source._resync_asked
                source._resync_asked["BTCUSDT"] -= 10.0  # ... long ago
                await source._resync(ws, book, topic)
                assert not ws.connected
                got = []
                with anyio.fail_after(10):
                    async for message in ws.messages():
                        got.append(message)
                        if len(got) > 1 and got[-2].get("op") == "reconnected":
                            return got
                return got
            finally:
                await ws.aclose()

        got = anyio.run(main, backend=backend)
        # Snapshots of the old connection (if they were read before it closed), the marker, a new snapshot.
        assert [m.get("op") for m in got].count("reconnected") == 1
        assert got[-1]["type"] == "snapshot" and all(m["type"] == "snapshot" for m in got[:-2])

    def test_the_top_of_the_book_is_snapshots_only(self, emu: BybitEmulator, backend: str):
        """orderbook.1 sends snapshots only (re-sent with the same u when nothing changed)."""
        source = _source(emu, instruments=[BTC, ETH], book_depth=1, category="linear")

        async def during(bars: list[Bar]) -> None:
            emu.set_price("linear", "ETHUSDT", "2100.5")
            await _until(lambda: (book := source.order_book("ETHUSDT")) is not None
                         and book.bids(1) == _levels(emu.book("linear", "ETHUSDT", 1)["b"]))

        async def main() -> Any:
            await _stream_until(source, 1, during=during,
                                play=lambda: emu.play("linear", "BTCUSDT", "1", _rows(_base_ms(), 1), interval_s=0.5))
            return source.order_book("ETHUSDT")

        book = anyio.run(main, backend=backend)
        theirs = emu.book("linear", "ETHUSDT", 1)
        assert book.bids() == _levels(theirs["b"]) and book.asks() == _levels(theirs["a"])
        assert len(book.bids()) == 1 and len(book.asks()) == 1

    def test_without_book_depth_there_is_no_book(self, emu: BybitEmulator):
        source = _source(emu)
        assert source.order_book("BTCUSDT") is None


class TestTrades:
    def test_public_trades_reach_the_listener(self, emu: BybitEmulator, backend: str):
        rows = _rows(_base_ms(), 2)
        source = _source(emu, trades=True)
        trades: list[Trade] = []
        source.add_trade_listener(trades.append)

        async def main() -> None:
            await _stream_until(source, 2,
                                      play=lambda: emu.play("linear", "BTCUSDT", "1", rows, interval_s=0.1))

        anyio.run(main, backend=backend)
        assert len(trades) >= 8  # four price steps per candle
        assert all(t.instrument_id == "BTCUSDT" and t.side in ("buy", "sell") and t.size > 0 for t in trades)
        prices = {p for row in rows for p in row[1:5]}
        assert {t.price for t in trades} <= prices


class _GoLong:
    """A signal that wants to be fully long from its first bar."""

    name = "go_long"

    def __init__(self, params: Any, ctx: Any) -> None:
        pass

    def on_bar(self, bar: Bar) -> float:
        return 1.0


class _Signals:
    __name__ = "bybit_test_signals"

    @hookimpl
    def register_signals(self) -> list[type]:
        return [_GoLong]


class TestEngine:
    def test_a_paper_engine_runs_on_the_stream(self, emu: BybitEmulator, backend: str):
        rows = _rows(_base_ms(), 5)
        preset = tradehooks.parse_preset({
            "engine": {"mode": "paper", "initial_cash": "10000", "currency": "USDT"},
            "data": {"source": "bybit", "timeframe": "1m",
                     "params": {"rest_url": emu.rest_url, "ws_url": emu.ws_url, "book_depth": 50}},
            "instruments": [BTC],
            "broker": {"name": "paper"},
        })
        engine = Engine(preset, plugins=[tradehooks_bybit], autoload_plugins=False)

        async def main() -> int:
            async with engine:
                stream = engine.events()
                seen = 0
                with anyio.fail_after(20):
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(engine.run)
                        await _until(lambda: engine.source.streaming)
                        emu.play("linear", "BTCUSDT", "1", rows, interval_s=0.1)
                        async for event in stream:
                            if type(event).__name__ == "BarProcessed":
                                seen += 1
                                if seen == len(rows):
                                    break
                        tasks.cancel_scope.cancel()  # a live run ends when cancelled
                return seen

        assert anyio.run(main, backend=backend) == len(rows)
        assert not math.isnan(float(engine.portfolio.equity()))

    def test_paper_orders_fill_against_the_live_book(self, emu: BybitEmulator, backend: str):
        """With book_depth the paper broker walks this source's book: the buy fills at the best ask the
        book held when the order went out, at once, not at a later bar's open."""
        rows = _rows(_base_ms(), 3)
        preset = tradehooks.parse_preset({
            "engine": {"mode": "paper", "initial_cash": "100000", "currency": "USDT"},
            "data": {"source": "bybit", "timeframe": "1m",
                     "params": {"rest_url": emu.rest_url, "ws_url": emu.ws_url, "book_depth": 50}},
            "instruments": [{**BTC, "min_quantity": "0.001"}],
            "broker": {"name": "paper"},
            "strategies": [{"id": "long", "signal": "go_long", "sizer": {"name": "fixed",
                                                                         "params": {"quantity": "0.002"}}}],
        })
        engine = Engine(preset, plugins=[tradehooks_bybit, _Signals()], autoload_plugins=False)
        source = engine.source
        asks: list[Decimal] = []
        source.add_book_listener(lambda book: asks.append(book.asks(1)[0][0]))

        async def main() -> Any:
            async with engine:
                stream = engine.events()
                with anyio.fail_after(20):
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(engine.run)
                        await _until(lambda: source.streaming)
                        emu.play("linear", "BTCUSDT", "1", rows, interval_s=1.0)
                        bars = 0
                        async for event in stream:
                            if type(event).__name__ == "BarProcessed":
                                bars += 1
                            if type(event).__name__ == "FillReceived":
                                tasks.cancel_scope.cancel()
                                return event.fill, asks[-1], bars
            return None

        fill, best_ask, bars = anyio.run(main, backend=backend)
        assert fill.quantity == Decimal("0.002") and fill.instrument_id == "BTCUSDT"
        assert fill.price == best_ask  # the book's price, not a bar's
        assert bars == 0  # filled while the first bar was handled (a bar fill would come with the second)
