"""Bar tools: resampling to a longer timeframe, and finding gaps, duplicates and disorder.

:func:`resample` aggregates the bars of one instrument into buckets aligned to epoch multiples of the
new timeframe (a ``30m`` bucket opens at :00 and :30 UTC, a ``1d`` bucket at midnight UTC): the first
open, the highest high, the lowest low, the last close and the total volume. It streams, holding one
bucket at a time. A bucket with no bar (a gap in the input) produces no bar; a bucket with some bars
missing inside still does, as exchanges aggregate. Only the buckets at the two ends of the input can
be *incomplete*, cut by where the data starts or stops: they are dropped unless
``include_partial=True``.

:func:`find_gaps`, :func:`find_duplicates` and :func:`find_out_of_order` read bars in file order and
report problems as small named tuples whose first field is the timestamp (ns).

Example::

    from tradehooks.builtins.data_csv import read_csv_bars
    from tradehooks.builtins.resample import find_gaps, resample
    from tradehooks.model import parse_timeframe

    bars = read_csv_bars("ETH_BTC-5m.csv", "ETHBTC")
    half_hours = list(resample(bars, parse_timeframe("30m")))
    gaps = find_gaps(read_csv_bars("UNITTEST_BTC-1m.csv", "X"), parse_timeframe("1m"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import NamedTuple

from tradehooks.exceptions import DataError
from tradehooks.model import Bar, format_ts

__all__ = ["Duplicate", "Gap", "OutOfOrder", "find_duplicates", "find_gaps", "find_out_of_order", "resample"]


class Gap(NamedTuple):
    """Bars missing between two bars that are present.

    Attributes:
        ts: the open time of the first missing bar (ns).
        missing: how many bars are missing.
        until: the open time of the next bar present (ns).
    """

    ts: int
    missing: int
    until: int


class Duplicate(NamedTuple):
    """A timestamp held by more than one consecutive bar.

    Attributes:
        ts: the timestamp (ns).
        bars: how many bars have it (2 or more).
    """

    ts: int
    bars: int


class OutOfOrder(NamedTuple):
    """A bar earlier than the latest bar before it.

    Attributes:
        ts: the bar's timestamp (ns).
        after: the latest timestamp seen before it (ns).
    """

    ts: int
    after: int


def _check_timeframe(timeframe_ns: int, what: str = "timeframe_ns") -> None:
    if isinstance(timeframe_ns, bool) or not isinstance(timeframe_ns, int) or timeframe_ns <= 0:
        raise ValueError(f"{what} must be a positive integer number of nanoseconds, got {timeframe_ns!r}")


def resample(
    bars: Iterable[Bar],
    timeframe_ns: int,
    *,
    include_partial: bool = False,
    source_timeframe_ns: int | None = None,
) -> Iterator[Bar]:
    """Aggregate ``bars`` (one instrument, strictly increasing ``ts``) into bars of ``timeframe_ns``.

    Each output bar opens at ``ts - ts % timeframe_ns`` of its input bars. Volumes are added as the
    decimals they print as (``0.1 + 0.2`` gives ``0.3``), so resampling reproduces an exchange's own
    longer bars exactly.

    The first bucket is complete when the first bar opens at the bucket's start, the last when the last
    bar closes at the bucket's end; each is dropped when incomplete, unless ``include_partial``.

    Args:
        bars: the input bars, oldest first.
        timeframe_ns: the new bar length, in ns.
        include_partial: also yield incomplete buckets at the two ends.
        source_timeframe_ns: the input bar length (ns), which tells whether the last bucket is
            complete; unset: the smallest step between two consecutive input bars (with a single input
            bar the last bucket then counts as incomplete).

    Yields:
        The aggregated bars, oldest first.

    Raises:
        ValueError: a timeframe is not a positive integer, or is not a multiple of the source's, or the
            bars belong to several instruments.
        DataError: a bar's timestamp is not after the previous one.
    """
    _check_timeframe(timeframe_ns)
    step = source_timeframe_ns
    if step is not None:
        _check_timeframe(step, "source_timeframe_ns")
        if timeframe_ns % step:
            raise ValueError(
                f"timeframe_ns {timeframe_ns} is not a multiple of source_timeframe_ns {step}"
            )
    iterator = iter(bars)
    first = next(iterator, None)
    if first is None:
        return
    instrument_id, prev, o, h, lo, c, v = first
    start = prev - prev % timeframe_ns
    volume = Decimal(repr(v))
    complete_start = prev == start  # the current bucket saw its first slot
    head = True  # the current bucket is the input's first
    for bar in iterator:
        if bar[0] != instrument_id:
            raise ValueError(
                f"resample takes the bars of one instrument: got {bar[0]!r} after {instrument_id!r}"
            )
        ts = bar[1]
        if ts <= prev:
            raise DataError(f"bar at {format_ts(ts)} is not after the previous one at {format_ts(prev)}")
        if source_timeframe_ns is None and (step is None or ts - prev < step):
            step = ts - prev
        prev = ts
        if ts - start >= timeframe_ns:  # a new bucket: the current one is over
            if include_partial or not head or complete_start:
                yield Bar(instrument_id, start, o, h, lo, c, float(volume))
            start = ts - ts % timeframe_ns
            head = False
            _, _, o, h, lo, c, v = bar
            volume = Decimal(repr(v))
            continue
        h = max(h, bar[3])
        lo = min(lo, bar[4])
        c = bar[5]
        volume += Decimal(repr(bar[6]))
    complete_end = step is not None and prev + step >= start + timeframe_ns
    if include_partial or (complete_end and (not head or complete_start)):
        yield Bar(instrument_id, start, o, h, lo, c, float(volume))


def find_gaps(bars: Iterable[Bar], timeframe_ns: int) -> list[Gap]:
    """Find the bars missing from ``bars`` (one instrument, in time order) at ``timeframe_ns``.

    Two consecutive bars ``d`` apart have ``(d - 1) // timeframe_ns`` bars missing between them. A bar
    that is not after the latest one before it (a duplicate, or out of order) is skipped.

    Returns:
        One :class:`Gap` per run of missing bars, oldest first.
    """
    _check_timeframe(timeframe_ns)
    gaps: list[Gap] = []
    latest: int | None = None
    for bar in bars:
        ts = bar[1]
        if latest is not None:
            if ts <= latest:
                continue
            missing = (ts - latest - 1) // timeframe_ns
            if missing:
                gaps.append(Gap(latest + timeframe_ns, missing, ts))
        latest = ts
    return gaps


def find_duplicates(bars: Iterable[Bar]) -> list[Duplicate]:
    """Find the timestamps held by more than one consecutive bar of ``bars`` (one instrument, in time
    order: every duplicate is then consecutive).

    Returns:
        One :class:`Duplicate` per repeated timestamp, oldest first.
    """
    duplicates: list[Duplicate] = []
    prev: int | None = None
    count = 0
    for bar in bars:
        ts = bar[1]
        if ts == prev:
            count += 1
            continue
        if count > 1:
            duplicates.append(Duplicate(prev, count))  # type: ignore[arg-type]  # prev is set with count
        prev, count = ts, 1
    if count > 1:
        duplicates.append(Duplicate(prev, count))  # type: ignore[arg-type]
    return duplicates


def find_out_of_order(bars: Iterable[Bar]) -> list[OutOfOrder]:
    """Find the bars of ``bars`` (one instrument) that are earlier than the latest bar before them.

    Returns:
        One :class:`OutOfOrder` per such bar, in input order.
    """
    found: list[OutOfOrder] = []
    latest: int | None = None
    for bar in bars:
        ts = bar[1]
        if latest is not None and ts < latest:
            found.append(OutOfOrder(ts, latest))
        elif latest is None or ts > latest:
            latest = ts
    return found
