"""A plain script: one call runs a backtest to the end and returns its result.

``tradehooks.backtest`` builds an engine from the preset, runs it on its own event loop and returns a
``BacktestResult``. It also works where an event loop is already running (a Jupyter notebook): there
it runs the engine in a worker thread and waits for it.

    python examples/sync_script.py
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import attrs
import structlog

import tradehooks
from tradehooks import Metrics

PRESET = Path(__file__).parent / "presets" / "btc_sma_cross.toml"


def show(name: str, value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if name.endswith("_duration") and isinstance(value, int):  # nanoseconds
        return str(timedelta(microseconds=value // 1000))
    return str(value)


def main() -> None:
    # The library never configures logging; this script keeps warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    result = tradehooks.backtest(PRESET)

    print(f"backtest of {PRESET.name} (engine {result.engine_id!r})")
    for field in attrs.fields(Metrics):  # every metric, in its declared order
        print(f"  {field.name:<22} {show(field.name, getattr(result.metrics, field.name)):>18}")
    last = result.fills[-1]
    print(f"{len(result.fills)} fills, {len(result.orders)} orders, {len(result.equity)} equity samples; "
          f"last fill: {last.side.value} {last.quantity} {last.instrument_id} @ {last.price}")
    for (strategy_id, instrument_id), position in result.positions.items():
        print(f"final position {strategy_id}/{instrument_id}: {position.quantity}")


if __name__ == "__main__":
    main()
