"""The order router: ``target - position - open orders`` becomes orders, never twice.

Each (strategy, instrument) has a target quantity. Whenever the target changes, an order of that
strategy updates or a fill arrives, the router reconciles that key:

* a cancel still pending -> wait for its answer;
* open orders that already cover ``target - position`` -> nothing to do;
* open orders that do not -> cancel them, and place the difference once they are gone;
* otherwise -> one market order for the difference, rounded towards zero to the lot size, checked
  against the minimum notional and every risk rule.

So a signal that repeats itself never double-orders, and a restart that rebuilds targets, positions
and open orders places exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any

import attrs

from .contracts import Broker, RiskRule
from .model import ZERO, Instrument, InstrumentId, Order, OrderStatus, Side
from ._portfolio import Portfolio

__all__ = ["OrderRouter"]

Key = tuple[str, InstrumentId]
_CREATED = attrgetter("ts_created")


class RiskView:
    """What a risk rule sees: the portfolio and the router's open orders (read only)."""

    __slots__ = ("_portfolio", "_router")

    def __init__(self, portfolio: Portfolio, router: OrderRouter) -> None:
        self._portfolio = portfolio
        self._router = router

    def position(self, instrument_id: InstrumentId, strategy_id: str | None = None) -> Decimal:
        return self._portfolio.position(instrument_id, strategy_id)

    def positions(self) -> dict[InstrumentId, Decimal]:
        return self._portfolio.positions()

    def equity(self) -> Decimal:
        return self._portfolio.equity()

    def last_price(self, instrument_id: InstrumentId) -> float | None:
        return self._portfolio.last_price(instrument_id)

    def open_orders(self, instrument_id: InstrumentId | None = None, strategy_id: str | None = None) -> list[Order]:
        return self._router.open_orders(strategy_id, instrument_id)


