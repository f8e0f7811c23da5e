"""The data-quality rules of ``[data] zero_volume``, ``flat_bars`` and ``stale_after``, each under the
``halt``, ``skip`` and ``warn`` policies, in a real engine: backtests for the per-bar rules, a paper
engine on a live source that goes quiet for the stale-data rule; every case reported to the
``data_rejected`` hook."""

from __future__ import annotations

import textwrap
import time
from decimal import Decimal
from typing import Any

import anyio
import pytest

from tradehooks import DataError, Engine, PresetError, hookimpl
from tradehooks._data_rules import bar_rules
from tradehooks.events import DataRejected
from tradehooks.model import Bar, parse_ts
from tradehooks.presets import parse_preset
from tradehooks.testing import RecordingObserver, default_instrument, run_backtest, synthetic_bars

GOOD = synthetic_bars(60, seed=5)
ZERO_VOLUME_AT = (10, 11, 40)


def with_zero_volume() -> list[Bar]:
    bars = list(GOOD)
    for i in ZERO_VOLUME_AT:
        bars[i] = bars[i]._replace(volume=0.0)
    return bars


def with_frozen_feed() -> list[Bar]:
    """Bars 20 to 25 repeat bar 19's prices: seven bars in a row with the same OHLC."""
    bars = list(GOOD)
    frozen = bars[19]
    for i in range(20, 26):
        bars[i] = bars[i]._replace(open=frozen.open, high=frozen.high, low=frozen.low, close=frozen.close)
    return bars


class TestZeroVolume:
    def test_allowed_by_default(self) -> None:
        """Quiet markets have bars without trades: by default they are used and nothing is reported."""
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_zero_volume(), plugins=[recorder])
        assert recorder.of("data_rejected") == [] and len(result.equity) == 60

    def test_halt(self) -> None:
        recorder = RecordingObserver()
        with pytest.raises(DataError, match=r"BTCUSDT: bar at 2024-01-01T00:10:00Z: zero volume"):
            run_backtest(signal="sma_cross", bars=with_zero_volume(), data={"zero_volume": "reject"},
                         plugins=[recorder])
        assert [(c["action"], c["reason"]) for c in recorder.of("data_rejected")] == [("halt", "zero volume")]

    def test_skip(self) -> None:
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_zero_volume(), data_quality="skip",
                              data={"zero_volume": "reject"}, plugins=[recorder])
        rejected = recorder.of("data_rejected")
        assert [c["bar"] for c in rejected] == [with_zero_volume()[i] for i in ZERO_VOLUME_AT]
        assert {c["action"] for c in rejected} == {"skip"}
        assert len(result.equity) == 57  # the three bars were dropped

    def test_warn(self) -> None:
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_zero_volume(), data_quality="warn",
                              data={"zero_volume": "reject"}, plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["warn"] * 3
        assert len(result.equity) == 60  # reported, and used


class TestFlatSeries:
    def test_off_by_default(self) -> None:
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_frozen_feed(), plugins=[recorder])
        assert recorder.of("data_rejected") == [] and len(result.equity) == 60

    def test_halt(self) -> None:
        """With flat_bars = 3 the third bar in a row with the same prices (bar 21) stops the run."""
        recorder = RecordingObserver()
        with pytest.raises(DataError, match=r"bar at 2024-01-01T00:21:00Z: flat series: 3 bars in a row"):
            run_backtest(signal="sma_cross", bars=with_frozen_feed(), data={"flat_bars": 3}, plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["halt"]

    def test_skip(self) -> None:
        """Bars 21 to 25 are dropped (the third to the seventh of the run), each reported; bar 26 moves."""
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_frozen_feed(), data_quality="skip",
                              data={"flat_bars": 3}, plugins=[recorder])
        rejected = recorder.of("data_rejected")
        assert [c["bar"].ts for c in rejected] == [GOOD[i].ts for i in range(21, 26)]
        assert [c["reason"].split(":")[1].strip() for c in rejected] == [
            f"{n} bars in a row with open, high, low and close all {GOOD[19].open}, {GOOD[19].high}, "
            f"{GOOD[19].low}, {GOOD[19].close} (a frozen feed?)" for n in range(3, 8)]
        assert len(result.equity) == 55

    def test_warn(self) -> None:
        recorder = RecordingObserver()
        result = run_backtest(signal="sma_cross", bars=with_frozen_feed(), data_quality="warn",
                              data={"flat_bars": 3}, plugins=[recorder])
        assert [c["action"] for c in recorder.of("data_rejected")] == ["warn"] * 5
        assert len(result.equity) == 60

    def test_a_run_is_per_instrument_and_ends_when_a_price_moves(self) -> None:
        check = bar_rules("allow", 3)
        assert check is not None
        a = Bar("A", 0, 10.0, 11.0, 9.0, 10.5, 1.0)
        b = Bar("B", 0, 10.0, 11.0, 9.0, 10.5, 1.0)
        assert [check(bar) for bar in (a, b, a, b)] == [None] * 4  # two bars in a row each
        assert check(a._replace(close=10.4)) is None  # the close moved: a new run starts
        assert check(b) is not None  # B's third
        assert check(a._replace(close=10.4)) is None and check(a._replace(close=10.4)) is not None

    def test_both_off_means_nothing_to_call_per_bar(self) -> None:
        assert bar_rules("allow", 0) is None

    def test_zero_volume_and_a_flat_run_give_both_reasons(self) -> None:
        check = bar_rules("reject", 2)
        assert check is not None
        bar = Bar("A", 0, 10.0, 10.0, 10.0, 10.0, 0.0)
        assert check(bar) == "zero volume"
        assert check(bar) == ("zero volume; flat series: 2 bars in a row with open, high, low and close all "
                              "10.0, 10.0, 10.0, 10.0 (a frozen feed?)")


