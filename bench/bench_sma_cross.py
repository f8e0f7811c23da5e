"""Benchmark: sma_cross(10, 30) over N one-minute bars, full engine vs a hand-written loop.

Each contender runs in its own fresh Python process (so peak memory is its own), on the same
generated CSV file, with the same rule: signal on a bar's close, market order filled at the next
bar's open, fixed quantity. Prints wall time, bars per second and peak RSS for each.

With ``--peers``, NautilusTrader and backtrader run the same rule on the same CSV too, each in its own
process from a separate virtualenv, bench/.venv-peers, created on first use (it needs PyPI) and reused
afterwards. They are reference points, not dependencies of tradehooks; a peer that cannot be installed
or run is reported as such and the rest of the run goes on. Their scripts are in bench/peers/.

Each peer runs in one or both of two settings (``--peer-settings``, both by default): ``fastest``,
with everything that costs time and is not needed for the result turned off (NautilusTrader's logging
and post-run analysis, backtrader's observers), and ``defaults``, the engine as its getting-started
guide sets it up (the peer scripts' docstrings say what that is, with the documentation relied on).
A peer's stdout goes to /dev/null (NautilusTrader logs every order event there in ``defaults``, some
115 MB for a million bars) and its stderr to a pipe that subprocess drains while the peer runs, so
no write ever waits on a full pipe; the peer writes its JSON line to a file it is given.

    .venv/bin/python bench/bench_sma_cross.py [--bars 1000000] [--repeat 1] [--peers]
                                              [--peer-settings fastest|defaults|both]
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
id = "bench"
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

[[risk]]
rule = "max_position"
params = {{ max_quantity = "1" }}
"""

# An equity limit on top: a rule the engine gives the equity after every bar (the row "+ max_drawdown").
DRAWDOWN = """
[[risk]]
rule = "max_drawdown"
params = { max_drawdown = "0.5" }
"""

ENGINE = """
import json, logging, resource, sys, time
import structlog
import tradehooks
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # as a host app would
start = time.perf_counter()
result = tradehooks.backtest(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "bars": result.metrics.bars, "fills": result.metrics.fills,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LOOP = """
import csv, json, resource, sys, time
from collections import deque
from datetime import datetime
start = time.perf_counter()
opens, closes = [], []
with open(sys.argv[1], newline="") as handle:
    rows = csv.reader(handle)
    next(rows)
    for row in rows:
        datetime.fromisoformat(row[0])
        opens.append(float(row[1])); closes.append(float(row[4]))
loaded = time.perf_counter()
fast_n, slow_n = 10, 30
fast_w, slow_w = deque(), deque()
fast_sum = slow_sum = 0.0
previous = None
position = pending = 0.0
fills = 0
cash = 0.0
for i in range(len(closes)):
    if pending:
        cash -= pending * opens[i]
        position += pending
        pending = 0.0
        fills += 1
    c = closes[i]
    fast_w.append(c); fast_sum += c
    if len(fast_w) > fast_n: fast_sum -= fast_w.popleft()
    slow_w.append(c); slow_sum += c
    if len(slow_w) > slow_n: slow_sum -= slow_w.popleft()
    if len(slow_w) < slow_n:
        continue
    difference = fast_sum / fast_n - slow_sum / slow_n
    if previous is not None:
        if difference > 0 >= previous:
            pending = 0.1 - position
        elif difference < 0 <= previous:
            pending = -position
    previous = difference
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "loop_seconds": end - loaded, "bars": len(closes), "fills": fills,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


BENCH = Path(__file__).resolve().parent
PEERS_VENV = BENCH / ".venv-peers"
# (name shown, requirement pinned to a version checked to run this benchmark, script in bench/peers/)
PEERS = (
    ("NautilusTrader", "nautilus_trader==1.221.0", "nautilus_sma.py"),
    ("backtrader", "backtrader==1.9.78.123", "backtrader_sma.py"),
)
# every peer script takes --settings with these values; see their docstrings
PEER_SETTINGS = ("fastest", "defaults")


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _failure(what: str, error: subprocess.CalledProcessError | OSError) -> str:
    if isinstance(error, OSError):
        return f"{what}: {error}"
    lines = (error.stderr or error.stdout or "").strip().splitlines()
    return f"{what} (exit {error.returncode}): {lines[-1] if lines else 'no output'}"


def install_peer(requirement: str) -> Path:
    """Return the peers' python with `requirement` installed in it, creating bench/.venv-peers if needed.

    Raises:
        RuntimeError: the virtualenv could not be created or the requirement not installed; says why.
    """
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / f".installed-{requirement.partition('==')[0]}"
    if python.exists() and stamp.exists() and stamp.read_text() == requirement:
        return python
    try:
        if not python.exists():
            print(f"creating {PEERS_VENV} ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True, text=True,
                           check=True)
        print(f"installing {requirement} into {PEERS_VENV} ...", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        requirement], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, OSError) as error:
        raise RuntimeError(_failure(f"cannot install {requirement}", error)) from error
    stamp.write_text(requirement)
    return python


