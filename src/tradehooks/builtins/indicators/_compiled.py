"""Compiled loops for the recursions that numpy cannot vectorise well: KAMA (whose smoothing factor
changes every bar), the WMA's two running sums and MACD's three chained EMAs, each one pass over the
input in TA-Lib's order of operations, compiled by numba.

Optional: this module imports numba, and :mod:`._arrays` imports it only when a batch over arrays
runs one of these indicators and numba can be imported (the ``fast`` extra); without numba the numpy
kernels of :mod:`._arrays` give the same values (to about 1e-12 relative). The machine code is cached
on disk (``cache=True``), so the first call of a process loads it rather than compiling it again.

Each loop fills ``out`` (allocated by the caller) completely: NaN through the warm-up, then one value
per bar, as the indicator's ``update`` gives it bar after bar.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["kama", "macd", "wma"]

WMA_RESUM = 256  # outputs between exact recomputations of the WMA's running sums (2 * period steps each)


@numba.njit(cache=True, nogil=True)
def kama(x: np.ndarray, period: int, slowest: float, spread: float, out: np.ndarray) -> None:
    """TA-Lib's ``KAMA``: ``path`` (the sum of the last ``period`` absolute one-bar changes) as a
    running sum, less the change that leaves and plus the one that enters, the ratio ``|change /
    path|`` (1 where ``path`` is zero or not above the change), the constant ``(ratio * spread +
    slowest) ** 2`` and ``kama = (x - kama) * constant + kama``, from ``x[period - 1]``."""
    n = x.shape[0]
    for t in range(min(period, n)):
        out[t] = np.nan
    if n <= period:
        return
    path = 0.0
    for t in range(1, period + 1):
        path += abs(x[t] - x[t - 1])
    y = x[period - 1]
    for t in range(period, n):
        v = x[t]
        if t > period:
            path = path - abs(x[t - period] - x[t - period - 1]) + abs(v - x[t - 1])
        change = v - x[t - period]
        if path <= change or path == 0.0:
            ratio = 1.0
        else:
            ratio = abs(change / path)
        constant = ratio * spread + slowest
        constant *= constant
        y = (v - y) * constant + y
        out[t] = y


@numba.njit(cache=True, nogil=True)
def wma(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA-Lib's ``WMA``: the plain sum of the window and the weighted sum (weights 1 to ``period``,
    newest heaviest) kept as running sums, the weighted one gaining ``period * x`` and losing the plain
    one at each step; both recomputed exactly every :data:`WMA_RESUM` outputs, so that the weighted
    sum, which adds up the plain sum's rounding errors, never drifts."""
    n = x.shape[0]
    for t in range(min(period - 1, n)):
        out[t] = np.nan
    divider = float(period * (period + 1) // 2)
    t = period - 1
    while t < n:
        total = 0.0  # the window ending at t, but x[t]
        weighted = 0.0
        for k in range(period - 1):
            v = x[t - period + 1 + k]
            total += v
            weighted += v * (k + 1)
        v = x[t]
        total += v
        sums = weighted + v * period
        out[t] = sums / divider
        weighted = sums - total
        stop = min(n, t + WMA_RESUM)
        for u in range(t + 1, stop):
            v = x[u]
            total = total + v - x[u - period]
            sums = weighted + v * period
            out[u] = sums / divider
            weighted = sums - total
        t = stop


@numba.njit(cache=True, nogil=True)
def macd(x: np.ndarray, fast: int, slow: int, signal: int, macd_out: np.ndarray, signal_out: np.ndarray,
         hist_out: np.ndarray) -> None:
    """TA-Lib's ``MACD``: the slow EMA seeded with the mean of the first ``slow`` values, the fast one
    with the mean of the ``fast`` values ending at the same bar, the signal line with the mean of the
    first ``signal`` differences; ``ema = (x - ema) * k + ema`` each, all three in one pass, and the
    outputs from index ``slow + signal - 2``."""
    n = x.shape[0]
    first = slow + signal - 2
    for t in range(min(first, n)):
        macd_out[t] = np.nan
        signal_out[t] = np.nan
        hist_out[t] = np.nan
    if n <= first:
        return
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    slow_total = 0.0
    fast_total = 0.0
    for t in range(slow):
        slow_total += x[t]
        if t >= slow - fast:
            fast_total += x[t]
    f = fast_total / fast
    s = slow_total / slow
    signal_total = f - s
    for t in range(slow, first + 1):
        v = x[t]
        f = (v - f) * kf + f
        s = (v - s) * ks + s
        signal_total += f - s
    g = signal_total / signal
    m = f - s
    macd_out[first] = m
    signal_out[first] = g
    hist_out[first] = m - g
    for t in range(first + 1, n):
        v = x[t]
        f = (v - f) * kf + f
        s = (v - s) * ks + s
        m = f - s
        g = (m - g) * kg + g
        macd_out[t] = m
        signal_out[t] = g
        hist_out[t] = m - g
