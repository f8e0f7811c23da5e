"""Clocks: simulated for backtests, the wall clock for paper and live trading."""

from __future__ import annotations

import time

__all__ = ["SimClock", "WallClock"]


class SimClock:
    """A clock that only moves when told to. The engine sets it to each bar's close time.

    Args:
        start: the initial time, integer nanoseconds since the Unix epoch.
    """

    __slots__ = ("_now",)

    def __init__(self, start: int = 0) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def set(self, ts: int) -> None:
        """Move to ``ts``; a clock never goes backwards."""
        if ts < self._now:
            raise ValueError(f"a clock never goes backwards: {ts} < {self._now}")
        self._now = ts

    def advance(self, ns: int) -> None:
        self.set(self._now + ns)


class WallClock:
    """The machine's UTC clock."""

    __slots__ = ()

    def now(self) -> int:
        return time.time_ns()
