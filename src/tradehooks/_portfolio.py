"""The portfolio: an exact ledger of cash, positions, fees and realised PnL, fed by fills.

Positions are kept per strategy and instrument as FIFO lots of exact (quantity, price), so realised
PnL is exact and the ledger balances to the last unit::

    cash + sum(open lot quantity * lot price) == initial cash + realised PnL - fees

Float shadows of cash and net positions let the engine mark equity on every bar cheaply.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from .model import ZERO, Fill, InstrumentId, Position, to_decimal

__all__ = ["Portfolio"]


class _Book:
    """One strategy's position in one instrument."""

    __slots__ = ("lots", "quantity", "realized", "fees", "trades", "trade_pnl", "closed_pnl")

    def __init__(self) -> None:
        self.lots: deque[list[Decimal]] = deque()  # [signed quantity, price], oldest first
        self.quantity = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.trades = 0  # round trips closed (position back to flat or flipped)
        self.trade_pnl = ZERO  # realised PnL minus fees of the round trip now open
        self.closed_pnl: Decimal | None = None  # net PnL of the round trip the last fill closed

    def apply(self, signed_quantity: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Apply a fill; return the PnL it realised."""
        self.fees += fee
        realized = ZERO
        remaining = signed_quantity
        before = self.quantity
        while remaining and self.lots and (self.lots[0][0] > 0) != (remaining > 0):
            lot = self.lots[0]
            closed = min(abs(lot[0]), abs(remaining))
            direction = 1 if lot[0] > 0 else -1
            realized += closed * (price - lot[1]) * direction
            lot[0] -= closed * direction
            remaining += closed * direction
            if not lot[0]:
                self.lots.popleft()
        if remaining:
            self.lots.append([remaining, price])
        self.quantity += signed_quantity
        self.realized += realized
        self.trade_pnl += realized - fee
        self.closed_pnl = None
        if before and (not self.quantity or (before > 0) != (self.quantity > 0)):
            self.trades += 1
            self.closed_pnl, self.trade_pnl = self.trade_pnl, ZERO
        return realized

    def cost(self) -> Decimal:
        return sum((lot[0] * lot[1] for lot in self.lots), ZERO)

    def snapshot(self, instrument_id: InstrumentId) -> Position:
        average = (self.cost() / self.quantity) if self.quantity else ZERO
        return Position(
            instrument_id=instrument_id,
            quantity=self.quantity,
            avg_price=average,
            realized_pnl=self.realized,
            fees=self.fees,
        )


class Portfolio:
    """Cash, positions and PnL of one engine, in one account currency.

    Args:
        currency: the account currency.
        initial_cash: starting cash.
    """

    def __init__(self, currency: str, initial_cash: Decimal) -> None:
        self.currency = currency
        self.initial_cash = to_decimal(initial_cash)
        self.cash = self.initial_cash
        self.fees = ZERO
        self.realized_pnl = ZERO
        self.fill_count = 0
        self._books: dict[tuple[str, InstrumentId], _Book] = {}
        self._net: dict[InstrumentId, Decimal] = {}
        self._trade_ids: set[str] = set()
        self.marks: dict[InstrumentId, float] = {}  # last price per instrument (engine writes it)
        # The last mark converted to Decimal per instrument, (float, Decimal): the sizer, the equity and
        # the router's minimum-notional check all want the same bar's close exact, converted once.
        self._mark_decimals: dict[InstrumentId, tuple[float, Decimal]] = {}
        # float shadows for per-bar equity marking
        self._cash_f = float(self.initial_cash)
        self._net_f: dict[InstrumentId, float] = {}  # instruments held (non-zero) only

    # --- writing -----------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> Position | None:
        """Apply ``fill`` once; return the strategy's position after it, or ``None`` if this
        ``trade_id`` was already applied (a fill reported twice changes nothing)."""
        if not self.record_fill(fill):
            return None
        return self._books[(fill.strategy_id, fill.instrument_id)].snapshot(fill.instrument_id)

    def record_fill(self, fill: Fill) -> bool:
        """:meth:`apply_fill` without building the position (the engine asks for it only when someone
        listens): return whether ``fill`` was applied (``False``: seen before)."""
        if fill.trade_id in self._trade_ids:
            return False
        self._trade_ids.add(fill.trade_id)
        key = (fill.strategy_id, fill.instrument_id)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = _Book()
        signed = fill.signed_quantity
        realized = book.apply(signed, fill.price, fill.fee)
        self.cash -= signed * fill.price + fill.fee
        self.fees += fill.fee
        self.realized_pnl += realized
        self.fill_count += 1
        net = self._net.get(fill.instrument_id, ZERO) + signed
        self._net[fill.instrument_id] = net
        if net:
            self._net_f[fill.instrument_id] = float(net)
        else:  # flat: nothing to mark on every bar
            self._net_f.pop(fill.instrument_id, None)
        self._cash_f = float(self.cash)
        return True

    # --- reading -----------------------------------------------------------------------------------

    def position(self, instrument_id: InstrumentId, strategy_id: str | None = None) -> Decimal:
        """Signed quantity held in ``instrument_id``, by one strategy or in total."""
        if strategy_id is None:
            return self._net.get(instrument_id, ZERO)
        book = self._books.get((strategy_id, instrument_id))
        return book.quantity if book is not None else ZERO

    def closed_trade_pnl(self, strategy_id: str, instrument_id: InstrumentId) -> Decimal | None:
        """Net PnL (realised minus fees) of the round trip the last fill of this key closed, if it
        closed one (the fee of a fill that flips the position counts towards the closed trade)."""
        book = self._books.get((strategy_id, instrument_id))
        return book.closed_pnl if book is not None else None

    def position_of(self, strategy_id: str, instrument_id: InstrumentId) -> Position:
        """The full :class:`~tradehooks.model.Position` of one strategy in one instrument."""
        book = self._books.get((strategy_id, instrument_id))
        return book.snapshot(instrument_id) if book is not None else Position(instrument_id=instrument_id)

    def positions(self) -> dict[InstrumentId, Decimal]:
        """Net signed quantity per instrument (instruments never traded are absent)."""
        return dict(self._net)

    def strategy_positions(self) -> dict[tuple[str, InstrumentId], Position]:
        """Every (strategy, instrument) position ever opened."""
        return {key: book.snapshot(key[1]) for key, book in self._books.items()}

    def last_price(self, instrument_id: InstrumentId) -> float | None:
        return self.marks.get(instrument_id)

    def exact_price(self, instrument_id: InstrumentId, price: float) -> Decimal:
        """``to_decimal(price)``, remembered per instrument: the last mark is converted once however
        often it is asked for."""
        cached = self._mark_decimals.get(instrument_id)
        if cached is not None and cached[0] == price and price:  # (0.0 == -0.0, whose reprs differ)
            return cached[1]
        exact = to_decimal(price)
        self._mark_decimals[instrument_id] = (price, exact)
        return exact

    def unrealized_pnl(self) -> Decimal:
        """PnL of open positions at the last prices seen."""
        total = ZERO
        for (_, instrument_id), book in self._books.items():
            if book.quantity:
                mark = self.marks.get(instrument_id)
                if mark is not None:
                    total += book.quantity * to_decimal(mark) - book.cost()
        return total

    def equity(self) -> Decimal:
        """Cash plus open positions at the last prices seen (exact)."""
        total = self.cash
        for instrument_id, quantity in self._net.items():
            if quantity:
                mark = self.marks.get(instrument_id)
                if mark is not None:
                    total += quantity * self.exact_price(instrument_id, mark)
        return total

    def equity_float(self) -> float:
        """:meth:`equity` in floats, cheap enough to call on every bar."""
        total = self._cash_f
        for instrument_id, quantity in self._net_f.items():
            if quantity:
                total += quantity * self.marks[instrument_id]
        return total

    def trade_count(self) -> int:
        """Round trips closed: a position that went back to flat or flipped sides."""
        return sum(book.trades for book in self._books.values())

    def check_balanced(self) -> None:
        """Raise :class:`AssertionError` unless the ledger balances exactly."""
        held = sum((book.cost() for book in self._books.values()), ZERO)
        expected = self.initial_cash + self.realized_pnl - self.fees
        if self.cash + held != expected:
            raise AssertionError(f"ledger off: cash {self.cash} + held {held} != {expected}")
        nets: dict[InstrumentId, Decimal] = {}
        for (_, instrument_id), book in self._books.items():
            nets[instrument_id] = nets.get(instrument_id, ZERO) + book.quantity
        if {k: v for k, v in nets.items() if v} != {k: v for k, v in self._net.items() if v}:
            raise AssertionError(f"net positions {self._net} != sum of strategy positions {nets}")
