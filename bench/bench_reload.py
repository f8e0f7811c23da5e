"""Benchmark: hot-reload latency of `tradehooks run`, and the pause it causes in event handling.

For presets with 1 and with 50 strategies, a real `tradehooks run` process trades a `synthetic_live`
feed (one bar every 2 ms) while this script edits the preset file. From the process's JSON log:

* latency: file written -> the first bar handled under the new preset (after ``preset.applied``);
* pause: the longest gap between two handled bars around the reload (the feed's own gap is 2 ms).

    .venv/bin/python bench/bench_reload.py [--reloads 5]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

HEAD = """
[engine]
mode = "paper"
initial_cash = "10000000"

[data]
source = "synthetic_live"
timeframe = "1m"
params = { initial_price = 30000.0, speed = 30000 }

[[instruments]]
id = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"
"""


def strategies(count: int, changed: set[int], generation: int) -> str:
    text = ""
    for index in range(count):
        fast = 5 + index % 10 + (generation % 2 if index in changed else 0)
        text += textwrap.dedent(f"""
            [[strategies]]
            id = "s{index}"
            signal = "sma_cross"
            params = {{ fast = {fast}, slow = {30 + index} }}
            sizer = {{ name = "fixed", params = {{ quantity = "0.001" }} }}
            """)
    return text


def stamp(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


def measure(count: int, reloads: int, change_all: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        preset = Path(tmp) / "bench.toml"
        log_path = Path(tmp) / "run.log"
        preset.write_text(HEAD + strategies(count, set(), 0))
        with log_path.open("w") as log:
            process = subprocess.Popen([sys.executable, "-m", "tradehooks", "--log-format", "json", "run",
                                        str(preset)], stdout=log, stderr=subprocess.STDOUT)
            time.sleep(2.0)
            writes = []
            for generation in range(1, reloads + 1):
                changed = set(range(count)) if change_all else {generation % count}
                text = HEAD + strategies(count, changed, generation)
                writes.append(time.time())
                preset.write_text(text)
                time.sleep(0.6)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    bars = [stamp(r) for r in records if r["event"] == "event.bar_processed"]
    applied = [(r["version"], stamp(r)) for r in records if r["event"] == "preset.applied" and r["version"] > 1]
    latencies, pauses = [], []
    for (version, at), written in zip(applied, writes):
        first = next(t for t in bars if t >= at)
        latencies.append((first - written) * 1000)
        window = [t for t in bars if written - 0.05 <= t <= first + 0.05]
        pauses.append(max(b - a for a, b in zip(window, window[1:])) * 1000 if len(window) > 1 else float("nan"))
    steady = [b - a for a, b in zip(bars[:200], bars[1:201])]
    return {"count": count, "change": "all" if change_all else "one", "applied": len(applied),
            "latency_median": statistics.median(latencies), "latency_max": max(latencies),
            "pause_max": max(pauses), "steady_gap": statistics.median(steady) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    rows = [measure(1, args.reloads, False), measure(50, args.reloads, False), measure(50, args.reloads, True)]
    print(f"hot reload of `tradehooks run` (synthetic_live, one bar every 2 ms), {args.reloads} reloads each")
    print(f"{'strategies':>10} {'changed':>8} {'applied':>8} {'latency median ms':>18} {'latency max ms':>15} "
          f"{'longest pause ms':>17} {'steady gap ms':>14}")
    for row in rows:
        print(f"{row['count']:>10} {row['change']:>8} {row['applied']:>8} {row['latency_median']:>18.1f} "
              f"{row['latency_max']:>15.1f} {row['pause_max']:>17.1f} {row['steady_gap']:>14.1f}")


if __name__ == "__main__":
    main()
