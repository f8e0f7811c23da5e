"""backtrader peer of bench_sma_cross.py: sma_cross(10, 30) on a bars CSV, one JSON line out.

Same rule as the tradehooks preset: SMA(10) and SMA(30) of the close; go long 0.1 when the fast one
goes from at-or-below the slow one to above it, flat when it goes from at-or-above to below; market
orders, which backtrader's default broker fills at the next bar's open; no commission. The data feed
is ``GenericCSVData`` with timestamps parsed by ``datetime.fromisoformat``.

Two settings (``--settings``), same feed and strategy:

* ``fastest`` (the default): ``bt.Cerebro(stdstats=False, preload=True, runonce=True)``: the data
  preloaded, the SMAs computed vectorised (``next`` still runs bar by bar), no observers.
* ``defaults``: ``bt.Cerebro()``, as in the quickstart guide (www.backtrader.com/docu/quickstart/
  quickstart). The Cerebro reference (www.backtrader.com/docu/cerebro) gives the defaults
  ``preload=True``, ``runonce=True`` and ``stdstats=True``; with ``stdstats`` Cerebro adds the three
  standard observers, ``Broker`` (cash and value every bar), ``Trades`` and ``BuySell``
  ("Observers and Statistics", www.backtrader.com/docu/observers-and-statistics/
  observers-and-statistics: "cerebro = bt.Cerebro()  # default kwarg: stdstats=True"). So the only
  difference from ``fastest`` is the observers.

The result goes to ``--result FILE`` if given, otherwise it is printed on stdout. Runs in
bench/.venv-peers (see bench_sma_cross.py --peers):

    bench/.venv-peers/bin/python bench/peers/backtrader_sma.py BARS.csv [--settings fastest|defaults]
"""

import argparse
import json
import resource
import time
from datetime import datetime

import backtrader as bt

QUANTITY = 0.1


class SmaCross(bt.Strategy):
    def __init__(self) -> None:
        self.fast = bt.indicators.SMA(self.data.close, period=10)
        self.slow = bt.indicators.SMA(self.data.close, period=30)
        self.previous = None
        self.fills = 0

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills += 1

    def next(self) -> None:
        difference = self.fast[0] - self.slow[0]
        previous, self.previous = self.previous, difference
        if previous is None:
            return
        if difference > 0 >= previous and not self.position:
            self.buy(size=QUANTITY)
        elif difference < 0 <= previous and self.position:
            self.close()


SETTINGS = {
    "fastest": "preload, runonce, stdstats=False, no commission",
    "defaults": "bt.Cerebro() defaults: preload, runonce, stdstats=True, no commission",
}


def make_cerebro(settings: str) -> bt.Cerebro:
    if settings == "fastest":
        return bt.Cerebro(stdstats=False, preload=True, runonce=True)
    return bt.Cerebro()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("bars", help="CSV file with the header timestamp,open,high,low,close,volume")
    parser.add_argument("--settings", choices=tuple(SETTINGS), default="fastest")
    parser.add_argument("--result", help="write the JSON line to this file instead of stdout")
    args = parser.parse_args()

    start = time.perf_counter()
    cerebro = make_cerebro(args.settings)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=args.bars, dtformat=datetime.fromisoformat, timeframe=bt.TimeFrame.Minutes,
        compression=1, datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1))
    cerebro.addstrategy(SmaCross)
    strategy = cerebro.run()[0]
    elapsed = time.perf_counter() - start
    line = json.dumps({"seconds": elapsed, "bars": len(strategy.data), "fills": strategy.fills,
                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "version": f"backtrader {bt.__version__}",
                       "settings": SETTINGS[args.settings]})
    if args.result:
        with open(args.result, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
    else:
        print(line)

if __name__ == "__main__":
    main()
