"""The same backtest as ``sync_script.py``, run under trio.

The engine is an async context manager built on AnyIO, so it runs unchanged under ``trio.run``. A
task in a trio nursery counts the engine's events by type while the backtest runs; the stream uses
the ``backpressure`` policy, so it receives every event, one ``BarProcessed`` per bar included.

    python examples/trio_program.py
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import structlog
import trio

import tradehooks
from tradehooks import BacktestResult, Engine

PRESET = Path(__file__).parent / "presets" / "btc_sma_cross.toml"


async def count_events(events, counts: Counter[str]) -> None:  # type: ignore[no-untyped-def]
    async for event in events:
        counts[type(event).__name__] += 1


async def main() -> tuple[BacktestResult, Counter[str]]:
    counts: Counter[str] = Counter()
    engine = Engine.from_preset(PRESET)
    async with engine.events(policy="backpressure", maxsize=1_000) as events, trio.open_nursery() as nursery:
        nursery.start_soon(count_events, events, counts)
        async with engine:
            result = await engine.run()
    return result, counts


if __name__ == "__main__":
    # The library never configures logging; this program keeps warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    result, counts = trio.run(main)

    print(f"backtest of {PRESET.name} under trio {trio.__version__}")
    for name, value in result.metrics.as_dict().items():
        print(f"  {name:<15} {value}")
    print("events received: " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))
    same = tradehooks.backtest(PRESET, backend="asyncio").metrics == result.metrics
    print(f"same metrics as the same backtest under asyncio: {same}")
