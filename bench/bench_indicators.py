"""Benchmark: every built-in indicator's vectorised ``batch`` over N bars against TA-Lib's C functions.

One process, one generated series (a geometric random walk, seed 1, with highs, lows and volumes),
passed to both as numpy arrays; each contender is timed best-of-``--repeat`` on the same arrays.
TA-Lib has no VWAP and no Keltner or Donchian channels: Keltner is timed against TA-Lib's ``EMA`` plus
``ATR`` and Donchian against ``MAX`` plus ``MIN`` (what a TA-Lib user would call), VWAP against
nothing. Prints seconds per call and our time / TA-Lib's.

With ``--updates`` it also times the incremental path (``update`` per bar, what a backtest runs) on
the first 200,000 bars, in nanoseconds per update. KAMA, WMA and MACD run compiled loops when numba is
installed (the ``fast`` extra); ``--without-numba`` times them as if it were not (the numpy kernels).
Each indicator is called once before it is timed (numba's one-time load is not what is measured).

    .venv/bin/python bench/bench_indicators.py [--bars 1000000] [--repeat 5] [--updates] [--without-numba]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tradehooks.builtins.indicators import register_indicators
from tradehooks.model import Bar

#: name -> (our parameters, TA-Lib's call on (talib, open, high, low, close, volume), or None)
CASES: dict[str, tuple[dict[str, Any], Callable[..., Any] | None]] = {
    "sma": ({"period": 20}, lambda t, o, h, lo, c, v: t.SMA(c, 20)),
    "ema": ({"period": 20}, lambda t, o, h, lo, c, v: t.EMA(c, 20)),
    "wma": ({"period": 20}, lambda t, o, h, lo, c, v: t.WMA(c, 20)),
    "dema": ({"period": 20}, lambda t, o, h, lo, c, v: t.DEMA(c, 20)),
    "tema": ({"period": 20}, lambda t, o, h, lo, c, v: t.TEMA(c, 20)),
    "kama": ({"period": 30}, lambda t, o, h, lo, c, v: t.KAMA(c, 30)),
    "rsi": ({"period": 14}, lambda t, o, h, lo, c, v: t.RSI(c, 14)),
    "stoch": ({}, lambda t, o, h, lo, c, v: t.STOCH(h, lo, c, 5, 3, 0, 3, 0)),
    "stochrsi": ({}, lambda t, o, h, lo, c, v: t.STOCHRSI(c, 14, 5, 3, 0)),
    "macd": ({}, lambda t, o, h, lo, c, v: t.MACD(c, 12, 26, 9)),
    "roc": ({"period": 10}, lambda t, o, h, lo, c, v: t.ROC(c, 10)),
    "mom": ({"period": 10}, lambda t, o, h, lo, c, v: t.MOM(c, 10)),
    "cci": ({"period": 14}, lambda t, o, h, lo, c, v: t.CCI(h, lo, c, 14)),
    "willr": ({"period": 14}, lambda t, o, h, lo, c, v: t.WILLR(h, lo, c, 14)),
    "atr": ({"period": 14}, lambda t, o, h, lo, c, v: t.ATR(h, lo, c, 14)),
    "natr": ({"period": 14}, lambda t, o, h, lo, c, v: t.NATR(h, lo, c, 14)),
    "trange": ({}, lambda t, o, h, lo, c, v: t.TRANGE(h, lo, c)),
    "bbands": ({"period": 20}, lambda t, o, h, lo, c, v: t.BBANDS(c, 20, 2.0, 2.0, 0)),
    "keltner": ({"period": 20}, lambda t, o, h, lo, c, v: (t.EMA(c, 20), t.ATR(h, lo, c, 20))),
    "donchian": ({"period": 20}, lambda t, o, h, lo, c, v: (t.MAX(h, 20), t.MIN(lo, 20))),
    "stddev": ({"period": 20}, lambda t, o, h, lo, c, v: t.STDDEV(c, 20, 1.0)),
    "adx": ({"period": 14}, lambda t, o, h, lo, c, v: (t.ADX(h, lo, c, 14), t.PLUS_DI(h, lo, c, 14),
                                                      t.MINUS_DI(h, lo, c, 14))),
    "aroon": ({"period": 14}, lambda t, o, h, lo, c, v: (t.AROON(h, lo, 14), t.AROONOSC(h, lo, 14))),
    "obv": ({}, lambda t, o, h, lo, c, v: t.OBV(c, v)),
    "vwap": ({"period": 20}, None),
    "mfi": ({"period": 14}, lambda t, o, h, lo, c, v: t.MFI(h, lo, c, v, 14)),
}


def generate(bars: int, seed: int = 1) -> dict[str, np.ndarray]:
    """A geometric random walk around 30,000 with one-minute timestamps, as columns."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, bars)))
    open_ = np.concatenate([[30_000.0], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.0005, bars)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.0005, bars)))
    volume = rng.uniform(1.0, 1000.0, bars)
    ts = 1_704_067_200_000_000_000 + np.arange(bars, dtype=np.int64) * 60_000_000_000
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def best_of(repeat: int, call: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--updates", action="store_true", help="also time the incremental update path")
    parser.add_argument("--without-numba", action="store_true",
                        help="run the numpy kernels where numba would run compiled loops")
    args = parser.parse_args()
    if args.without_numba:
        sys.modules["numba"] = None  # type: ignore[assignment]  # `import numba` raises ImportError
    try:
        import numba
    except ImportError:
        numba = None
    try:
        import talib
    except ImportError:
        talib = None
    columns = generate(args.bars)
    arrays = [columns[f] for f in ("open", "high", "low", "close", "volume")]
    classes = {cls.name: cls for cls in register_indicators()}
    print(f"batch over {args.bars:,} bars, best of {args.repeat}; python {platform.python_version()}, "
          f"numpy {np.__version__}, numba {numba.__version__ if numba else 'absent'}, "
          f"TA-Lib {talib.__ta_version__.decode().split()[0] if talib else 'absent'}")
    header = f"{'indicator':<10} {'tradehooks s':>13} {'TA-Lib s':>10} {'ratio':>7}"
    if args.updates:
        header += f" {'update ns':>10}"
    print(header)
    ratios = []
    for name, (params, theirs) in CASES.items():
        cls = classes[name]
        p = cls.Params(**params)
        cls.batch(p, columns)  # a first call: loads the compiled loops, if any
        ours = best_of(args.repeat, lambda cls=cls, p=p: cls.batch(p, columns))
        line = f"{name:<10} {ours:>13.4f}"
        if talib is not None and theirs is not None:
            reference = best_of(args.repeat, lambda theirs=theirs: theirs(talib, *arrays))
            ratios.append(ours / reference)
            line += f" {reference:>10.4f} {ours / reference:>6.1f}x"
        else:
            line += f" {'-':>10} {'-':>7}"
        if args.updates:
            line += f" {per_update(cls, p, columns, 200_000):>10.0f}"
        print(line)
    if ratios:
        ratios.sort()
        print(f"ratio: median {ratios[len(ratios) // 2]:.1f}x, worst {ratios[-1]:.1f}x")
    return 0


def per_update(cls: Any, params: Any, columns: dict[str, np.ndarray], count: int) -> float:
    """Nanoseconds per ``update`` over the first ``count`` bars (bars built beforehand)."""
    fields = [columns[f][:count].tolist() for f in ("ts", "open", "high", "low", "close", "volume")]
    bars = [Bar("BENCH", *row) for row in zip(*fields)]
    indicator = cls(params)
    update = indicator.update
    start = time.perf_counter()
    for bar in bars:
        update(bar)
    return (time.perf_counter() - start) / len(bars) * 1e9


if __name__ == "__main__":
    sys.exit(main())
