"""Run the Bybit V5 emulator on its own, for trying a preset by hand::

    python -m tradehooks_bybit.testing --port 8765 --key KEY --secret SECRET --balance USDT=10000 --play 600

It prints the URLs to put in a preset's ``rest_url``/``ws_url`` and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradehooks_bybit.testing", description=__doc__.split("::")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    parser.add_argument("--key", help="API key of an account to create")
    parser.add_argument("--secret", help="its API secret")
    parser.add_argument("--balance", action="append", default=[], metavar="COIN=AMOUNT",
                        help="the account's balance of a coin (repeatable; default USDT=10000)")
    parser.add_argument("--play", type=int, default=0, metavar="BARS",
                        help="play this many synthetic one-minute linear BTCUSDT bars")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="seconds per played bar")
    args = parser.parse_args(argv)
    if bool(args.key) != bool(args.secret):
        parser.error("--key and --secret go together")
    balances = {}
    for item in args.balance or ["USDT=10000"]:
        coin, sep, amount = item.partition("=")
        if not sep or not coin or not amount:
            parser.error(f"--balance {item!r}: use COIN=AMOUNT, e.g. USDT=10000")
        balances[coin] = amount

    from tradehooks_bybit.testing import BybitEmulator

    with BybitEmulator(host=args.host, port=args.port) as emu:
        if args.key:
            emu.add_account(args.key, args.secret, balances=balances)
        print(f"rest_url = {json.dumps(emu.rest_url)}\nws_url = {json.dumps(emu.ws_url)}", flush=True)
        if args.play:
            from tradehooks.testing import synthetic_bars

            start_ms = (int(time.time()) // 60 - args.play) * 60_000
            bars = [(start_ms + i * 60_000, b.open, b.high, b.low, b.close, b.volume)
                    for i, b in enumerate(synthetic_bars(args.play))]
            emu.play("linear", "BTCUSDT", "1", bars, interval_s=args.interval)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
