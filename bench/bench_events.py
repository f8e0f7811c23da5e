"""Benchmark: what reading ``engine.events()`` costs the engine, per bar.

The same backtest, sma_cross(10, 30) on N generated one-minute bars read from a CSV file (the
``csv`` source, batches of 4,096 bars), runs four ways:

* **no consumer**: nobody calls ``engine.events()``;
* **reads everything**: one stream with ``bars=True`` and ``policy="backpressure"`` (default
  ``maxsize``), read by a task that only counts what it gets: every event arrives;
* **reads all but bars**: the same with ``bars=False``: no ``BarProcessed``, only orders, fills,
  targets and state changes;
* **slow consumer**: one stream with ``bars=True``, ``policy="drop_oldest"`` and a small ``maxsize``,
  read by a task that sleeps (``anyio.sleep``) after every event: the engine never waits for it, and
  it is told how many events it missed.

Each case runs in its own fresh Python process (asyncio backend; structlog set to WARNING, as a host
application would), ``--repeat`` times; the fastest run is shown. "engine s" is the time from
``start()`` until ``run()`` returns, the engine's own cost; "total s" adds ``stop()`` and the
consumer reading what was left in its buffer. The overhead is "engine s" minus that of the case
without a consumer, per bar. "received" counts the events a consumer got (``EventsDropped`` notices
apart), "(running)" those of them it got before ``run()`` returned, "dropped" the events its stream
dropped, "notices" the ``EventsDropped`` it got.

    .venv/bin/python bench/bench_events.py [--bars 300000] [--repeat 3] [--maxsize 100] [--sleep-us 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PRESET = """
[engine]
id = "bench-events"
initial_cash = "1000000"
currency = "USDT"

[data]
source = "csv"
timeframe = "1m"
params = {{ path = "{data}" }}

[[instruments]]
id = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.1"
lot_size = "0.001"
min_notional = "5"

[broker]
name = "paper"
params = {{ taker_fee = "0.0006", maker_fee = "0.0001" }}

[[strategies]]
id = "sma"
signal = "sma_cross"
params = {{ fast = 10, slow = 30 }}
sizer = {{ name = "fixed", params = {{ quantity = "0.1" }} }}
"""

WORKER = """
import json, logging, sys, time
import anyio
import structlog
# as a host application would:
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from tradehooks import Engine
from tradehooks.events import EventsDropped

preset, case, maxsize, sleep = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
stats = {"received": 0, "notices": 0, "reported_dropped": 0, "dropped": 0, "received_running": 0}


async def consume(events, delay):
    async for event in events:
        if type(event) is EventsDropped:
            stats["notices"] += 1
            stats["reported_dropped"] += event.count
        else:
            stats["received"] += 1
        if delay:
            await anyio.sleep(delay)


async def main():
    engine = Engine.from_preset(preset)
    if case == "none":
        start = time.perf_counter()
        async with engine:
            result = await engine.run()
            ran = time.perf_counter()
    else:
        if case == "all":
            events, delay = engine.events(bars=True, policy="backpressure"), 0.0
        elif case == "nobars":
            events, delay = engine.events(bars=False, policy="backpressure"), 0.0
        else:
            events, delay = engine.events(bars=True, policy="drop_oldest", maxsize=maxsize), sleep
        start = time.perf_counter()
        async with events, anyio.create_task_group() as tasks:
            tasks.start_soon(consume, events, delay)
            async with engine:
                result = await engine.run()
                ran = time.perf_counter()
                stats["received_running"] = stats["received"]
        stats["dropped"] = events.dropped
    done = time.perf_counter()
    print(json.dumps({"engine_seconds": ran - start, "total_seconds": done - start,
                      "bars": result.metrics.bars, "fills": result.metrics.fills, **stats}))


anyio.run(main)
"""

CASES = (
    ("none", "no consumer"),
    ("all", "reads everything (bars, backpressure)"),
    ("nobars", "reads all but bars (backpressure)"),
    ("slow", "slow consumer (bars, drop_oldest)"),
)


def run_case(preset: Path, case: str, maxsize: int, sleep: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WORKER), str(preset), case, str(maxsize), str(sleep)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is shown")
    parser.add_argument("--maxsize", type=int, default=100, help="buffer of the slow consumer's stream")
    parser.add_argument("--sleep-us", type=float, default=1000.0, help="the slow consumer's sleep per event")
    args = parser.parse_args()

    from tradehooks.builtins.data_synthetic import generate_bars, write_csv
    from tradehooks.model import Instrument, parse_timeframe, parse_ts

    sleep = args.sleep_us / 1e6
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.csv"
        instrument = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001")
        bars = generate_bars(instrument, seed=1, start_ts=parse_ts("2024-01-01T00:00:00Z"),
                             timeframe=parse_timeframe("1m"), count=args.bars, initial_price=30_000.0)
        write_csv(data, bars)
        preset = Path(tmp) / "bench.toml"
        preset.write_text(PRESET.format(data=data))
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits every case alike
            for case, _name in CASES:
                run = run_case(preset, case, args.maxsize, sleep)
                if case not in results or run["engine_seconds"] < results[case]["engine_seconds"]:
                    results[case] = run

    base = results["none"]
    assert len({r["fills"] for r in results.values()}) == 1, "the cases traded differently"
    print(f"events() overhead: sma_cross(10, 30) on {args.bars:,} one-minute bars (csv), python "
          f"{sys.version.split()[0]}, best of {args.repeat}; slow consumer: maxsize {args.maxsize}, "
          f"sleeps {args.sleep_us:g} us per event")
    print(f"{'case':<40} {'engine s':>9} {'total s':>8} {'us/bar':>7} {'+us/bar':>8} {'received':>9} "
          f"{'(running)':>9} {'dropped':>9} {'notices':>8}")
    for case, name in CASES:
        r = results[case]
        per_bar = r["engine_seconds"] / r["bars"] * 1e6
        overhead = (r["engine_seconds"] - base["engine_seconds"]) / r["bars"] * 1e6
        received = "-" if case == "none" else f"{r['received']:,}"
        dropped = "-" if case == "none" else f"{r['dropped']:,}"
        notices = "-" if case == "none" else f"{r['notices']:,}"
        running = "-" if case == "none" else f"{r['received_running']:,}"
        extra = "-" if case == "none" else f"{overhead:+.2f}"
        print(f"{name:<40} {r['engine_seconds']:9.2f} {r['total_seconds']:8.2f} {per_bar:7.2f} {extra:>8} "
              f"{received:>9} {running:>9} {dropped:>9} {notices:>8}")
    slow = results["slow"]
    assert slow["reported_dropped"] == slow["dropped"], "EventsDropped notices do not add up to the drops"
    print(f"fills: {base['fills']} in every case; events emitted: {results['all']['received']:,} with bars "
          f"(slow consumer: received + dropped = {slow['received'] + slow['dropped']:,}), "
          f"{results['nobars']['received']:,} without")


if __name__ == "__main__":
    main()
