"""Hierarchical error handling: a failing data source is retried, a failing broker trips the kill
switch, and every failure is an event."""

from __future__ import annotations

import textwrap
from typing import Any, ClassVar

import anyio
import attrs

from tradehooks import BrokerError, Engine, hookimpl
from tradehooks.builtins.paper import PaperBroker
from tradehooks.events import ErrorOccurred
from tradehooks.model import OrderStatus
from tradehooks.presets import parse_preset
from tradehooks.testing import RecordingObserver, synthetic_bars

BARS = synthetic_bars(60, seed=4)


class Flip:
    name: ClassVar[str] = "flip"

    def __init__(self, params: Any, ctx: Any) -> None:
        self.n = 0

    def on_bar(self, bar: Any) -> float:
        self.n += 1
        return 1.0 if self.n % 2 else -1.0


class Parts:
    """Test components: a source failing once mid-stream, a broker failing on its second order."""

    __name__ = "parts"

    def __init__(self, recoverable: bool = False) -> None:
        self.recoverable = recoverable
        self.streams = 0

    @hookimpl
    def register_signals(self) -> list[type]:
        return [Flip]

    @hookimpl
    def register_data_sources(self) -> list[type]:
        plugin = self

        class Flaky:
            name = "flaky"

            def __init__(self, params: Any, ctx: Any) -> None:
                pass

            async def stream(self):  # type: ignore[no-untyped-def]
                plugin.streams += 1
                part = BARS[:20] if plugin.streams == 1 else BARS[20:]
                for bar in part:
                    yield [bar]
                if plugin.streams == 1:
                    raise ConnectionError("feed went away")

            async def history(self, instrument_id: str, end: int, count: int) -> list[Any]:
                return []

        return [Flaky]

    @hookimpl
    def register_brokers(self) -> list[type]:
        plugin = self

        class Exploding(PaperBroker):
            name = "exploding"

            @attrs.frozen(kw_only=True)
            class Params:
                pass

            def __init__(self, params: Any, ctx: Any) -> None:
                super().__init__(None, ctx)
                self.submitted = 0

            def submit(self, order: Any) -> None:
                self.submitted += 1
                if self.submitted == 2:
                    raise BrokerError("venue said no", code=10001, recoverable=plugin.recoverable)
                super().submit(order)

        return [Exploding]


def preset(source: str, broker: str, mode: str = "paper"):
    return parse_preset(textwrap.dedent(f"""
        [engine]
        mode = "{mode}"
        initial_cash = "1000000"
        [data]
        source = "{source}"
        [[instruments]]
        id = "BTCUSDT"
        tick_size = "0.1"
        lot_size = "0.001"
        [broker]
        name = "{broker}"
        [[strategies]]
        id = "flip"
        signal = "flip"
        sizer = {{ name = "fixed", params = {{ quantity = "1" }} }}
    """))


def run(text_preset, parts: Parts, recorder: RecordingObserver):
    async def main():
        async with Engine(text_preset, plugins=[parts, recorder], autoload_plugins=False) as engine:
            events = engine.events(bars=False, maxsize=100_000)
            await engine.run()
        return engine, [e async for e in events]

    return anyio.run(main)


def test_a_failing_data_source_is_retried_and_nothing_is_lost(tmp_path):
    """The feed fails after 20 bars; the engine reports it, waits, reconnects and handles the rest."""
    parts, recorder = Parts(), RecordingObserver()
    engine, events = run(preset("flaky", "paper"), parts, recorder)
    assert parts.streams == 2 and engine.result().metrics.bars == 60
    errors = [e for e in events if isinstance(e, ErrorOccurred)]
    assert errors[0].where == "data source flaky" and isinstance(errors[0].exception, ConnectionError)
    assert not engine.router.stale  # cleared once bars flowed again


def test_an_unrecoverable_broker_error_throws_the_kill_switch():
    """The broker raises on the second order: that order is rejected, the kill switch holds, and no
    later order is sent."""
    parts, recorder = Parts(recoverable=False), RecordingObserver()
    engine, events = run(preset("flaky", "exploding"), parts, recorder)
    orders = list(engine.orders.values())
    assert orders[1].status is OrderStatus.REJECTED and "venue said no" in orders[1].reason
    assert engine.killed and engine.broker.submitted == 2
    assert [c["rule"] for c in recorder.of("risk_tripped")] == ["broker"]
    assert any(isinstance(e, ErrorOccurred) and e.where == "broker exploding" for e in events)


def test_a_recoverable_broker_error_only_rejects_that_order():
    """With recoverable=True trading goes on after the rejected order."""
    parts, recorder = Parts(recoverable=True), RecordingObserver()
    engine, _ = run(preset("flaky", "exploding"), parts, recorder)
    assert not engine.killed and engine.broker.submitted > 10
    assert sum(o.status is OrderStatus.REJECTED for o in engine.orders.values()) == 1


class Reporting:
    """A broker that reports a failure of its own (not raised from a request) on its tenth bar."""

    __name__ = "reporting"

    def __init__(self, recoverable: bool) -> None:
        self.recoverable = recoverable

    @hookimpl
    def register_brokers(self) -> list[type]:
        plugin = self

        class ReportingBroker(PaperBroker):
            name = "reporting"

            @attrs.frozen(kw_only=True)
            class Params:
                pass

            def __init__(self, params: Any, ctx: Any) -> None:
                super().__init__(None, ctx)
                self.bars = 0

            def on_bar(self, bar: Any) -> None:
                self.bars += 1
                if self.bars == 10:
                    self._sink().error(BrokerError("queued order refused: bad key", recoverable=plugin.recoverable))
                super().on_bar(bar)

        return [ReportingBroker]


def test_a_broker_error_reported_later_throws_the_kill_switch_unless_recoverable():
    """events.error(exception): reported to observers and streams; an unrecoverable one kills, without
    flattening, and a recoverable one leaves trading on."""
    for recoverable in (False, True):
        parts, recorder = Parts(), RecordingObserver()

        async def main(recoverable: bool = recoverable, parts: Parts = parts,
                       recorder: RecordingObserver = recorder) -> Any:
            plugins = [parts, Reporting(recoverable), recorder]
            async with Engine(preset("flaky", "reporting"), plugins=plugins, autoload_plugins=False) as engine:
                stream = engine.events(bars=False, maxsize=100_000)
                await engine.run()
            return engine, [e async for e in stream]

        engine, events = anyio.run(main)
        errors = [e for e in events if isinstance(e, ErrorOccurred)]
        assert [e.where for e in errors if isinstance(e.exception, BrokerError)] == ["broker reporting"]
        assert [str(c["exception"]) for c in recorder.of("error") if c["where"] == "broker reporting"] == [
            "queued order refused: bad key"
        ]
        assert engine.killed is (not recoverable)
        if not recoverable:
            assert [c["rule"] for c in recorder.of("risk_tripped")] == ["broker"]
            assert engine.portfolio.position("BTCUSDT") != 0  # held, not flattened
