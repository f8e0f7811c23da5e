"""The paper broker: fills orders against bars, deterministically, with exact fees and its own ledger.

Orders never fill when submitted. The engine calls :meth:`PaperBroker.on_bar` with every bar before
strategies see it, so an order decided on bar *t*'s close fills at bar *t+1*'s open at the earliest.

========================  =====================================================================
order                     fills on a bar (buy shown; a sell mirrors it)
========================  =====================================================================
market                    at the open, plus slippage; taker
limit at L                at the open if open <= L (gapped through), else at L if low <= L; maker
stop at S                 at the open if open >= S, else at S if high >= S; plus slippage; taker
stop-limit at S, L        triggers like a stop, then is a limit at L; triggered intrabar, it fills
                          at S only if S <= L, else rests as a limit from the next bar; maker
========================  =====================================================================

Taker prices are rounded to the tick in the trader's disfavour (a buy up, a sell down). IOC and FOK
orders live for one bar; DAY orders expire on the first bar of a later UTC day.

In paper and live mode, when the data source keeps L2 order books (see :meth:`PaperBroker.use_order_books`),
market and limit orders of an instrument whose book is synced fill against the book instead: a market
order (or the marketable part of a limit) walks the opposite side's levels when it is submitted, one
taker fill per level; a resting limit fills as a maker, at its price, when an update brings the
opposite best to it, up to the size at the crossing levels. Stop and stop-limit orders trigger and
fill on bars as above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from tradehooks import hookimpl
from tradehooks.contracts import BrokerEvents, ComponentContext, DataSource, OrderBookView
from tradehooks.exceptions import EngineStateError, FieldError, InvalidOrderError
from tradehooks.model import (
    NS_PER_SECOND,
    ZERO,
    Bar,
    Fill,
    Instrument,
    InstrumentId,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    to_decimal,
)
from tradehooks.model.numbers import ceil_to, floor_to

__all__ = ["PaperBroker", "register_brokers"]

_NS_PER_DAY = 86_400 * NS_PER_SECOND
_BOOK_TYPES = (OrderType.MARKET, OrderType.LIMIT)  # the order types that fill against a book
_BPS = Decimal(10_000)


def _fee_rate(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not Decimal("-0.01") <= value < Decimal("0.1"):
        raise FieldError(
            attribute.name,
            f"{attribute.name} must be >= -0.01 and < 0.1 (a fraction of notional: 0.001 is 0.1%), "
            f"got {value}"
        )


def _non_negative(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"{attribute.name} must be >= 0, got {value}")


def _fraction(instance: object, attribute: attrs.Attribute[Decimal | None], value: Decimal | None) -> None:
    if value is not None and not ZERO < value <= 1:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 and <= 1 (or unset for no cap), got {value}")


def _to_balances(value: Mapping[str, Any] | None) -> dict[str, Decimal] | None:
    return None if value is None else {currency: to_decimal(amount) for currency, amount in value.items()}


@attrs.define(slots=True)
class _Working:
    """The broker's private bookkeeping for one open order."""

    order: Order
    after_ts: int | None  # the order may fill only on bars that open after this ts (no look-ahead)
    day: int  # the UTC day number (ns // one day) the order was submitted on, for DAY orders
    triggered: bool = False  # a stop or stop-limit whose trigger was hit
    notional: Decimal = ZERO  # sum of price * quantity of its fills, for the exact VWAP
    met_book: bool = False  # had its first matching against an order book (as a taker)


def _number(text: str, prefix: str) -> int:
    """``paper-17`` -> 17 (0 for ids of another form)."""
    tail = text[len(prefix):] if text.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else 0


