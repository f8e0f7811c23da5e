"""The engine inside a host: apply, pause, kill switch, circuit breaker, events and EngineThread."""

from __future__ import annotations

import textwrap
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import anyio
import attrs
import pytest

from tradehooks import Engine, EngineStateError, EngineThread, PresetError, hookimpl
from tradehooks.events import (
    BarProcessed,
    ErrorOccurred,
    EventsDropped,
    FillReceived,
    PresetRejected,
    StrategyStateChanged,
)
from tradehooks.presets import parse_preset
from tradehooks.testing import RecordingObserver, synthetic_bars

BARS = synthetic_bars(400, seed=11)


class Always:
    """+1 (or the ``exposure`` parameter) on every bar."""

    name: ClassVar[str] = "always"

    @attrs.frozen(kw_only=True)
    class Params:
        exposure: float = 1.0

    def __init__(self, params: Any, ctx: Any) -> None:
        self.exposure = params.exposure

    def on_bar(self, bar: Any) -> float:
        return self.exposure


class Flaky:
    """Raises on bars ``fail_from`` .. ``fail_to`` (by count), else says nothing."""

    name: ClassVar[str] = "flaky"

    @attrs.frozen(kw_only=True)
    class Params:
        fail_from: int = 10
        fail_to: int = 10_000

    def __init__(self, params: Any, ctx: Any) -> None:
        self.params = params
        self.calls = 0

    def on_bar(self, bar: Any) -> None:
        self.calls += 1
        if self.params.fail_from <= self.calls <= self.params.fail_to:
            raise RuntimeError(f"bad bar {self.calls}")
        return None


class Gated:
    """A test plugin: signals above, and a data source ``gated`` that yields one bar per batch and
    waits at bar ``gate`` until the test opens it."""

    __name__ = "gated"

    def __init__(self, gate: int | None = None) -> None:
        self.gate_index = gate
        self.reached = anyio.Event()
        self.opened = anyio.Event()

    @hookimpl
    def register_signals(self) -> list[type]:
        return [Always, Flaky]

    @hookimpl
    def register_data_sources(self) -> list[type]:
        plugin = self

        class GatedSource:
            name = "gated"

            def __init__(self, params: Any, ctx: Any) -> None:
                pass

            async def stream(self):  # type: ignore[no-untyped-def]
                for index, bar in enumerate(BARS):
                    if index == plugin.gate_index:
                        plugin.reached.set()
                        await plugin.opened.wait()
                    yield [bar]

            async def history(self, instrument_id: str, end: int, count: int) -> list[Any]:
                return []

        return [GatedSource]


def preset_toml(strategies: str, *, broker: str = 'taker_fee = "0.001"', engine: str = "") -> str:
    return textwrap.dedent(f"""
        [engine]
        initial_cash = "1000000"
        {engine}

        [data]
        source = "gated"
        timeframe = "1m"

        [[instruments]]
        id = "BTCUSDT"
        tick_size = "0.1"
        lot_size = "0.001"

        [broker]
        name = "paper"
        params = {{ {broker} }}
        """) + textwrap.dedent(strategies)


TWO = """
[[strategies]]
id = "a"
signal = "always"
sizer = { name = "fixed", params = { quantity = "1" } }

[[strategies]]
id = "b"
signal = "sma_cross"
params = { fast = 5, slow = 20 }
sizer = { name = "fixed", params = { quantity = "1" } }
"""


def run_with_gate(tmp_path: Path, first: str, at_gate, *, gate: int = 200, plugins=(), **options):
    """Run an engine on ``first`` (preset text); at bar ``gate`` call ``await at_gate(engine, path)``."""
    path = tmp_path / "preset.toml"
    path.write_text(first)
    gated = Gated(gate)
    engine = Engine.from_preset(path, plugins=[gated, *plugins], **options)
    outcome: dict[str, Any] = {}

    async def main() -> None:
        async with engine:
            async with anyio.create_task_group() as group:
                async def runner() -> None:
                    outcome["result"] = await engine.run()

                group.start_soon(runner)
                await gated.reached.wait()
                try:
                    outcome["at_gate"] = await at_gate(engine, path)
                finally:
                    gated.opened.set()

    anyio.run(main)
    return engine, outcome


