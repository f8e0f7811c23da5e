"""The ``synthetic`` and ``synthetic_live`` data sources: seeded geometric Brownian motion for every
instrument of the preset, all at once for backtests (``synthetic``) or one bar at a time on the wall
clock for paper trading without an exchange (``synthetic_live``, see :class:`LiveSyntheticDataSource`).

Deterministic: the same seed, start, timeframe and instrument always give the same bars (each
instrument draws from its own :class:`random.Random`, seeded from the seed and a CRC-32 of the
instrument id, so runs and processes agree; the global :mod:`random` state is never touched). Prices
are multiples of the instrument's tick, volumes multiples of its lot size, and every bar passes
:func:`~tradehooks.model.check_bar`.

Per bar: the open is the previous close; the log return is ``(drift - volatility**2 / 2) * dt +
volatility * sqrt(dt) * z`` with ``z`` standard normal and ``dt`` the timeframe in years of 365 days
(crypto trades every day); the high and the low extend the open-close range by a half-normal
excursion of half the bar's standard deviation; the volume is lognormal around ``volume``, larger on
bars that move more.

Example preset::

    [data]
    source = "synthetic"
    [data.params]
    seed = 7
    bars = 50_000
    volatility = 0.8

    [data]                        # paper trading: one one-minute bar per second
    source = "synthetic_live"
    timeframe = "1m"
    params = { seed = 7, speed = 60 }
"""

from __future__ import annotations

import heapq
import math
import random
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs

from tradehooks import hookimpl
from tradehooks.exceptions import DataError, FieldError
from tradehooks.model import NS_PER_SECOND, Bar, Instrument, InstrumentId, format_ts, parse_ts

if TYPE_CHECKING:
    from tradehooks.contracts import ComponentContext

__all__ = [
    "LiveSyntheticDataSource",
    "SyntheticDataSource",
    "generate_bars",
    "register_data_sources",
    "write_csv",
]

_YEAR_NS = 365 * 86400 * NS_PER_SECOND
_WICK = 0.5  # high/low excursion, in standard deviations of the bar's log return
_VOLUME_SIGMA = 0.5  # spread of the lognormal volume
_MEAN_ABS_NORMAL = math.sqrt(2 / math.pi)  # E|z| for a standard normal z
_STREAM, _HISTORY = 0, 1  # what a random stream is for, mixed into its seed


class _GbmParams(Protocol):
    """The walk parameters both sources' ``Params`` share."""

    @property
    def seed(self) -> int: ...
    @property
    def initial_price(self) -> float: ...
    @property
    def drift(self) -> float: ...
    @property
    def volatility(self) -> float: ...
    @property
    def volume(self) -> float: ...


def generate_bars(
    instrument: Instrument,
    *,
    seed: int,
    start_ts: int,
    timeframe: int,
    count: int | None,
    initial_price: float = 100.0,
    drift: float = 0.0,
    volatility: float = 0.6,
    volume: float = 100.0,
) -> Iterator[Bar]:
    """Generate ``count`` bars of ``instrument`` from ``start_ts`` on, one at a time (O(1) memory).

    Args:
        instrument: whose bars (its id seeds the path, its tick and lot size round the values).
        seed: the seed; instruments with different ids get different paths from the same seed.
        start_ts: the open time of the first bar, in ns.
        timeframe: the bar length, in ns.
        count: how many bars; ``None`` for an endless generator (the ``synthetic_live`` source).
        initial_price: the first bar's open (rounded to the tick, at least one tick).
        drift: the annualised drift (expected return) of the price.
        volatility: the annualised volatility.
        volume: the mean volume per bar.

    Yields:
        Bars with ``ts = start_ts + i * timeframe``.
    """
    return _walk(
        instrument, _rng(seed, instrument.id, _STREAM), start_ts, timeframe, count,
        initial_price, drift, volatility, volume, timeframe, backward=False,
    )  # fmt: skip


