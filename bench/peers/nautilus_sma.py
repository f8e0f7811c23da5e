"""NautilusTrader peer of bench_sma_cross.py: sma_cross(10, 30) on a bars CSV, one JSON line out.

Same rule as the tradehooks preset: SMA(10) and SMA(30) of the close; go long 0.1 when the fast one
goes from at-or-below the slow one to above it, flat when it goes from at-or-above to below; market
orders. The CSV is read with pandas and turned into ``Bar`` objects by ``BarDataWrangler`` (the
documented way), for the Binance BTCUSDT perpetual of ``TestInstrumentProvider`` (price precision 1,
size precision 3; its fees, 0.02% maker and 0.018% taker, are left as they are) on a simulated venue
with a netting margin account of 1,000,000 USDT. Nautilus fills a market order sent from ``on_bar``
at that bar's close, which in the generated data is always the next bar's open.

Two settings (``--settings``), everything else identical:

* ``fastest`` (the default): logging bypassed (``LoggingConfig(bypass_logging=True)``) and the
  post-run analysis off (``run_analysis=False``); the rest is the engine's defaults.
* ``defaults``: ``BacktestEngineConfig()`` as it comes, which is what the low-level getting-started
  guide of the 1.x releases does ("You can call ``BacktestEngine()`` to instantiate an engine with the
  default configuration"; its only change is a custom ``trader_id``; the engine "automatically logs a
  post-run tearsheet"; docs/getting_started/backtest_low_level.py, nautilustrader.io/docs/latest/
  getting_started/backtest_low_level). In 1.221.0 that means ``logging=None``, which the kernel turns
  into ``LoggingConfig()``: ``log_level="INFO"`` to stdout, ERROR also to stderr, colours on, no file
  (``LoggingConfig`` docstring; the logging concept guide, nautilustrader.io/docs/latest/concepts/
  logging, says the same: by default INFO and higher go to stdout/stderr), and ``run_analysis=True``
  (``BacktestEngineConfig`` docstring: "If post backtest performance analysis should be run"). The
  log lines are written by Nautilus' own logging thread to this process's stdout and stderr; where
  they end up is the caller's choice (bench_sma_cross.py sends stdout to /dev/null and drains stderr).
  Later guides for the 2.x line lower the console level to ERROR; 1.221.0's guide does not.

The result goes to ``--result FILE`` if given (so the log lines on stdout cannot get mixed into it),
otherwise it is the last line printed on stdout. Runs in bench/.venv-peers (see bench_sma_cross.py
--peers):

    bench/.venv-peers/bin/python bench/peers/nautilus_sma.py BARS.csv [--settings fastest|defaults]
"""

import argparse
import json
import resource
import time
from decimal import Decimal

import nautilus_trader
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model import Bar, BarType, Money, Venue
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy


class SmaCrossConfig(StrategyConfig, frozen=True):
    bar_type: BarType
    quantity: Decimal = Decimal("0.1")


class SmaCross(Strategy):
    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.fast = SimpleMovingAverage(10)
        self.slow = SimpleMovingAverage(30)
        self.previous: float | None = None
        self.fills = 0

    def on_start(self) -> None:
        self.instrument_id = self.config.bar_type.instrument_id
        self.quantity = self.cache.instrument(self.instrument_id).make_qty(self.config.quantity)
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not self.slow.initialized:
            return
        difference = self.fast.value - self.slow.value
        previous, self.previous = self.previous, difference
        if previous is None:
            return
        if difference > 0 >= previous and self.portfolio.is_flat(self.instrument_id):
            self.submit_order(self.order_factory.market(self.instrument_id, OrderSide.BUY, self.quantity))
        elif difference < 0 <= previous and self.portfolio.is_net_long(self.instrument_id):
            self.submit_order(self.order_factory.market(self.instrument_id, OrderSide.SELL, self.quantity))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills += 1


SETTINGS = {
    "fastest": "logging bypassed, run_analysis=False, taker fee 0.018%",
    "defaults": "default logging (INFO to stdout), run_analysis=True, taker fee 0.018%",
}


def engine_config(settings: str) -> BacktestEngineConfig:
    if settings == "fastest":
        return BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True), run_analysis=False)
    return BacktestEngineConfig()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("bars", help="CSV file with the header timestamp,open,high,low,close,volume")
    parser.add_argument("--settings", choices=tuple(SETTINGS), default="fastest")
    parser.add_argument("--result", help="write the JSON line to this file instead of stdout")
    args = parser.parse_args()

    start = time.perf_counter()
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.read_csv(args.bars, index_col="timestamp", parse_dates=True)
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    del frame
    engine = BacktestEngine(engine_config(args.settings))
    engine.add_venue(Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     starting_balances=[Money(1_000_000, USDT)], base_currency=USDT)
    engine.add_instrument(instrument)
    engine.add_data(bars)
    del bars
    strategy = SmaCross(SmaCrossConfig(bar_type=bar_type))
    engine.add_strategy(strategy)
    engine.run()
    elapsed = time.perf_counter() - start
    line = json.dumps({"seconds": elapsed, "bars": strategy.fast.count, "fills": strategy.fills,
                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "version": f"nautilus_trader {nautilus_trader.__version__}",
                       "settings": SETTINGS[args.settings]})
    engine.dispose()
    if args.result:
        with open(args.result, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
    else:
        print(line)

if __name__ == "__main__":
    main()