class TestApply:
    def test_a_parameter_change_rebuilds_only_that_strategy_and_keeps_positions(self, tmp_path):
        """Changing b's fast period rebuilds b; a keeps its signal object and its position."""
        recorder = RecordingObserver()

        async def change(engine, path):
            a_signal = next(p.signal for p in engine.pipelines if p.strategy_id == "a")
            position = engine.portfolio.position("BTCUSDT", "a")
            path.write_text(preset_toml(TWO.replace("fast = 5", "fast = 7")))
            diff = await engine.apply(path)
            assert next(p.signal for p in engine.pipelines if p.strategy_id == "a") is a_signal
            assert engine.portfolio.position("BTCUSDT", "a") == position == 1
            return diff

        engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), change, plugins=[recorder])
        diff = outcome["at_gate"]
        assert diff.changed == ("b",) and diff.unchanged == ("a",) and not diff.added
        assert engine.version == 2
        assert engine.strategies["b"].settings.params == {"fast": 7, "slow": 20}
        applied = recorder.of("preset_applied")
        assert [call["diff"] for call in applied] == [None, diff]

    def test_a_bad_preset_is_refused_with_its_location_and_nothing_changes(self, tmp_path):
        """An unknown key is a PresetError naming file and line; version and strategies stay."""
        recorder = RecordingObserver()

        async def broken(engine, path):
            events = engine.events(bars=False)
            bad = tmp_path / "bad.toml"
            bad.write_text(preset_toml(TWO.replace("fast = 5", "fats = 5")))
            before = engine.preset
            with pytest.raises(PresetError) as caught:
                await engine.apply(bad)
            assert engine.preset is before and engine.version == 1
            await events.aclose()
            return caught.value, list(events._buffer)

        engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), broken, plugins=[recorder])
        error, seen = outcome["at_gate"]
        assert error.path.endswith("bad.toml") and error.key == "strategies[1].params.fats" and error.line
        assert recorder.of("preset_rejected")[0]["error"] is error
        assert any(isinstance(e, PresetRejected) for e in seen)
        assert outcome["result"].metrics.bars == len(BARS)

    def test_changing_the_broker_needs_a_restart(self, tmp_path):
        """A new fee is refused with the reason; the old broker keeps trading."""

        async def fee(engine, path):
            path.write_text(preset_toml(TWO, broker='taker_fee = "0.002"'))
            with pytest.raises(PresetError, match=r"broker.*needs a restart"):
                await engine.apply(path)

        engine, _ = run_with_gate(tmp_path, preset_toml(TWO), fee)
        assert engine.version == 1

    def test_removing_a_strategy_with_flatten_closes_its_position(self, tmp_path):
        """Strategy a removed with on_disable = flatten ends flat; b is untouched."""
        flatten = TWO.replace('signal = "always"', 'signal = "always"\non_disable = "flatten"')

        async def remove(engine, path):
            assert engine.portfolio.position("BTCUSDT", "a") == 1
            path.write_text(preset_toml(TWO.split("[[strategies]]")[0] + "[[strategies]]" +
                                        TWO.split("[[strategies]]")[2]))
            return await engine.apply(path)

        engine, outcome = run_with_gate(tmp_path, preset_toml(flatten), remove)
        assert outcome["at_gate"].removed == ("a",)
        assert engine.portfolio.position("BTCUSDT", "a") == 0
        assert "a" not in engine.strategies

    def test_disabling_with_keep_holds_the_position_and_reenabling_trades_again(self, tmp_path):
        """Disabled a keeps its 1 BTC and places nothing; enabled again it still holds 1 (no double)."""

        async def toggle(engine, path):
            orders = len(engine.orders)
            path.write_text(preset_toml(TWO.replace('signal = "always"', 'signal = "always"\nenabled = false')))
            diff = await engine.apply(path)
            assert engine.strategies["a"].state == "disabled"
            path.write_text(preset_toml(TWO))
            again = await engine.apply(path)
            assert len([o for o in engine.orders.values() if o.strategy_id == "a"]) <= orders
            return diff, again

        engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), toggle)
        diff, again = outcome["at_gate"]
        assert diff.disabled == ("a",) and again.enabled == ("a",)
        assert engine.portfolio.position("BTCUSDT", "a") == 1
        assert engine.version == 3

    def test_adding_a_strategy_starts_it_from_the_next_bar(self, tmp_path):
        """A strategy added mid-run trades; the others keep their state."""
        one = TWO.split("[[strategies]]")[0] + "[[strategies]]" + TWO.split("[[strategies]]")[1]

        async def add(engine, path):
            path.write_text(preset_toml(TWO))
            return await engine.apply(path)

        engine, outcome = run_with_gate(tmp_path, preset_toml(one), add)
        assert outcome["at_gate"].added == ("b",)
        b_fills = [f for f in engine.fills if f.strategy_id == "b"]
        assert b_fills and all(f.ts >= BARS[200].ts for f in b_fills)


