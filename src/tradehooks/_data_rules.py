"""The engine's data-quality rules beyond a single bar's own soundness (:func:`~tradehooks.model.check_bar`):
bars without volume and frozen prices (``[data] zero_volume`` and ``flat_bars``, checked per bar in
O(1)), and feeds that went quiet in paper and live mode (``[data] stale_after``, watched beside the
run loop, at no cost per bar beyond remembering each instrument's last bar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anyio

from .model import NS_PER_SECOND, Bar

__all__ = ["FeedWatch", "bar_rules", "describe_ns"]


def bar_rules(zero_volume: str, flat_bars: int) -> Callable[[Bar], str | None] | None:
    """The check of ``[data] zero_volume`` and ``flat_bars``: a function returning why a bar fails
    them (``None`` if it passes), or ``None`` when both are off (nothing to call per bar).

    The flat-series rule keeps, per instrument, its last bar and how many bars in a row have had
    exactly its open, high, low and close (no allocation per bar): the ``flat_bars``-th such bar fails, and every further one
    until a price moves.
    """
    reject_zero = zero_volume == "reject"
    if not reject_zero and not flat_bars:
        return None
    runs: dict[str, list[Any]] = {}  # instrument -> [its last bar, bars in a row with its prices]

    def check(bar: Bar) -> str | None:
        reason = None
        if flat_bars:
            run = runs.get(bar[0])
            if run is None:
                runs[bar[0]] = [bar, 1]
            else:
                last = run[0]
                run[0] = bar
                if last[5] == bar[5] and last[2] == bar[2] and last[3] == bar[3] and last[4] == bar[4]:
                    count = run[1] = run[1] + 1
                    if count >= flat_bars:
                        reason = (f"flat series: {count} bars in a row with open, high, low and close all "
                                  f"{bar[2]}, {bar[3]}, {bar[4]}, {bar[5]} (a frozen feed?)")
                else:
                    run[1] = 1
        if reject_zero and bar[6] == 0:
            return "zero volume" if reason is None else f"zero volume; {reason}"
        return reason

    return check


def describe_ns(ns: int) -> str:
    """A duration for a message: ``"3m"``, ``"90s"``, ``"0.25s"``."""
    seconds = ns / NS_PER_SECOND
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


class FeedWatch:
    """Watches, in paper and live mode, that every instrument keeps getting bars.

    The run loop stores each bar it handles in :attr:`last` (``last[instrument_id] = bar``) and calls
    :meth:`back` when the instrument is in :attr:`stale`. :meth:`run` looks every quarter of
    ``stale_after``: an instrument whose last bar has not changed for ``stale_after`` (counted from
    when the watch first saw that bar, or from the start) is reported once through ``on_stale(instrument_id,
    last bar or None, silent ns)``, and is then in :attr:`stale` until a bar of it comes.
    """

    def __init__(self, instruments: Iterable[str], stale_after: int, clock: Any,
                 on_stale: Callable[[str, Bar | None, int], None], on_back: Callable[[str, Bar], None]) -> None:
        self.instruments = list(instruments)
        self.stale_after = stale_after
        self.clock = clock
        self.last: dict[str, Bar] = {}
        self.stale: set[str] = set()
        self._on_stale = on_stale
        self._on_back = on_back

    def back(self, instrument_id: str, bar: Bar) -> None:
        """A bar of a stale instrument came: it is fresh again."""
        self.stale.discard(instrument_id)
        self._on_back(instrument_id, bar)

    async def run(self) -> None:
        """Look every quarter of ``stale_after`` until cancelled."""
        start = self.clock.now()
        seen: dict[str, tuple[Bar | None, int]] = {i: (None, start) for i in self.instruments}
        interval = self.stale_after / NS_PER_SECOND / 4
        while True:
            await anyio.sleep(interval)
            now = self.clock.now()
            for instrument_id in self.instruments:
                bar = self.last.get(instrument_id)
                previous, since = seen[instrument_id]
                if bar is not previous:
                    seen[instrument_id] = (bar, now)
                elif instrument_id not in self.stale and now - since >= self.stale_after:
                    self.stale.add(instrument_id)
                    self._on_stale(instrument_id, bar, now - since)
