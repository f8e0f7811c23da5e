"""The vectorised building blocks of the numpy ``batch`` (:mod:`._arrays` has the kernels); imported
only when ``batch`` is given an array or a mapping of columns.

* windowed sums, extremes and arg-extremes by doubling: a window of ``p`` values is split into
  power-of-two chunks, each level made from the one below in one vector pass, so a window costs
  ``O(log p)`` passes over the array and a sum is a short tree of additions (no long running sum to
  drift, no cancellation);
* cascades of first-order recursions driven by one series (an EMA, a Wilder smoothing, the EMAs of
  DEMA, TEMA and MACD) in blocks of :data:`BANK_BLOCK` (:class:`Bank`): one matrix product per block
  gives every output from the block's inputs and the states at its start, which come from scalar
  recursions over the block ends;
* first-order linear recurrences ``y[t] = a * y[t-1] + b[t]`` (several rows at once, and the block
  ends of a :class:`Bank`) in blocks of
  :data:`BLOCK`: every block filtered from zero at once by a matrix product, the block ends chained
  by the same recurrence one level up, and each block then given its start value (:class:`Decay`;
  with a factor per element, for KAMA, the ADX and the session VWAP, :func:`recurrence`: one vector
  step per row of the blocks laid out as columns);
* short windows (up to :data:`BAND_MAX` values) as matrix products: rows of :data:`BAND_BLOCK`
  windows' worth of consecutive values times a banded matrix of the weights, one product per
  :data:`ROWS_PER_PRODUCT` rows (:func:`band_groups`); ``p + BAND_BLOCK - 1`` multiply-adds per
  window, which BLAS does faster than ``log p`` vector passes for such windows;
* the rolling variance from sums of deviations from a shift local to each row of
  :data:`MOMENT_ROW` windows (its first value, so the sums are of numbers no larger than the row's own
  moves), windowed by doubling over the rows laid end to end, with the few windows whose variance is
  tiny next to those sums (nearly flat ones) recomputed exactly.

Long arrays are processed in chunks of :data:`CHUNK` bars, so that the temporaries stay small and in
cache: fresh memory costs a page fault per 4 KiB, which would otherwise cost more than the
arithmetic. An indicator whose value depends on the last ``lookback`` bars only is simply evaluated on
overlapping slices (:func:`chunked`); a recursive one carries its state from chunk to chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._base import FLAT

__all__ = [
    "BAND_MAX",
    "BLOCK",
    "CHUNK",
    "FIELDS",
    "Array",
    "Bank",
    "Columns",
    "Decay",
    "Result",
    "band",
    "band_groups",
    "chunked",
    "chunks",
    "ema",
    "flat",
    "nan",
    "nan_before",
    "placed",
    "recurrence",
    "rolling_arg_extreme",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "rolling_moments",
    "rolling_sum",
    "rsi",
    "smooth",
    "stochastic",
    "true_range",
    "wilder",
]

Array = np.ndarray
Result = dict[str, Array]

CHUNK = 32_768  # bars per chunk: the temporaries of a chunk fit in the L2 cache
ROWS_PER_PRODUCT = 512  # blocks per matrix product: small enough that BLAS stays on one thread (a
# second BLAS thread only waits for a core on a busy machine, and then costs a hundred times more)
BANK_BLOCK = 16  # inputs per block of a Bank
BANK_RUN = 4  # chunks per run of a Bank
BLOCK = 16  # values per recurrence block: one small matrix product, or one vector step, per value
BAND_BLOCK = 16  # windows per row of a banded product
BAND_MAX = 64  # the longest window summed by a banded product; longer ones by doubling
ROWS_PER_GROUP = 2048  # rows copied out at once for the banded products (32,768 windows)
MOMENT_ROW = 1024  # windows per row sharing one shift in the rolling moments
ILL_CONDITIONED = 1e-6  # a window whose m2 is under this fraction of its sum of squares is recomputed
FIELDS = ("open", "high", "low", "close", "volume")


class Columns:
    """The input as float64 columns: ``columns["close"]``; a 1-D array stands for every field."""

    def __init__(self, name: str, data: Any) -> None:
        self._name = name
        if isinstance(data, Mapping):
            self._data = {
                key: np.ascontiguousarray(value, dtype=np.int64 if key == "ts" else np.float64)
                for key, value in data.items()
            }
        else:
            array = np.ascontiguousarray(data, dtype=np.float64)
            if array.ndim != 1:
                raise ValueError(f"{self._name}: batch takes a 1-D array or a mapping of columns, "
                                 f"got an array of shape {array.shape}")
            self._data = dict.fromkeys(FIELDS, array)
            self._data["ts"] = np.zeros(len(array), dtype=np.int64)
        lengths = {len(value) for value in self._data.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self._name}: the columns have different lengths {sorted(lengths)}")
        self.size = lengths.pop() if lengths else 0

    def window(self, start: int, stop: int) -> Columns:
        """The rows ``start:stop``, as views."""
        part = object.__new__(Columns)
        part._name = self._name
        part._data = {key: value[start:stop] for key, value in self._data.items()}
        part.size = max(0, min(stop, self.size) - start)
        return part

    def __getitem__(self, name: str) -> Array:
        try:
            return self._data[name]
        except KeyError:
            raise ValueError(f"{self._name} reads the column {name!r}, which the mapping lacks "
                             f"(it has {', '.join(sorted(self._data)) or 'none'})") from None


def nan(n: int) -> Array:
    return np.full(n, np.nan)


def nan_before(n: int, first: int) -> Array:
    """An array of ``n`` values, NaN before ``first`` and unset from there on (for a kernel that fills
    every one of those: filling them with NaN too would cost a pass over memory)."""
    out = np.empty(n)
    out[:first] = np.nan
    return out


def placed(n: int, first: int, values: Array) -> Array:
    """An array of ``n`` NaNs with ``values`` from index ``first`` on."""
    out = nan(n)
    if first < n:
        out[first:] = values[: n - first]
    return out


def chunks(start: int, stop: int, chunks_per_run: int = 1) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into runs of ``chunks_per_run`` times :data:`CHUNK` (a :class:`Bank`
    runs several at once: its buffers are smaller than the input it reads)."""
    size = CHUNK * chunks_per_run
    return [(s, min(s + size, stop)) for s in range(start, stop, size)]


