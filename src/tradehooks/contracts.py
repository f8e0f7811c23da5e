"""The small contracts every component satisfies: one :class:`typing.Protocol` per extension point.

A plugin registers **classes** through the ``register_*`` hooks. Every such class has a unique
``name`` (what presets use) and may have a ``Params`` class (a frozen attrs class; the preset's
``params`` table is validated into it by cattrs, unknown keys are errors). The engine builds one object
per use:

======================  ===============================  ====================================
kind                    built as                         called
======================  ===============================  ====================================
data source             ``cls(params, ctx)``             ``stream()`` once, ``history()`` on warm-up
indicator               ``cls(params)``                  ``update(bar)`` on every bar
signal (the strategy)   ``cls(params, ctx)``             ``on_bar(bar)`` on every bar
sizer                   ``cls(params, ctx)``             ``size(...)`` when a target changes
risk rule               ``cls(params, ctx)``             ``check(order, view)`` for every order
broker                  ``cls(params, ctx)``             ``submit``/``cancel``/``amend``
======================  ===============================  ====================================

The per-event path calls these methods directly; pluggy is used only to collect the classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from .exceptions import DataError
from .model import Bar, Fill, Instrument, InstrumentId, Order

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

__all__ = [
    "Broker",
    "BrokerEvents",
    "Clock",
    "ComponentContext",
    "DataSource",
    "Indicator",
    "OrderBookView",
    "PortfolioView",
    "RiskDecision",
    "RiskRule",
    "Signal",
    "Sizer",
    "Target",
]


@runtime_checkable
class Clock(Protocol):
    """Where the engine reads the time: simulated in backtests, the wall clock in paper and live."""

    def now(self) -> int:
        """The current time in integer nanoseconds since the Unix epoch (UTC)."""
        ...


@attrs.frozen(kw_only=True)
class ComponentContext:
    """What the engine hands a component it builds.

    Attributes:
        engine_id: the engine's id (also bound on ``log``).
        mode: ``"backtest"``, ``"paper"`` or ``"live"``.
        clock: the engine's clock.
        log: a structlog logger bound with the engine id (and strategy id for strategy components).
        base_dir: the directory relative paths in the preset are resolved against.
        instruments: every instrument of the preset, by id.
        timeframe: the bar length in nanoseconds.
        strategy_id: the strategy this component belongs to (signals, sizers), else ``None``.
        instrument: the instrument a signal runs on, else ``None``.
        reject_bar: for data sources that check their own rows (``validated = True``): applies the
            preset's ``[data] quality`` to a malformed one. Called as ``reject_bar(error, bar,
            usable)`` with a located :class:`~tradehooks.exceptions.DataError`, the bar (``None``
            when the row could not be read as one) and whether the bar could be used all the same
            (only its values are off, its time is in order); it reports the rejection (the
            ``data_rejected`` hook, the event stream) and returns ``True`` to drop the row or
            ``False`` to use the bar, or raises ``error`` when the policy is ``halt``. ``None``
            outside an engine: a source then raises the error itself.
    """

    engine_id: str
    mode: str
    clock: Clock
    log: FilteringBoundLogger
    base_dir: Path
    instruments: Mapping[InstrumentId, Instrument]
    timeframe: int
    strategy_id: str | None = None
    instrument: Instrument | None = None
    reject_bar: Callable[[DataError, Bar | None, bool], bool] | None = None
    _indicator_factory: Any = attrs.field(default=None, alias="indicator_factory", repr=False)

    def indicator(self, name: str, /, **params: Any) -> Indicator:
        """Build indicator ``name`` with ``params`` and have the engine update it on every bar of this
        signal's instrument, **before** ``on_bar`` is called. Only signals may ask for indicators.

        Example::

            self.fast = ctx.indicator("sma", period=params.fast)
        """
        if self._indicator_factory is None:
            raise TypeError("only a signal's context can build indicators")
        return self._indicator_factory(name, params)  # type: ignore[no-any-return]


@runtime_checkable
class OrderBookView(Protocol):
    """An L2 order book of one instrument, read only: what a data source shows of the book it keeps.

    Levels are ``(price, size)`` pairs of :class:`~decimal.Decimal`, best first (bids from the highest
    price down, asks from the lowest up), with sizes > 0; prices are on the instrument's tick. The view
    is live: it shows the book as of the last update applied (at ``ts``), so a reader copies what it
    wants to keep. A data source hands one out only while the book is synced (a snapshot was applied
    and no update was missed since).

    Attributes:
        instrument_id: the instrument of the book.
        ts: the time of the last update applied, in ns since the epoch (the exchange's time when it
            gives one).
    """

    instrument_id: InstrumentId
    ts: int

    def bids(self, depth: int | None = None) -> Sequence[tuple[Decimal, Decimal]]:
        """The bid levels, best (highest) first; at most ``depth`` of them (``None``: all)."""
        ...

    def asks(self, depth: int | None = None) -> Sequence[tuple[Decimal, Decimal]]:
        """The ask levels, best (lowest) first; at most ``depth`` of them (``None``: all)."""
        ...


@runtime_checkable
class DataSource(Protocol):
    """Produces the bars of the preset's instruments, in time order.

    The engine checks every bar (prices, range, volume, time order) and applies ``[data] quality``;
    a source that validates every bar itself may set ``validated: ClassVar[bool] = True`` to spare the
    engine the per-bar check (time order is checked anyway), and hands the rows it refuses to
    :attr:`ComponentContext.reject_bar` so that the policy applies to them too.

    Optional capabilities (found with ``getattr``; a source has all of a group or none):

    * Order books, for a source that keeps L2 books (paper trading fills against them):

      - ``order_book(instrument_id: InstrumentId) -> OrderBookView | None``: the book of
        ``instrument_id``, or ``None`` while it is not synced (before the first snapshot, after a gap
        in the updates until the next snapshot) or not kept. Cheap: called for every order.
      - ``add_book_listener(callback: Callable[[OrderBookView], None]) -> None``: call ``callback``
        with the book after each update is fully applied (never mid-update, never for an unsynced
        book), on the engine's event loop (from the task that runs ``stream()``, or a task in the
        same loop), never from another thread. Several listeners may be added; each is called once
        per update, in the order added. A listener must not be called re-entrantly (not from inside
        another listener call).

      The engine hands the source to the broker's ``use_order_books`` once after building.

    * History download, for ``tradehooks data download``:

      - ``download(instrument_id: InstrumentId, start: int, end: int) -> AsyncIterator[Sequence[Bar]]``:
        the bars of ``instrument_id`` with ``start <= ts < end`` (ns, bar open times), in pages,
        oldest first: each page in time order and after the previous one, no duplicates. An async
        generator; the command may stop iterating at any page (Ctrl-C), so keep no state across
        calls. The bars' ``instrument_id`` is ``instrument_id``. The source is built with the
        ``[data.params]`` given on the command line, the instrument given by ``--symbol``
        (``ctx.instruments``), ``ctx.mode == "paper"`` and the wall clock; ``stream()`` is not called.
        Repeats of the last bar (overlapping pages) are dropped; any other bar out of order or out
        of range stops the download with an error.

    Example of a source with books::

        def order_book(self, instrument_id: InstrumentId) -> OrderBookView | None:
            book = self._books.get(instrument_id)
            return book if book is not None and book.synced else None

        def add_book_listener(self, callback: Callable[[OrderBookView], None]) -> None:
            self._listeners.append(callback)
    """

    name: ClassVar[str]

    def stream(self) -> AsyncIterator[Sequence[Bar]]:
        """Yield bars in batches (a backtest source yields large batches, a live source batches of
        one), in non-decreasing ``ts`` order across all instruments. The stream ends when the data does;
        a live source runs until cancelled."""
        ...

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> Sequence[Bar]:
        """Return up to ``count`` bars of ``instrument_id`` that closed at or before ``end`` (ns), oldest
        first, for warming indicators up. Sources without history return an empty sequence."""
        ...


@runtime_checkable
class Indicator(Protocol):
    """An incremental indicator: O(1) work per update.

    Values follow TA-Lib's conventions (the same warm-up length, SMA-seeded EMA, Wilder smoothing).
    """

    name: ClassVar[str]

    @property
    def value(self) -> float | None:
        """The latest value, or ``None`` until warmed up."""
        ...

    def update(self, bar: Bar) -> float | None:
        """Take one bar, return the new value (``None`` until warmed up)."""
        ...


@attrs.frozen
class Target:
    """What a signal wants: a target exposure in [-1, 1] for the bar's instrument, and why.

    ``1`` is fully long (as much as the sizer allows), ``0`` flat, ``-1`` fully short.
    """

    exposure: float
    reason: str = ""


@runtime_checkable
class Signal(Protocol):
    """The strategy: reads bars and indicators, says where it wants to be. It never places orders.

    One object is built per strategy and instrument.

    Optional state hand-over: when a strategy is rebuilt while the engine runs (its plugin's code was
    re-imported with ``tradehooks run --reload-plugins``, or its settings changed), the engine calls
    ``get_state()`` on the old object and ``set_state(state)`` on the new one, if both exist.
    """

    name: ClassVar[str]

    def on_bar(self, bar: Bar) -> Target | float | None:
        """Called with every closed bar of the instrument, after its indicators were updated.

        Return a :class:`Target` (or a bare exposure float) to change the target, or ``None`` to keep
        the previous one. Orders resulting from it fill no earlier than the next bar.
        """
        ...


@runtime_checkable
class Sizer(Protocol):
    """Turns a target exposure into a target quantity.

    One object is built per strategy and instrument. Two optional methods let a sizer keep its own
    statistics: ``on_bar(bar)`` is called with every bar of its instrument, before the signal (for an
    ATR or a realised volatility), and ``on_trade_closed(pnl)`` with the net PnL (a ``Decimal``,
    realised minus fees) of each round trip its strategy closes on that instrument (for Kelly sizing).
    """

    name: ClassVar[str]

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return the signed target quantity for ``exposure`` at ``price``, given the account ``equity``
        and the strategy's current ``position``. Round towards zero to the instrument's lot size (use
        :meth:`Instrument.quantity_down`); the order router refuses quantities under the minimum
        notional."""
        ...


