"""Compiled loops for what numpy cannot vectorise well, compiled by numba, one pass over the input
each: the recursions of KAMA (whose smoothing factor changes every bar), the WMA's two running sums,
MACD's three chained EMAs, OBV's running total (all in TA-Lib's order of operations) and the ATR's
Wilder smoothing; and the rolling highest high and lowest low of the Donchian channels and Williams'
%R, and the bars of Aroon's, three comparisons per bar and series.

Optional: this module imports numba, and :mod:`._arrays` imports it only when a batch over arrays
runs one of these indicators on a long enough series and numba can be imported (the ``fast``
extra); otherwise the numpy kernels of :mod:`._arrays` run, and give the same values (to about 1e-12
relative). The machine code is cached on disk (``cache=True``), so the first call of a process
loads it rather than compiling it again.

Each loop fills ``out`` (allocated by the caller) completely: NaN through the warm-up, then one value
per bar, as the indicator's ``update`` gives it bar after bar. :mod:`._arrays` gives them no NaN but
OBV's (and no infinity but OBV's and the extremes'): it sets the values a non-finite input makes NaN
itself, the same on both paths.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["aroon", "atr", "donchian", "kama", "macd", "obv", "willr", "wma"]

WMA_RESUM = 256  # outputs between exact recomputations of the WMA's running sums (2 * period steps each)
EXTREMES_RUN = 4096  # windows per run of the rolling extremes of Williams' %R (its buffers stay in cache)


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


@numba.njit(cache=True, nogil=True)
def obv(x: np.ndarray, volume: np.ndarray, out: np.ndarray) -> None:
    """TA-Lib's ``OBV``: the first volume, then the running total plus the volume where ``x`` rose and
    minus it where ``x`` fell."""
    n = x.shape[0]
    if n == 0:
        return
    total = volume[0]
    out[0] = total
    previous = x[0]
    for t in range(1, n):
        v = x[t]
        if v > previous:
            total += volume[t]
        elif v < previous:
            total -= volume[t]
        out[t] = total
        previous = v


@numba.njit(cache=True, nogil=True)
def _extremes(high: np.ndarray, low: np.ndarray, period: int, upper: np.ndarray, lower: np.ndarray,
              suffix: np.ndarray, middle: np.ndarray, with_middle: bool) -> None:
    """``upper[j]`` the highest of ``high[j : j + period]`` and ``lower[j]`` the lowest of ``low[j : j +
    period]``, for every full window ``j`` (``suffix``: a buffer of ``2 * period``), and with
    ``with_middle`` their mean in ``middle[j]`` (written with them: a pass of its own would cost as
    much again in memory traffic). The windows that
    start in a block of ``period`` values span that block's end and the next block's start, so each is
    the larger of a running extreme from the block's end backwards (``suffix``) and one from the next
    block's start forwards: three comparisons per value and series, whatever the data."""
    count = high.shape[0] - period + 1
    # comparisons rather than max() and min(), which numba compiles with NaN tests (a third slower)
    for k in range(0, count, period):
        last = k + period - 1
        most = high[last]
        least = low[last]
        suffix[period - 1] = most
        suffix[2 * period - 1] = least
        for j in range(period - 2, -1, -1):
            v = high[k + j]
            if v > most:  # noqa: PLR1730 (see above)
                most = v
            suffix[j] = most
            v = low[k + j]
            if v < least:  # noqa: PLR1730 (see above)
                least = v
            suffix[period + j] = least
        upper[k] = most
        lower[k] = least
        if with_middle:
            middle[k] = (most + least) / 2.0
        most = -np.inf
        least = np.inf
        for j in range(1, min(period, count - k)):
            v = high[last + j]
            if v > most:  # noqa: PLR1730 (see above)
                most = v
            v = low[last + j]
            if v < least:  # noqa: PLR1730 (see above)
                least = v
            before = suffix[j]
            top = before if before >= most else most  # noqa: FURB136 (see above)
            before = suffix[period + j]
            bottom = before if before <= least else least  # noqa: FURB136 (see above)
            upper[k + j] = top
            lower[k + j] = bottom
            if with_middle:
                middle[k + j] = (top + bottom) / 2.0


@numba.njit(cache=True, nogil=True)
def donchian(high: np.ndarray, low: np.ndarray, period: int, upper: np.ndarray, middle: np.ndarray,
             lower: np.ndarray) -> None:
    """The highest high and lowest low of the last ``period`` bars, and their mean, from index
    ``period - 1``."""
    n = high.shape[0]
    first = min(period - 1, n)
    for t in range(first):
        upper[t] = np.nan
        middle[t] = np.nan
        lower[t] = np.nan
    if n < period:
        return
    _extremes(high, low, period, upper[first:], lower[first:], np.empty(2 * period), middle[first:], True)