class TestControl:
    def test_pause_stops_targets_and_resume_restarts_them(self, tmp_path):
        """Paused, strategy a keeps its position and emits nothing; resumed, it runs again."""

        async def pause(engine, path):
            engine.pause("a")
            assert engine.strategies["a"].state == "paused"
            engine.resume("a")
            assert engine.strategies["a"].state == "running"
            engine.pause("a")
            with pytest.raises(KeyError, match="no strategy 'zz'"):
                engine.pause("zz")

        engine, _ = run_with_gate(tmp_path, preset_toml(TWO), pause)
        assert engine.strategies["a"].state == "paused"
        assert engine.portfolio.position("BTCUSDT", "a") == 1

    def test_the_kill_switch_flattens_everything_and_refuses_new_orders(self, tmp_path):
        """After the kill switch every position is flat and no later order opens one."""

        async def kill(engine, path):
            engine.kill_switch("test")
            return len(engine.orders)

        engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), kill)
        assert engine.killed
        assert all(q == 0 for q in engine.portfolio.positions().values())
        later = list(engine.orders.values())[outcome["at_gate"]:]
        assert all(o.status.value in ("filled", "canceled") for o in later)
        assert len(later) <= 2  # at most the flattening orders

    def test_stop_with_flatten_closes_positions_at_the_last_price(self, tmp_path):
        """stop(flatten=True) after the data ends leaves the account flat and balanced."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO))

        async def main():
            engine = Engine.from_preset(path, plugins=[Gated()])
            await engine.start()
            await engine.run()
            assert engine.portfolio.position("BTCUSDT", "a") == 1
            await engine.stop(flatten=True)
            return engine

        engine = anyio.run(main)
        assert all(q == 0 for q in engine.portfolio.positions().values())
        engine.portfolio.check_balanced()
        last = engine.fills[-1]
        assert last.price == Decimal(repr(BARS[-1].close))

    def test_methods_in_the_wrong_state_raise_a_clear_error(self, tmp_path):
        """kill_switch before start and events() after stop are refused by name."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO))
        engine = Engine.from_preset(path, plugins=[Gated()])
        with pytest.raises(EngineStateError, match="cannot trip the kill switch: .* is created"):
            engine.kill_switch("x")
        anyio.run(engine.stop)
        with pytest.raises(EngineStateError, match="is stopped"):
            engine.events()


class TestCircuitBreaker:
    def test_a_failing_strategy_trips_rests_and_is_retried(self, tmp_path):
        """3 failures trip it for 30 minutes; after the rest it gets one retry; others keep trading."""
        strategies = TWO + """
[[strategies]]
id = "bad"
signal = "flaky"
params = { fail_from = 10, fail_to = 1000 }
"""
        recorder = RecordingObserver()

        async def look(engine, path):
            return engine.strategies["bad"].state

        engine, outcome = run_with_gate(
            tmp_path, preset_toml(strategies, engine='breaker_errors = 3\nbreaker_cooldown = "30m"'), look,
            plugins=[recorder], gate=25)
        assert outcome["at_gate"] == "tripped"
        trips = [c for c in recorder.of("risk_tripped") if c["rule"] == "circuit_breaker"]
        # first trip after 3 failures (bars 10-12), then one retry every 30 bars, each failing again
        assert len(trips) == 1 + (len(BARS) - 12) // 31
        assert len(recorder.of("error")) == 3 + len(trips) - 1
        assert engine.portfolio.position("BTCUSDT", "a") == 1  # the others were never disturbed

    def test_a_success_after_the_rest_resets_the_breaker(self, tmp_path):
        """Three failures (bars 10-12) trip it; it rests 10 minutes (9 bars), its retry succeeds and
        it runs normally to the end."""
        strategies = """
[[strategies]]
id = "bad"
signal = "flaky"
params = { fail_from = 10, fail_to = 12 }
"""

        async def nothing(engine, path):
            return None

        engine, _ = run_with_gate(
            tmp_path, preset_toml(strategies, engine='breaker_errors = 3\nbreaker_cooldown = "10m"'), nothing)
        assert engine.strategies["bad"].state == "running"
        assert next(p.signal for p in engine.pipelines).calls == len(BARS) - 9
        assert next(p for p in engine.pipelines).errors == 0