def run_peer(requirement: str, script: str, data: Path, settings: str) -> dict:
    """Run bench/peers/`script` on `data` with `settings` in the peers' virtualenv; its JSON line.

    The peer's stdout goes to /dev/null, its stderr to a pipe drained while it runs (kept for the
    error message), and its JSON line to a file next to `data`.

    Raises:
        RuntimeError: the peer could not be installed, or its script failed; says why.
    """
    python = install_peer(requirement)
    result = data.with_name(f"{Path(script).stem}-{settings}.json")
    result.unlink(missing_ok=True)
    try:
        subprocess.run([str(python), str(BENCH / "peers" / script), str(data), "--settings", settings,
                        "--result", str(result)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, check=True)
        text = result.read_text()
        return json.loads(text.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, OSError) as error:
        raise RuntimeError(_failure(f"{script} --settings {settings} failed", error)) from error
    except (ValueError, IndexError) as error:
        raise RuntimeError(f"{script} --settings {settings} wrote no JSON line: {text[-200:]!r}") from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the best is shown")
    parser.add_argument("--peers", action="store_true", help="also run NautilusTrader and backtrader "
                        "(installed in bench/.venv-peers on first use, reused afterwards)")
    parser.add_argument("--peer-settings", choices=(*PEER_SETTINGS, "both"), default=None,
                        help="run the peers in their fastest settings, as their guides set them up "
                        "(defaults), or both (the default); implies --peers")
    args = parser.parse_args()
    peer_settings = PEER_SETTINGS if args.peer_settings in (None, "both") else (args.peer_settings,)
    with_peers = args.peers or args.peer_settings is not None

    from tradehooks.builtins.data_synthetic import generate_bars, write_csv
    from tradehooks.model import Instrument, parse_timeframe, parse_ts

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.csv"
        instrument = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001")
        write_csv(data, generate_bars(instrument, seed=1, start_ts=parse_ts("2024-01-01T00:00:00Z"),
                                      timeframe=parse_timeframe("1m"), count=args.bars, initial_price=30_000.0))
        preset = Path(tmp) / "bench.toml"
        preset.write_text(PRESET.format(data=data))
        guarded = Path(tmp) / "bench-drawdown.toml"
        guarded.write_text(PRESET.format(data=data) + DRAWDOWN)
        engine = min((run(ENGINE, str(preset)) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        engine_dd = min((run(ENGINE, str(guarded)) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        loop = min((run(LOOP, str(data)) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        # (name, settings, JSON line or why not), peer by peer in the order of PEERS, settings within
        peers: list[tuple[str, str, dict | str]] = []
        for name, requirement, script in PEERS if with_peers else ():
            for settings in peer_settings:
                try:
                    result: dict | str = min((run_peer(requirement, script, data, settings)
                                              for _ in range(args.repeat)), key=lambda r: r["seconds"])
                except RuntimeError as error:
                    result = str(error)
                peers.append((name, settings, result))

    rows = [
        ("tradehooks engine (CSV -> sma_cross -> paper)", engine["seconds"], engine["peak_rss_mb"], engine["fills"]),
        ("tradehooks engine, + max_drawdown rule", engine_dd["seconds"], engine_dd["peak_rss_mb"], engine_dd["fills"]),
        ("hand-written loop (CSV load + loop)", loop["seconds"], loop["peak_rss_mb"], loop["fills"]),
        ("hand-written loop (loop only, data in lists)", loop["loop_seconds"], None, loop["fills"]),
    ]
    rows += [(f"{peer['version']}, {settings} (same rule)", peer["seconds"], peer["peak_rss_mb"], peer["fills"])
             for _, settings, peer in peers if isinstance(peer, dict)]
    print(f"sma_cross(10, 30) on {args.bars:,} one-minute bars, python {sys.version.split()[0]}")
    print(f"{'contender':<48} {'seconds':>9} {'bars/s':>12} {'peak RSS MB':>12} {'fills':>7}")
    for name, seconds, rss, fills in rows:
        rss_text = f"{rss:12.0f}" if rss is not None else f"{'-':>12}"
        print(f"{name:<48} {seconds:9.2f} {args.bars / seconds:12,.0f} {rss_text} {fills:7d}")
    print(f"engine / loop-only time: {engine['seconds'] / loop['loop_seconds']:.1f}x; "
          f"engine / loop-with-load time: {engine['seconds'] / loop['seconds']:.1f}x")
    for name, settings, peer in peers:
        if isinstance(peer, dict):
            print(f"{name} ({settings}) / engine time: {peer['seconds'] / engine['seconds']:.1f}x "
                  f"({peer['settings']}; {peer['bars']:,} bars seen)")
        else:
            print(f"{name} ({settings}): not run: {peer}")


if __name__ == "__main__":
    main()