def chunked(kernel: Callable[[Any, Columns], Result], params: Any, c: Columns, memory: int,
             align: int = 1) -> Result:
    """``kernel`` over ``c`` for an indicator whose value at a bar depends on the ``memory`` bars before
    it and no earlier ones: evaluated on overlapping slices, each ``memory`` bars longer than the rows
    it fills. Slices start at multiples of ``align`` (for a kernel that depends on a row's position
    modulo ``align``)."""
    step = -(-CHUNK // align) * align
    n = c.size
    if n <= memory + 2 * step:
        return kernel(params, c)
    out: Result = {}
    start, stop = 0, memory + step
    while start < n:
        stop = min(stop, n)
        skip = memory if start else 0
        for name, values in kernel(params, c.window(start - skip, stop)).items():
            if name not in out:
                out[name] = np.empty(n)
            out[name][start:stop] = values[skip:]
        start, stop = stop, stop + step
    return out


def windowed(x: Array, p: int, combine: Callable[[Array, Array], Array]) -> Array:
    """``combine`` folded over each window of ``p`` values along the last axis (length ``L - p + 1``):
    ``level[i]`` covers ``x[i : i + size]``; the window is the power-of-two chunks of ``p``."""
    length = x.shape[-1] - p + 1
    if length <= 0:
        return x[..., :0].copy()
    result: Array | None = None
    offset = 0
    level = x
    size = 1
    while True:
        if p & size:
            part = level[..., offset : offset + length]
            result = part.copy() if result is None else combine(result, part)
            offset += size
        if size * 2 > p:
            break
        level = combine(level[..., :-size], level[..., size:])
        size *= 2
    assert result is not None
    return result


def rolling_sum(x: Array, p: int) -> Array:
    return windowed(x, p, np.add)


def rolling_max(x: Array, p: int) -> Array:
    return windowed(x, p, np.maximum)


def rolling_min(x: Array, p: int) -> Array:
    return windowed(x, p, np.minimum)


def rolling_mean(x: Array, p: int) -> Array:
    return rolling_sum(x, p) / p


def rolling_arg_extreme(x: Array, p: int, later_wins: Callable[[Array, Array], Array]) -> Array:
    """The index of each window's extreme, the latest of equal ones: ``later_wins(old, new)`` says where
    the newer chunk's extreme replaces the older one's."""
    length = x.shape[0] - p + 1
    if length <= 0:
        return np.empty(0, dtype=np.int64)
    values: Array | None = None
    where: Array | None = None
    offset = 0
    level_values = x
    level_where = np.arange(x.shape[0])
    size = 1
    while True:
        if p & size:
            part_values = level_values[offset : offset + length]
            part_where = level_where[offset : offset + length]
            if values is None or where is None:
                values, where = part_values.copy(), part_where.copy()
            else:
                take = later_wins(values, part_values)
                values = np.where(take, part_values, values)
                where = np.where(take, part_where, where)
            offset += size
        if size * 2 > p:
            break
        take = later_wins(level_values[:-size], level_values[size:])
        level_values = np.where(take, level_values[size:], level_values[:-size])
        level_where = np.where(take, level_where[size:], level_where[:-size])
        size *= 2
    assert where is not None
    return where


class Decay:
    """``y[t] = a * y[t-1] + gain * b[t]`` for a fixed ``a`` and ``gain`` (an EMA, a Wilder smoothing),
    along the last axis of ``b``; ``b`` may hold several independent rows, each with its own ``a`` and
    ``gain`` if they are sequences.

    Each block of :data:`BLOCK` values is filtered from zero by one matrix product (row ``i`` of the
    filter spreads ``b[i]`` to the later positions ``j`` with weight ``a ** (j - i)``); the block ends
    are chained by the same recurrence with ``a ** BLOCK``, one level up; then each block gets
    ``a ** (j + 1)`` times the value before it carried in.
    """

    def __init__(self, a: float | Sequence[float] | Array, gain: float | Array = 1.0) -> None:
        self.a = np.asarray(a, dtype=np.float64)  # () or (rows,)
        self.gain = np.asarray(gain, dtype=np.float64)
        lag = (np.arange(BLOCK)[None, :] - np.arange(BLOCK)[:, None]).astype(np.float64)
        factor = self.a[..., None, None]
        weights = np.where(lag >= 0, factor ** np.maximum(lag, 0.0), 0.0) * self.gain[..., None, None]
        self.filter = flushed(weights)
        self.carried = flushed(self.a[..., None] ** np.arange(1, BLOCK + 1, dtype=np.float64))[..., None, :]
        self.ends: Decay | None = None

    def __call__(self, b: Array, y0: Any) -> Array:
        """``y`` for the terms ``b`` and the values ``y0`` before them (one per row)."""
        n = b.shape[-1]
        if n <= 2 * BLOCK:
            return loop_recurrence(b * self.gain[..., None] if self.gain.ndim else b * self.gain, self.a, y0)
        width = -(-n // BLOCK)
        pad = width * BLOCK - n
        if pad:
            b = np.concatenate([b, np.zeros(b.shape[:-1] + (pad,))], axis=-1)
        blocks = b.reshape(b.shape[:-1] + (width, BLOCK))
        local = np.empty(blocks.shape)
        for i in range(0, width, ROWS_PER_PRODUCT):
            np.matmul(blocks[..., i : i + ROWS_PER_PRODUCT, :], self.filter,
                      out=local[..., i : i + ROWS_PER_PRODUCT, :])
        if self.ends is None:
            self.ends = Decay(self.a**BLOCK)  # chains values of y: no gain
        ends = self.ends(np.ascontiguousarray(local[..., -1]), y0)
        starts = np.empty(ends.shape)
        starts[..., 0] = y0
        starts[..., 1:] = ends[..., :-1]
        local += starts[..., None] * self.carried
        return np.asarray(local.reshape(b.shape)[..., :n])


def flushed(weights: Array) -> Array:
    """``weights`` with those under 1e-150 set to 0 (in place): their contributions are far below a
    rounding error, and products of subnormal numbers, which they would soon make, are very slow."""
    weights[np.abs(weights) < 1e-150] = 0.0
    return weights


def loop_recurrence(b: Array, a: Array, y0: Any) -> Array:
    out = np.empty(b.shape)
    rows = out.reshape(-1, b.shape[-1])
    factors = np.broadcast_to(a, rows.shape[:1]).tolist()
    for row, terms, start, factor in zip(rows, b.reshape(-1, b.shape[-1]), np.ravel(y0).tolist(), factors):
        y = start
        for i, term in enumerate(terms.tolist()):
            y = factor * y + term
            row[i] = y
    return out


def recurrence(b: Array, a: Array, y0: float = 0.0) -> Array:
    """``y[t] = a[t] * y[t-1] + b[t]`` with ``y[-1] = y0``, a factor per element (KAMA, the ADX):
    blocks of :data:`BLOCK` laid out one per column run from zero together, one vector step per row,
    then the block ends are chained one level up and carried in."""
    n = b.shape[0]
    if n <= 8 * BLOCK:
        out = np.empty(n)
        y = y0
        for i, (factor, term) in enumerate(zip(a.tolist(), b.tolist())):
            y = factor * y + term
            out[i] = y
        return out
    width = -(-n // BLOCK)
    pad = width * BLOCK - n

    def by_block(v: Array, fill: float) -> Array:  # (BLOCK, width): column k is block k
        if pad:
            v = np.concatenate([v, np.full(pad, fill)])
        return np.ascontiguousarray(v.reshape(width, BLOCK).T)

    local = by_block(b, 0.0)  # each block's recurrence started from zero
    factors = by_block(a, 1.0)
    carried = np.empty_like(factors)  # the product of the factors from the block start to row j
    carried[0] = factors[0]
    step = np.empty(width)
    for j in range(1, BLOCK):
        np.multiply(local[j - 1], factors[j], out=step)
        local[j] += step
        np.multiply(carried[j - 1], factors[j], out=carried[j])
    flushed(carried)
    ends = recurrence(local[-1].copy(), carried[-1].copy(), y0)
    starts = np.empty(width)  # the true value just before each block
    starts[0] = y0
    starts[1:] = ends[:-1]
    local += carried * starts
    return local.T.reshape(-1)[:n]


class Bank:
    """A cascade of first-order recursions driven by one input, run block by block (an EMA, a Wilder
    smoothing, the EMAs of DEMA, TEMA and MACD). At every step the states are updated in turn, each
    from the input and the states updated before it at that step::

        s[i] = a[i] * s[i] + k[i] * (c[i] * x + sum(g[i][j] * s[j] for j < i))

    and the outputs are ``y[o] = sum(h[o][i] * s[i])``.

    The outputs of a block of :data:`BANK_BLOCK` inputs are linear in those inputs and in the states
    at the block's start, so one matrix product per block gives them all (the weights are the
    recursion's responses to unit inputs and unit start states, worked out once by running it). The
    states at the block starts come first: state ``i``'s block ends follow a scalar recursion with
    the factor ``a[i] ** BANK_BLOCK`` (:class:`Decay`), driven by the block's inputs and the starts of
    the states before it.
    """

    def __init__(self, a: Sequence[float], k: Sequence[float], c: Sequence[float],
                 g: Sequence[Sequence[float]], h: Sequence[Sequence[float]]) -> None:
        self.a, self.k, self.c = list(a), list(k), list(c)
        self.g = [list(row) for row in g]
        self.h = [list(row) for row in h]
        m, outputs, size = len(self.a), len(self.h), BANK_BLOCK
        # row r of weights: the outputs of a block (output o at position t in column o * size + t)
        # for a unit input at position r (r < size), or a unit start of state r - size; ends: the same
        # for the states at the block's end
        self.weights = np.zeros((size + m, outputs * size))
        cases = np.eye(size + m)  # every unit input and unit start at once, one per row
        state = list(cases[:, size:].T)
        for t in range(size):
            state = self.step(state, cases[:, t])
            for o, row in enumerate(self.h):
                self.weights[:, o * size + t] = sum(w * v for w, v in zip(row, state))
        self.ends = np.stack(state, axis=1)
        flushed(self.weights)
        flushed(self.ends)
        self.decays = [Decay(self.ends[size + i, i]) for i in range(m)]
        # per state, the weights of a block's inputs in its end value (a vector: one matrix-vector
        # product each costs less than one product with a matrix of a few columns); per output, its
        # weights (each output written straight into place)
        self.input_ends = [np.ascontiguousarray(self.ends[:size, i]) for i in range(m)]
        self.per_output = [np.ascontiguousarray(self.weights[:, o * size : (o + 1) * size]) for o in range(outputs)]
        drive = self.k[0] * self.c[0] if m == 1 else 0.0
        self.folded = self.a[0] / drive if drive else None  # see _run_folded
        self._inputs = np.empty((0, 0))

    def step(self, state: list[Any], x: Any) -> list[Any]:
        """The states after one more input ``x`` (numbers, or arrays of as many cases)."""
        new: list[Any] = []
        for i, (a, k, c, g) in enumerate(zip(self.a, self.k, self.c, self.g)):
            drive = c * x
            for j in range(i):
                drive += g[j] * new[j]
            new.append(a * state[i] + k * drive)
        return new

    def run(self, x: Array, state: list[float], outs: Sequence[Array], offset: int,
            scratch: bool = False) -> list[float]:
        """Feed ``x`` from the states ``state``: output ``o`` for ``x[t]`` goes to
        ``outs[o][offset + t]``; return the states after the last input. With ``scratch``, ``x`` is
        a buffer of the caller's that may be overwritten."""
        n, m, size = x.shape[0], len(self.a), BANK_BLOCK
        rows = n // size
        full = rows * size
        if rows and self.folded is not None:
            state = self._run_folded(x[:full].reshape(rows, size), state[0], outs, offset, scratch)
        elif rows:
            if self._inputs.shape[0] != rows:  # buffers kept from chunk to chunk: fresh ones cost
                self._inputs = np.empty((rows, size + m))  # more in page faults than the arithmetic
            inputs = self._inputs  # a block's inputs, then the states at its start
            blocks = x[:full].reshape(rows, size)
            inputs[:, :size] = blocks
            starts = inputs[:, size:]
            for i in range(m):
                terms = blocks @ self.input_ends[i]  # the block end's share of the block's inputs
                if i:
                    terms = terms + starts[:, :i] @ self.ends[size : size + i, i]
                ends = self.decays[i](np.ascontiguousarray(terms), state[i])
                starts[0, i] = state[i]
                starts[1:, i] = ends[:-1]
                state = state[:i] + [float(ends[-1])] + state[i + 1 :]
            for out, weights in zip(outs, self.per_output):  # each output straight into place
                band_product(inputs, weights, out[offset : offset + full].reshape(rows, size))
        for t in range(full, n):  # the last few inputs, one step each
            state = self.step(state, float(x[t]))
            for out, row in zip(outs, self.h):
                out[offset + t] = sum(w * v for w, v in zip(row, state))
        return state

    def _run_folded(self, blocks: Array, start: float, outs: Sequence[Array], offset: int,
                    scratch: bool) -> list[float]:
        """:meth:`run` for a single state, whose start is folded into each block's first input: with
        ``s = a * s + k * c * x``, the start ``s0`` adds what an input of ``a * s0 / (k * c)`` adds, so
        the blocks' own products give the outputs (no copy into a wider buffer, one column fewer)."""
        rows, size = blocks.shape
        ends = self.decays[0](blocks @ self.input_ends[0], start)
        if scratch:
            inputs = blocks
        else:
            if self._inputs.shape != blocks.shape:
                self._inputs = np.empty(blocks.shape)
            inputs = self._inputs
            np.copyto(inputs, blocks)
        folded = self.folded
        assert folded is not None
        column = inputs[:, 0]
        column[0] += folded * start
        column[1:] += folded * ends[:-1]
        for out, weights in zip(outs, self.per_output):
            band_product(inputs, weights[:size], out[offset : offset + rows * size].reshape(rows, size))
        return [float(ends[-1])]


def smooth(out: Array, first: int, seed: float, a: float, terms: Callable[[int, int], Array],
           gain: float = 1.0, then: Callable[[Array, int, int], None] | None = None,
           scratch: bool = False) -> Array:
    """Fill ``out[first:]`` with ``y = a * y + gain * terms`` from ``y = seed`` at ``first``, chunk by
    chunk (``terms(s, e)`` gives the terms of rows ``s:e``; ``then(out, s, e)``, if given, is called
    on rows ``s:e`` once they are filled, while they are in cache; with ``scratch``, the terms are
    buffers that may be overwritten); return ``out``."""
    out[first] = seed
    bank = Bank([a], [gain], [1.0], [[]], [[1.0]])
    state = [seed]
    if then is not None:
        then(out, first, first + 1)
    for s, e in chunks(first + 1, out.shape[0], BANK_RUN):
        state = bank.run(terms(s, e), state, [out], s, scratch)
        if then is not None:
            then(out, s, e)
    return out


def ema(x: Array, period: int, start: int = 0) -> Array:
    """TA-Lib's EMA of ``x[start:]``: the mean of its first ``period`` values, then
    ``ema = (1 - k) * ema + k * x`` with ``k = 2 / (period + 1)``; NaN before."""
    n = x.shape[0]
    first = start + period - 1
    out = nan_before(n, first)
    if first >= n:
        return out
    k = 2.0 / (period + 1)
    seed = math.fsum(x[start : first + 1].tolist()) / period
    return smooth(out, first, seed, 1.0 - k, lambda s, e: x[s:e], gain=k)


def wilder(n: int, period: int, first: int, terms: Callable[[int, int], Array],
           then: Callable[[Array, int, int], None] | None = None, scratch: bool = False) -> Array:
    """Wilder's smoothing of ``terms``: the mean of rows ``first - period + 1 .. first`` at ``first``,
    then ``s = (s * (period - 1) + term) / period``; NaN before."""
    out = nan_before(n, first)
    if first >= n:
        return out
    seed = math.fsum(terms(first - period + 1, first + 1).tolist()) / period
    return smooth(out, first, seed, (period - 1) / period, terms, gain=1.0 / period, then=then, scratch=scratch)


def true_range(high: Array, low: Array, close: Array, s: int, e: int) -> Array:
    """The true range of rows ``s:e`` (``s >= 1``): ``max(high, previous close) - min(low, previous
    close)``, which is the largest of TA-Lib's three differences to the bit (rounding is monotonic)."""
    previous = close[s - 1 : e - 1]
    out = np.maximum(high[s:e], previous)
    out -= np.minimum(low[s:e], previous)
    return np.asarray(out)


def flat(spread: Array, scale: Array) -> Array:
    """Where ``spread`` is rounding residue next to ``scale`` (TA-Lib's scaled zero test)."""
    return np.asarray(np.abs(spread) <= FLAT * scale)


def band(weights: Array) -> Array:
    """The ``(BAND_BLOCK + p - 1, BAND_BLOCK)`` matrix whose column ``k`` holds the ``p`` weights from
    row ``k`` on: a row of consecutive values times it gives the weighted sums of the row's
    :data:`BAND_BLOCK` windows."""
    p = weights.shape[0]
    matrix = np.zeros((BAND_BLOCK + p - 1, BAND_BLOCK))
    for k in range(BAND_BLOCK):
        matrix[k : k + p, k] = weights
    return matrix


def band_groups(x: Array, p: int, per_row: int = BAND_BLOCK,
                rows_per_group: int = ROWS_PER_GROUP) -> Iterator[tuple[int, Array]]:
    """The windows of ``p`` values of ``x``, :data:`BAND_BLOCK` to a row: ``(first, rows)`` where
    ``rows`` (contiguous, at most :data:`ROWS_PER_GROUP` of them) holds ``x[w : w + BAND_BLOCK + p -
    1]`` in its row for the windows ``w = first, first + BAND_BLOCK, ...``. The last row is padded
    with the last value (windows past the end, to be dropped). ``rows`` is one buffer, refilled for
    each group: a fresh one each time would cost more in page faults than the arithmetic."""
    count = x.shape[0] - p + 1
    if count <= 0:
        return
    rows = -(-count // per_row)
    full = (x.shape[0] - p + 1) // per_row  # rows within x; the last one, if partial, is padded
    view = sliding_window_view(x, per_row + p - 1)[::per_row] if full else None  # None: under one row
    buffer = np.empty((min(rows, rows_per_group), per_row + p - 1))
    for row in range(0, rows, rows_per_group):
        group = buffer[: min(rows_per_group, rows - row)]
        inside = min(full - row, group.shape[0])
        if inside > 0:
            assert view is not None
            group[:inside] = view[row : row + inside]
        if inside < group.shape[0]:  # the last row: what is left of x, then its last value
            tail = x[(row + inside) * per_row :]
            group[inside, : tail.shape[0]] = tail
            group[inside, tail.shape[0] :] = x[-1]
        yield row * per_row, group


def band_product(rows: Array, matrix: Array, out: Array) -> Array:
    """``rows @ matrix`` into ``out``, in products of :data:`ROWS_PER_PRODUCT` rows."""
    for i in range(0, rows.shape[0], ROWS_PER_PRODUCT):
        np.matmul(rows[i : i + ROWS_PER_PRODUCT], matrix, out=out[i : i + ROWS_PER_PRODUCT])
    return out


def band_sums(x: Array, weights: Array, out: Array) -> None:
    """``out[w] = sum(weights * x[w : w + p])`` for every full window ``w`` (``out`` has one element
    per window)."""
    matrix = band(weights)
    count = out.shape[0]
    buffer = np.empty((ROWS_PER_GROUP, BAND_BLOCK))
    for first, rows in band_groups(x, weights.shape[0]):
        products = band_product(rows, matrix, buffer[: rows.shape[0]]).reshape(-1)
        size = min(count - first, products.shape[0])
        out[first : first + size] = products[:size]


def rolling_moments(x: Array, p: int, mean: Array | None, m2: Array) -> None:
    """The mean (unless ``mean`` is None) and the sum of squared deviations from it of each full
    window of ``p`` values, into ``mean`` and ``m2`` (one element per window).

    Rows of :data:`MOMENT_ROW` windows share a shift (the row's first value), so the sums are of
    deviations no larger than the row's own moves; the sums of the deviations and of their squares
    are windowed by doubling (:func:`window_sums`) in buffers kept from group to group."""
    count = x.shape[0] - p + 1
    if count <= 0:
        return
    per_row = MOMENT_ROW
    rows_per_group = max(1, CHUNK // per_row)
    width = per_row + p - 1
    size = min(-(-count // per_row), rows_per_group) * width
    squares, spare, s1_buffer, s2_buffer = np.empty((4, size))
    for first, rows in band_groups(x, p, per_row, rows_per_group):
        # the rows end to end, as one array (vector steps over 2-D slices are several times slower):
        # the windows that run from one row into the next are computed too, and dropped
        r = rows.shape[0]
        shift = rows[:, :1].copy()
        rows -= shift
        flat = rows.reshape(-1)
        length = flat.shape[0] - p + 1
        np.multiply(flat, flat, out=squares[: r * width])
        s1 = window_sums(flat, p, s1_buffer[:length], spare)
        s2 = window_sums(squares[: r * width], p, s2_buffer[:length], spare)
        s1 *= 1.0 / p  # the deviations' mean
        size = min(count - first, r * per_row)
        if mean is not None:
            means = mean[first : first + size]
            if size == r * per_row:
                np.add(s1_buffer[: r * width].reshape(r, width)[:, :per_row], shift, out=means.reshape(r, per_row))
            else:
                means[:] = (s1_buffer[: r * width].reshape(r, width)[:, :per_row] + shift).reshape(-1)[:size]
        np.multiply(s1, s1, out=s1)
        s1 *= p
        np.subtract(s2, s1, out=s1)  # s2 - (sum of the deviations) ** 2 / p
        m2_rows = m2[first : first + size]
        if size == r * per_row:
            m2_rows.reshape(r, per_row)[:] = s1_buffer[: r * width].reshape(r, width)[:, :per_row]
        else:
            m2_rows[:] = s1_buffer[: r * width].reshape(r, width)[:, :per_row].reshape(-1)[:size]
        s2 *= ILL_CONDITIONED
        doubtful = np.flatnonzero(np.less_equal(s1, s2))
        if doubtful.size:
            row, column = np.divmod(doubtful, width)
            where = row * per_row + column
            where = where[(column < per_row) & (where < size)]
            if where.size:
                _exact_m2(x, p, where + first, m2)
    np.maximum(m2, 0.0, out=m2)


def window_sums(x: Array, p: int, out: Array, spare: Array) -> Array:
    """The sums of the windows of ``p`` values along the last axis of ``x`` into ``out`` (as many as
    there are full windows), by doubling as :func:`windowed` does, but in the buffers: ``x`` and
    ``spare`` (of its shape) are overwritten with the levels."""
    length = out.shape[-1]
    started = False
    offset, size, level, free = 0, 1, x, spare
    while True:
        if p & size:
            part = level[..., offset : offset + length]
            if started:
                np.add(out, part, out=out)
            else:
                np.copyto(out, part)
                started = True
            offset += size
        if size * 2 > p:
            return out
        count = level.shape[-1] - size
        np.add(level[..., :-size], level[..., size:], out=free[..., :count])
        level, free = free[..., :count], level
        size *= 2


def _exact_m2(x: Array, p: int, where: Array, m2: Array) -> None:
    """Recompute ``m2`` of the windows starting at ``where`` exactly: deviations from the window's first
    value (a flat window centres to exact zeros), then from their mean."""
    windows = sliding_window_view(x, p)[where]
    centred = windows - windows[:, :1]
    centred -= centred.mean(axis=1, keepdims=True)
    m2[where] = np.einsum("ij,ij->i", centred, centred)


def stochastic(value: Array, highest: Array, lowest: Array) -> Array:
    """``100 * (value - lowest) / (highest - lowest)``, 0 where the range is flat."""
    spread = highest - lowest
    is_flat = flat(spread, np.abs(highest) + np.abs(lowest))
    return np.where(is_flat, 0.0, (value - lowest) / np.where(is_flat, 1.0, spread / 100.0))


def rsi(x: Array, period: int) -> Array:
    n = x.shape[0]
    out = nan_before(n, period)
    if n <= period:
        return out
    change = np.diff(x[: period + 1])
    gain = math.fsum(np.maximum(change, 0.0).tolist()) / period
    loss = math.fsum(np.maximum(-change, 0.0).tolist()) / period
    total = gain + loss
    out[period] = 100.0 * (gain / total) if total else 0.0
    # smoothing is linear: the smoothed gains and losses are half the sum and half the difference of
    # the smoothed absolute changes and the smoothed changes, one single-state Bank each
    banks = [Bank([(period - 1) / period], [1.0 / period], [1.0], [[]], [[1.0]]) for _ in range(2)]
    moves, changes = [total], [gain - loss]
    size = min(CHUNK * BANK_RUN, n)
    smoothed_moves, smoothed_changes = np.empty(size), np.empty(size)
    for s, e in chunks(period + 1, n, BANK_RUN):
        change = x[s:e] - x[s - 1 : e - 1]
        moves = banks[0].run(np.abs(change), moves, [smoothed_moves], 0)
        changes = banks[1].run(change, changes, [smoothed_changes], 0)
        totals = smoothed_moves[: e - s]
        gains = smoothed_changes[: e - s]
        gains += totals
        gains *= 50.0  # 100 * gains, the gains being half the sum
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(gains, totals, out=gains)
        gains[totals == 0.0] = 0.0
        out[s:e] = gains
    return out
