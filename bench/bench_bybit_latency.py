"""Benchmark: tick-to-order latency of a live engine on Bybit (the V5 emulator).

A live engine (the ``bybit`` data source and broker) runs a strategy that flips its target on every
closed candle, so every candle becomes one market order. The emulator runs in a **separate
process** (so it does not compete with the engine for the GIL) and plays ``--bars`` one-minute
candles, ``--interval`` seconds apart; the emulator's order-rate limit is raised so no order waits
for a rate-limit window.

Two latencies per order, both from the moment the WebSocket client received the candle's closing
``kline`` message (the ``_recv_ns`` it stamps on every message, ``time.perf_counter_ns()``):

* **to request**: until the broker hands the create request to its HTTP client (the broker's own
  probe, :meth:`BybitBroker.measure_latency`: a bounded deque of pairs, one ``perf_counter_ns()``
  per order);
* **to httpx send**: until httpx sends it (an httpx ``request`` event hook, after signing and
  encoding, just before the bytes go to the socket).

What lies between receipt and the request: the data source decoding the message into a bar, the
engine's checks, the signal, the sizer, the order router and its risk checks, journaling the new
order (with ``--journal``: one SQLite transaction, flushed to disk unless ``--journal normal``), and the broker building the
request and starting its task. Printed as a table (µs): p50, p99, max over every order, the best of
``--repeat`` runs (each in a fresh process pair).

    .venv/bin/python bench/bench_bybit_latency.py [--bars 1000] [--interval 0.02] [--repeat 3] [--journal [full|normal]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tradehooks import hookimpl

KEY, SECRET = "BENCHKEY", "BENCH_SECRET_DO_NOT_USE"


# --- the emulator process --------------------------------------------------------------------------

def serve(bars: int, interval: float) -> None:
    """Run the emulator: print its URLs, play the path on "play", exit on "stop" (stdin lines)."""
    from tradehooks_bybit.testing import BybitEmulator

    with BybitEmulator() as emu:
        emu.add_account(KEY, SECRET, balances={"USDT": "10000000"})
        emu.set_rate_limit("/v5/order/create", 10_000)
        print(json.dumps({"rest": emu.rest_url, "ws": emu.ws_url}), flush=True)
        for line in sys.stdin:
            if line.strip() == "play":
                now_ms = int(time.time() * 1000)
                start = now_ms - now_ms % 60_000
                path = []
                for i in range(bars):
                    price = 30_000 + (i % 7) * 10
                    path.append((start + i * 60_000, price, price + 5, price - 5, price + 1, 3))
                emu.play("linear", "BTCUSDT", "1", path, interval_s=interval)
                emu.wait_played(timeout=bars * interval * 5 + 60)
                print(json.dumps({"played": bars, "orders": len(emu.orders(KEY))}), flush=True)
            elif line.strip() == "stop":
                return


# --- the engine process ----------------------------------------------------------------------------

class Flip:
    """Long on one candle, flat on the next: one order per candle."""

    name = "bench_flip"

    def __init__(self, params: Any, ctx: Any) -> None:
        self._long = False

    def on_bar(self, bar: Any) -> float:
        self._long = not self._long
        return 1.0 if self._long else 0.0


class _Plugin:
    @staticmethod
    @hookimpl
    def register_signals() -> list[type]:
        return [Flip]


def preset(urls: dict[str, str], journal: str | None, sync: str = "full") -> Any:
    import tradehooks

    engine: dict[str, Any] = {"id": "bench-bybit", "mode": "live", "initial_cash": "10000000", "currency": "USDT"}
    if journal:
        engine["journal"], engine["journal_sync"] = journal, sync
    return tradehooks.parse_preset({
        "engine": engine,
        "data": {"source": "bybit", "timeframe": "1m", "params": {"rest_url": urls["rest"], "ws_url": urls["ws"]}},
        "instruments": [{"id": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.1", "lot_size": "0.001",
                         "min_quantity": "0.001", "min_notional": "5"}],
        "broker": {"name": "bybit", "params": {"api_key": "env:BENCH_BYBIT_KEY", "api_secret": "env:BENCH_BYBIT_SECRET",
                                               "rest_url": urls["rest"], "ws_url": urls["ws"]}},
        "strategies": [{"id": "flip", "signal": "bench_flip", "sizer": {"name": "fixed",
                                                                        "params": {"quantity": "0.001"}}}],
    })


def measure(bars: int, interval: float, journal: str | None) -> dict[str, Any]:
    """One run: start the emulator process, run the engine here, return the latencies (ns)."""
    import logging

    import anyio
    import anyio.to_thread
    import structlog
    import tradehooks_bybit.data as bybit_data

    from tradehooks import Engine

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ["BENCH_BYBIT_KEY"], os.environ["BENCH_BYBIT_SECRET"] = KEY, SECRET

    last_close_ns = [0]  # the _recv_ns of the last closing kline message

    class ProbedClient(bybit_data.WebSocketClient):  # type: ignore[misc, name-defined]
        async def messages(self):  # type: ignore[no-untyped-def]
            async for message in super().messages():
                data = message.get("data")
                if isinstance(data, list) and data and isinstance(data[-1], dict) and data[-1].get("confirm"):
                    last_close_ns[0] = message["_recv_ns"]
                yield message

    bybit_data.WebSocketClient = ProbedClient  # the data source builds its client in stream()

    server = subprocess.Popen([sys.executable, __file__, "--serve", "--bars", str(bars), "--interval", str(interval)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdin is not None
        urls = json.loads(server.stdout.readline())
        folder = tempfile.mkdtemp(prefix="bench-bybit-")
        engine = Engine(preset(urls, str(Path(folder) / "journal.sqlite") if journal else None, journal or "full"),
                        plugins=[_Plugin])
        broker = engine.broker
        broker.measure_latency(lambda: last_close_ns[0], samples=bars * 2)
        sent: dict[str, int] = {}

        async def on_request(request: Any) -> None:
            if request.url.path == "/v5/order/create":
                sent[json.loads(request.content)["orderLinkId"]] = time.perf_counter_ns()

        async def main() -> None:
            await engine.start()
            broker._http._http().event_hooks["request"].append(on_request)
            async with anyio.create_task_group() as group:
                group.start_soon(engine.run)
                server.stdin.write("play\n")
                server.stdin.flush()
                played = await anyio.to_thread.run_sync(server.stdout.readline)
                done = json.loads(played)
                deadline = time.monotonic() + 30
                while len(sent) < done["orders"] and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                group.cancel_scope.cancel()
            await engine.stop("bench over")

        anyio.run(main)
        to_request = [b - a for a, b in broker.latency]
        to_send = [sent[link] - broker._orders[cid].trigger_ns
                   for cid, link in ((cid, t.link_id) for cid, t in broker._orders.items()) if link in sent]
        return {"to_request": to_request, "to_send": to_send, "orders": len(broker._orders)}
    finally:
        if server.stdin is not None and server.poll() is None:
            try:
                server.stdin.write("stop\n")
                server.stdin.flush()
            except BrokenPipeError:
                pass
        server.wait(timeout=30)


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between candles")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--journal", nargs="?", const="full", choices=("full", "normal"),
                        help="journal orders and fills, with [engine] journal_sync = full (the default) or normal")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.bars, args.interval)
        return
    if args.one:
        print(json.dumps(measure(args.bars, args.interval, args.journal)))
        return
    runs = []
    for _ in range(args.repeat):
        command = [sys.executable, __file__, "--one", "--bars", str(args.bars), "--interval", str(args.interval)]
        if args.journal:
            command += ["--journal", args.journal]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: percentile(r["to_request"], 0.99))
    print(f"tick-to-order over {len(best['to_request'])} orders ({args.bars} candles, one order each, "
          f"{args.interval * 1000:.0f} ms apart), journal {'off' if not args.journal else 'on, journal_sync = ' + args.journal}, "
          f"best p99 of {args.repeat} runs; python {sys.version.split()[0]}")
    print(f"{'latency (µs)':<22}{'p50':>8}{'p99':>8}{'max':>8}")
    for label, key in (("to request", "to_request"), ("to httpx send", "to_send")):
        values = best[key]
        if not values:
            print(f"{label:<22}{'-':>8}{'-':>8}{'-':>8}")
            continue
        print(f"{label:<22}{percentile(values, 0.5) / 1000:>8.0f}{percentile(values, 0.99) / 1000:>8.0f}"
              f"{max(values) / 1000:>8.0f}")


if __name__ == "__main__":
    main()