@numba.njit(cache=True, nogil=True)
def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, flat: float,
          out: np.ndarray) -> None:
    """TA-Lib's ``WILLR``: ``(highest - close) / ((highest - lowest) / -100)`` over the last ``period``
    bars, 0 where the range is within ``flat`` times ``|highest| + |lowest|`` (rounding residue); from
    index ``period - 1``, the extremes made :data:`EXTREMES_RUN` windows at a time."""
    n = high.shape[0]
    first = min(period - 1, n)
    for t in range(first):
        out[t] = np.nan
    if n < period:
        return
    run = max(EXTREMES_RUN, period)
    highest = np.empty(run)
    lowest = np.empty(run)
    suffix = np.empty(2 * period)
    for s in range(first, n, run):
        e = min(s + run, n)
        m = e - s
        _extremes(high[s - first : e], low[s - first : e], period, highest, lowest, suffix, highest, False)
        for j in range(m):
            most = highest[j]
            least = lowest[j]
            spread = most - least
            if spread <= flat * (abs(most) + abs(least)):
                out[s + j] = 0.0
            else:
                out[s + j] = (most - close[s + j]) / (spread / -100.0)


@numba.njit(cache=True, nogil=True)
def aroon(high: np.ndarray, low: np.ndarray, period: int, up: np.ndarray, down: np.ndarray) -> None:
    """TA-Lib's ``AROON``: over the last ``period + 1`` bars, ``up = 100 / period * (period - bars
    since the highest high)`` and ``down`` likewise with the lowest low, the most recent of equal
    ones; from index ``period``. The bars of the extremes as in :func:`_extremes`, by blocks of one
    window: backwards through a block an older bar wins only if strictly beyond, forwards through the
    next a newer one wins on a tie, and so does the newer part of a window."""
    n = high.shape[0]
    size = period + 1
    for t in range(min(period, n)):
        up[t] = np.nan
        down[t] = np.nan
    if n < size:
        return
    factor = 100.0 / period
    suffix = np.empty(2 * size)  # the running extremes backwards, highs then lows
    where = np.empty(2 * size, dtype=np.int64)  # and their bars
    count = n - size + 1
    for k in range(0, count, size):
        last = k + size - 1
        most = high[last]
        least = low[last]
        top = bottom = last
        suffix[size - 1] = most
        suffix[2 * size - 1] = least
        where[size - 1] = where[2 * size - 1] = last
        for j in range(size - 2, -1, -1):
            v = high[k + j]
            if v > most:
                most = v
                top = k + j
            suffix[j] = most
            where[j] = top
            v = low[k + j]
            if v < least:
                least = v
                bottom = k + j
            suffix[size + j] = least
            where[size + j] = bottom
        up[last] = factor * (period - (last - where[0]))
        down[last] = factor * (period - (last - where[size]))
        most = -np.inf
        least = np.inf
        top = bottom = -1
        for j in range(1, min(size, count - k)):
            t = last + j
            v = high[t]
            if v >= most:
                most = v
                top = t
            v = low[t]
            if v <= least:
                least = v
                bottom = t
            highest = top if most >= suffix[j] else where[j]
            lowest = bottom if least <= suffix[size + j] else where[size + j]
            up[t] = factor * (period - (t - highest))
            down[t] = factor * (period - (t - lowest))


@numba.njit(cache=True, nogil=True)
def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray, t: int) -> float:
    """``max(high, previous close) - min(low, previous close)`` of bar ``t``."""
    previous = close[t - 1]
    top = high[t]
    if previous > top:  # noqa: PLR1730 (comparisons rather than max() and min(): see _extremes)
        top = previous
    bottom = low[t]
    if previous < bottom:  # noqa: PLR1730 (see above)
        bottom = previous
    return top - bottom  # type: ignore[no-any-return]  # numpy scalars, to mypy


@numba.njit(cache=True, nogil=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, normalized: bool,
        out: np.ndarray) -> None:
    """TA-Lib's ``ATR`` (``NATR`` with ``normalized``: ``(atr / close) * 100``, 0 where the close is
    0): the true range ``max(high, previous close) - min(low, previous close)`` from the second bar,
    the mean of the first ``period`` at index ``period``, then ``atr = atr * (1 - 1 / period) +
    true_range / period``; not TA-Lib's ``(atr * (period - 1) + true_range) / period``, whose division
    in the recursion would take three times as long (the two differ by a rounding or two, and the
    recursion shrinks its errors)."""
    n = high.shape[0]
    for t in range(min(period, n)):
        out[t] = np.nan
    if n <= period:
        return
    total = 0.0
    for t in range(1, period + 1):
        total += _true_range(high, low, close, t)
    y = total / period
    keep = (period - 1) / period
    gain = 1.0 / period
    for t in range(period, n):
        if t > period:
            y = y * keep + _true_range(high, low, close, t) * gain
        if normalized:
            c = close[t]
            out[t] = (y / c) * 100.0 if c != 0.0 else 0.0
        else:
            out[t] = y
