"""The vectorised numpy form of ``batch``: one kernel per built-in indicator, built from the blocks
in :mod:`._vector`; imported only when ``batch`` is given an array or a mapping of columns.

Every kernel computes what the indicator's ``update`` computes, bar after bar, to about 1e-12 relative
(the order of the float operations differs, never the formula, the seeding or the warm-up).

KAMA, the WMA, MACD, OBV, the ATR (and NATR and the Keltner channels' width), Williams' %R, the
Donchian channels and Aroon run the compiled loops of :mod:`._compiled` instead, on series of at least
:data:`COMPILED_FROM` bars, when numba can be imported (the ``fast`` extra): a recursion whose factor
changes every bar, or a few chained ones, or a running extreme, costs one scalar step per bar there,
and several vector passes here. The numpy kernels (``_kama_numpy`` and so on) remain the path
without numba, and for shorter series, which they take in well under a millisecond: less than
loading numba and the loops (a few tenths of a second, once per process); and they run instead of a
loop numba cannot import, compile or load (with no writable place for its on-disk cache, say), after
a warning in the log.

Non-finite inputs give the same values on both paths, set here rather than left to each path's way
of carrying them: in KAMA, MACD, the ATR and NATR a NaN or an infinity makes the first value that
reads it and every later one NaN (the recursion carries it on); in the WMA, Williams' %R, the
Donchian channels and Aroon an output is NaN wherever its window holds a NaN of a column it reads (the
WMA: or an infinity), the rest as without it; an infinity is an ordinary extreme to the last three;
OBV's comparisons skip a NaN close, and a NaN volume stops the total, on both paths alike.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import structlog

from tradehooks.model import Bar

from . import _vector as vector
from . import averages, momentum, trend, volatility, volume
from ._base import FLAT
from ._vector import (
    FIELDS,
    Array,
    Columns,
    Decay,
    Result,
    chunked,
    chunks,
    ema,
    flat,
    nan,
    placed,
    recurrence,
    rolling_arg_extreme,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_moments,
    rolling_sum,
    rsi,
    stochastic,
    true_range,
    wilder,
)

__all__ = ["run_arrays"]

_KAMA_RUN = 2  # chunks per run of KAMA (longer runs, fewer calls)
COMPILED_FROM = 32_768  # bars: the shortest series given to the compiled loops
Kernel = Callable[[Any, Columns], Result]


def run_arrays(cls: Any, params: Any, data: Any) -> Any:
    """``cls.batch(params, data)`` for an array or a mapping of columns (see ``BuiltinIndicator.batch``)."""
    columns = Columns(cls.name, data)
    kernel = _KERNELS.get(cls)
    result = kernel(params, columns) if kernel is not None else _loop(cls, params, columns)
    if cls.outputs == ("value",):
        return result["value"]
    return {name: result[name] for name in cls.outputs}


@functools.cache
def compiled() -> Any:
    """The module of compiled loops, :mod:`._compiled`, or None if numba cannot be imported, or cannot
    set the loops up (with no writable place for its on-disk cache, say): then the numpy kernels run,
    and a warning says why. Imported on the first batch that can use it."""
    try:
        from . import _compiled
    except ImportError:  # no numba: the numpy kernels, silently
        return None
    except Exception as error:  # noqa: BLE001 (numba is there but failed: RuntimeError with no writable cache)
        _warn_numpy_instead(_reason(error))
        return None
    return _compiled


def _reason(error: Exception) -> str:
    """What went wrong, in the same words for every loop that fails the same way: an error of the file
    system names the directory (numba's cache), not the loop's own file in it."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{type(error).__name__}: {error.strerror}: {os.path.dirname(os.fsdecode(error.filename))}"
    return f"{type(error).__name__}: {error}"


@functools.cache
def _warn_numpy_instead(reason: str) -> None:
    """Say once per reason that the compiled loops are unavailable and the numpy kernels run."""
    log = structlog.get_logger("tradehooks")
    log.warning("indicators: compiled loops unavailable, numpy kernels run instead", reason=reason)


def _either(numpy_kernel: Kernel, compiled_kernel: Kernel, params: Any, c: Columns) -> Result:
    """The compiled loop on a long enough series when it can run, else the numpy kernel: also when
    numba fails to compile or load the loop on its first call (the values are the same either way)."""
    if c.size >= COMPILED_FROM and compiled() is not None:
        try:
            return compiled_kernel(params, c)
        except Exception as error:  # noqa: BLE001 (numba's errors compiling, loading or caching the loop)
            _warn_numpy_instead(_reason(error))
    return numpy_kernel(params, c)


def _all_finite(x: Array) -> bool:
    """Whether every value of ``x`` is finite, surely when True: ``x . x``, finite if they all are
    (unless above 1e154 in size), is the fastest pass over them (one BLAS call)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return math.isfinite(float(np.dot(x, x)))


def _first_nonfinite(x: Array, shift: int = 0) -> int | None:
    """The index (plus ``shift``) of the first NaN or infinity of ``x``, None if all are finite."""
    if _all_finite(x):
        return None
    bad = ~np.isfinite(x)
    return int(np.argmax(bad)) + shift if bad.any() else None


def _recursive(numpy_kernel: Kernel, compiled_kernel: Kernel, params: Any, c: Columns,
               stop: int | None) -> Result:
    """A recursive indicator (each value depends on every earlier bar) whose first value that depends
    on a non-finite input is at row ``stop`` (None: none does): the rows before it computed alone,
    NaN from it on, on either path."""
    if stop is None:
        return _either(numpy_kernel, compiled_kernel, params, c)
    head = _either(numpy_kernel, compiled_kernel, params, c.window(0, stop))
    out = {}
    for name, values in head.items():
        out[name] = nan(c.size)
        out[name][:stop] = values
    return out


def _holding_nan(x: Array, span: int, infinite: bool) -> Array | None:
    """Whether the window of ``span`` rows ending at each row holds a NaN (or, with ``infinite``, an
    infinity) of ``x``; None if no row does."""
    if _all_finite(x):
        return None
    bad = ~np.isfinite(x) if infinite else np.isnan(x)
    if not bad.any():
        return None
    counts = np.concatenate(([0], np.cumsum(bad)))
    before = np.maximum(np.arange(1, x.shape[0] + 1) - span, 0)
    return (counts[1:] - counts[before]) > 0  # type: ignore[no-any-return]


def _windowed(numpy_kernel: Kernel, compiled_kernel: Kernel, params: Any, c: Columns, span: int,
              reads: Mapping[str, tuple[str, ...]], infinite: bool = False,
              others: tuple[str, ...] = ()) -> Result:
    """A windowed indicator (each value depends on the last ``span`` rows of the columns its output
    ``reads``): NaN wherever that window holds a NaN (or, with ``infinite``, an infinity), on either
    path; computed with those inputs set to 0, so that neither path's way of carrying a NaN through
    its sums or extremes (not the same) shows. The kernel reads the columns ``others`` too."""
    names = sorted({name for columns in reads.values() for name in columns})
    holding = {name: _holding_nan(c[name], span, infinite) for name in names}
    if all(mask is None for mask in holding.values()):
        return _either(numpy_kernel, compiled_kernel, params, c)
    data = {name: c[name] for name in (*names, *others)}
    for name, mask in holding.items():
        if mask is not None:
            data[name] = np.where(np.isfinite(c[name]) if infinite else ~np.isnan(c[name]), c[name], 0.0)
    out = _either(numpy_kernel, compiled_kernel, params, Columns("batch", data))
    for output, columns in reads.items():
        for name in columns:
            mask = holding[name]
            if mask is not None:
                out[output][mask] = np.nan
    return out


def _loop(cls: Any, params: Any, columns: Columns) -> Result:
    """Any other indicator (a subclass, say): one ``update`` per row."""
    indicator = cls(params)
    rows = zip(*(columns[field].tolist() for field in ("ts", *FIELDS)))
    out = {name: np.full(columns.size, np.nan) for name in cls.outputs}
    for i, (ts, o, h, lo, c, v) in enumerate(rows):
        indicator.update(Bar("", ts, o, h, lo, c, v))
        for name, column in out.items():
            value = getattr(indicator, name)
            if value is not None:
                column[i] = value
    return out


# --- kernels ------------------------------------------------------------------------------------------


def _sma(params: Any, c: Columns) -> Result:
    x = c[params.source]
    return {"value": placed(c.size, params.period - 1, rolling_mean(x, params.period))}


def _wma(params: Any, c: Columns) -> Result:
    return _windowed(_wma_numpy, _wma_compiled, params, c, params.period, {"value": (params.source,)},
                     infinite=True)


def _wma_compiled(params: Any, c: Columns) -> Result:
    out = np.empty(c.size)
    compiled().wma(c[params.source], params.period, out)
    return {"value": out}


def _wma_numpy(params: Any, c: Columns) -> Result:
    p = params.period
    if p > vector.BAND_MAX:
        return chunked(_wma_by_doubling, params, c, p - 1)
    out = nan(c.size)
    if c.size >= p:
        weights = np.arange(1, p + 1) / (p * (p + 1) // 2)
        vector.band_sums(c[params.source], weights, out[p - 1 :])
    return {"value": out}


def _wma_by_doubling(params: Any, c: Columns) -> Result:
    x = c[params.source]
    p = params.period
    length = c.size - p + 1
    if length <= 0:
        return {"value": nan(c.size)}
    # levels of (plain sum, sum weighted 1..size) over x[i : i + size], combined oldest chunk first
    level_sum, level_weighted, size = x, x, 1
    total: Array | None = None
    weighted: Array | None = None
    offset = 0
    while True:
        if p & size:
            part_sum = level_sum[offset : offset + length]
            part_weighted = level_weighted[offset : offset + length]
            if total is None or weighted is None:
                total, weighted = part_sum.copy(), part_weighted.copy()
            else:
                weighted = weighted + part_weighted + offset * part_sum
                total = total + part_sum
            offset += size
        if size * 2 > p:
            break
        newer_sum = level_sum[size:]
        level_weighted = level_weighted[:-size] + level_weighted[size:] + size * newer_sum
        level_sum = level_sum[:-size] + newer_sum
        size *= 2
    assert weighted is not None
    return {"value": placed(c.size, p - 1, weighted / (p * (p + 1) // 2))}


def _cascade(x: Array, period: int, weights: list[float]) -> Array:
    """``sum(w * ema_i)`` for ``len(weights)`` chained EMAs (each the EMA of the one before, SMA-seeded
    where it starts): the warm-up with :func:`ema`, then chunk by chunk through all the levels at
    once (:class:`~._vector.Bank`), so that no intermediate series is stored."""
    n = x.shape[0]
    depth = len(weights)
    m = min(n, depth * (period - 1) + 1 + vector.CHUNK)
    levels = [x[:m]]
    for level in range(depth):
        levels.append(ema(levels[-1], period, level * (period - 1)))
    out = np.empty(n)
    out[:m] = sum(w * level for w, level in zip(weights, levels[1:]))
    if m == n:
        return out
    k = 2.0 / (period + 1)
    bank = vector.Bank([1.0 - k] * depth, [k] * depth, [1.0] + [0.0] * (depth - 1),
                       [[1.0 if j == i - 1 else 0.0 for j in range(i)] for i in range(depth)], [weights])
    state = [float(level[-1]) for level in levels[1:]]
    for s, e in chunks(m, n, vector.BANK_RUN):
        state = bank.run(x[s:e], state, [out], s)
    return out


def _dema(params: Any, c: Columns) -> Result:
    return {"value": _cascade(c[params.source], params.period, [2.0, -1.0])}


def _tema(params: Any, c: Columns) -> Result:
    return {"value": _cascade(c[params.source], params.period, [3.0, -3.0, 1.0])}


def _kama(params: Any, c: Columns) -> Result:
    return _recursive(_kama_numpy, _kama_compiled, params, c, _first_nonfinite(c[params.source]))


def _kama_compiled(params: Any, c: Columns) -> Result:
    out = np.empty(c.size)
    compiled().kama(c[params.source], params.period, averages._KAMA_SLOWEST, averages._KAMA_SPREAD, out)
    return {"value": out}


def _kama_numpy(params: Any, c: Columns) -> Result:
    """The constants chunk by chunk, then ``kama = a * kama + b`` (``a = 1 - constant``, ``b =
    constant * x``) by :class:`_BoundedScan`, with buffers kept from chunk to chunk (fresh memory costs
    more in page faults than the arithmetic)."""
    x = c[params.source]
    p = params.period
    n = c.size
    out = vector.nan_before(n, p)
    if n <= p:
        return {"value": out}
    y = float(x[p - 1])  # TA-Lib starts from the value before the first
    size = min(vector.CHUNK * _KAMA_RUN, n - p)
    steps, spare, factor, term = np.empty((4, size + p))
    scan = _BoundedScan(size)
    for s, e in chunks(p, n, _KAMA_RUN):
        m = e - s
        moves = steps[: m + p - 1]
        np.subtract(x[s - p + 1 : e], x[s - p : e - 1], out=moves)
        np.abs(moves, out=moves)
        path = _window_sums(moves, p, factor[:m], spare)  # the steps into x[t - p + 1 .. t]
        constant = term[:m]
        np.subtract(x[s:e], x[s - p : e - p], out=constant)  # the change over the window
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(constant, path, out=constant)
        np.abs(constant, out=constant)
        # TA-Lib's ratio is 1 where the path is 0 (0 / 0 here, NaN, which fmin drops) or not above the
        # change (a ratio of 1 here, or above it by rounding)
        np.fmin(constant, 1.0, out=constant)
        constant *= averages._KAMA_SPREAD
        constant += averages._KAMA_SLOWEST
        np.multiply(constant, constant, out=constant)
        a = np.subtract(1.0, constant, out=factor[:m])  # at least 1 - (2/3) ** 2 = 5/9
        b = np.multiply(constant, x[s:e], out=constant)
        y = scan(a, b, y, out[s:e])
    return {"value": out}


def _window_sums(x: Array, p: int, out: Array, spare: Array) -> Array:
    """The sums of the windows of ``p`` values of ``x`` into ``out`` (one per window), by doubling as
    :func:`~._vector.rolling_sum` does, but in the buffers ``out`` and ``spare`` (``x`` is overwritten
    with the levels)."""
    length = out.shape[0]
    started = False
    offset, size, level, free = 0, 1, x, spare
    while True:
        if p & size:
            part = level[offset : offset + length]
            if started:
                np.add(out, part, out=out)
            else:
                out[:] = part
                started = True
            offset += size
        if size * 2 > p:
            return out
        count = level.shape[0] - size
        np.add(level[:-size], level[size:], out=free[:count])
        level, free = free[:count], level
        size *= 2


class _BoundedScan:
    """``y[t] = a[t] * y[t-1] + b[t]`` for factors ``a`` in ``[5/9, 1]`` (KAMA's), in blocks of 16
    laid out as rows: with ``A[k]`` the product of the block's factors up to ``k``,
    ``y[k] = A[k] * (y0 + sum(b[j] / A[j] for j <= k))``. ``A`` comes from the cumulative sums of
    ``log a`` and the sums of ``b / A`` from one matrix product each (with the triangle of ones);
    ``A`` is at least ``(5/9) ** 16`` (no underflow), and ``A[k] / A[j] <= 1`` for ``j <= k``, so the
    rounding errors stay those of the plain sums. The block ends follow the same recursion one level
    up (factors at least ``(5/9) ** 256``), and the ends of those blocks a scalar loop."""

    def __init__(self, size: int) -> None:
        self.triangle = np.triu(np.ones((16, 16)))
        self.ones = np.ones(16)
        self.logs = np.empty(size)
        self.sums = np.empty(size)

    def __call__(self, a: Array, b: Array, y0: float, out: Array) -> float:
        n = a.shape[0]
        rows = n // 16
        full = rows * 16
        y = y0
        if rows > 1:
            logs, sums = self.logs[:full].reshape(rows, 16), self.sums[:full].reshape(rows, 16)
            np.log(a[:full], out=self.logs[:full])
            vector.band_product(logs, self.triangle, sums)  # at most 512 rows a product: one BLAS thread
            products = np.exp(sums, out=logs)  # A
            scaled = np.divide(b[:full], self.logs[:full], out=b[:full]).reshape(rows, 16)
            ends_a = products[:, -1].copy()
            ends_b = scaled @ self.ones  # the block ends from zero, over A[15]
            ends_b *= ends_a
            if rows > 64:
                ends = _bounded_scan_ends(ends_a, ends_b, y0)
            else:
                ends = np.empty(rows)
                for i, (f, t) in enumerate(zip(ends_a.tolist(), ends_b.tolist())):
                    y = f * y + t
                    ends[i] = y
            column = scaled[:, 0]  # each block's start added to its first term: y0 + sum(...)
            column[0] += y0
            column[1:] += ends[:-1]
            vector.band_product(scaled, self.triangle, sums)  # y0 + sum(b[j] / A[j] for j <= k)
            np.multiply(products, sums, out=out[:full].reshape(rows, 16))
            y = float(ends[-1])
        else:
            full = 0
        for t, (f, term) in enumerate(zip(a[full:].tolist(), b[full:].tolist()), start=full):
            y = f * y + term
            out[t] = y
        return y


def _bounded_scan_ends(a: Array, b: Array, y0: float) -> Array:
    """The block ends of :class:`_BoundedScan`: the same in blocks of 32 ends (factors at least
    ``(5/9) ** 16``, products at least ``(5/9) ** 512``, about 1e-131), their ends by a scalar loop."""
    n = a.shape[0]
    rows = n // 32
    full = rows * 32
    products = np.exp(np.log(a[:full]).reshape(rows, 32) @ _TRIANGLE_32)
    sums = (b[:full].reshape(rows, 32) / products) @ _TRIANGLE_32
    ends = np.empty(rows)
    y = y0
    for i, (f, t) in enumerate(zip(products[:, -1].tolist(), (sums[:, -1] * products[:, -1]).tolist())):
        y = f * y + t
        ends[i] = y
    sums[0] += y0
    sums[1:] += ends[:-1, None]
    out = np.empty(n)
    np.multiply(products, sums, out=out[:full].reshape(rows, 32))
    for t in range(full, n):
        y = float(a[t]) * y + float(b[t])
        out[t] = y
    return out


_TRIANGLE_32 = np.triu(np.ones((32, 32)))


def _stoch(params: Any, c: Columns) -> Result:
    fk, sk, sd = params.fastk_period, params.slowk_period, params.slowd_period
    n = c.size
    highest = rolling_max(c["high"], fk)
    lowest = rolling_min(c["low"], fk)
    fast_k = stochastic(c["close"][fk - 1 :], highest, lowest)
    k = rolling_mean(fast_k, sk)
    d = rolling_mean(k, sd)
    first = fk + sk + sd - 3
    return {"k": placed(n, first, k[sd - 1 :]), "d": placed(n, first, d)}


def _stochrsi(params: Any, c: Columns) -> Result:
    p, fk, fd = params.period, params.fastk_period, params.fastd_period
    rsi_values = rsi(c[params.source], p)

    def of_window(params: Any, r: Columns) -> Result:  # NaN RSI values make NaN outputs
        values = r["close"]
        k = stochastic(values[fk - 1 :], rolling_max(values, fk), rolling_min(values, fk))
        d = rolling_mean(k, fd)
        return {"k": placed(r.size, fk + fd - 2, k[fd - 1 :]), "d": placed(r.size, fk + fd - 2, d)}

    out = chunked(of_window, params, Columns("stochrsi", rsi_values), fk + fd - 2)
    out["k"][: p + fk + fd - 2] = np.nan  # k appears with d, as TA-Lib's does
    return out


def _macd(params: Any, c: Columns) -> Result:
    return _recursive(_macd_numpy, _macd_compiled, params, c, _first_nonfinite(c[params.source]))


def _macd_compiled(params: Any, c: Columns) -> Result:
    out = {name: np.empty(c.size) for name in ("macd", "signal", "hist")}
    compiled().macd(c[params.source], params.fast, params.slow, params.signal, out["macd"], out["signal"],
                    out["hist"])
    return out


def _macd_numpy(params: Any, c: Columns) -> Result:
    x = c[params.source]
    fast, slow, signal = params.fast, params.slow, params.signal
    n = c.size
    first = slow + signal - 2
    m = min(n, first + 1 + vector.CHUNK)  # the warm-up, with whole-series EMAs; then chunk by chunk
    macd = ema(x[:m], fast, slow - fast)  # TA-Lib seeds the fast EMA to end at the slow one's seed
    slow_line = ema(x[:m], slow)
    state = [float(macd[-1]), float(slow_line[-1])] if m else []
    macd -= slow_line
    line = ema(macd, signal, slow - 1)
    out = {name: np.empty(n) for name in ("macd", "signal", "hist")}
    out["macd"][:m] = macd
    out["signal"][:m] = line
    out["hist"][:m] = macd - line
    if m < n:
        state.append(float(line[-1]))
    kf, ks, kg = 2.0 / (fast + 1), 2.0 / (slow + 1), 2.0 / (signal + 1)
    # the fast EMA, the slow one, and the signal line: the EMA of their difference
    bank = vector.Bank([1.0 - kf, 1.0 - ks, 1.0 - kg], [kf, ks, kg], [1.0, 1.0, 0.0], [[], [0.0], [1.0, -1.0]],
                       [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    outs = [out["macd"], out["signal"]]
    for s, e in chunks(m, n, vector.BANK_RUN):
        state = bank.run(x[s:e], state, outs, s)
        np.subtract(out["macd"][s:e], out["signal"][s:e], out=out["hist"][s:e])
    out["macd"][: min(first, n)] = np.nan  # the line appears with the signal, as TA-Lib's does
    return out


def _roc(params: Any, c: Columns) -> Result:
    x = c[params.source]
    p = params.period
    then = x[:-p]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(then != 0.0, (x[p:] / then - 1.0) * 100.0, 0.0)
    return {"value": placed(c.size, p, values)}


def _mom(params: Any, c: Columns) -> Result:
    x = c[params.source]
    p = params.period
    out = np.empty(c.size)
    out[:p] = np.nan
    np.subtract(x[p:], x[:-p], out=out[p:])
    return {"value": out}


def _cci(params: Any, c: Columns) -> Result:
    """On a slice that starts at a multiple of ``period`` (see ``_KERNELS``)."""
    p = params.period
    n = c.size
    typical = (c["high"] + c["low"] + c["close"]) / 3.0
    count = n - p + 1
    if count <= 0:
        return {"value": nan(n)}
    mean = _talib_window_sums(typical, p)
    mean /= p
    deviation = np.zeros(count)
    step = np.empty(count)
    for j in range(p):  # the window's values one by one: sum(|value - mean|)
        np.subtract(typical[j : j + count], mean, out=step)
        np.abs(step, out=step)
        deviation += step
    deviation /= p
    spread = typical[p - 1 :] - mean
    band = FLAT * np.abs(mean)
    defined = (np.abs(spread) > band) & (deviation > band)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(defined, spread / (0.015 * deviation), 0.0)
    return {"value": placed(n, p - 1, values)}


def _talib_window_sums(x: Array, p: int) -> Array:
    """The sums of the windows of ``p`` values ending at ``p - 1``, ``p``, ... of ``x``, added in the
    order of TA-Lib's ring buffer, whose slot ``j % p`` holds ``x[j]``: for the window ending at ``t``,
    ``x[t - t % p]`` to ``x[t]``, then on from ``x[t - p + 1]`` to ``x[t - t % p - 1]`` (``x`` must start
    at a multiple of ``p``). Worked on ``x`` laid out one block of ``p`` per column, so that each
    addition is one vector step over all the blocks."""
    n = x.shape[0]
    blocks = -(-n // p)
    by_block = np.zeros(blocks * p)
    by_block[:n] = x
    columns = np.ascontiguousarray(by_block.reshape(blocks, p).T)  # [q, b] = x[b * p + q]
    total = np.empty_like(columns)
    total[0] = columns[0]
    for q in range(1, p):  # x[t - q] + ... + x[t] within its block, in order
        np.add(total[q - 1], columns[q], out=total[q])
    for k in range(p - 1):  # then the previous block's from position q + 1 + k on, in order
        total[: p - 1 - k, 1:] += columns[k + 1 :, :-1]
    return total.T.reshape(-1)[p - 1 : n]


def _willr(params: Any, c: Columns) -> Result:
    return _windowed(_willr_numpy, _willr_compiled, params, c, params.period, {"value": ("high", "low")},
                     others=("close",))


def _willr_compiled(params: Any, c: Columns) -> Result:
    out = np.empty(c.size)
    compiled().willr(c["high"], c["low"], c["close"], params.period, FLAT, out)
    return {"value": out}


def _willr_numpy(params: Any, c: Columns) -> Result:
    return chunked(_willr_window, params, c, params.period - 1)


def _willr_window(params: Any, c: Columns) -> Result:
    p = params.period
    highest = rolling_max(c["high"], p)
    lowest = rolling_min(c["low"], p)
    spread = highest - lowest
    is_flat = flat(spread, np.abs(highest) + np.abs(lowest))
    values = np.where(is_flat, 0.0, (highest - c["close"][p - 1 :]) / np.where(is_flat, 1.0, spread / -100.0))
    return {"value": placed(c.size, p - 1, values)}


def _atr_array(params: Any, c: Columns, then: Callable[[Array, int, int], None] | None = None) -> Array:
    high, low, close = c["high"], c["low"], c["close"]
    buffers = np.empty((2, min(vector.CHUNK * vector.BANK_RUN, c.size)))  # reused from chunk to chunk

    def ranges(s: int, e: int) -> Array:
        if e - s > buffers.shape[1]:  # the seed's window, at most one period
            return true_range(high, low, close, s, e)
        out, lows = buffers[0, : e - s], buffers[1, : e - s]
        previous = close[s - 1 : e - 1]
        np.maximum(high[s:e], previous, out=out)
        np.minimum(low[s:e], previous, out=lows)
        return np.subtract(out, lows, out=out)

    return wilder(c.size, params.period, params.period, ranges, then, scratch=True)


def _atr(params: Any, c: Columns) -> Result:
    return _recursive(_atr_numpy, _atr_compiled, params, c, _atr_stop(c, normalized=False))


def _atr_stop(c: Columns, normalized: bool) -> int | None:
    """The first row whose ATR (or NATR) depends on a non-finite input: the true range of a row reads
    its high, its low and the previous close (the first row's high and low are never read), the NATR
    its close too."""
    if all(_first_nonfinite(c[name]) is None for name in ("high", "low", "close")):
        return None  # the usual case: one quick pass over each column
    stops = [_first_nonfinite(c["high"][1:], 1), _first_nonfinite(c["low"][1:], 1),
             _first_nonfinite(c["close"][:-1], 1)]
    if normalized:
        stops.append(_first_nonfinite(c["close"]))
    found = [stop for stop in stops if stop is not None]
    return min(found) if found else None


def _atr_compiled(params: Any, c: Columns, normalized: bool = False) -> Result:
    out = np.empty(c.size)
    compiled().atr(c["high"], c["low"], c["close"], params.period, normalized, out)
    return {"value": out}


def _atr_numpy(params: Any, c: Columns) -> Result:
    return {"value": _atr_array(params, c)}


def _natr(params: Any, c: Columns) -> Result:
    return _recursive(_natr_numpy, _natr_compiled, params, c, _atr_stop(c, normalized=True))


def _natr_compiled(params: Any, c: Columns) -> Result:
    return _atr_compiled(params, c, normalized=True)


def _natr_numpy(params: Any, c: Columns) -> Result:
    close = c["close"]

    def normalized(out: Array, s: int, e: int) -> None:  # each chunk of the ATR as it is made, in cache
        values = out[s:e]
        closes = close[s:e]
        with np.errstate(invalid="ignore", divide="ignore"):
            values /= closes
        values *= 100.0
        if not closes.min() > 0.0 and not np.all(closes):  # a minimum is the fastest pass
            values[closes == 0.0] = 0.0

    return {"value": _atr_array(params, c, normalized)}


def _trange(params: Any, c: Columns) -> Result:
    out = nan(c.size)
    if c.size > 1:
        out[1:] = true_range(c["high"], c["low"], c["close"], 1, c.size)
    return {"value": out}


def _stddev(params: Any, c: Columns) -> Result:
    p = params.period
    out = nan(c.size)
    if c.size >= p:
        values = out[p - 1 :]
        rolling_moments(c[params.source], p, None, values)
        values *= params.nbdev * params.nbdev / p
        np.sqrt(values, out=values)
    return {"value": out}


def _bbands(params: Any, c: Columns) -> Result:
    p = params.period
    n = c.size
    middle = nan(n)
    width = nan(n)
    if n >= p:
        rolling_moments(c[params.source], p, middle[p - 1 :], width[p - 1 :])
        width *= 1.0 / p
        np.sqrt(width, out=width)
        width *= params.stddev
    upper = middle + width
    return {"upper": upper, "middle": middle, "lower": np.subtract(middle, width, out=width)}


def _keltner(params: Any, c: Columns) -> Result:
    p = params.period
    middle = ema(c["close"], p)
    middle[: min(p, c.size)] = np.nan
    width = _atr(params, c)["value"]
    width *= params.multiplier
    upper = middle + width
    return {"upper": upper, "middle": middle, "lower": np.subtract(middle, width, out=width)}


def _donchian(params: Any, c: Columns) -> Result:
    reads = {"upper": ("high",), "middle": ("high", "low"), "lower": ("low",)}
    return _windowed(_donchian_numpy, _donchian_compiled, params, c, params.period, reads)


def _donchian_compiled(params: Any, c: Columns) -> Result:
    out = {name: np.empty(c.size) for name in ("upper", "middle", "lower")}
    compiled().donchian(c["high"], c["low"], params.period, out["upper"], out["middle"], out["lower"])
    return out


def _donchian_numpy(params: Any, c: Columns) -> Result:
    return chunked(_donchian_window, params, c, params.period - 1)


def _donchian_window(params: Any, c: Columns) -> Result:
    p = params.period
    upper = placed(c.size, p - 1, rolling_max(c["high"], p))
    lower = placed(c.size, p - 1, rolling_min(c["low"], p))
    return {"upper": upper, "middle": (upper + lower) / 2.0, "lower": lower}


def _adx(params: Any, c: Columns) -> Result:
    p = params.period
    n = c.size
    adx, plus_di, minus_di = nan(n), nan(n), nan(n)
    out = {"adx": adx, "plus_di": plus_di, "minus_di": minus_di}
    if n <= p:
        return out
    high, low, close = c["high"], c["low"], c["close"]

    def movements(s: int, e: int) -> tuple[Array, Array, Array]:  # +DM, -DM and TR of rows s:e
        up = high[s:e] - high[s - 1 : e - 1]
        down = low[s - 1 : e - 1] - low[s:e]
        minus = (down > 0) & (up < down)
        plus = ~minus & (up > 0) & (up > down)
        return np.where(plus, up, 0.0), np.where(minus, down, 0.0), true_range(high, low, close, s, e)

    state = np.array([math.fsum(v.tolist()) for v in movements(1, p)])  # plain sums of bars 1 .. p - 1
    decay = Decay(1.0 - 1.0 / p)  # s = s - s / p + new
    for s, e in chunks(p, n):  # the DIs, and the DX (NaN where undefined) in adx for now
        plus_dm, minus_dm, tr = smoothed = decay(np.stack(movements(s, e)), state)
        state = smoothed[:, -1].copy()
        zero = tr == 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            plus = np.where(zero, 0.0, 100.0 * (plus_dm / tr))
            minus = np.where(zero, 0.0, 100.0 * (minus_dm / tr))
            total = minus + plus
            adx[s:e] = np.where(zero | (total == 0.0), np.nan, 100.0 * (np.abs(minus - plus) / total))
        plus_di[s:e] = plus
        minus_di[s:e] = minus
    first = 2 * p - 1
    if first < n:
        y = math.fsum(np.nan_to_num(adx[p : first + 1], nan=0.0).tolist()) / p
        adx[first] = y
        for s, e in chunks(first + 1, n):  # keep the ADX where the DX is undefined
            dx = adx[s:e]
            defined = ~np.isnan(dx)
            segment = recurrence(np.where(defined, dx / p, 0.0), np.where(defined, (p - 1) / p, 1.0), y)
            adx[s:e] = segment
            y = float(segment[-1])
    adx[: min(first, n)] = np.nan
    return out


def _aroon(params: Any, c: Columns) -> Result:
    reads = {"up": ("high",), "down": ("low",)}
    return _windowed(_aroon_numpy, _aroon_compiled, params, c, params.period + 1, reads)


def _aroon_compiled(params: Any, c: Columns) -> Result:
    out = {name: np.empty(c.size) for name in ("up", "down")}
    compiled().aroon(c["high"], c["low"], params.period, out["up"], out["down"])
    return out


def _aroon_numpy(params: Any, c: Columns) -> Result:
    return chunked(_aroon_window, params, c, params.period)


def _aroon_window(params: Any, c: Columns) -> Result:
    p = params.period
    n = c.size
    factor = 100.0 / p
    highest = rolling_arg_extreme(c["high"], p + 1, np.less_equal)  # a newer high >= the older wins
    lowest = rolling_arg_extreme(c["low"], p + 1, np.greater_equal)
    today = np.arange(p, n)
    return {
        "up": placed(n, p, factor * (p - (today - highest))),
        "down": placed(n, p, factor * (p - (today - lowest))),
    }


def _obv(params: Any, c: Columns) -> Result:
    return _either(_obv_numpy, _obv_compiled, params, c)  # a NaN close moves nothing, as TA-Lib's


def _obv_compiled(params: Any, c: Columns) -> Result:
    out = np.empty(c.size)
    compiled().obv(c[params.source], c["volume"], out)
    return {"value": out}


def _obv_numpy(params: Any, c: Columns) -> Result:
    x = c[params.source]
    v = c["volume"]
    out = np.empty(c.size)
    carry = 0.0
    for s, e in chunks(0, c.size):
        signed = np.empty(e - s + 1)
        signed[0] = carry
        if s == 0:
            signed[1] = v[0]  # OBV starts at the first volume
            begin = 1
        else:
            begin = s
        previous, current = x[begin - 1 : e - 1], x[begin:e]
        volume_now = v[begin:e]
        signed[begin - s + 1 :] = np.where(current > previous, volume_now,
                                           np.where(current < previous, -volume_now, 0.0))
        out[s:e] = np.cumsum(signed)[1:]  # in order, as TA-Lib adds them
        carry = float(out[e - 1])
    return {"value": out}


def _session_vwap(params: Any, c: Columns) -> Result:
    """Running sums that restart at each UTC day: the recurrence ``sum = keep * sum + term`` with
    ``keep`` 0 on a session's first bar and 1 elsewhere, so no session's sum passes through another's."""
    n = c.size
    high, low, close, v, ts = c["high"], c["low"], c["close"], c["volume"], c["ts"]
    out = np.empty(n)
    sum_pv = sum_v = 0.0
    previous_day = None
    for s, e in chunks(0, n):
        typical = (high[s:e] + low[s:e] + close[s:e]) / 3.0
        day = ts[s:e] // volume.NS_PER_DAY
        keep = np.empty(e - s)
        keep[0] = previous_day is not None and day[0] == previous_day
        keep[1:] = day[1:] == day[:-1]
        sums_pv = recurrence(typical * v[s:e], keep, sum_pv)
        sums_v = recurrence(v[s:e], keep, sum_v)
        sum_pv, sum_v, previous_day = float(sums_pv[-1]), float(sums_v[-1]), day[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:e] = np.where(sums_v != 0.0, sums_pv / sums_v, typical)
    return {"value": out}


def _rolling_vwap(params: Any, c: Columns) -> Result:
    p = params.period
    typical = (c["high"] + c["low"] + c["close"]) / 3.0
    sum_pv = rolling_sum(typical * c["volume"], p)
    sum_v = rolling_sum(c["volume"], p)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(sum_v != 0.0, sum_pv / sum_v, typical[p - 1 :])
    return {"value": placed(c.size, p - 1, values)}


def _vwap(params: Any, c: Columns) -> Result:
    if params.period is None:
        return _session_vwap(params, c)
    return chunked(_rolling_vwap, params, c, params.period - 1)


def _mfi(params: Any, c: Columns) -> Result:
    p = params.period
    n = c.size
    if n <= p:
        return {"value": nan(n)}
    typical = (c["high"] + c["low"] + c["close"]) / 3.0
    change = typical[1:] - typical[:-1]
    flow = typical[1:] * c["volume"][1:]
    flow = np.where(flat(change, np.abs(typical[1:]) + np.abs(typical[:-1])), 0.0, flow)
    positive = rolling_sum(np.where(change < 0.0, 0.0, flow), p)
    negative = rolling_sum(np.where(change < 0.0, flow, 0.0), p)
    total = positive + negative
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(total <= 0.0, 0.0, 100.0 * (np.clip(positive, 0.0, total) / total))
    return {"value": placed(n, p, values)}


def _finite(cls: Any, kernel: Callable[[Any, Columns], Result]) -> Callable[[Any, Columns], Result]:
    """``kernel`` evaluated chunk by chunk: the indicator's value depends on its last
    ``lookback + 1`` bars only."""
    return lambda params, c: chunked(kernel, params, c, cls.lookback(params))


_KERNELS: dict[type, Callable[[Any, Columns], Result]] = {
    averages.SimpleMovingAverage: _finite(averages.SimpleMovingAverage, _sma),
    averages.ExponentialMovingAverage: lambda params, c: {"value": ema(c[params.source], params.period)},
    averages.WeightedMovingAverage: _wma,
    averages.DoubleExponentialMovingAverage: _dema,
    averages.TripleExponentialMovingAverage: _tema,
    averages.KaufmanAdaptiveMovingAverage: _kama,
    momentum.RelativeStrengthIndex: lambda params, c: {"value": rsi(c[params.source], params.period)},
    momentum.StochasticOscillator: _finite(momentum.StochasticOscillator, _stoch),
    momentum.StochasticRelativeStrengthIndex: _stochrsi,
    momentum.MovingAverageConvergenceDivergence: _macd,
    momentum.RateOfChange: _finite(momentum.RateOfChange, _roc),
    momentum.Momentum: _mom,
    # the mean is summed in the order of TA-Lib's ring buffer, which depends on the row modulo period
    momentum.CommodityChannelIndex: lambda params, c: chunked(_cci, params, c, params.period - 1,
                                                               align=params.period),
    momentum.WilliamsPercentRange: _willr,
    volatility.AverageTrueRange: _atr,
    volatility.NormalizedAverageTrueRange: _natr,
    volatility.TrueRange: _finite(volatility.TrueRange, _trange),
    volatility.StandardDeviation: _stddev,
    volatility.BollingerBands: _bbands,
    volatility.KeltnerChannels: _keltner,
    trend.DonchianChannels: _donchian,
    trend.AverageDirectionalIndex: _adx,
    trend.Aroon: _aroon,
    volume.OnBalanceVolume: _obv,
    volume.VolumeWeightedAveragePrice: _vwap,
    volume.MoneyFlowIndex: _finite(volume.MoneyFlowIndex, _mfi),
}