class PaperBroker:
    """A simulated broker that fills orders against bars and keeps its own exact account.

    Args:
        params: validated parameters, or ``None`` for the defaults.
        ctx: the engine's context (instruments, clock, log).
    """

    name: ClassVar[str] = "paper"

    @attrs.frozen(kw_only=True)
    class Params:
        """The paper broker's parameters.

        Attributes:
            taker_fee: fee rate of market and stop fills, and of what a limit takes from an order book,
                a fraction of notional (>= -0.01, < 0.1).
            maker_fee: fee rate of limit and stop-limit fills (negative for a rebate).
            slippage_bps: basis points added to a taker buy's price (subtracted from a sell's).
            max_volume_fraction: at most this fraction of a bar's volume fills per bar (``None``: no cap).
            balances: starting cash per currency; ``None`` takes it from the engine.
            use_order_book: in paper and live mode, fill market and limit orders against the data
                source's L2 order book when it has a synced one for the instrument (else on bars).
        """

        taker_fee: Decimal = attrs.field(default=Decimal("0.001"), converter=to_decimal, validator=_fee_rate)
        maker_fee: Decimal = attrs.field(default=Decimal("0.001"), converter=to_decimal, validator=_fee_rate)
        slippage_bps: Decimal = attrs.field(default=ZERO, converter=to_decimal, validator=_non_negative)
        max_volume_fraction: Decimal | None = attrs.field(
            default=None, converter=attrs.converters.optional(to_decimal), validator=_fraction
        )
        balances: dict[str, Decimal] | None = attrs.field(default=None, converter=_to_balances)
        use_order_book: bool = True

    def __init__(self, params: PaperBroker.Params | None, ctx: ComponentContext) -> None:
        self._params = params if params is not None else PaperBroker.Params()
        self._ctx = ctx
        self._events: BrokerEvents | None = None
        self._cash: dict[str, Decimal] = dict(self._params.balances or {})
        self._positions: dict[InstrumentId, Decimal] = {}
        self._open: dict[str, _Working] = {}  # insertion order is submission order
        self._seen: set[str] = set()
        self._last_close: dict[InstrumentId, float] = {}  # floats: converted only when an order needs one
        self._exact_closes: dict[InstrumentId, tuple[float, Decimal]] = {}  # the last one converted, per instrument
        self._last_ts: int | None = None
        # Once :meth:`skip_quiet_bars` was called: the last bar ts per instrument, written by on_bar and by
        # the engine for the bars it does not pass on (it calls on_bar only while orders are open).
        self._bar_times: dict[InstrumentId, int] | None = None
        self._trades = 0
        self._accepted = 0
        # The data source's ``order_book`` once :meth:`use_order_books` accepted it (paper and live).
        self._book_of: Callable[[InstrumentId], OrderBookView | None] | None = None
        # Per instrument: the book's ts and the size our fills took from each (side, price) level since
        # the book last changed, so one book state's liquidity is not used twice.
        self._used: dict[InstrumentId, tuple[int, dict[tuple[bool, Decimal], Decimal]]] = {}
        slip = self._params.slippage_bps / _BPS
        self._buy_slip, self._sell_slip = 1 + slip, 1 - slip  # taker prices are multiplied by these
        self._slipping = bool(slip)  # without slippage the multiplication (by exactly 1) is skipped

    # --- lifecycle ------------------------------------------------------------------------------------

    def set_initial_cash(self, currency: str, amount: Decimal) -> None:
        """Set the starting cash in ``currency`` (the engine calls this before :meth:`connect` when the
        preset gives no ``balances``; configured balances win)."""
        if self._events is not None:
            raise EngineStateError("set_initial_cash must be called before connect")
        if self._params.balances is not None:
            self._ctx.log.debug("paper broker: configured balances win over initial cash", currency=currency)
            return
        self._cash[currency] = to_decimal(amount)

    def restore(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Rebuild the account from a journal after a restart (the engine calls this before
        :meth:`connect`): cash and positions from the fills, the open orders as resting orders
        (an order never acknowledged is accepted now: submission is idempotent), and the counters so
        new trade and order ids never repeat journaled ones."""
        if self._events is not None:
            raise EngineStateError("restore must be called before connect")
        for fill in fills:
            signed = fill.signed_quantity
            quote = self._ctx.instruments[fill.instrument_id].quote if fill.instrument_id in self._ctx.instruments \
                else fill.fee_currency
            self._cash[quote] = self._cash.get(quote, ZERO) - signed * fill.price - fill.fee
            self._positions[fill.instrument_id] = self._positions.get(fill.instrument_id, ZERO) + signed
            self._trades = max(self._trades, _number(fill.trade_id, "paper-"))
        for order in orders:
            self._seen.add(order.client_order_id)
            self._accepted = max(self._accepted, _number(order.venue_order_id or "", "paper-order-"))
            if order.is_open:
                resting = attrs.evolve(order, status=OrderStatus.ACCEPTED) \
                    if order.status in (OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL) else order
                work = _Working(resting, None, (order.ts_created or 0) // _NS_PER_DAY)
                work.notional = (order.avg_fill_price or ZERO) * order.filled_quantity
                self._open[order.client_order_id] = work

    def use_order_books(self, source: DataSource) -> None:
        """Fill against ``source``'s L2 order books (the engine calls this once after building, when
        the source has ``order_book``).

        Ignored in a backtest (bars are the only market there) and with ``use_order_book = false``.
        Otherwise, from now on, a market or limit order of an instrument whose book is synced and not
        empty is matched against the book: when it is submitted (or amended), and on every book update
        the source reports through ``add_book_listener``. Without a synced book it fills on bars.
        """
        if self._ctx.mode == "backtest" or not self._params.use_order_book:
            self._ctx.log.debug("paper broker: order books not used", mode=self._ctx.mode,
                                use_order_book=self._params.use_order_book)
            return
        order_book = getattr(source, "order_book", None)
        if order_book is None:
            return
        self._book_of = order_book
        self._used.clear()
        add_listener = getattr(source, "add_book_listener", None)
        if add_listener is not None:
            add_listener(self._on_book)

    async def connect(self, events: BrokerEvents) -> None:
        """Start reporting order updates and fills to ``events``."""
        self._events = events

    async def close(self) -> None:
        """Stop; open orders stay as they are."""
        self._ctx.log.debug("paper broker closed", open_orders=len(self._open))

    # --- account --------------------------------------------------------------------------------------

    def balances(self) -> dict[str, Decimal]:
        """Cash per currency: the starting cash minus ``signed_qty * price + fee`` of every fill."""
        return dict(self._cash)

    def positions(self) -> dict[InstrumentId, Decimal]:
        """Signed net position per instrument traded (the sum of signed fill quantities)."""
        return dict(self._positions)

    def open_orders(self) -> tuple[Order, ...]:
        """The open orders, in submission order."""
        return tuple(work.order for work in self._open.values())

    # --- requests -------------------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        """Accept ``order`` to rest until the next bar, or reject it; a repeated id is ignored."""
        events = self._events or self._sink()
        if order.client_order_id in self._seen:
            self._ctx.log.debug("paper broker: repeat ignored", client_order_id=order.client_order_id)
            return
        self._seen.add(order.client_order_id)
        now = self._ctx.clock.now()
        problem = self._problem(order)
        if problem is not None:
            rejected = attrs.evolve(order, status=OrderStatus.REJECTED, reason=problem, ts_updated=now)
            events.order_updated(rejected)
            return
        self._accepted += 1
        accepted = order.updated(
            status=OrderStatus.ACCEPTED, ts_updated=now, venue_order_id=f"paper-order-{self._accepted}"
        )
        last_ts = self._latest_ts()
        submitted_at = order.ts_created or (last_ts + self._ctx.timeframe if last_ts is not None else now)
        work = self._open[order.client_order_id] = _Working(accepted, last_ts, submitted_at // _NS_PER_DAY)
        events.order_updated(accepted)
        if self._book_of is not None and order.type in _BOOK_TYPES:
            book = self._book(order.instrument_id)
            if book is not None and self._open.get(order.client_order_id) is work:
                self._arrive(work, self._ctx.instruments[order.instrument_id], book, now)

    def cancel(self, client_order_id: str) -> None:
        """Cancel an open order; an unknown or closed id is ignored."""
        work = self._open.get(client_order_id)
        if work is None:
            self._ctx.log.debug("paper broker: nothing to cancel", client_order_id=client_order_id)
            return
        self._finish(work, OrderStatus.CANCELED, "cancelled on request", self._ctx.clock.now())

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        """Change an open order's quantity (the total, filled part included), price or trigger price.

        An unknown or closed id is ignored. The amended order is reported with its new values.

        Raises:
            InvalidOrderError: the new values break the instrument's rules or the order's own (a
                quantity not above what already filled, a price on a market order, a crossing post-only
                limit, ...); the order is left unchanged.
        """
        events = self._sink()
        work = self._open.get(client_order_id)
        if work is None:
            self._ctx.log.debug("paper broker: nothing to amend", client_order_id=client_order_id)
            return
        changes: dict[str, Any] = {
            key: to_decimal(value)
            for key, value in (("quantity", quantity), ("price", price), ("trigger_price", trigger_price))
            if value is not None
        }
        if not changes:
            return
        old = work.order
        try:
            amended = attrs.evolve(old, **changes, ts_updated=self._ctx.clock.now())
        except ValueError as exc:
            raise InvalidOrderError(f"cannot amend {client_order_id}: {exc}") from None
        if amended.quantity <= amended.filled_quantity:
            raise InvalidOrderError(
                f"cannot amend {client_order_id}: quantity {amended.quantity} is not above the "
                f"{amended.filled_quantity} already filled"
            )
        problem = self._problem(amended)
        if problem is not None:
            raise InvalidOrderError(f"cannot amend {client_order_id}: {problem}")
        work.order = amended
        work.after_ts = self._latest_ts()
        events.order_updated(amended)
        if self._book_of is not None and amended.type in _BOOK_TYPES and self._open.get(client_order_id) is work:
            book = self._book(amended.instrument_id)
            if book is not None:  # an amended order meets the book again: a new price may take
                work.met_book = False
                self._arrive(work, self._ctx.instruments[amended.instrument_id], book, self._ctx.clock.now())

    def _problem(self, order: Order) -> str | None:
        """Why ``order`` must be rejected, or ``None``."""
        instrument = self._ctx.instruments.get(order.instrument_id)
        if instrument is None:
            return f"unknown instrument {order.instrument_id!r}"
        last = self._exact_close(order.instrument_id)
        try:
            if order.type is OrderType.MARKET and last is not None:  # no prices: order.check's lot rules,
                instrument.check_quantity(order.quantity, last)  # and the minimum notional at the last close
            else:
                order.check(instrument)
        except InvalidOrderError as exc:
            return str(exc)
        if order.post_only:
            if order.type in (OrderType.MARKET, OrderType.STOP):
                return f"a post-only order must be a limit order, not {order.type.value}"
            book = self._book(order.instrument_id) if self._book_of is not None else None
            if order.type is OrderType.LIMIT and book is not None and order.price is not None:
                if self._crosses(order, book):
                    best = (book.asks(1) if order.side is Side.BUY else book.bids(1))[0][0]
                    return f"post-only limit {order.price} would take liquidity (best opposite price {best})"
            elif order.type is OrderType.LIMIT and last is not None and order.price is not None:
                crosses = order.price >= last if order.side is Side.BUY else order.price <= last
                if crosses:
                    return f"post-only limit {order.price} would take liquidity (last close {last})"
        if order.reduce_only and self._reducible(order) < order.remaining:
            position = self._positions.get(order.instrument_id, ZERO)
            return (
                f"reduce-only {order.side.value} of {order.remaining} would increase the position {position}"
            )
        return None

    def _exact_close(self, instrument_id: InstrumentId) -> Decimal | None:
        """The last close of ``instrument_id`` as an exact decimal (converted once per bar at most)."""
        last = self._last_close.get(instrument_id)
        if last is None:
            return None
        cached = self._exact_closes.get(instrument_id)
        if cached is not None and cached[0] == last and last:  # (0.0 == -0.0, whose reprs differ)
            return cached[1]
        exact = to_decimal(last)
        self._exact_closes[instrument_id] = (last, exact)
        return exact

    # --- matching -------------------------------------------------------------------------------------

    def skip_quiet_bars(self, closes: dict[InstrumentId, float]) -> tuple[Sized, dict[InstrumentId, int]]:
        """Let the engine call :meth:`on_bar` only while orders are open (a call per bar saved).

        ``closes`` is the engine's last close per instrument, which it writes after the point where it
        calls on_bar, as on_bar writes this broker's own; the broker reads it from now on. Returns the
        open orders, which the engine tests at that point for every bar (empty: no call), and the
        bar times per instrument, which the engine writes there instead (``[instrument_id] = ts``)
        for a bar it does not pass on.
        """
        self._last_close = closes
        self._bar_times = {}
        return self._open, self._bar_times

    def _latest_ts(self) -> int | None:
        """The ts of the latest bar seen (of any instrument)."""
        if self._bar_times:
            return max(self._bar_times.values())
        return self._last_ts  # (not linked, or no bar since: the latest bar on_bar saw before)

    def on_bar(self, bar: Bar) -> None:
        """Match the open orders of ``bar``'s instrument against it, in submission order.

        Call with every bar before strategies see it. Orders submitted from now on (even from an event
        callback during this call) wait for a bar that opens later.
        """
        if self._bar_times is not None:
            self._bar_times[bar.instrument_id] = bar.ts
        elif self._last_ts is None or bar.ts > self._last_ts:
            self._last_ts = bar.ts
        if self._open:  # the common case in a backtest is no open order: keep that path short
            instrument = self._ctx.instruments.get(bar.instrument_id)
            if instrument is not None:
                self._match_bar(bar, instrument)
        self._last_close[bar.instrument_id] = bar.close

    def _match_bar(self, bar: Bar, instrument: Instrument) -> None:
        fraction = self._params.max_volume_fraction
        budget = None if fraction is None else instrument.quantity_down(to_decimal(bar.volume) * fraction)
        day = bar.ts // _NS_PER_DAY
        candidates = [
            work
            for work in self._open.values()
            if work.order.instrument_id == bar.instrument_id
            and (work.after_ts is None or bar.ts > work.after_ts)
        ]
        # With a synced book, market and limit orders fill against it, not against bars.
        booked = self._book_of is not None and self._book(bar.instrument_id) is not None
        for work in candidates:
            if work.order.client_order_id not in self._open:  # closed by a callback during this loop
                continue
            order = work.order
            tif = order.time_in_force
            if tif is TimeInForce.DAY and day != work.day:
                self._finish(work, OrderStatus.EXPIRED, "day order expired at the end of its UTC day", bar.ts)
                continue
            if booked and order.type in _BOOK_TYPES:
                continue
            if order.type is OrderType.MARKET and tif is TimeInForce.GTC and budget is None and not order.reduce_only:
                # The common case spelt out (what the general path below does for it): a market order
                # fills whole at the open, as a taker.
                price = self._taker_price(instrument, to_decimal(bar.open), order.side is Side.BUY)
                self._fill(work, instrument, order.remaining, price, Liquidity.TAKER, bar.ts)
                continue
            matched = self._price(work, instrument, bar)
            if matched is not None:
                quantity = order.remaining if budget is None else min(order.remaining, budget)
                if order.reduce_only:
                    reducible = self._reducible(order)
                    if reducible <= 0:
                        reason = "reduce-only: no position left to reduce"
                        self._finish(work, OrderStatus.CANCELED, reason, bar.ts)
                        continue
                    quantity = min(quantity, reducible)
                if tif is TimeInForce.FOK and quantity < order.remaining:
                    quantity = ZERO
                if quantity > 0:
                    if budget is not None:
                        budget -= quantity
                    self._fill(work, instrument, quantity, matched[0], matched[1], bar.ts)
            if work.order.is_open and tif in (TimeInForce.IOC, TimeInForce.FOK):
                reason = (
                    "fill-or-kill: could not fill whole on the first bar"
                    if tif is TimeInForce.FOK
                    else "immediate-or-cancel: the unfilled rest was cancelled"
                )
                self._finish(work, OrderStatus.CANCELED, reason, bar.ts)

    def settle(self) -> None:
        """Fill every open market order at the last close seen, as a taker (with slippage).

        The engine calls this when it stops with ``flatten=True``: no later bar will come, and the last
        close is the best estimate of the next open.
        """
        for work in list(self._open.values()):
            order = work.order
            last = self._last_close.get(order.instrument_id)
            instrument = self._ctx.instruments.get(order.instrument_id)
            if order.type is not OrderType.MARKET or last is None or instrument is None:
                continue
            price = self._taker_price(instrument, to_decimal(last), order.side is Side.BUY)
            self._fill(work, instrument, order.remaining, price, Liquidity.TAKER, self._ctx.clock.now())

    def _price(self, work: _Working, instrument: Instrument, bar: Bar) -> tuple[Decimal, Liquidity] | None:
        """The price and liquidity ``work``'s order fills at on ``bar``, or ``None`` if it does not."""
        order = work.order
        buy = order.side is Side.BUY
        open_ = to_decimal(bar.open)
        if order.type is OrderType.MARKET or (order.type is OrderType.STOP and work.triggered):
            return self._taker_price(instrument, open_, buy), Liquidity.TAKER
        if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not work.triggered:
            stop = order.trigger_price
            assert stop is not None  # the Order validator guarantees it
            extreme = to_decimal(bar.high if buy else bar.low)
            at_open = open_ >= stop if buy else open_ <= stop
            if not (at_open or (extreme >= stop if buy else extreme <= stop)):
                return None
            work.triggered = True
            if order.type is OrderType.STOP:
                return self._taker_price(instrument, open_ if at_open else stop, buy), Liquidity.TAKER
            if not at_open:  # triggered intrabar at the stop: fill there only if within the limit
                limit = order.price
                assert limit is not None
                within = stop <= limit if buy else stop >= limit
                return (stop, Liquidity.MAKER) if within else None
        limit = order.price
        assert limit is not None
        if buy:
            if open_ <= limit:
                return instrument.price_ceil(open_), Liquidity.MAKER
            return (limit, Liquidity.MAKER) if to_decimal(bar.low) <= limit else None
        if open_ >= limit:
            return instrument.price_floor(open_), Liquidity.MAKER
        return (limit, Liquidity.MAKER) if to_decimal(bar.high) >= limit else None

    def _taker_price(self, instrument: Instrument, price: Decimal, buy: bool) -> Decimal:
        """``price`` moved by the slippage against the trader and rounded to the tick the same way."""
        if not self._slipping:
            return ceil_to(price, instrument.tick_size) if buy else floor_to(price, instrument.tick_size)
        if buy:
            return instrument.price_ceil(price * self._buy_slip)
        return instrument.price_floor(price * self._sell_slip)

    def _reducible(self, order: Order) -> Decimal:
        """How much ``order`` may fill while only reducing the current position."""
        position = self._positions.get(order.instrument_id, ZERO)
        return max(-position, ZERO) if order.side is Side.BUY else max(position, ZERO)

    # --- matching against order books ------------------------------------------------------------------

    def _book(self, instrument_id: InstrumentId) -> OrderBookView | None:
        """The synced, non-empty book of ``instrument_id``, or ``None`` (call only with books in use)."""
        assert self._book_of is not None
        book = self._book_of(instrument_id)
        if book is None or not (book.bids(1) or book.asks(1)):
            return None
        return book

    def _used_of(self, book: OrderBookView, *, fresh: bool = False) -> dict[tuple[bool, Decimal], Decimal]:
        """The size our fills took from each level of ``book`` in its current state."""
        entry = self._used.get(book.instrument_id)
        if fresh or entry is None or entry[0] != book.ts:
            entry = self._used[book.instrument_id] = (book.ts, {})
        return entry[1]

    @staticmethod
    def _crosses(order: Order, book: OrderBookView) -> bool:
        """Whether limit ``order`` would take liquidity from ``book`` now."""
        assert order.price is not None
        if order.side is Side.BUY:
            asks = book.asks(1)
            return bool(asks) and asks[0][0] <= order.price
        bids = book.bids(1)
        return bool(bids) and bids[0][0] >= order.price

    def _on_book(self, book: OrderBookView) -> None:
        """A book changed: the instrument's orders that have not met a book yet arrive at it (as
        takers), then market orders still open walk it again, then resting limits fill as makers
        where the opposite side reaches them (best price first, then submission order)."""
        used = self._used_of(book, fresh=True)
        if not self._open or self._events is None:
            return
        instrument = self._ctx.instruments.get(book.instrument_id)
        if instrument is None or not (book.bids(1) or book.asks(1)):
            return
        candidates = [
            work for work in self._open.values()
            if work.order.instrument_id == book.instrument_id and work.order.type in _BOOK_TYPES
        ]
        if not candidates:
            return
        now = self._ctx.clock.now()
        day = now // _NS_PER_DAY
        resting: list[_Working] = []
        for work in candidates:
            if self._open.get(work.order.client_order_id) is not work:
                continue
            if work.order.time_in_force is TimeInForce.DAY and day != work.day:
                self._finish(work, OrderStatus.EXPIRED, "day order expired at the end of its UTC day", now)
            elif not work.met_book:
                self._arrive(work, instrument, book, now)
            elif work.order.type is OrderType.MARKET:
                self._take(work, instrument, book, now)
            else:
                resting.append(work)
        buys = sorted((w for w in resting if w.order.side is Side.BUY), key=lambda w: -(w.order.price or ZERO))
        sells = sorted((w for w in resting if w.order.side is Side.SELL), key=lambda w: w.order.price or ZERO)
        for work in (*buys, *sells):
            if self._open.get(work.order.client_order_id) is work:
                self._rest(work, instrument, book, used, now)

    def _arrive(self, work: _Working, instrument: Instrument, book: OrderBookView, ts: int) -> None:
        """``work``'s order meets ``book`` for the first time: it takes what it can (a post-only limit
        that would take is cancelled instead), then IOC and FOK orders end."""
        work.met_book = True
        order = work.order
        if order.post_only and order.type is OrderType.LIMIT and self._crosses(order, book):
            self._finish(work, OrderStatus.CANCELED, "post-only limit would take liquidity", ts)
            return
        self._take(work, instrument, book, ts)
        if self._open.get(order.client_order_id) is work and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            reason = (
                "fill-or-kill: the book could not fill it whole"
                if order.time_in_force is TimeInForce.FOK
                else "immediate-or-cancel: the unfilled rest was cancelled"
            )
            self._finish(work, OrderStatus.CANCELED, reason, ts)

    def _wanted(self, work: _Working, ts: int) -> Decimal | None:
        """How much ``work``'s order may fill now (its remaining quantity, capped by reduce-only), or
        ``None`` after cancelling a reduce-only order with nothing left to reduce."""
        order = work.order
        wanted = order.remaining
        if order.reduce_only:
            reducible = self._reducible(order)
            if reducible <= 0:
                self._finish(work, OrderStatus.CANCELED, "reduce-only: no position left to reduce", ts)
                return None
            wanted = min(wanted, reducible)
        return wanted

    def _take(self, work: _Working, instrument: Instrument, book: OrderBookView, ts: int) -> None:
        """Walk the opposite side of ``book`` (up to the limit price, for a limit), one taker fill per
        level at the level's price, each on the lot; a FOK order takes all or nothing."""
        order = work.order
        wanted = self._wanted(work, ts)
        if wanted is None:
            return
        buy = order.side is Side.BUY
        limit = order.price if order.type is OrderType.LIMIT else None
        used = self._used_of(book)
        plan: list[tuple[Decimal, Decimal]] = []
        planned = ZERO
        for price, size in book.asks() if buy else book.bids():
            if planned >= wanted or (limit is not None and (price > limit if buy else price < limit)):
                break
            available = size - used.get((buy, price), ZERO)
            quantity = instrument.quantity_down(min(available, wanted - planned)) if available > 0 else ZERO
            if quantity > 0:
                plan.append((price, quantity))
                planned += quantity
        if not plan or (order.time_in_force is TimeInForce.FOK and planned < order.remaining):
            return
        for price, quantity in plan:
            if self._open.get(order.client_order_id) is not work:
                return  # closed by a callback of an earlier fill
            quantity = min(quantity, work.order.remaining)
            used[(buy, price)] = used.get((buy, price), ZERO) + quantity
            fill_price = instrument.price_ceil(price) if buy else instrument.price_floor(price)
            self._fill(work, instrument, quantity, fill_price, Liquidity.TAKER, ts)

    def _rest(
        self,
        work: _Working,
        instrument: Instrument,
        book: OrderBookView,
        used: dict[tuple[bool, Decimal], Decimal],
        ts: int,
    ) -> None:
        """Fill resting limit ``work`` as a maker, at its price, with the size the opposite side shows
        at or through it (queue-free: no one is ahead of it), less what other orders took already."""
        order = work.order
        limit = order.price
        assert limit is not None
        buy = order.side is Side.BUY
        available: list[tuple[Decimal, Decimal]] = []
        total = ZERO
        for price, size in book.asks() if buy else book.bids():
            if price > limit if buy else price < limit:
                break
            free = size - used.get((buy, price), ZERO)
            if free > 0:
                available.append((price, free))
                total += free
        if not available:
            return
        wanted = self._wanted(work, ts)
        if wanted is None:
            return
        quantity = instrument.quantity_down(min(total, wanted))
        if quantity <= 0:
            return
        left = quantity
        for price, free in available:  # the levels the fill takes from, best first
            taken = min(free, left)
            used[(buy, price)] = used.get((buy, price), ZERO) + taken
            left -= taken
            if not left:
                break
        self._fill(work, instrument, quantity, limit, Liquidity.MAKER, ts)

    # --- reporting ------------------------------------------------------------------------------------

    def _fill(
        self,
        work: _Working,
        instrument: Instrument,
        quantity: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        ts: int,
    ) -> None:
        """Book a fill of ``quantity`` at ``price``, then report the fill and the order's new state."""
        events = self._events or self._sink()
        order = work.order
        rate = self._params.maker_fee if liquidity is Liquidity.MAKER else self._params.taker_fee
        fee = price * quantity * rate
        self._trades += 1
        fill = Fill(
            trade_id=f"paper-{self._trades}",
            client_order_id=order.client_order_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency=instrument.quote,
            liquidity=liquidity,
            ts=ts,
        )
        signed = quantity if order.side is Side.BUY else -quantity
        cash = self._cash
        cash[instrument.quote] = cash.get(instrument.quote, ZERO) - signed * price - fee
        positions = self._positions
        positions[order.instrument_id] = positions.get(order.instrument_id, ZERO) + signed
        work.notional += price * quantity
        filled = order.filled_quantity + quantity
        done = filled == order.quantity
        work.order = updated = order.updated(
            status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
            filled_quantity=filled,
            avg_fill_price=work.notional / filled,
            ts_updated=ts,
        )
        if done:
            del self._open[order.client_order_id]
        events.fill(fill)
        events.order_updated(updated)

    def _finish(self, work: _Working, status: OrderStatus, reason: str, ts: int) -> None:
        """Close ``work``'s order with ``status`` (cancelled or expired) and report it."""
        del self._open[work.order.client_order_id]
        work.order = work.order.updated(status=status, reason=reason, ts_updated=ts)
        self._sink().order_updated(work.order)

    def _sink(self) -> BrokerEvents:
        if self._events is None:
            raise EngineStateError("the paper broker is not connected: call connect(events) first")
        return self._events


@hookimpl
def register_brokers() -> list[type]:
    """Register the paper broker as ``"paper"``."""
    return [PaperBroker]