class TestPresetKeys:
    @pytest.mark.parametrize(("key", "value", "message"), [
        ("flat_bars", 1, r"data.flat_bars: must be 0 \(off\) or >= 2, got 1"),
        ("flat_bars", -2, r"data.flat_bars: must be 0 \(off\) or >= 2, got -2"),
        ("zero_volume", "skip", r"data.zero_volume: must be one of 'allow', 'reject', got 'skip'"),
        ("stale_after", "soon", r"data.stale_after: stale_after 'soon' is not 'off', a multiple"),
        ("stale_after", "0x", r"data.stale_after: stale_after '0x' is not a positive multiple"),
    ])
    def test_a_bad_value_is_a_located_preset_error(self, key: str, value: Any, message: str) -> None:
        with pytest.raises(PresetError, match=message):
            parse_preset(preset_table(**{key: value}))

    @pytest.mark.parametrize(("value", "ns"), [
        ("3x", 180_000_000_000), ("0.5x", 30_000_000_000), ("90s", 90_000_000_000), ("off", None),
    ])
    def test_stale_after_is_a_multiple_of_the_timeframe_or_a_duration(self, value: str, ns: int | None) -> None:
        assert parse_preset(preset_table(stale_after=value)).stale_after_ns == ns

    def test_the_defaults(self) -> None:
        data = parse_preset(preset_table()).data
        assert (data.zero_volume, data.flat_bars, data.stale_after) == ("allow", 0, "3x")


def preset_table(**data: Any) -> dict[str, Any]:
    return {"data": {"source": "csv", "timeframe": "1m", **data},
            "instruments": [{"id": "BTCUSDT", "tick_size": "0.1", "lot_size": "0.001"}]}


# --- stale data in paper mode ----------------------------------------------------------------------------

QUIET = "BBBUSDT"


class GoingQuiet:
    """A live source of two instruments, one bar of each every 10 ms; ``BBBUSDT`` then goes quiet for
    0.6 s while ``AAAUSDT`` goes on, and comes back. While it is quiet (0.5 s in), the source tries a
    target for ``BBBUSDT`` and notes whether an order went out, and what the router holds as stale."""

    __name__ = "going_quiet"

    def __init__(self, volume: float = 2.0) -> None:
        self.volume = volume
        self.engine: Any = None
        self.stale_while_quiet: set[str] | None = None
        self.orders_while_quiet: int | None = None
        self.stale_after_return: set[str] | None = None
        self.quiet_since = 0.0

    @hookimpl
    def register_data_sources(self) -> list[type]:
        plugin = self

        class Source:
            name = "going_quiet"

            def __init__(self, params: Any, ctx: Any) -> None:
                self.instruments = sorted(ctx.instruments)

            async def stream(self):  # type: ignore[no-untyped-def]
                router = plugin.engine.router
                for k in range(5):
                    yield [bar(i, k)._replace(volume=plugin.volume) for i in self.instruments]
                    await anyio.sleep(0.01)
                plugin.quiet_since = time.monotonic()
                for k in range(5, 35):
                    yield [bar("AAAUSDT", k)]
                    await anyio.sleep(0.02)
                    if k == 30:
                        plugin.stale_while_quiet = set(router.stale)
                        router.set_target("probe", QUIET, Decimal("0.01"))
                        plugin.orders_while_quiet = sum(o.instrument_id == QUIET for o in router.orders.values())
                for k in range(35, 40):
                    yield [bar(i, k) for i in self.instruments]
                    await anyio.sleep(0.01)
                plugin.stale_after_return = set(router.stale)

            async def history(self, instrument_id: str, end: int, count: int) -> list[Bar]:
                return []

        return [Source]


