"""The built-in ``synthetic_live`` data source: seeded GBM bars on the wall clock, for paper trading.

These tests run in real time at high speed (one-minute bars at ``speed = 600``: 0.1 s per bar).
"""

from __future__ import annotations

import itertools
import math
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import anyio
import attrs
import pytest
import structlog

from tradehooks import Engine, hookimpl
from tradehooks.builtins import data_synthetic
from tradehooks.builtins.data_synthetic import LiveSyntheticDataSource, SyntheticDataSource, generate_bars
from tradehooks.contracts import ComponentContext, DataSource
from tradehooks.events import BarProcessed
from tradehooks.exceptions import FieldError, PresetError
from tradehooks.model import Bar, Instrument, OrderStatus, check_bar, parse_timeframe, parse_ts
from tradehooks.presets import parse_preset

MINUTE = parse_timeframe("1m")
T0 = parse_ts("2024-01-01T00:00:00Z")
START = "2024-01-01T00:00:00Z"
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
ETH = Instrument(id="ETHBTC", base="ETH", quote="BTC", tick_size="0.00001", lot_size="0.0001")
SPEED = 600.0  # one-minute bars: 0.1 s each
INTERVAL = 60 / SPEED


class WallClock:
    def now(self) -> int:
        return time.time_ns()


def make_ctx(*instruments: Instrument, timeframe: int = MINUTE) -> ComponentContext:
    return ComponentContext(
        engine_id="t",
        mode="paper",
        clock=WallClock(),
        log=structlog.get_logger(),
        base_dir=Path("."),
        instruments={instrument.id: instrument for instrument in instruments},
        timeframe=timeframe,
    )


def live(*instruments: Instrument, **params: Any) -> LiveSyntheticDataSource:
    params = {"speed": SPEED, "start": START, **params}
    return LiveSyntheticDataSource(LiveSyntheticDataSource.Params(**params), make_ctx(*(instruments or (BTC,))))


def collect(source: LiveSyntheticDataSource) -> tuple[list[Sequence[Bar]], list[float], float]:
    """Every batch of a finite stream, the monotonic time each arrived (relative to the start) and the
    total elapsed time."""

    async def main() -> tuple[list[Sequence[Bar]], list[float], float]:
        batches, arrivals = [], []
        began = time.monotonic()
        async for batch in source.stream():
            arrivals.append(time.monotonic() - began)
            batches.append(batch)
        return batches, arrivals, time.monotonic() - began

    return anyio.run(main)


def history_of(source: Any, instrument_id: str, end: int, count: int) -> list[Bar]:
    async def ask() -> list[Bar]:
        return list(await source.history(instrument_id, end, count))

    return anyio.run(ask)


class TestParams:
    def test_it_is_registered_and_satisfies_the_protocol(self) -> None:
        """The module's hook registers both sources; the live one is named 'synthetic_live'."""
        assert data_synthetic.register_data_sources() == [SyntheticDataSource, LiveSyntheticDataSource]
        assert LiveSyntheticDataSource.name == "synthetic_live"
        assert isinstance(live(), DataSource)

    def test_defaults(self) -> None:
        """The documented defaults."""
        p = LiveSyntheticDataSource.Params()
        assert (p.seed, p.initial_price, p.drift, p.volatility, p.volume) == (42, 30_000.0, 0.0, 0.6, 100.0)
        assert (p.speed, p.start, p.bars, p.history_bars) == (1.0, None, None, 1000)

    @pytest.mark.parametrize(
        ("params", "field", "reason"),
        [
            ({"speed": 0}, "speed", "speed must be > 0, got 0"),
            ({"speed": -2.0}, "speed", "speed must be > 0"),
            ({"speed": math.inf}, "speed", "speed must be a finite number"),
            ({"bars": 0}, "bars", "bars must be > 0"),
            ({"history_bars": -1}, "history_bars", "history_bars must be >= 0"),
            ({"start": "soon"}, "start", "start 'soon' is not an ISO-8601 time"),
            ({"initial_price": 0.0}, "initial_price", "initial_price must be > 0"),
            ({"volatility": -0.1}, "volatility", "volatility must be > 0"),
            ({"volume": math.nan}, "volume", "volume must be a finite number"),
            ({"drift": math.inf}, "drift", "drift must be a finite number"),
        ],
    )
    def test_bad_params_raise_a_field_error_naming_the_field(self, params: dict[str, Any], field: str,
                                                             reason: str) -> None:
        """Each out-of-range parameter raises FieldError with the field's name."""
        with pytest.raises(FieldError, match=reason) as caught:
            LiveSyntheticDataSource.Params(**params)
        assert caught.value.field == field

    def test_a_bad_param_in_a_preset_is_a_preset_error(self) -> None:
        """Through the engine, speed = 0 is reported at its key."""
        with pytest.raises(PresetError, match="synthetic_live: speed must be > 0"):
            Engine(parse_preset(paper_preset("speed = 0")), plugins=[FlipperPlugin()], autoload_plugins=False)

    def test_a_preset_without_instruments_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one instrument"):
            LiveSyntheticDataSource(LiveSyntheticDataSource.Params(), make_ctx())

    def test_the_default_start_is_the_wall_clock_floored_to_the_timeframe(self) -> None:
        """Without start, the first bar opens at the current minute."""
        before = time.time_ns()
        source = LiveSyntheticDataSource(LiveSyntheticDataSource.Params(), make_ctx(BTC))
        after = time.time_ns()
        assert source.start_ts % MINUTE == 0
        assert before - before % MINUTE <= source.start_ts <= after


