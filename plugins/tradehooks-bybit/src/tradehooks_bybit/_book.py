"""An L2 order book kept from Bybit's ``orderbook.{depth}.{symbol}`` stream.

The rules (Bybit's, plus what a robust client adds):

1. a ``snapshot`` replaces the whole book (Bybit re-sends one after internal trouble);
2. a ``delta`` sets each level it names: size ``"0"`` deletes the price (a price the book does not
   hold is ignored), an unknown price is inserted, a known one gets the new size;
3. ``u == 1`` means the service restarted: the message is a snapshot, whatever its ``type``;
4. each delta's ``u`` must be the previous ``u`` + 1; anything else is a gap: the book is no longer
   synced and ignores deltas until the next snapshot (the data source asks for one);
5. after each update the book keeps only ``depth`` levels per side (the stream's depth).

Prices and sizes are exact :class:`~decimal.Decimal`\\ s; each side is a
:class:`sortedcontainers.SortedDict` keyed by price (bids in descending order).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import neg
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

__all__ = ["OrderBook"]

_ZERO = Decimal(0)


class OrderBook:
    """The L2 book of one instrument (satisfies tradehooks' ``OrderBookView``).

    Args:
        instrument_id: the instrument.
        depth: levels kept per side (``None``: all).

    Attributes:
        instrument_id: the instrument.
        ts: the exchange time of the last update applied, in ns (0 before the first).
        u: the update id of the last update applied (0 before the first).
        synced: a snapshot was applied and no update was missed since.
        updates: how many snapshots and deltas were applied.
        resyncs: how many times a gap made the book drop out of sync.
    """

    __slots__ = ("_asks", "_bids", "depth", "instrument_id", "resyncs", "seq", "synced", "ts", "u", "updates")

    def __init__(self, instrument_id: str, depth: int | None = None) -> None:
        self.instrument_id = instrument_id
        self.depth = depth
        self._bids: SortedDict = SortedDict(neg)  # highest price first
        self._asks: SortedDict = SortedDict()  # lowest price first
        self.ts = 0
        self.u = 0
        self.seq = 0
        self.synced = False
        self.updates = 0
        self.resyncs = 0

    # --- OrderBookView -----------------------------------------------------------------------------

    def bids(self, depth: int | None = None) -> Sequence[tuple[Decimal, Decimal]]:
        """The bid levels, best (highest) first; at most ``depth`` of them (``None``: all)."""
        items = self._bids.items()
        return items[:depth] if depth is not None else list(items)

    def asks(self, depth: int | None = None) -> Sequence[tuple[Decimal, Decimal]]:
        """The ask levels, best (lowest) first; at most ``depth`` of them (``None``: all)."""
        items = self._asks.items()
        return items[:depth] if depth is not None else list(items)

    # --- reading -----------------------------------------------------------------------------------

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        return self._bids.peekitem(0) if self._bids else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return self._asks.peekitem(0) if self._asks else None

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return (f"OrderBook({self.instrument_id!r}, u={self.u}, synced={self.synced}, "
                f"bid={self.best_bid()}, ask={self.best_ask()})")

    # --- updating ----------------------------------------------------------------------------------

    def apply(self, kind: str, data: dict[str, Any], ts_ms: int) -> bool:
        """Apply one stream message (``kind`` its ``type``, ``data`` its ``data``; ``ts_ms`` its ``ts``).

        Returns whether the book changed and is synced (listeners should hear of it). A delta that does
        not follow the last update id unsyncs the book and returns ``False``: ask for a new snapshot.
        """
        u = data.get("u", 0)
        if kind == "snapshot" or u == 1:
            self.reset(data.get("b", ()), data.get("a", ()), u, ts_ms)
            self.seq = data.get("seq", 0)
            return True
        if not self.synced:
            return False
        if u != self.u + 1:
            self.synced = False
            self.resyncs += 1
            return False
        self._update(self._bids, data.get("b", ()))
        self._update(self._asks, data.get("a", ()))
        self.u = u
        self.seq = data.get("seq", self.seq)
        self.ts = ts_ms * 1_000_000
        self.updates += 1
        self._truncate()
        return True

    def reset(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]], u: int, ts_ms: int) -> None:
        """Replace the whole book with a snapshot (levels as ``[price, size]`` strings)."""
        self._bids.clear()
        self._asks.clear()
        self._update(self._bids, bids)
        self._update(self._asks, asks)
        self.u = u
        self.ts = ts_ms * 1_000_000
        self.synced = True
        self.updates += 1
        self._truncate()

    def unsync(self) -> None:
        """Take the book out of sync (a reconnect: updates may have been missed)."""
        if self.synced:
            self.synced = False
            self.resyncs += 1

    @staticmethod
    def _update(side: SortedDict, levels: Sequence[Sequence[str]]) -> None:
        for level in levels:
            size = Decimal(level[1])
            if size == _ZERO:
                side.pop(Decimal(level[0]), None)
            else:
                side[Decimal(level[0])] = size

    def _truncate(self) -> None:
        depth = self.depth
        if depth is None:
            return
        for side in (self._bids, self._asks):
            while len(side) > depth:
                side.popitem(-1)  # the worst level
