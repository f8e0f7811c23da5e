"""Market data: bars and timeframes."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import NamedTuple

from ..exceptions import DataError

__all__ = ["NS_PER_SECOND", "Bar", "check_bar", "format_ts", "parse_timeframe", "parse_ts"]

NS_PER_SECOND = 1_000_000_000

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIMEFRAME = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


class Bar(NamedTuple):
    """One OHLCV candle of one instrument.

    A named tuple rather than an attrs class: a backtest makes millions of them, and a tuple is built
    and read several times faster while staying immutable.

    Attributes:
        instrument_id: the instrument's symbol.
        ts: the candle's **open** time, integer nanoseconds since the Unix epoch (UTC). The candle is
            complete, and its close known, at ``ts + timeframe``.
        open, high, low, close: prices as floats (converted to exact decimals only when they become an
            order or a fill).
        volume: traded quantity in base units.
    """

    instrument_id: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def check_bar(bar: Bar) -> str | None:
    """Return why ``bar`` is malformed (NaN, non-positive price, high < low, open/close outside the
    range, negative volume), or ``None`` if it is sound."""
    o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    if math.isnan(o + h + lo + c + v) or math.isinf(o + h + lo + c + v):
        return "a value is NaN or infinite"
    if lo <= 0:
        return f"non-positive price (low={lo})"
    if h < lo:
        return f"high {h} < low {lo}"
    if not (lo <= o <= h and lo <= c <= h):
        return f"open {o} or close {c} outside [low {lo}, high {h}]"
    if v < 0:
        return f"negative volume {v}"
    return None


def parse_timeframe(text: str) -> int:
    """Parse ``"1m"``, ``"5m"``, ``"1h"``, ``"1d"`` ... into nanoseconds.

    Raises :class:`ValueError` naming the text when it is not ``<positive int><s|m|h|d|w>``.
    """
    match = _TIMEFRAME.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"timeframe {text!r} is not <number><s|m|h|d|w>, e.g. '1m', '15m', '4h', '1d'")
    return int(match.group(1)) * _UNITS[match.group(2)] * NS_PER_SECOND


def parse_ts(text: str) -> int:
    """Parse an ISO-8601 time (``2023-01-02T16:45:00Z``; no zone means UTC) or integer epoch
    milliseconds into integer nanoseconds."""
    text = text.strip()
    if text.isdigit():
        return int(text) * 1_000_000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"not an ISO-8601 time or epoch milliseconds: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def format_ts(ts: int) -> str:
    """Format integer nanoseconds as ISO-8601 UTC (``2023-01-02T16:45:00Z``)."""
    moment = datetime.fromtimestamp(ts / NS_PER_SECOND, tz=timezone.utc)
    if ts % NS_PER_SECOND:
        return moment.isoformat().replace("+00:00", "Z")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