class TestStream:
    def test_bars_arrive_one_per_batch_at_the_expected_pace(self) -> None:
        """Five bars at 0.1 s each: one bar per batch, bar k never before it is due at (k + 1) * 0.1 s."""
        batches, arrivals, elapsed = collect(live(bars=5))
        assert [len(batch) for batch in batches] == [1] * 5
        assert 0.8 * 5 * INTERVAL <= elapsed <= 2.5 * 5 * INTERVAL
        for k, arrived in enumerate(arrivals):
            assert arrived >= (k + 1) * INTERVAL - 0.01

    def test_the_values_are_generate_bars_with_the_same_seed(self) -> None:
        """Timestamps step by the timeframe from start; bars equal generate_bars' output."""
        batches, _, _ = collect(live(bars=6, seed=5, initial_price=2_000.0, speed=6_000.0))
        bars = [bar for batch in batches for bar in batch]
        expected = generate_bars(BTC, seed=5, start_ts=T0, timeframe=MINUTE, count=6, initial_price=2_000.0)
        assert bars == list(expected)
        assert [bar.ts for bar in bars] == [T0 + k * MINUTE for k in range(6)]
        assert all(check_bar(bar) is None for bar in bars)

    def test_an_endless_stream_continues_the_same_path(self) -> None:
        """Without bars the stream runs on; its first bars are those of a finite one."""

        async def first(n: int) -> list[Bar]:
            bars: list[Bar] = []
            async for batch in live(seed=3, speed=60_000.0).stream():
                bars.extend(batch)
                if len(bars) == n:
                    break
            return bars

        assert anyio.run(first, 20) == list(generate_bars(BTC, seed=3, start_ts=T0, timeframe=MINUTE,
                                                          count=20, initial_price=30_000.0))

    def test_generate_bars_without_a_count_is_endless(self) -> None:
        """count=None gives an endless generator that agrees with a finite one."""
        endless = generate_bars(BTC, seed=1, start_ts=T0, timeframe=MINUTE, count=None)
        finite = list(generate_bars(BTC, seed=1, start_ts=T0, timeframe=MINUTE, count=500))
        assert [next(endless) for _ in range(500)] == finite
        assert next(endless).ts == T0 + 500 * MINUTE

    def test_several_instruments_share_one_batch_per_timestamp(self) -> None:
        """Each batch holds one bar per instrument, in the preset's order, all of one timestamp."""
        batches, _, _ = collect(live(BTC, ETH, bars=3, speed=6_000.0))
        assert [[bar.instrument_id for bar in batch] for batch in batches] == [["BTCUSDT", "ETHBTC"]] * 3
        assert [{bar.ts for bar in batch} for batch in batches] == [{T0 + k * MINUTE} for k in range(3)]

    def test_bars_ends_the_stream_after_that_many(self) -> None:
        """bars = 4: four batches, then the stream ends by itself."""
        batches, _, elapsed = collect(live(bars=4))
        assert len(batches) == 4
        assert elapsed < 2.5 * 4 * INTERVAL

    def test_cancelling_stops_it_at_once(self) -> None:
        """A cancel scope stops the stream mid-wait: with one bar a second, nothing arrives in 0.15 s,
        and the cancellation takes effect right away."""

        async def main() -> tuple[int, float, int]:
            received = 0
            began = time.monotonic()
            with anyio.move_on_after(0.15):
                async for _ in live(speed=60.0).stream():
                    received += 1
            slow = time.monotonic() - began
            fast_received = 0
            with anyio.move_on_after(0.35):
                async for _ in live(speed=SPEED).stream():
                    fast_received += 1
            return received, slow, fast_received

        received, elapsed, fast_received = anyio.run(main)
        assert received == 0
        assert elapsed < 0.4
        assert 2 <= fast_received <= 3

    def test_a_late_consumer_gets_the_overdue_bars_without_drift(self) -> None:
        """Scheduling is by due time: after a stall, overdue bars come at once and the pace resumes."""

        async def main() -> list[float]:
            arrivals = []
            began = time.monotonic()
            async for _ in live(bars=6).stream():
                arrivals.append(time.monotonic() - began)
                if len(arrivals) == 1:
                    await anyio.sleep(2.5 * INTERVAL)  # bars 1 and 2 fall due meanwhile
            return arrivals

        arrivals = anyio.run(main)
        assert arrivals[2] - arrivals[1] < 0.3 * INTERVAL  # bar 2 was already due
        assert arrivals[5] < 6 * INTERVAL + 0.15  # finished on the original schedule


