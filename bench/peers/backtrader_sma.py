"""backtrader peer of bench_sma_cross.py: sma_cross(10, 30) on a bars CSV, one JSON line out.

Same rule as the tradehooks preset: SMA(10) and SMA(30) of the close; go long 0.1 when the fast one
goes from at-or-below the slow one to above it, flat when it goes from at-or-above to below; market
orders, which backtrader's default broker fills at the next bar's open; no commission. Fastest honest
settings: ``preload=True`` and ``runonce=True`` (the SMAs are computed vectorised, ``next`` still runs
bar by bar), ``stdstats=False`` (no observers), timestamps parsed with ``datetime.fromisoformat``.

Runs in bench/.venv-peers (see bench_sma_cross.py --peers):

    bench/.venv-peers/bin/python bench/peers/backtrader_sma.py BARS.csv
"""

import json
import resource
import sys
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


def main() -> None:
    start = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=sys.argv[1], dtformat=datetime.fromisoformat, timeframe=bt.TimeFrame.Minutes,
        compression=1, datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1))
    cerebro.addstrategy(SmaCross)
    strategy = cerebro.run()[0]
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "bars": len(strategy.data), "fills": strategy.fills,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "version": f"backtrader {bt.__version__}",
                      "settings": "preload, runonce, stdstats=False, no commission"}))


if __name__ == "__main__":
    main()