class TestEvents:
    def test_a_slow_consumer_with_drop_oldest_never_slows_the_engine(self, tmp_path):
        """With a 16-event buffer and no reader until the end, the engine finishes and the reader is
        told how many events it missed; what it reads plus what was dropped is everything."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO).replace('source = "gated"', 'source = "synthetic"\n'
                                                 'params = { bars = 3000, initial_price = 30000.0 }'))

        async def main():
            async with Engine.from_preset(path, plugins=[Gated()]) as engine:
                stream = engine.events(maxsize=16)
                await engine.run()
            received = [event async for event in stream]
            return engine, stream, received

        engine, stream, received = anyio.run(main)
        drops = [e for e in received if isinstance(e, EventsDropped)]
        assert sum(d.count for d in drops) == stream.dropped > 3000
        real = [e for e in received if not isinstance(e, EventsDropped)]
        assert len(real) == 16 and real[-1].seq == engine._seq
        assert len(real) + stream.dropped == engine._seq

    def test_backpressure_loses_nothing_and_keeps_the_order(self, tmp_path):
        """A slow reader with backpressure sees every event, numbered without gaps, bars included."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO).replace('source = "gated"', 'source = "synthetic"\n'
                                                 'params = { bars = 2000, initial_price = 30000.0, batch_size = 64 }'))
        seen: list[Any] = []

        async def main():
            async with Engine.from_preset(path, plugins=[Gated()]) as engine:
                stream = engine.events(maxsize=32, policy="backpressure")
                async with anyio.create_task_group() as group:
                    async def read():
                        async for event in stream:
                            seen.append(event)
                            if len(seen) % 50 == 0:
                                await anyio.sleep(0.001)

                    group.start_soon(read)
                    await engine.run()
                    await engine.stop()
            return engine

        engine = anyio.run(main)
        assert [e.seq for e in seen] == list(range(seen[0].seq, seen[0].seq + len(seen)))
        assert sum(isinstance(e, BarProcessed) for e in seen) == 2000
        assert sum(isinstance(e, FillReceived) for e in seen) == len(engine.fills)
        assert not any(isinstance(e, EventsDropped) for e in seen)

    def test_errors_and_strategy_states_reach_the_stream(self, tmp_path):
        """A failing strategy shows up as ErrorOccurred and StrategyStateChanged events."""
        strategies = '\n[[strategies]]\nid = "bad"\nsignal = "flaky"\nparams = { fail_from = 5, fail_to = 7 }\n'

        async def collect(engine, path):
            return engine.events(bars=False)

        engine, outcome = run_with_gate(tmp_path, preset_toml(strategies, engine="breaker_errors = 3"), collect,
                                        gate=2)
        events = list(outcome["at_gate"]._buffer)
        assert sum(isinstance(e, ErrorOccurred) for e in events) == 3
        assert [e.state for e in events if isinstance(e, StrategyStateChanged)][:1] == ["tripped"]
        assert not any(isinstance(e, BarProcessed) for e in events)