class OrderRouter:
    """Turns per-strategy target quantities into orders for one broker."""

    def __init__(
        self,
        *,
        broker: Broker,
        portfolio: Portfolio,
        instruments: Mapping[InstrumentId, Instrument],
        risk_rules: Sequence[tuple[str, RiskRule]],
        clock: Any,
        log: Any,
        on_order: Callable[[Order], None],
        on_risk: Callable[[str, str, str, Order | None], None],
        id_prefix: str = "O",
        on_broker_error: Callable[[Order, Exception], None] | None = None,
    ) -> None:
        self.broker = broker
        self.portfolio = portfolio
        self.instruments = instruments
        self.risk_rules = list(risk_rules)
        self.view = RiskView(portfolio, self)
        self._clock = clock
        self._log = log
        self._on_order = on_order
        self._on_risk = on_risk
        self._on_broker_error = on_broker_error
        self.stale: set[InstrumentId] = set()  # instruments whose data source is failing: no new orders
        self._id_prefix = id_prefix
        self._sequence = 0
        self.targets: dict[Key, Decimal] = {}
        self.orders: dict[str, Order] = {}  # every order, latest state
        self._open: dict[Key, dict[str, Order]] = {}
        self._dirty: list[Key] = []
        self._busy = False
        # The order being handed to ``broker.submit`` when it covers exactly what its key needs. A
        # simulated broker accepts it synchronously; that acknowledgement alone (nothing filled, no
        # cancel pending) leaves the key covered, so it marks no key dirty: one reconciliation per
        # order placed instead of two.
        self._submitting: str | None = None
        self._skipped: dict[Key, str] = {}
        self._limited: dict[Key, Decimal] = {}  # target whose order a risk rule shrank: keep, don't chase
        self.killed = False  # the kill switch: only orders towards flat while set

    # --- inputs ------------------------------------------------------------------------------------

    def set_target(self, strategy_id: str, instrument_id: InstrumentId, quantity: Decimal) -> None:
        """Set the target quantity (signed) of one strategy in one instrument and reconcile."""
        key = (strategy_id, instrument_id)
        if self.targets.get(key) == quantity or (self.killed and quantity):
            return
        self.targets[key] = quantity
        self._reconcile(key)

    def reconcile_instrument(self, instrument_id: InstrumentId) -> None:
        """Reconcile every target in ``instrument_id`` again: orders held back while it was stale go
        out now."""
        for key in [key for key in self.targets if key[1] == instrument_id]:
            self._reconcile(key)

    def order_updated(self, order: Order) -> Order:
        """Record a broker's update of ``order``; reconcile its key. Returns the merged order."""
        known = self.orders.get(order.client_order_id)
        if known is not None and not known.is_open and order.is_open:
            return known  # a late, stale update never reopens a closed order
        self.orders[order.client_order_id] = order
        key = (order.strategy_id, order.instrument_id)
        book = self._open.get(key)
        if book is None:
            book = self._open[key] = {}
        if order.is_open:
            book[order.client_order_id] = order
            if (order.client_order_id == self._submitting and known is not None
                    and order.status is not OrderStatus.PENDING_CANCEL and known.status is not OrderStatus.PENDING_CANCEL
                    and known.quantity == order.quantity and known.filled_quantity == order.filled_quantity):
                return order  # an acknowledgement that changes no coverage: the key stays reconciled
        else:
            book.pop(order.client_order_id, None)
        self._reconcile(key)
        return order

    def open_orders(self, strategy_id: str | None = None, instrument_id: InstrumentId | None = None) -> list[Order]:
        """Open orders, of one strategy and/or instrument or all, oldest first."""
        found = [o for (sid, iid), book in self._open.items()
                 if book and (strategy_id is None or sid == strategy_id)
                 and (instrument_id is None or iid == instrument_id) for o in book.values()]
        if len(found) > 1:  # (risk rules ask on every order; there is mostly one open order, or none)
            found.sort(key=_CREATED)
        return found

    def cancel_all(self, strategy_id: str | None = None) -> int:
        """Request the cancellation of every open order (of one strategy); return how many."""
        orders = self.open_orders(strategy_id)
        for order in orders:
            self._cancel(order)
        return len(orders)

    def flatten_all(self) -> None:
        """Target zero for every (strategy, instrument) that holds a position."""
        for (strategy_id, instrument_id), position in self.portfolio.strategy_positions().items():
            if position.quantity:
                self.set_target(strategy_id, instrument_id, ZERO)

    def kill(self, *, flatten: bool) -> None:
        """The kill switch: cancel every open order, refuse every order but those towards flat, and
        with ``flatten`` close every position."""
        self.killed = True
        self.cancel_all()
        for key in list(self.targets):
            position = self.portfolio.position(key[1], key[0])
            if not flatten:
                self.targets[key] = position  # hold what is held
            elif not position:
                self.targets[key] = ZERO
        if flatten:
            self.flatten_all()  # target zero, with a reconcile, for every key that holds something

    def reset_kill(self) -> None:
        """Accept orders again."""
        self.killed = False

    def adopt(self, order: Order) -> None:
        """Know an order that exists already (recovered from a journal or found at the broker)."""
        self.orders[order.client_order_id] = order
        if order.is_open:
            self._open.setdefault((order.strategy_id, order.instrument_id), {})[order.client_order_id] = order

    def forget_target(self, strategy_id: str, instrument_id: InstrumentId) -> None:
        """Stop steering a key: its position is kept as it is."""
        self.targets.pop((strategy_id, instrument_id), None)

    # --- reconciliation ----------------------------------------------------------------------------

    def _reconcile(self, key: Key) -> None:
        dirty = self._dirty
        if self._busy:
            # A broker answered synchronously: the outer loop picks the key up after the broker call
            # returns, once for a run of updates of the same key.
            if not dirty or dirty[-1] != key:
                dirty.append(key)
            return
        dirty.append(key)
        self._busy = True
        try:
            while dirty:
                self._reconcile_one(dirty.pop(0))
        finally:
            self._busy = False

    def _reconcile_one(self, key: Key) -> None:
        target = self.targets.get(key)
        if target is None or (self.killed and target):
            return
        book = self._open.get(key)
        strategy_id, instrument_id = key
        needed = target - self.portfolio.position(instrument_id, strategy_id)
        if book:
            covered = ZERO
            for order in book.values():
                if order.status is OrderStatus.PENDING_CANCEL:
                    return
                covered += order.signed_remaining
            if covered == needed:
                return
            if self._limited.get(key) == target:
                return  # the open orders are what the risk rules allow for this target
            for order in list(book.values()):
                self._cancel(order)
            if self._open.get(key):
                return  # wait for the cancels to be acknowledged
        if not needed or instrument_id in self.stale:
            return
        instrument = self.instruments[instrument_id]
        quantity = instrument.quantity_down(abs(needed))
        if not quantity:
            return
        mark = self.portfolio.last_price(instrument_id)
        if quantity < instrument.min_quantity or (
            mark is not None and quantity * self.portfolio.exact_price(instrument_id, mark) < instrument.min_notional
        ):
            reason = (
                f"{instrument_id}: order of {quantity} is under the minimum "
                f"(min quantity {instrument.min_quantity}, min notional {instrument.min_notional})"
            )
            if self._skipped.get(key) != reason:
                self._skipped[key] = reason
                self._log.warning("order.skipped", strategy_id=strategy_id, reason=reason)
            return
        side = Side.BUY if needed > 0 else Side.SELL
        order = self._new_order(strategy_id, instrument_id, side, quantity)
        checked = self._check_risk(order, instrument) if self.risk_rules else order
        if checked is not order:
            self._limited[key] = target
        if checked is None:
            return
        order = checked
        self.orders[order.client_order_id] = order
        self._open.setdefault(key, {})[order.client_order_id] = order
        self._on_order(order)
        self._submitting = order.client_order_id if order.quantity == abs(needed) else None
        try:
            self.broker.submit(order)
        except Exception as exc:  # the broker refused to even take it: the order is dead
            self._submitting = None
            self.order_updated(attrs.evolve(order, status=OrderStatus.REJECTED, reason=f"broker: {exc}",
                                            ts_updated=self._clock.now()))
            if self._on_broker_error is None:
                raise
            self._on_broker_error(order, exc)
        else:
            self._submitting = None

    def _new_order(self, strategy_id: str, instrument_id: InstrumentId, side: Side, quantity: Decimal) -> Order:
        self._sequence += 1
        return Order.market(f"{self._id_prefix}-{self._sequence}", strategy_id, instrument_id, side, quantity,
                            self._clock.now())

    def _check_risk(self, order: Order, instrument: Instrument) -> Order | None:
        for name, rule in self.risk_rules:
            decision = rule.check(order, self.view)
            if decision is None or decision.action == "allow":
                continue
            self._on_risk(name, decision.reason, decision.action, order)
            if decision.action == "deny":
                return None
            if decision.action == "shrink":
                quantity = instrument.quantity_down(decision.quantity or ZERO)
                if quantity <= 0:
                    return None
                order = attrs.evolve(order, quantity=min(quantity, order.quantity))
            else:
                raise ValueError(f"risk rule {name!r} returned an unknown action {decision.action!r}")
        return order

    def _cancel(self, order: Order) -> None:
        if order.status is OrderStatus.PENDING_CANCEL:
            return
        pending = order.updated(status=OrderStatus.PENDING_CANCEL, ts_updated=self._clock.now())
        self.orders[order.client_order_id] = pending
        self._open[(order.strategy_id, order.instrument_id)][order.client_order_id] = pending
        self._on_order(pending)
        self.broker.cancel(order.client_order_id)


