"""An asyncio service running two engines concurrently, each with its own preset and plugin set.

``btc-trend`` runs ``sma_cross`` on BTCUSDT with the default plugins; ``eth-revert`` runs
``rsi_reversion`` on ETHUSDT with one more plugin, an observer object that counts round trips, and
without the ``csv`` data source it does not need. Both read generated bars (the ``synthetic``
source), so no data file is needed. Each engine's fills are printed as they happen, read from its
``engine.events()`` stream; a final line per engine gives its equity.

    python examples/asyncio_service.py
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import structlog

from tradehooks import BacktestResult, Engine, hookimpl
from tradehooks.events import (
    EngineStopped,
    EventsDropped,
    FillReceived,
    RiskTripped,
    StrategyStateChanged,
)
from tradehooks.model import format_ts

PRESETS = Path(__file__).parent / "presets"


class RoundTrips:
    """An observer plugin object: any object whose methods are marked ``@hookimpl``. Registered
    with one engine only, it never hears from the other."""

    __name__ = "round-trips"  # its name in engine.plugins()

    def __init__(self) -> None:
        self.closed = 0

    @hookimpl
    def fill_received(self, fill, position):  # type: ignore[no-untyped-def]
        if not position.quantity:
            self.closed += 1


async def print_events(engine_id: str, events) -> None:  # type: ignore[no-untyped-def]
    """Print what matters from one engine's event stream; it ends after EngineStopped."""
    async for event in events:
        match event:
            case FillReceived(fill=fill, position=position):
                print(f"[{engine_id}] fill {format_ts(fill.ts)} {fill.strategy_id:<6} {fill.side.value:<4} "
                      f"{fill.quantity} {fill.instrument_id} @ {fill.price} -> position {position.quantity}")
            case RiskTripped(rule=rule, reason=reason):
                print(f"[{engine_id}] risk {rule}: {reason}")
            case StrategyStateChanged(strategy_id=strategy_id, state=state, reason=reason):
                print(f"[{engine_id}] strategy {strategy_id} is {state}: {reason}")
            case EventsDropped(count=count):
                print(f"[{engine_id}] missed {count} events")
            case EngineStopped(reason=reason):
                print(f"[{engine_id}] stopped: {reason}")


async def run_engine(engine: Engine) -> BacktestResult:
    """Run one engine to the end of its data while a second task prints its events."""
    print(f"[{engine.id}] plugins: {', '.join(p.name for p in engine.plugins())}")
    # Opened before start(), so the stream sees everything from EngineStarted on. bars=False: no
    # BarProcessed per bar, only orders, fills, targets and state changes.
    async with engine.events(bars=False) as events, asyncio.TaskGroup() as tasks:
        tasks.create_task(print_events(engine.id, events))
        async with engine:  # start() ... stop(); stop() ends the event stream
            result = await engine.run()
    return result


async def main() -> None:
    # The library never configures logging; this service keeps warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    round_trips = RoundTrips()
    engines = [
        Engine.from_preset(PRESETS / "btc_sma_cross.toml"),
        Engine.from_preset(PRESETS / "eth_rsi_reversion.toml", plugins=[round_trips], disable=["csv"]),
    ]
    async with asyncio.TaskGroup() as tasks:  # both engines share this one event loop
        runs = [tasks.create_task(run_engine(engine)) for engine in engines]

    for engine, run in zip(engines, runs):
        metrics = run.result().metrics
        print(f"[{engine.id}] final equity {metrics.final_equity} {engine.portfolio.currency} "
              f"(return {metrics.total_return:+.2%}, {metrics.fills} fills, {metrics.trades} round trips, "
              f"{metrics.bars} bars)")
    print(f"[{engines[1].id}] the round-trips observer counted {round_trips.closed} closed positions")


if __name__ == "__main__":
    asyncio.run(main())