@attrs.frozen
class RiskDecision:
    """A risk rule's answer for one order: allow it, shrink it to ``quantity``, or deny it."""

    action: str  # "allow" | "shrink" | "deny"
    reason: str = ""
    quantity: Decimal | None = None

    @classmethod
    def allow(cls) -> RiskDecision:
        return cls("allow")

    @classmethod
    def deny(cls, reason: str) -> RiskDecision:
        return cls("deny", reason)

    @classmethod
    def shrink(cls, quantity: Decimal, reason: str) -> RiskDecision:
        return cls("shrink", reason, quantity)


class PortfolioView(Protocol):
    """Read-only view of the portfolio (and the open orders) that risk rules see."""

    def position(self, instrument_id: InstrumentId, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held, by one strategy or in total."""
        ...

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        """Net signed quantity per instrument."""
        ...

    def equity(self) -> Decimal:
        """Cash plus positions at the last prices (exact)."""
        ...

    def last_price(self, instrument_id: InstrumentId) -> float | None:
        """The last close seen, or ``None``."""
        ...

    def open_orders(self, instrument_id: InstrumentId | None = None, strategy_id: str | None = None) -> Sequence[Order]:
        """Orders that may still fill, oldest first, optionally of one instrument and/or strategy."""
        ...


@runtime_checkable
class RiskRule(Protocol):
    """Sees every order before it reaches the broker.

    Optional methods a rule may define:

    * ``on_equity(equity: float, ts: int) -> str | None``: called once per bar time with the account's
      equity after that bar (``ts`` is the bar's close, ns). Return a reason to throw the kill switch
      (cancel every order, flatten every position, refuse new orders until it is reset), or ``None``.
      For drawdown and daily-loss limits.
    * ``equity_band() -> tuple[float, float, int] | None``: asked after each ``on_equity`` call that
      returned ``None``. ``(low, high, until)`` promises that, for a bar closing before ``until``
      (ns) with an equity strictly between ``low`` and ``high``, ``on_equity`` would return ``None``
      and change nothing: the engine skips those calls (an equity rule otherwise costs a call per
      bar). ``None``: call on every bar. After the kill switch is reset, every rule is called again
      on the next bar.
    * ``on_fill(fill: Fill) -> None``: called after each fill is applied to the ledger.
    """

    name: ClassVar[str]

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        """Return ``None`` or :meth:`RiskDecision.allow` to let the order through,
        :meth:`RiskDecision.shrink` to reduce it, :meth:`RiskDecision.deny` to stop it."""
        ...


class BrokerEvents(Protocol):
    """Where a broker reports what happens to orders (the engine implements it)."""

    def order_updated(self, order: Order) -> None:
        """An order's status changed (accepted, cancelled, rejected, expired, ...)."""
        ...

    def fill(self, fill: Fill) -> None:
        """An order (partly) filled. Report the fill **before** the order update that says filled."""
        ...

    def error(self, exception: Exception) -> None:
        """A failure the broker found in its own tasks, after the request that caused it returned (an
        authentication error on a queued request, an order it cannot account for). The engine logs it
        and reports it to observers and event streams; an exception that is not ``recoverable`` (see
        :class:`~tradehooks.exceptions.BrokerError`) throws the kill switch, without flattening.
        Brokers written before this method existed find it with ``getattr(events, "error", None)``."""
        ...


@runtime_checkable
class Broker(Protocol):
    """Where orders go: the paper broker, or an exchange adapter.

    ``submit``, ``cancel`` and ``amend`` never block: a live broker queues the request and reports the
    outcome through :class:`BrokerEvents`. Submission must be idempotent by ``client_order_id``.
    A simulated broker may also define ``on_bar(bar)``; the engine then calls it with every bar
    **before** signals see that bar, so orders placed on one bar fill on the next one at the earliest.

    Optional capabilities (found with ``getattr``):

    * ``set_initial_cash(currency, amount)``: the preset's starting cash, before ``connect``.
    * ``restore(orders, fills)``: rebuild the broker's own state from the journal, before ``connect``.
    * ``reconcile(open_orders)`` (async): after ``connect`` when the journal held anything, compare
      the journaled open orders with the venue's.
    * ``settle()``: fill what the final flatten ordered (a simulated broker) before ``close``.
    * ``use_order_books(source: DataSource) -> None``: the engine calls it once after building both,
      when the data source has ``order_book`` (and again with the new ones whenever it rebuilds the
      broker or the source). A simulated broker keeps ``source`` to read
      ``source.order_book(instrument_id)`` when it matches orders, and may register a listener with
      ``source.add_book_listener`` to match resting orders on every book update. The engine has not
      started yet: do no I/O here.
    * ``skip_quiet_bars(closes) -> (open_orders, bar_times)``: a simulated broker with ``on_bar``
      that needs no call for bars while it has no open order. The engine calls it once after
      building; from then on, for every bar, it calls ``on_bar`` only while ``open_orders`` is not
      empty and otherwise sets ``bar_times[bar.instrument_id] = bar.ts`` instead, and right after
      that point it sets ``closes[bar.instrument_id] = bar.close`` (the broker reads both).
    """

    name: ClassVar[str]

    async def connect(self, events: BrokerEvents) -> None:
        """Start: open connections, load state, begin reporting to ``events``."""
        ...

    async def close(self) -> None:
        """Stop: close connections. Open orders are left as they are (the engine cancels first if the
        preset says so)."""
        ...

    def submit(self, order: Order) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Change an open order; the outcome is reported through :class:`BrokerEvents`."""
        ...

    def balances(self) -> Mapping[str, Decimal]:
        """Cash per currency as the broker sees it."""
        ...

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        """Signed position per instrument as the broker sees it."""
        ...
