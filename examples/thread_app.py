"""An application with no async code controls a running backtest through ``EngineThread``.

The engine runs in a background thread with its own event loop; every ``EngineThread`` method is a
plain blocking call that runs on that loop, between two batches of bars. The main thread follows the
backtest on the engine's simulated clock and, once it has passed chosen dates, pauses and resumes a
strategy, tries an invalid preset (refused, nothing changes), applies a parameter change, and
finally stops the engine, closing its positions. Each line shows the simulated time at which the
call had taken effect: a call waits for the end of the batch of bars in progress.

    python examples/thread_app.py
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import attrs
import structlog

from tradehooks import EngineThread, PresetError, load_preset
from tradehooks.model import format_ts, parse_ts

PRESET = Path(__file__).parent / "presets" / "btc_two_strategies_1m.toml"


def wait_until(runner: EngineThread, when: str, timeout: float = 30.0) -> None:
    """Block until the engine's (simulated) clock reaches ``when``. Reading the engine from this
    thread is fine; changing it goes through ``runner``."""
    target, deadline = parse_ts(when), time.monotonic() + timeout
    while runner.engine.clock.now() < target:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise TimeoutError(f"the engine did not reach {when} in {timeout} s")
        time.sleep(0.005)


def say(runner: EngineThread, message: str) -> None:
    engine = runner.engine
    assert engine is not None
    states = ", ".join(f"{sid}={info.state}" for sid, info in engine.strategies.items())
    print(f"[{format_ts(engine.clock.now())}] {message}  ({states})")


def with_params(preset, strategy_id: str, **params):  # type: ignore[no-untyped-def]
    """A copy of ``preset`` with new parameters for one strategy."""
    strategies = tuple(
        attrs.evolve(s, params={**s.params, **params}) if s.id == strategy_id else s
        for s in preset.strategies
    )
    return attrs.evolve(preset, strategies=strategies)


def main() -> None:
    # The library never configures logging; this application keeps warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    preset = load_preset(PRESET)

    # start() returns once the engine runs; the backtest goes on in the background. Leaving the
    # with-block stops the engine if it is still running (an exception included).
    with EngineThread(preset) as runner:
        engine = runner.engine
        assert engine is not None
        print(f"engine {engine.id!r} runs in a background thread, plugins: "
              f"{', '.join(p.name for p in engine.plugins())}")

        wait_until(runner, "2024-01-15T00:00:00Z")
        runner.pause("revert")
        say(runner, "paused 'revert'")

        wait_until(runner, "2024-02-15T00:00:00Z")
        runner.resume("revert")
        say(runner, "resumed 'revert'")

        wait_until(runner, "2024-03-15T00:00:00Z")
        try:
            runner.apply(with_params(preset, "trend", fast=300))  # fast must stay below slow = 240
        except PresetError as exc:
            say(runner, f"refused: {exc}; still version {engine.version}")

        diff = runner.apply(with_params(preset, "trend", fast=30))
        say(runner, f"applied version {engine.version}: changed={diff.changed} unchanged={diff.unchanged}")
        print(f"    {diff}")
        print(f"    trend params now {engine.strategies['trend'].settings.params}")

        wait_until(runner, "2024-04-30T00:00:00Z")
        result = runner.stop("closing the desk", flatten=True)
        say(runner, f"engine {engine.state.value}")

    metrics = result.metrics
    by_strategy = {sid: sum(1 for f in result.fills if f.strategy_id == sid) for sid in engine.strategies}
    print(f"bars handled: {metrics.bars:,}  fills: {metrics.fills} {by_strategy}")
    for (strategy_id, instrument_id), position in sorted(result.positions.items()):
        print(f"position {strategy_id}/{instrument_id}: {position.quantity}")
    print(f"final equity: {metrics.final_equity} {engine.portfolio.currency} "
          f"(return {metrics.total_return:+.2%}, fees {metrics.fees})")


if __name__ == "__main__":
    main()