class TestEngineThread:
    def test_an_engine_in_a_thread_is_controlled_from_the_main_thread(self, tmp_path):
        """start, pause, apply and stop are plain calls; stop returns the result mid-run."""
        path = tmp_path / "p.toml"
        text = preset_toml(TWO).replace('source = "gated"', 'source = "synthetic"\n'
                                        'params = { bars = 5000000, initial_price = 30000.0 }')
        path.write_text(text)
        runner = EngineThread(path, plugins=[Gated()])
        engine = runner.start()
        assert engine.state.value == "running" and threading.current_thread() is threading.main_thread()
        runner.pause("a")
        path.write_text(text.replace("fast = 5", "fast = 6"))
        diff = runner.apply(path)
        result = runner.stop()
        assert diff.changed == ("b",)
        assert 0 < result.metrics.bars < 5_000_000
        assert engine.state.value == "stopped" and engine.strategies["a"].state == "paused"
        with pytest.raises(EngineStateError):
            runner.apply(path)

    def test_stop_returns_while_a_live_source_waits_for_its_next_bar(self, tmp_path):
        """A source that has no next bar yet (a live feed between messages) does not hold stop() up."""
        waiting = threading.Event()

        class Quiet:
            __name__ = "quiet"

            @hookimpl
            def register_data_sources(self) -> list[type]:
                class QuietSource:
                    name = "quiet"

                    def __init__(self, params: Any, ctx: Any) -> None:
                        pass

                    async def stream(self):  # type: ignore[no-untyped-def]
                        for bar in BARS[:30]:
                            yield [bar]
                        waiting.set()
                        await anyio.sleep_forever()
                        yield []

                    async def history(self, instrument_id: str, end: int, count: int) -> list[Any]:
                        return []

                return [QuietSource]

        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO, engine='mode = "paper"').replace('source = "gated"', 'source = "quiet"'))
        runner = EngineThread(path, plugins=[Gated(), Quiet()])
        runner.start()
        assert waiting.wait(30)
        result = runner.stop(timeout=10)
        assert result.metrics.bars == 30 and runner.engine is not None
        assert runner.engine.state.value == "stopped"

    def test_a_bad_apply_from_the_main_thread_raises_there(self, tmp_path):
        """The PresetError crosses the thread boundary unchanged."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO).replace('source = "gated"', 'source = "synthetic"\n'
                                                 'params = { bars = 5000000 }'))
        with EngineThread(path, plugins=[Gated()]) as runner:
            bad = tmp_path / "bad.toml"
            bad.write_text("[engine\n")
            with pytest.raises(PresetError, match="not valid TOML"):
                runner.apply(bad)
            assert runner.engine is not None and runner.engine.version == 1


    def test_its_controls_before_start_or_after_stop_say_so(self, tmp_path):
        """Every control of a thread that is not running raises EngineStateError, never an AttributeError."""
        path = tmp_path / "p.toml"
        path.write_text(preset_toml(TWO).replace('source = "gated"', 'source = "synthetic"\n'
                                                 'params = { bars = 50 }'))
        runner = EngineThread(path, plugins=[Gated()])
        controls = [lambda: runner.apply(path), lambda: runner.pause("a"), lambda: runner.resume("a"),
                    lambda: runner.kill_switch("test"), runner.reset_kill_switch, runner.stop]
        for control in controls:
            with pytest.raises(EngineStateError, match="not running"):
                control()
        runner.start()
        runner.wait(timeout=30)
        for control in controls:
            with pytest.raises(EngineStateError, match="not running"):
                control()


def test_preset_objects_can_be_applied_too(tmp_path):
    """apply() takes a Preset built in code as well as a path."""

    async def by_object(engine, path):
        preset = parse_preset(preset_toml(TWO.replace("fast = 5", "fast = 8")))
        return await engine.apply(preset)

    engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), by_object)
    assert outcome["at_gate"].changed == ("b",)
    assert engine.strategies["b"].settings.params["fast"] == 8


def test_a_stop_from_another_task_handles_no_further_bar(tmp_path):
    """stop(flatten=True) while run() waits between batches: the account stays flat afterwards."""

    async def stop_now(engine, path):
        await engine.stop(flatten=True)
        return len(engine.fills)

    engine, outcome = run_with_gate(tmp_path, preset_toml(TWO), stop_now)
    assert len(engine.fills) == outcome["at_gate"]
    assert all(q == 0 for q in engine.portfolio.positions().values())
    assert outcome["result"].metrics.bars == 200


def test_a_paused_strategy_stays_paused_when_its_settings_change(tmp_path):
    """Pausing b, then changing its parameters, leaves the rebuilt b paused."""

    async def pause_then_change(engine, path):
        engine.pause("b")
        path.write_text(preset_toml(TWO.replace("fast = 5", "fast = 9")))
        await engine.apply(path)
        return engine.strategies["b"].state

    _, outcome = run_with_gate(tmp_path, preset_toml(TWO), pause_then_change)
    assert outcome["at_gate"] == "paused"
