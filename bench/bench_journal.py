"""Benchmark: what the journal costs per journaled event.

The same paper-broker backtest (sma_cross 5/20 on generated one-minute bars, a trade every few bars)
runs without and with a journal (SQLite, WAL, synchronous=FULL: every entry is on disk before the
engine acts on it). The difference in time, divided by the entries written, is the cost per event.

    .venv/bin/python bench/bench_journal.py [--bars 20000]
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
import textwrap
import time
from pathlib import Path

import structlog

PRESET = """
[engine]
initial_cash = "1000000"
{journal}

[data]
source = "synthetic"
timeframe = "1m"
params = {{ bars = {bars}, initial_price = 30000.0 }}

[[instruments]]
id = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"

[[strategies]]
id = "trend"
signal = "sma_cross"
params = {{ fast = 5, slow = 20 }}
sizer = {{ name = "fixed", params = {{ quantity = "0.1" }} }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    import tradehooks

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, journal in (("no journal", ""), ("journal", 'journal = "j.sqlite"')):
            best = float("inf")
            for attempt in range(args.repeat):
                folder = Path(tmp) / f"{label.replace(' ', '_')}{attempt}"
                folder.mkdir()
                preset = folder / "p.toml"
                preset.write_text(textwrap.dedent(PRESET.format(journal=journal, bars=args.bars)))
                start = time.perf_counter()
                result = tradehooks.backtest(preset)
                best = min(best, time.perf_counter() - start)
                entries = 0
                if journal:
                    db = sqlite3.connect(folder / "j.sqlite")
                    entries = db.execute("SELECT count(*) FROM entries").fetchone()[0]
                    db.close()
            results[label] = (best, entries, result.metrics.fills)
    base, _, fills = results["no journal"]
    with_journal, entries, _ = results["journal"]
    print(f"journal cost on {args.bars:,} bars ({fills} fills), best of {args.repeat}")
    print(f"{'run':<12} {'seconds':>8} {'entries':>8}")
    print(f"{'no journal':<12} {base:8.3f} {'-':>8}")
    print(f"{'journal':<12} {with_journal:8.3f} {entries:8d}")
    print(f"write overhead per journaled event: {(with_journal - base) / entries * 1e6:.0f} us "
          "(one transaction each, fsync'd: synchronous=FULL)")


if __name__ == "__main__":
    main()