def bar(instrument_id: str, k: int) -> Bar:
    price = 30_000.0 + k
    return Bar(instrument_id, parse_ts("2024-01-01T00:00:00Z") + k * 1_000_000_000, price, price + 5.0,
               price - 5.0, price + 1.0, 2.0)


def run_paper(quality: str, source: GoingQuiet | None = None, **data: Any,
              ) -> tuple[GoingQuiet, RecordingObserver, Engine, list[Any], BaseException | None]:
    instruments = "\n".join(textwrap.dedent(f"""
        [[instruments]]
        id = "{i}"
        tick_size = "0.1"
        lot_size = "0.001"
        min_notional = "5"
    """) for i in ("AAAUSDT", QUIET))
    preset = parse_preset(textwrap.dedent(f"""
        [engine]
        mode = "paper"
        initial_cash = "1000000"
        [data]
        source = "going_quiet"
        timeframe = "1s"
        quality = "{quality}"
        stale_after = "0.2x"
    """) + "".join(f"{key} = {value!r}\n" for key, value in data.items()) + instruments)
    source, recorder = source or GoingQuiet(), RecordingObserver()
    failure: list[BaseException] = []

    async def main() -> tuple[Engine, list[Any]]:
        engine = Engine(preset, plugins=[source, recorder], autoload_plugins=False)
        source.engine = engine
        async with engine:
            events = engine.events(bars=False)
            try:
                await engine.run()
            except DataError as exc:
                failure.append(exc)
        return engine, [e async for e in events]

    engine, events = anyio.run(main)
    return source, recorder, engine, events, failure[0] if failure else None


class TestStaleData:
    def test_skip_holds_orders_for_the_quiet_instrument_until_its_bars_come_back(self) -> None:
        source, recorder, engine, events, failure = run_paper("skip")
        assert failure is None
        (report,) = recorder.of("data_rejected")
        assert report["action"] == "skip" and report["bar"] == bar(QUIET, 4)  # its last bar
        assert report["reason"].startswith("stale data: no bar for ") and "stale_after = '0.2x'" in report["reason"]
        assert [e.reason for e in events if isinstance(e, DataRejected)] == [report["reason"]]
        assert source.stale_while_quiet == {QUIET}
        assert source.orders_while_quiet == 0  # the router placed no order for it
        assert source.stale_after_return == set()  # cleared by its first bar back
        assert any(o.instrument_id == QUIET for o in engine.router.orders.values())  # then it went out

    def test_warn_reports_it_and_keeps_trading(self) -> None:
        source, recorder, _, _, failure = run_paper("warn")
        assert failure is None
        assert [c["action"] for c in recorder.of("data_rejected")] == ["warn"]
        assert source.stale_while_quiet == set() and source.orders_while_quiet == 1

    def test_halt_holds_orders_like_skip_and_keeps_the_engine_running(self) -> None:
        """A silent feed is not bad data: under halt the engine goes on, holding new orders for the
        quiet instrument until its bars come back (stopping would leave positions unattended)."""
        source, recorder, engine, _, failure = run_paper("halt")
        assert failure is None
        assert [c["action"] for c in recorder.of("data_rejected")] == ["halt"]
        assert source.stale_while_quiet == {QUIET}
        assert source.orders_while_quiet == 0
        assert source.stale_after_return == set()
        assert any(o.instrument_id == QUIET for o in engine.router.orders.values())

    def test_a_bar_rule_halting_a_paper_engine_raises_its_data_error(self) -> None:
        """In paper mode the run loop shares a task group with the feed watch: a DataError from a bar
        check still comes out of run() as itself."""
        _, recorder, _, _, failure = run_paper("halt", GoingQuiet(volume=0.0), zero_volume="reject")
        assert isinstance(failure, DataError) and "zero volume" in str(failure)
        assert [c["reason"] for c in recorder.of("data_rejected")] == ["zero volume"]

    def test_a_backtest_has_no_stale_rule(self) -> None:
        """Bars of a backtest come as fast as they are read: however far apart their times, none is stale."""
        recorder = RecordingObserver()
        bars = synthetic_bars(20, seed=3, instrument=default_instrument())
        far = [b._replace(ts=b.ts + (3_600_000_000_000 if i >= 10 else 0)) for i, b in enumerate(bars)]
        run_backtest(signal="sma_cross", bars=far, data={"stale_after": "1x"}, plugins=[recorder])
        assert recorder.of("data_rejected") == []
