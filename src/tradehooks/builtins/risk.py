"""The built-in risk rules (plugin ``risk``). Each sees every order before it reaches the broker.

===================  ======================  =====================================================
name                 class                   what it does
===================  ======================  =====================================================
``max_position``     :class:`MaxPosition`    caps the net position (plus open orders) of an
                                             instrument: shrinks or denies
``price_band``       :class:`PriceBand`      denies limit and stop prices too far from the last price
``max_drawdown``     :class:`MaxDrawdown`    throws the kill switch when equity falls a fraction
                                             below its peak
``daily_loss``       :class:`DailyLoss`      throws the kill switch when the day's loss passes a limit
``max_exposure``     :class:`MaxExposure`    caps the gross and/or net notional: shrinks or denies
``max_order_rate``   :class:`MaxOrderRate`   denies orders beyond ``max_orders`` per time window
``max_open_orders``  :class:`MaxOpenOrders`  denies a new order while ``max_orders`` are open
===================  ======================  =====================================================

Rules that act on orders answer from ``check``; the router logs each shrink and deny and reports it to
the ``risk_tripped`` observers. ``max_drawdown`` and ``daily_loss`` watch the equity the engine hands
them after every bar (``on_equity``) and answer with a reason to throw the kill switch, which the engine
reports the same way (action ``"kill"``).

Orders that only reduce a position (towards zero, not past it) pass every rule here but
``price_band`` (which judges prices only, and lets market orders through), so the kill switch's closing
orders and exits are never blocked.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from tradehooks import hookimpl
from tradehooks.contracts import ComponentContext, PortfolioView, RiskDecision
from tradehooks.exceptions import FieldError
from tradehooks.model import (
    NS_PER_SECOND,
    ZERO,
    InstrumentId,
    Order,
    OrderType,
    format_ts,
    parse_timeframe,
    to_decimal,
)

__all__ = [
    "DailyLoss",
    "MaxDrawdown",
    "MaxExposure",
    "MaxOpenOrders",
    "MaxOrderRate",
    "MaxPosition",
    "PriceBand",
    "register_risk_rules",
]

_NS_PER_DAY = 86_400 * NS_PER_SECOND
_NEVER = 2**63  # a time no bar reaches (an equity band with no end)
_BAND_MARGIN = 1e-9  # equity bands stop this far (relative) short of a limit: float rounding never matters
_ONE = Decimal(1)


# --- parameter validators ----------------------------------------------------------------------------


def _positive(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _unit_fraction(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not 0 < value <= _ONE:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 and <= 1, got {value}")


def _count(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(attribute.name, f"{attribute.name} must be an integer, got {value!r}")
    if value < 1:
        raise FieldError(attribute.name, f"{attribute.name} must be >= 1, got {value}")


def _timeframe(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        parse_timeframe(value)
    except (TypeError, ValueError):
        raise FieldError(
            attribute.name, f"{attribute.name} must be a timeframe such as '30s', '1m', '1h', got {value!r}"
        ) from None


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


# --- what the rules share ----------------------------------------------------------------------------


def _reduces(order: Order, position: Decimal) -> bool:
    """True when ``order`` moves ``position`` towards zero without passing it."""
    return bool(position) and order.side.sign * position < 0 and order.quantity <= abs(position)


def _plain(value: Decimal) -> str:
    """``value`` without trailing zeros or an exponent: ``Decimal("2500.00")`` reads ``2500``."""
    return f"{value.normalize():f}"


def _pending(portfolio: PortfolioView, instrument_id: InstrumentId) -> Decimal:
    """The signed remaining quantity of the open orders of ``instrument_id``."""
    pending = ZERO
    for order in portfolio.open_orders(instrument_id):  # (a loop: mostly none, and this runs per order)
        pending += order.signed_remaining
    return pending


class MaxPosition:
    """``max_position``: keep the absolute net position of an instrument (all strategies together,
    **open orders included**) at or under ``max_quantity``.

    The position checked is the filled net position plus the signed remaining quantity of every open
    order of the instrument, so two strategies (or an order still filling) cannot add up past the cap.

    An order that would go past the cap is shrunk to what fits, rounded down to the instrument's lot,
    or denied when nothing fits. An order that moves the position towards zero without passing it is
    always allowed, even while the position is over the cap (after the cap was lowered, say); an order
    that flips the position may open at most ``max_quantity`` on the other side.
    """

    name: ClassVar[str] = "max_position"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxPosition`.

        Attributes:
            max_quantity: the largest absolute net position, in base units.
            instrument: the instrument the cap applies to; ``None`` caps each instrument separately.
        """

        max_quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive)
        instrument: str | None = None

    def __init__(self, params: MaxPosition.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        instrument_id = order.instrument_id
        cap = self.params.max_quantity
        if self.params.instrument is not None and instrument_id != self.params.instrument:
            return None
        pending = _pending(portfolio, instrument_id)
        position = portfolio.position(instrument_id) + pending
        sign = order.side.sign
        after = position + sign * order.quantity
        if abs(after) <= cap:
            return None
        if after * position >= 0 and abs(after) <= abs(position):
            return None  # a reduction that stays on the same side of zero
        what = f"position {position}" + (f" (open orders included: {pending})" if pending else "")
        fits = cap - sign * position  # how far this side may go: to +cap for a buy, -cap for a sell
        instrument = self.ctx.instruments.get(instrument_id)
        if instrument is not None:
            fits = instrument.quantity_down(fits)
        if fits <= 0:
            return RiskDecision.deny(
                f"{instrument_id}: {what} is at the cap of {cap}; "
                f"a {order.side.value} of {order.quantity} would make it {after}"
            )
        return RiskDecision.shrink(
            fits,
            f"{instrument_id}: a {order.side.value} of {order.quantity} would take the {what} to "
            f"{after}, past the cap of {cap}; shrunk to {fits}",
        )


class PriceBand:
    """``price_band``: deny a limit, stop or stop-limit order whose limit or trigger price is more than
    ``max_deviation`` (a fraction: 0.05 is 5 %) away from the instrument's last price.

    Market orders are always allowed, and so is everything while there is no last price yet.
    """

    name: ClassVar[str] = "price_band"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`PriceBand`.

        Attributes:
            max_deviation: the largest distance from the last price, as a fraction of it.
        """

        max_deviation: Decimal = attrs.field(converter=to_decimal, validator=_positive)

    def __init__(self, params: PriceBand.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        if order.type is OrderType.MARKET:
            return None
        last_price = portfolio.last_price(order.instrument_id)
        if last_price is None or last_price <= 0:
            return None
        last = to_decimal(last_price)
        limit = self.params.max_deviation
        for what, price in (("price", order.price), ("trigger price", order.trigger_price)):
            if price is None:
                continue
            deviation = abs(price - last) / last
            if deviation > limit:
                return RiskDecision.deny(
                    f"{order.instrument_id}: {what} {price} is {deviation:.2%} from the last price "
                    f"{last}, more than the {limit:.2%} allowed"
                )
        return None


# --- equity limits: answer on_equity with a reason to throw the kill switch -----------------------------


class _EquityLimit:
    """What ``max_drawdown`` and ``daily_loss`` share: the last reason they gave, and a ``check`` that,
    while that reason stands, denies every order except those that reduce a position."""

    name: ClassVar[str]

    def __init__(self, params: Any, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx
        self.tripped: str | None = None  # the reason of the last equity sample that tripped, else None

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        if self.tripped is None or _reduces(order, portfolio.position(order.instrument_id)):
            return None
        return RiskDecision.deny(
            f"{self.name} tripped ({self.tripped}): only orders that reduce a position pass"
        )


class MaxDrawdown(_EquityLimit):
    """``max_drawdown``: throw the kill switch when the equity falls ``max_drawdown`` (a fraction: 0.2
    is 20 %) or more below its peak.

    ``on_equity`` keeps the highest equity seen and answers with a reason once
    ``(peak - equity) / peak >= max_drawdown``; the engine then cancels every order, flattens every
    position and refuses new orders until the host resets the kill switch. A trip starts a new peak at
    the equity that tripped it, so after a reset the account may lose ``max_drawdown`` afresh (the
    losses already taken would otherwise trip it again at once, forever).

    ``check`` adds a second line of defence: while the last equity sample tripped the rule, only orders
    that reduce a position pass. Orders are not limited before the trip.
    """

    name: ClassVar[str] = "max_drawdown"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxDrawdown`.

        Attributes:
            max_drawdown: the largest fall from the peak equity, as a fraction of the peak, in (0, 1].
        """

        max_drawdown: Decimal = attrs.field(converter=to_decimal, validator=_unit_fraction)

    def __init__(self, params: MaxDrawdown.Params, ctx: ComponentContext) -> None:
        super().__init__(params, ctx)
        self.peak: float | None = None
        self._limit = float(params.max_drawdown)  # compared on every bar

    def on_equity(self, equity: float, ts: int) -> str | None:
        peak = self.peak
        if peak is None or equity >= peak:  # at a new peak: no drawdown (the common case)
            self.peak = equity
            self.tripped = None
            return None
        limit = self._limit
        drawdown = (peak - equity) / peak if peak > 0 else 0.0
        if drawdown < limit:
            self.tripped = None
            return None
        self.tripped = (
            f"equity {equity:,.2f} is {drawdown:.2%} below its peak of {peak:,.2f}, "
            f"at or past the {limit:.2%} limit"
        )
        self.peak = equity
        return self.tripped

    def equity_band(self) -> tuple[float, float, int] | None:
        """From the peak down to (a hair above) the limit's level under it, ``on_equity`` says nothing
        and changes nothing: the engine need not call it there."""
        peak = self.peak
        if peak is None or peak <= 0 or self.tripped is not None:
            return None
        return peak * (1.0 - self._limit + _BAND_MARGIN), math.nextafter(peak, math.inf), _NEVER  # peak in


class DailyLoss(_EquityLimit):
    """``daily_loss``: throw the kill switch when the equity falls more than a limit below the equity
    the UTC day started with.

    The day's start is the equity of the first sample of each UTC day (by its ``ts``, the close of the
    bar); the limit is ``max_loss`` (an amount in the account currency) or ``max_loss_fraction`` of that
    start equity. The start is taken again at the first sample of the next day; the kill switch itself
    holds until the host resets it. A reset on the same day is undone by the next sample while the
    day's loss is still past the limit: the account is done for the day.

    ``check`` denies every order except those that reduce a position while the last sample tripped.
    """

    name: ClassVar[str] = "daily_loss"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`DailyLoss`; give exactly one of the two.

        Attributes:
            max_loss: the largest loss in a UTC day, in the account currency.
            max_loss_fraction: the largest loss in a UTC day, as a fraction of the day's start equity.
        """

        max_loss: Decimal | None = attrs.field(
            default=None, converter=_optional_decimal, validator=attrs.validators.optional(_positive)
        )
        max_loss_fraction: Decimal | None = attrs.field(
            default=None, converter=_optional_decimal, validator=attrs.validators.optional(_unit_fraction)
        )

        def __attrs_post_init__(self) -> None:
            if (self.max_loss is None) == (self.max_loss_fraction is None):
                raise FieldError(
                    "max_loss",
                    "give exactly one of max_loss (an amount) or max_loss_fraction (a share of the day's "
                    "start equity)",
                )

    def __init__(self, params: DailyLoss.Params, ctx: ComponentContext) -> None:
        super().__init__(params, ctx)
        self.day: int | None = None
        self.start: float = 0.0
        # the limit of the day, as a float (compared on every bar): set when the day starts
        self._max_loss = float(params.max_loss) if params.max_loss is not None else 0.0
        self._limit = 0.0

    def on_equity(self, equity: float, ts: int) -> str | None:
        day = ts // _NS_PER_DAY
        if day != self.day:
            self.day = day
            self.start = equity
            fraction = self.params.max_loss_fraction
            self._limit = max(float(fraction) * equity, 0.0) if fraction is not None else self._max_loss
        limit = self._limit
        loss = self.start - equity
        if loss <= limit:
            self.tripped = None
            return None
        self.tripped = (
            f"equity {equity:,.2f} is {loss:,.2f} below the {self.start:,.2f} the day "
            f"{format_ts(day * _NS_PER_DAY)[:10]} started with, more than the limit of {limit:,.2f}"
        )
        return self.tripped

    def equity_band(self) -> tuple[float, float, int] | None:
        """Until the day ends, an equity above (a hair above) the day's start less the limit changes
        nothing: the engine need not call ``on_equity`` there."""
        if self.day is None or self.tripped is not None:
            return None
        margin = _BAND_MARGIN * max(abs(self.start), 1.0)
        return self.start - self._limit + margin, math.inf, (self.day + 1) * _NS_PER_DAY


# --- order limits --------------------------------------------------------------------------------------


class MaxExposure:
    """``max_exposure``: cap the notional held and ordered, gross and/or net.

    The exposure after an order is every position plus the remaining quantity of every open order
    plus the order itself, valued at the last prices (in the instruments' quote currency, which is the
    account currency): ``gross = sum(|quantity * price|)`` and ``net = |sum(quantity * price)|`` over
    all instruments, or over ``instrument`` only (where the two are the same).

    An order that takes a measure past its limit, and raises it, is shrunk to the largest quantity
    that keeps every measure within its limit (rounded down to the lot), or denied when nothing fits.
    An order that does not raise a measure passes it, even while the exposure is over the limit, so
    orders that reduce exposure always pass. The order's instrument needs a last price; without one
    the order passes, and instruments without a last price count as nothing.
    """

    name: ClassVar[str] = "max_exposure"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxExposure`; give ``max_gross``, ``max_net`` or both.

        Attributes:
            max_gross: the largest sum of absolute notionals, in the account currency.
            max_net: the largest absolute sum of signed notionals, in the account currency.
            instrument: the instrument whose exposure is capped; ``None`` caps the total of all.
        """

        max_gross: Decimal | None = attrs.field(
            default=None, converter=_optional_decimal, validator=attrs.validators.optional(_positive)
        )
        max_net: Decimal | None = attrs.field(
            default=None, converter=_optional_decimal, validator=attrs.validators.optional(_positive)
        )
        instrument: str | None = None

        def __attrs_post_init__(self) -> None:
            if self.max_gross is None and self.max_net is None:
                raise FieldError("max_gross", "give max_gross, max_net or both")

    def __init__(self, params: MaxExposure.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        instrument_id = order.instrument_id
        only = self.params.instrument
        if only is not None and instrument_id != only:
            return None
        mark = portfolio.last_price(instrument_id)
        if mark is None or mark <= 0:
            return None
        price = to_decimal(mark)
        held: dict[InstrumentId, Decimal] = (
            {instrument_id: portfolio.position(instrument_id)}
            if only is not None
            else dict(portfolio.positions())
        )
        for open_order in portfolio.open_orders(only):
            key = open_order.instrument_id
            held[key] = held.get(key, ZERO) + open_order.signed_remaining
        others = ZERO  # the signed notional of the other instruments
        others_gross = ZERO
        for other, quantity in held.items():
            other_mark = portfolio.last_price(other) if other != instrument_id else None
            if other_mark is not None and quantity:
                value = quantity * to_decimal(other_mark)
                others += value
                others_gross += abs(value)
        own = held.get(instrument_id, ZERO) * price
        sign = order.side.sign
        # Each measure is |c + sign * price * x| + k for an order of x: (c, k) per measure.
        measures = []
        if self.params.max_gross is not None:
            measures.append(("gross", self.params.max_gross, own, others_gross))
        if self.params.max_net is not None:
            measures.append(("net", self.params.max_net, own + others, ZERO))
        fits = order.quantity
        binding = ""
        for what, cap, c, k in measures:
            before = abs(c) + k
            after = abs(c + sign * price * order.quantity) + k
            if after <= cap or after <= before:
                continue
            room = cap - k
            most = (room - sign * c) / price if room >= 0 else ZERO  # the largest x within the cap
            if most < fits:
                fits = most
                binding = (
                    f"the {what} exposure from {_plain(before)} to {_plain(after)}, past the limit of {cap}"
                )
        if fits == order.quantity:
            return None
        instrument = self.ctx.instruments.get(instrument_id)
        if instrument is not None and fits > 0:
            fits = instrument.quantity_down(fits)
        scope = instrument_id if only is not None else "all instruments"
        what = (
            f"{scope}: a {order.side.value} of {_plain(order.quantity)} {instrument_id} at {_plain(price)} "
            f"would take {binding}"
        )
        if fits <= 0:
            return RiskDecision.deny(f"{what}; nothing fits")
        return RiskDecision.shrink(fits, f"{what}; shrunk to {fits}")


class MaxOrderRate:
    """``max_order_rate``: allow at most ``max_orders`` orders per ``per`` (a timeframe: ``"1m"``).

    The rule counts the orders it allowed in the sliding window that ends at the engine clock's now
    (``now - per`` excluded) and denies an order beyond the limit. Orders that only reduce a position
    are always allowed (and counted), so exits and the kill switch are never throttled. The count
    includes orders a later rule denied: list this rule last to count only orders that reach the broker.
    """

    name: ClassVar[str] = "max_order_rate"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxOrderRate`.

        Attributes:
            max_orders: how many orders the window may hold.
            per: the window's length, a timeframe such as ``"30s"``, ``"1m"``, ``"1h"``.
        """

        max_orders: int = attrs.field(validator=_count)
        per: str = attrs.field(default="1m", validator=_timeframe)

    def __init__(self, params: MaxOrderRate.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx
        self.window = parse_timeframe(params.per)
        self.allowed: deque[int] = deque()  # when each counted order was allowed (ns), oldest first

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        now = self.ctx.clock.now()
        allowed = self.allowed
        while allowed and allowed[0] <= now - self.window:
            allowed.popleft()
        limit = self.params.max_orders
        if len(allowed) >= limit and not _reduces(order, portfolio.position(order.instrument_id)):
            per = self.params.per
            count = len(allowed)
            return RiskDecision.deny(f"{count} orders in the last {per}: the limit is {limit} per {per}")
        allowed.append(now)
        return None


class MaxOpenOrders:
    """``max_open_orders``: deny a new order while ``max_orders`` orders are open, of every instrument
    or of ``instrument`` only (as :meth:`PortfolioView.open_orders` lists them).

    Orders waiting for their cancellation count until the broker confirms it. Orders that only reduce
    a position are always allowed, so exits and the kill switch are never blocked.
    """

    name: ClassVar[str] = "max_open_orders"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`MaxOpenOrders`.

        Attributes:
            max_orders: how many orders may be open at once.
            instrument: count (and limit) the orders of this instrument only; ``None``: of all.
        """

        max_orders: int = attrs.field(validator=_count)
        instrument: str | None = None

    def __init__(self, params: MaxOpenOrders.Params, ctx: ComponentContext) -> None:
        self.params = params
        self.ctx = ctx

    def check(self, order: Order, portfolio: PortfolioView) -> RiskDecision | None:
        only = self.params.instrument
        if only is not None and order.instrument_id != only:
            return None
        count = len(portfolio.open_orders(only))
        limit = self.params.max_orders
        if count < limit or _reduces(order, portfolio.position(order.instrument_id)):
            return None
        where = f" in {only}" if only is not None else ""
        return RiskDecision.deny(f"{count} orders are open{where}: the limit is {limit}")


@hookimpl
def register_risk_rules() -> list[type]:
    """Register the built-in risk rules."""
    return [MaxPosition, PriceBand, MaxDrawdown, DailyLoss, MaxExposure, MaxOrderRate, MaxOpenOrders]