def write_csv(path: str | Path, bars: Iterable[Bar]) -> int:
    """Write ``bars`` to a CSV file with the header ``timestamp,open,high,low,close,volume``.

    Timestamps are ISO-8601 UTC; numbers are written with :func:`repr`, the shortest text that reads
    back as the very same float, so :func:`~tradehooks.builtins.data_csv.read_csv_bars` round-trips
    exactly. The instrument id is not written (one file holds one instrument).

    Returns:
        The number of rows written.
    """
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write("timestamp,open,high,low,close,volume\n")
        for bar in bars:
            handle.write(
                f"{format_ts(bar.ts)},{bar.open!r},{bar.high!r},{bar.low!r},{bar.close!r},{bar.volume!r}\n"
            )
            rows += 1
    return rows


def _rng(seed: int, instrument_id: str, purpose: int) -> random.Random:
    """An independent, platform-stable random stream for (seed, instrument, purpose)."""
    seed64 = seed & 0xFFFF_FFFF_FFFF_FFFF  # negative seeds stay distinct from positive ones
    return random.Random(seed64 << 40 | zlib.crc32(instrument_id.encode()) << 8 | purpose)


def _decimals(step: Decimal) -> int:
    """How many decimals a multiple of ``step`` needs (``0.10`` -> 1, ``5`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _walk(
    instrument: Instrument,
    rng: random.Random,
    ts: int,
    step: int,
    count: int | None,
    price: float,
    drift: float,
    volatility: float,
    volume: float,
    timeframe: int,
    *,
    backward: bool,
) -> Iterator[Bar]:
    """The GBM walk. Forward, ``price`` is the first open; backward (``step < 0``), it is the close of
    the bar at ``ts`` and each bar's open is derived from its close. Prices are kept in whole ticks."""
    tick = float(instrument.tick_size)
    price_decimals = _decimals(instrument.tick_size)
    lot = float(instrument.lot_size)
    volume_decimals = _decimals(instrument.lot_size)
    dt = timeframe / _YEAR_NS
    sigma = volatility * math.sqrt(dt)
    mu = (drift - 0.5 * volatility * volatility) * dt
    wick = _WICK * sigma
    volume_scale = volume / (1 + _MEAN_ABS_NORMAL)
    volume_mu = -0.5 * _VOLUME_SIGMA * _VOLUME_SIGMA
    gauss, lognormal, exp, new = rng.gauss, rng.lognormvariate, math.exp, tuple.__new__
    instrument_id = instrument.id
    known = max(1, round(price / tick))  # in ticks: the open (forward) or the close (backward)
    for _ in repeat(None) if count is None else repeat(None, count):
        z = gauss(0.0, 1.0)
        price = price / exp(mu + sigma * z) if backward else price * exp(mu + sigma * z)
        other = max(1, round(price / tick))
        open_, close = (other, known) if backward else (known, other)
        top, bottom = max(open_, close), min(open_, close)
        high = max(top, round(top * exp(abs(gauss(0.0, 1.0)) * wick)))
        low = max(1, min(bottom, round(bottom * exp(-abs(gauss(0.0, 1.0)) * wick))))
        vol = volume_scale * (1 + abs(z)) * lognormal(volume_mu, _VOLUME_SIGMA)
        vol = round(round(vol / lot) * lot, volume_decimals)
        yield new(Bar, (
            instrument_id, ts, round(open_ * tick, price_decimals), round(high * tick, price_decimals),
            round(low * tick, price_decimals), round(close * tick, price_decimals), vol,
        ))  # fmt: skip
        ts += step
        known = other


def _before(
    instrument: Instrument, p: _GbmParams, start: int, timeframe: int, skip: int, count: int
) -> list[Bar]:
    """Bars before ``start``, oldest first: the backward walk's bars ``skip + 1 .. skip + count``.

    Backward bar k = 1, 2, ... opens at ``start - k * timeframe`` and closes at
    ``start - (k - 1) * timeframe``; bar 1 closes at ``initial_price``, the first streamed bar's open.
    """
    walk = _walk(
        instrument, _rng(p.seed, instrument.id, _HISTORY), start - timeframe, -timeframe, skip + count,
        p.initial_price, p.drift, p.volatility, p.volume, timeframe, backward=True,
    )  # fmt: skip
    earlier = list(islice(walk, skip, None))
    earlier.reverse()
    return earlier