class TestHistory:
    def test_history_before_the_stream_ends_at_the_start_and_is_deterministic(self) -> None:
        """Bars before the start lead into the first bar's open, like the backtest source's history."""
        source = live(initial_price=30_000.0)
        history = history_of(source, "BTCUSDT", T0, 200)
        assert len(history) == 200
        assert history[-1].ts + MINUTE == T0 and history[-1].close == 30_000.0
        assert all(b.ts - a.ts == MINUTE and b.open == a.close for a, b in itertools.pairwise(history))
        assert all(check_bar(bar) is None for bar in history)
        assert history_of(live(initial_price=30_000.0), "BTCUSDT", T0, 200) == history
        backtest = SyntheticDataSource(SyntheticDataSource.Params(initial_price=30_000.0, start=START), make_ctx(BTC))
        assert history_of(backtest, "BTCUSDT", T0, 200) == history
        assert history_of(source, "BTCUSDT", T0 - 3 * MINUTE - 1, 5) == history[-9:-4]
        assert history_of(source, "ETHBTC", T0, 10) == [] and history_of(source, "BTCUSDT", T0, 0) == []

    def test_history_never_reaches_more_than_history_bars_before_the_start(self) -> None:
        source = live(history_bars=30)
        assert len(history_of(source, "BTCUSDT", T0, 100)) == 30
        assert history_of(source, "BTCUSDT", T0 - 10 * MINUTE, 100) == history_of(source, "BTCUSDT", T0, 30)[:20]
        assert history_of(source, "BTCUSDT", T0 - 30 * MINUTE, 100) == []
        assert history_of(live(history_bars=0), "BTCUSDT", T0, 10) == []

    def test_history_includes_the_emitted_bars_but_no_later_ones(self) -> None:
        """After five bars, history ends with them; a later end gives no bar that was not emitted."""
        source = live(bars=5, speed=6_000.0)
        before = history_of(source, "BTCUSDT", T0, 20)
        streamed = [bar for batch in collect(source)[0] for bar in batch]
        end = T0 + 5 * MINUTE
        assert history_of(source, "BTCUSDT", end, 20) == before[5:] + streamed
        assert history_of(source, "BTCUSDT", end + 100 * MINUTE, 20) == before[5:] + streamed
        assert history_of(source, "BTCUSDT", end - 1, 3) == streamed[1:4]
        assert history_of(source, "BTCUSDT", end, 2) == streamed[3:]

    def test_history_during_the_stream_sees_the_bars_so_far(self) -> None:
        """Asked between two bars, history ends with the bar just received."""

        async def main() -> list[tuple[Bar, list[Bar]]]:
            source = live(bars=4, speed=6_000.0)
            seen = []
            async for batch in source.stream():
                seen.append((batch[0], list(await source.history("BTCUSDT", batch[0].ts + MINUTE, 3))))
            return seen

        for k, (bar, history) in enumerate(anyio.run(main)):
            assert history[-1] == bar and len(history) == 3
            assert history[-1].ts == T0 + k * MINUTE

    def test_bars_no_longer_kept_are_regenerated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only the last bars stay in memory; older ones are rebuilt and agree with the stream."""
        monkeypatch.setattr(LiveSyntheticDataSource, "_KEEP", 3)
        source = live(bars=20, history_bars=0, speed=600_000.0)
        streamed = [bar for batch in collect(source)[0] for bar in batch]
        assert len(source._recent["BTCUSDT"]) < 20
        assert history_of(source, "BTCUSDT", T0 + 20 * MINUTE, 50) == streamed
        assert history_of(source, "BTCUSDT", T0 + 10 * MINUTE, 4) == streamed[6:10]


# --- the engine in paper mode ---------------------------------------------------------------------------


class Flipper:
    """Goes long for ``hold`` bars, then flat for ``hold`` bars, and so on."""

    name: ClassVar[str] = "test_flipper"

    @attrs.frozen(kw_only=True)
    class Params:
        hold: int = 2

    def __init__(self, params: Flipper.Params, ctx: ComponentContext) -> None:
        self.hold = params.hold
        self.seen = 0

    def on_bar(self, bar: Bar) -> float:
        self.seen += 1
        return 1.0 if (self.seen // self.hold) % 2 == 0 else 0.0


class FlipperPlugin:
    __name__ = "test_flipper"

    @hookimpl
    def register_signals(self) -> list[type]:
        return [Flipper]


def paper_preset(data_params: str) -> str:
    return textwrap.dedent(
        f"""
        [engine]
        mode = "paper"
        initial_cash = "100000"
        currency = "USDT"

        [data]
        source = "synthetic_live"
        timeframe = "1m"
        params = {{ {data_params} }}

        [[instruments]]
        id = "BTCUSDT"
        base = "BTC"
        quote = "USDT"
        tick_size = "0.1"
        lot_size = "0.001"
        min_notional = "5"

        [broker]
        name = "paper"
        params = {{ taker_fee = "0.0006" }}

        [[strategies]]
        id = "flip"
        signal = "test_flipper"
        params = {{ hold = 2 }}
        sizer = {{ name = "fixed", params = {{ quantity = "0.01" }} }}
        """
    )


class TestPaperEngine:
    def test_a_paper_engine_trades_on_live_synthetic_bars_until_stopped(self) -> None:
        """An endless synthetic_live source drives a paper engine in real time: orders fill at the
        paper broker on later bars; the host stops it after 20 bars."""
        preset = parse_preset(paper_preset("seed = 3, speed = 2400.0"))
        engine = Engine(preset, plugins=[FlipperPlugin()], autoload_plugins=False, engine_id="paper")
        assert engine.mode == "paper" and isinstance(engine.source, LiveSyntheticDataSource)
        start = engine.source.start_ts

        async def main() -> tuple[int, float]:
            bars = 0
            began = time.monotonic()
            async with engine:
                events = engine.events()
                async with anyio.create_task_group() as group:
                    group.start_soon(engine.run)
                    async for event in events:
                        if isinstance(event, BarProcessed):
                            bars += 1
                            if bars == 20:
                                await engine.stop("enough bars")
                                break
            return bars, time.monotonic() - began

        bars, elapsed = anyio.run(main)
        assert bars == 20
        assert 0.8 * 20 * 60 / 2400 <= elapsed < 2.5 * 20 * 60 / 2400
        result = engine.result()
        assert 19 <= result.metrics.bars <= 21
        assert len(engine.fills) >= 4
        assert all(order.status in (OrderStatus.FILLED, OrderStatus.ACCEPTED) for order in engine.orders.values())
        # Fills happen at the open of a bar after the one that decided: never on the first bar.
        bar_opens = {start + k * MINUTE for k in range(1, 22)}
        assert all(fill.ts in bar_opens for fill in engine.fills)
        assert engine.broker.positions().get("BTCUSDT", 0) == engine.portfolio.position("BTCUSDT")
        assert engine.broker.balances()["USDT"] == engine.portfolio.cash
        engine.portfolio.check_balanced()
