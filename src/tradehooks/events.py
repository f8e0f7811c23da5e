"""Typed events a host reads from :meth:`tradehooks.Engine.events`.

Every event is a frozen attrs class with ``ts`` (the engine clock, ns) and ``seq`` (a number that
increases by one per event of the engine, so a consumer can see what it missed)::

    async for event in engine.events():
        match event:
            case FillReceived(fill=fill):
                print(fill.side.value, fill.quantity, fill.price)
            case EventsDropped(count=count):
                print("missed", count, "events")

A slow consumer is handled by its policy (see :class:`EventStream`): ``"drop_oldest"`` (default)
never slows the engine, ``"backpressure"`` loses nothing and lets the engine wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import anyio
import attrs

from .model import Bar, Fill, Order, Position

__all__ = [
    "BarProcessed",
    "DataRejected",
    "EngineStarted",
    "EngineStopped",
    "ErrorOccurred",
    "Event",
    "EventStream",
    "EventsDropped",
    "FillReceived",
    "OrderUpdated",
    "PresetApplied",
    "PresetRejected",
    "RiskTripped",
    "StrategyStateChanged",
    "TargetChanged",
]

POLICIES = ("drop_oldest", "backpressure")


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event."""

    seq: int
    ts: int


@attrs.frozen(kw_only=True)
class EngineStarted(Event):
    """The engine started (its broker is connected)."""

    engine_id: str


@attrs.frozen(kw_only=True)
class EngineStopped(Event):
    """The engine stopped; the stream ends after this event."""

    engine_id: str
    reason: str


@attrs.frozen(kw_only=True)
class BarProcessed(Event):
    """A bar went through every strategy on its instrument; ``equity`` is the account after it
    (a float, for charts; read ``engine.portfolio.equity()`` for the exact value)."""

    bar: Bar
    equity: float


@attrs.frozen(kw_only=True)
class TargetChanged(Event):
    """A strategy changed its target exposure for an instrument."""

    strategy_id: str
    instrument_id: str
    exposure: float
    quantity: Decimal
    reason: str


@attrs.frozen(kw_only=True)
class OrderUpdated(Event):
    """An order was created or its state changed."""

    order: Order


@attrs.frozen(kw_only=True)
class FillReceived(Event):
    """A fill was applied to the ledger; ``position`` is the strategy's position after it."""

    fill: Fill
    position: Position


@attrs.frozen(kw_only=True)
class PresetApplied(Event):
    """A preset was put in force; ``version`` counts from 1 (the preset the engine started with)."""

    version: int
    diff: Any


@attrs.frozen(kw_only=True)
class PresetRejected(Event):
    """A preset was refused; the one in force is unchanged."""

    error: Exception


@attrs.frozen(kw_only=True)
class RiskTripped(Event):
    """A risk rule, the circuit breaker or the kill switch acted."""

    rule: str
    reason: str
    action: str
    order: Order | None


@attrs.frozen(kw_only=True)
class StrategyStateChanged(Event):
    """A strategy was paused, resumed, tripped by its circuit breaker or retried."""

    strategy_id: str
    state: str
    reason: str


@attrs.frozen(kw_only=True)
class DataRejected(Event):
    """A bar failed a data-quality check, or an instrument's data went stale (``bar`` is then its last
    bar, ``None`` if none came); ``action`` is what the engine did (halt, skip, warn)."""

    bar: Bar | None  # None: a data file's row that could not be read as a bar, or stale data before any bar
    reason: str
    action: str


@attrs.frozen(kw_only=True)
class ErrorOccurred(Event):
    """A strategy's signal, indicators or sizer raised; ``where`` says which strategy and instrument.
    (A failing observer is logged and reported to the ``error`` hook only.)"""

    where: str
    exception: BaseException


@attrs.frozen(kw_only=True)
class EventsDropped(Event):
    """This consumer was too slow: ``count`` of its oldest events were dropped since the last notice."""

    count: int



class EventStream:
    """One consumer's buffer of engine events, and the async iterator over it.

    Args:
        maxsize: how many events the buffer holds.
        policy: what happens when it is full. ``"drop_oldest"``: the oldest event is dropped and
            counted; the consumer receives an :class:`EventsDropped` with the count before the next
            event it reads. The engine never waits. ``"backpressure"``: nothing is dropped; the engine
            finishes the batch of bars it is handling (a batch is one bar in paper and live mode) and
            then waits until the buffer has room, so the buffer may briefly hold more than ``maxsize``.
        bars: include one :class:`BarProcessed` per bar (the busiest event by far).
    """

    def __init__(self, maxsize: int, policy: str, bars: bool, on_close: Callable[[EventStream], None]) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(map(repr, POLICIES))}, got {policy!r}")
        self.maxsize = maxsize
        self.policy = policy
        self.bars = bars
        self.dropped = 0  #: events dropped in total (drop_oldest)
        self._pending_drops = 0
        self._buffer: deque[Event] = deque()
        self._readable = anyio.Event()
        self._writable = anyio.Event()
        self._closed = False
        self._on_close = on_close

    # --- engine side ------------------------------------------------------------------------------

    def put(self, event: Event) -> None:
        buffer = self._buffer
        if len(buffer) >= self.maxsize and self.policy == "drop_oldest":
            buffer.popleft()
            self.dropped += 1
            self._pending_drops += 1
        buffer.append(event)
        if not self._readable.is_set():
            self._readable.set()

    @property
    def full(self) -> bool:
        return self.policy == "backpressure" and len(self._buffer) >= self.maxsize

    async def wait_writable(self) -> None:
        """Wait until a backpressure buffer has room (or the consumer left)."""
        while self.full and not self._closed:
            self._writable = anyio.Event()
            await self._writable.wait()

    def close(self) -> None:
        """No more events: the iterator ends once the buffer is read."""
        self._closed = True
        self._readable.set()
        self._writable.set()

    # --- consumer side ----------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._readable = anyio.Event()
            if self._buffer or self._closed:
                continue
            await self._readable.wait()
        if self._pending_drops:
            count, self._pending_drops = self._pending_drops, 0
            first = self._buffer[0]
            return EventsDropped(seq=first.seq, ts=first.ts, count=count)
        event = self._buffer.popleft()
        if self.policy == "backpressure" and len(self._buffer) < self.maxsize:
            self._writable.set()
        return event

    async def aclose(self) -> None:
        """Stop consuming: the engine forgets this stream."""
        self.close()
        self._on_close(self)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