_Number = TypeVar("_Number", int, float)


def _positive(instance: object, attribute: attrs.Attribute[_Number], value: _Number) -> None:
    if not value > 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise FieldError(attribute.name, f"{attribute.name} must be a finite number, got {value}")


def _iso_time(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        parse_ts(value)
    except DataError:
        raise FieldError(attribute.name, f"{attribute.name} {value!r} is not an ISO-8601 time or epoch ms") from None


class SyntheticDataSource:
    """Seeded GBM bars for every instrument of the preset, interleaved by timestamp.

    ``history()`` continues the series backwards: bars before ``start`` come from a second seeded walk
    that runs back in time from ``start`` (so the last of them closes at the first bar's open), and
    bars from ``start`` on are the streamed bars themselves. Any ``end`` therefore gives bars that
    agree with the stream, and the series is deterministic in both directions.
    """

    name: ClassVar[str] = "synthetic"
    validated: ClassVar[bool] = True  # generates only sound bars: the engine need not check them

    @attrs.frozen(kw_only=True)
    class Params:
        """The ``[data.params]`` of a ``synthetic`` source.

        Attributes:
            seed: the random seed.
            start: the open time of the first bar (ISO-8601 or epoch milliseconds).
            bars: bars per instrument.
            initial_price: the first open.
            drift: the annualised drift (expected return) of the price.
            volatility: the annualised volatility.
            volume: the mean volume per bar.
            batch_size: bars per batch yielded by ``stream()``.
        """

        seed: int = 42
        start: str = attrs.field(default="2024-01-01T00:00:00Z", validator=_iso_time)
        bars: int = attrs.field(default=10_000, validator=_positive)
        initial_price: float = attrs.field(default=100.0, validator=[_finite, _positive])
        drift: float = attrs.field(default=0.0, validator=_finite)
        volatility: float = attrs.field(default=0.6, validator=[_finite, _positive])
        volume: float = attrs.field(default=100.0, validator=[_finite, _positive])
        batch_size: int = attrs.field(default=4096, validator=_positive)

    def __init__(self, params: SyntheticDataSource.Params, ctx: ComponentContext) -> None:
        """Keep the parameters; bars are generated lazily by ``stream()``.

        Raises:
            ValueError: the preset has no instruments.
        """
        if not ctx.instruments:
            raise ValueError("the synthetic source needs at least one instrument in the preset")
        self._params = params
        self._start = parse_ts(params.start)
        self._timeframe = ctx.timeframe
        self._instruments = dict(ctx.instruments)

    def _bars(self, instrument: Instrument, count: int) -> Iterator[Bar]:
        p = self._params
        return generate_bars(
            instrument, seed=p.seed, start_ts=self._start, timeframe=self._timeframe, count=count,
            initial_price=p.initial_price, drift=p.drift, volatility=p.volatility, volume=p.volume,
        )  # fmt: skip

    async def stream(self) -> AsyncIterator[list[Bar]]:
        """Yield ``bars`` bars per instrument in batches of ``batch_size``, merged by timestamp (bars
        with the same timestamp in the preset's instrument order)."""
        walks = [self._bars(instrument, self._params.bars) for instrument in self._instruments.values()]
        bars = walks[0] if len(walks) == 1 else heapq.merge(*walks, key=itemgetter(1))
        size = self._params.batch_size
        while batch := list(islice(bars, size)):
            yield batch

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> list[Bar]:
        """Return up to ``count`` bars of ``instrument_id`` that closed at or before ``end``, oldest
        first: streamed bars from ``start`` on, the backward walk before it (an unknown instrument
        gives ``[]``). Takes time linear in the distance between ``start`` and ``end``."""
        instrument = self._instruments.get(instrument_id)
        if instrument is None or count <= 0:
            return []
        p, start, timeframe = self._params, self._start, self._timeframe
        # Streamed bar i closes at start + (i + 1) * timeframe.
        streamed = max(0, min(p.bars, (end - start) // timeframe))
        taken = min(count, streamed)
        recent = list(islice(self._bars(instrument, streamed), streamed - taken, None))
        needed = count - taken
        if not needed:
            return recent
        skip = 0 if end >= start else -(-(start - end) // timeframe)
        return _before(instrument, p, start, timeframe, skip, needed) + recent


def _optional_positive(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and not value > 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 (or unset), got {value}")


def _optional_iso_time(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        _iso_time(instance, attribute, value)  # type: ignore[arg-type]


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not value >= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be >= 0, got {value}")


class LiveSyntheticDataSource:
    """Seeded GBM bars on the wall clock, for paper trading without an exchange.

    Bar ``k`` (0-based) of every instrument has ``ts = start + k * timeframe`` and is yielded at
    ``t0 + (k + 1) * timeframe / speed`` seconds of :func:`time.monotonic`, ``t0`` being the moment the
    stream started: the stream sleeps until each bar is due, so it does not drift, and a consumer that
    fell behind gets the overdue bars at once. Each batch holds the bars of one timestamp, one per
    instrument in the preset's order. The values are those of :func:`generate_bars` with the same seed,
    start and timeframe. With ``speed > 1`` the bars' timestamps run ahead of the wall clock.

    ``history()`` serves up to ``history_bars`` bars before ``start`` (the backward walk of
    :class:`SyntheticDataSource`, leading into the first bar's open) and the bars already yielded.
    """

    name: ClassVar[str] = "synthetic_live"
    validated: ClassVar[bool] = True  # generates only sound bars: the engine need not check them

    #: yielded bars kept in memory for ``history()`` (at least; older ones are regenerated)
    _KEEP: ClassVar[int] = 1000

    @attrs.frozen(kw_only=True)
    class Params:
        """The ``[data.params]`` of a ``synthetic_live`` source.

        Attributes:
            seed: the random seed.
            initial_price: the first open.
            drift: the annualised drift (expected return) of the price.
            volatility: the annualised volatility.
            volume: the mean volume per bar.
            speed: bars per timeframe of wall time (60 with ``1m`` bars: one bar per second).
            start: the open time of the first bar (ISO-8601 or epoch milliseconds); unset: the wall
                clock when the source is built, floored to the timeframe.
            bars: stop after that many bars per instrument; unset: run until cancelled.
            history_bars: how many bars before ``start`` ``history()`` can serve.
        """

        seed: int = 42
        initial_price: float = attrs.field(default=30_000.0, validator=[_finite, _positive])
        drift: float = attrs.field(default=0.0, validator=_finite)
        volatility: float = attrs.field(default=0.6, validator=[_finite, _positive])
        volume: float = attrs.field(default=100.0, validator=[_finite, _positive])
        speed: float = attrs.field(default=1.0, validator=[_finite, _positive])
        start: str | None = attrs.field(default=None, validator=_optional_iso_time)
        bars: int | None = attrs.field(default=None, validator=_optional_positive)
        history_bars: int = attrs.field(default=1000, validator=_non_negative)

    def __init__(self, params: LiveSyntheticDataSource.Params, ctx: ComponentContext) -> None:
        """Fix the start time; bars are generated as they fall due.

        Raises:
            ValueError: the preset has no instruments.
        """
        if not ctx.instruments:
            raise ValueError("the synthetic_live source needs at least one instrument in the preset")
        self._params = params
        self._timeframe = timeframe = ctx.timeframe
        if params.start is None:
            now = time.time_ns()
            self._start = now - now % timeframe
        else:
            self._start = parse_ts(params.start)
        self._instruments = dict(ctx.instruments)
        self._emitted = 0  # bars yielded per instrument
        self._kept_from = 0  # index of the first bar in self._recent
        self._recent: dict[InstrumentId, list[Bar]] = {instrument_id: [] for instrument_id in ctx.instruments}
        self._before: dict[InstrumentId, list[Bar]] = {}  # the history_bars bars before start, oldest first
        self._keep = max(params.history_bars, self._KEEP)

    @property
    def start_ts(self) -> int:
        """The open time of the first bar, in ns."""
        return self._start

    def _bars(self, instrument: Instrument, count: int | None) -> Iterator[Bar]:
        p = self._params
        return generate_bars(
            instrument, seed=p.seed, start_ts=self._start, timeframe=self._timeframe, count=count,
            initial_price=p.initial_price, drift=p.drift, volatility=p.volatility, volume=p.volume,
        )  # fmt: skip

    async def stream(self) -> AsyncIterator[list[Bar]]:
        """Yield one batch per timestamp (one bar per instrument) as each falls due, until ``bars`` bars
        per instrument were yielded, or forever. Cancelling the caller stops it at once."""
        p = self._params
        walks = [self._bars(instrument, p.bars) for instrument in self._instruments.values()]
        recent = [self._recent[instrument_id] for instrument_id in self._instruments]
        for kept in recent:
            kept.clear()
        self._emitted = self._kept_from = 0
        interval = self._timeframe / NS_PER_SECOND / p.speed
        keep = self._keep
        t0 = time.monotonic()
        k = 0
        while p.bars is None or k < p.bars:
            delay = t0 + (k + 1) * interval - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            else:
                await anyio.lowlevel.checkpoint()  # overdue: still a cancellation point
            batch = [next(walk) for walk in walks]
            for kept, bar in zip(recent, batch):
                kept.append(bar)
            k += 1
            self._emitted = k
            if len(recent[0]) >= 2 * keep:  # trim in bulk: amortised O(1) per bar
                for kept in recent:
                    del kept[:-keep]
                self._kept_from = k - keep
            yield batch

    def _yielded(self, instrument: Instrument, lo: int, hi: int) -> list[Bar]:
        """Yielded bars ``lo`` to ``hi`` (exclusive) of ``instrument``; regenerated if no longer kept."""
        if lo >= self._kept_from:
            kept = self._recent[instrument.id]
            return kept[lo - self._kept_from : hi - self._kept_from]
        return list(islice(self._bars(instrument, hi), lo, None))

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> list[Bar]:
        """Return up to ``count`` bars of ``instrument_id`` that closed at or before ``end`` (bar time,
        in ns), oldest first: bars already yielded, and before them at most ``history_bars`` bars
        before ``start`` (an unknown instrument gives ``[]``). Bars not yet yielded are never
        returned, whatever ``end``."""
        instrument = self._instruments.get(instrument_id)
        if instrument is None or count <= 0:
            return []
        start, timeframe = self._start, self._timeframe
        # Yielded bar i closes at start + (i + 1) * timeframe.
        yielded = max(0, min(self._emitted, (end - start) // timeframe))
        taken = min(count, yielded)
        recent = self._yielded(instrument, yielded - taken, yielded) if taken else []
        # Bars before the start closing at or before end: the last `skip` of them close after end.
        skip = 0 if end >= start else -(-(start - end) // timeframe)
        needed = min(count - taken, self._params.history_bars - skip)
        if needed <= 0:
            return recent
        before = self._before.get(instrument_id)
        if before is None:
            before = _before(instrument, self._params, start, timeframe, 0, self._params.history_bars)
            self._before[instrument_id] = before
        stop = len(before) - skip
        return before[stop - needed : stop] + recent


@hookimpl
def register_data_sources() -> list[type]:
    """Register the ``synthetic`` and ``synthetic_live`` data sources."""
    return [SyntheticDataSource, LiveSyntheticDataSource]
