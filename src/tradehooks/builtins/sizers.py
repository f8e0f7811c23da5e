"""The built-in sizers (plugin ``sizers``).

===================== =============================== ==================================================
name                  class                           target quantity at exposure ``e``
===================== =============================== ==================================================
``fixed``             :class:`FixedSizer`             ``e * quantity``
``percent_equity``    :class:`PercentEquitySizer`     ``e * fraction * equity / price``
``risk_per_trade``    :class:`RiskPerTradeSizer`      ``e * risk * equity / (atr_multiple * ATR)``
``volatility_target`` :class:`VolatilityTargetSizer`  ``e * target_vol / realised_vol * equity / price``
``kelly_capped``      :class:`KellyCappedSizer`       ``e * f * equity / price``, ``f`` from trades
===================== =============================== ==================================================

A sizer turns a signal's target exposure (a float in [-1, 1]; values outside are clamped) into a signed
target quantity, rounded towards zero to the instrument's lot, so it never exceeds what was asked for.
A non-zero target that rounds to nothing, or falls under the instrument's ``min_quantity`` or
``min_notional``, is refused: the sizer returns 0 and logs ``sizer.refused`` (a warning) once per
instrument and reason.

Two optional methods give sizers more than ``size()`` sees; the engine calls them when a sizer has them:

* ``on_bar(bar)``: every bar of the strategy's instruments, **before** the signal sees it
  (``risk_per_trade`` keeps an ATR per instrument, ``volatility_target`` a window of log returns);
* ``on_trade_closed(pnl)``: the net PnL (after fees) of each round trip the strategy closes
  (``kelly_capped`` keeps its rolling win/loss statistics).

One sizer object serves every instrument of its strategy, so per-instrument state is keyed by
instrument id.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
import structlog

from tradehooks import hookimpl
from tradehooks.contracts import ComponentContext
from tradehooks.exceptions import FieldError
from tradehooks.model import NS_PER_SECOND, ZERO, Bar, Instrument, InstrumentId, to_decimal

from .indicators import AverageTrueRange

__all__ = [
    "FixedSizer",
    "KellyCappedSizer",
    "PercentEquitySizer",
    "RiskPerTradeSizer",
    "VolatilityTargetSizer",
    "register_sizers",
]

_ONE = Decimal(1)
_MAX_LEVERAGE = Decimal(10)
_YEAR_NS = 365 * 86400 * NS_PER_SECOND  # crypto trades every day


# The exposures signals give most (all in, flat, all out short) as to_decimal() gives them, converted once.
_USUAL_EXPOSURES = MappingProxyType({value: to_decimal(value) for value in (1.0, 0.0, -1.0)})


def _exposure(exposure: float) -> Decimal:
    """``exposure`` as an exact decimal clamped to [-1, 1] (``ValueError`` for NaN and infinities)."""
    if type(exposure) is float:
        usual = _USUAL_EXPOSURES.get(exposure)
        if usual is not None:
            return usual
    value = to_decimal(exposure)
    if value > _ONE:
        return _ONE
    if value < -_ONE:
        return -_ONE
    return value


def _check_price(price: Decimal, instrument: Instrument) -> None:
    if price <= 0:
        raise ValueError(f"{instrument.id}: cannot size at price {price}; the price must be > 0")


def _rounded(quantity: Decimal, instrument: Instrument) -> Decimal:
    """``quantity`` rounded towards zero to the lot, with a zero result always plain ``0``."""
    return instrument.quantity_down(quantity) or ZERO


# --- parameter validators ----------------------------------------------------------------------------


def _positive_quantity(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _fraction_in_range(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not 0 < value <= _MAX_LEVERAGE:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 and <= {_MAX_LEVERAGE}, got {value}")


def _unit_fraction(instance: Any, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not 0 < value <= _ONE:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0 and <= 1, got {value}")


def _at_least(minimum: int) -> Any:
    """An attrs validator: an integer >= ``minimum`` (a bool is no integer here)."""

    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(attribute.name, f"{attribute.name} must be an integer, got {value!r}")
        if value < minimum:
            raise FieldError(attribute.name, f"{attribute.name} must be >= {minimum}, got {value}")

    return check


# --- what every sizer shares -------------------------------------------------------------------------


class _BaseSizer:
    """Rounding to the lot, the refusals, and the once-per-reason log every built-in sizer shares."""

    name: ClassVar[str]

    def __init__(self, params: Any, ctx: ComponentContext | None) -> None:
        self.params = params
        self.ctx = ctx
        self._log: Any = ctx.log if ctx is not None else structlog.get_logger("tradehooks")
        self._refused: set[tuple[InstrumentId, str]] = set()

    def _refuse(self, instrument: Instrument, kind: str, reason: str) -> Decimal:
        """Return 0, logging ``sizer.refused`` with ``reason`` the first time ``(instrument, kind)``
        happens."""
        key = (instrument.id, kind)
        if key not in self._refused:
            self._refused.add(key)
            self._log.warning("sizer.refused", sizer=self.name, instrument_id=instrument.id, reason=reason)
        return ZERO

    def _finish(self, quantity: Decimal, instrument: Instrument, price: Decimal) -> Decimal:
        """``quantity`` rounded towards zero to the lot, or 0 (refused, logged) if it is under one lot,
        the minimum quantity or the minimum notional."""
        if not quantity:
            return ZERO
        rounded = _rounded(quantity, instrument)
        size = abs(rounded)
        if not size:
            return self._refuse(
                instrument, "lot", f"target {quantity:f} is under one lot ({instrument.lot_size})"
            )
        if size < instrument.min_quantity:
            return self._refuse(
                instrument, "min_quantity",
                f"quantity {size} is below the minimum quantity {instrument.min_quantity}",
            )  # fmt: skip
        if size * price < instrument.min_notional:
            return self._refuse(
                instrument, "min_notional",
                f"notional {size * price} at {price} is below the minimum notional {instrument.min_notional}",
            )  # fmt: skip
        return rounded


# --- fixed and percent_equity ----------------------------------------------------------------------


class FixedSizer(_BaseSizer):
    """``fixed``: ``exposure * quantity``, so a full exposure holds exactly ``quantity`` units."""

    name: ClassVar[str] = "fixed"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`FixedSizer`.

        Attributes:
            quantity: the position, in base units, at an exposure of 1.
        """

        quantity: Decimal = attrs.field(converter=to_decimal, validator=_positive_quantity)

    params: Params

    def __init__(self, params: FixedSizer.Params, ctx: ComponentContext | None = None) -> None:
        super().__init__(params, ctx)
        for instrument in (ctx.instruments.values() if ctx is not None else ()):
            if params.quantity < instrument.lot_size:
                raise ValueError(
                    f"quantity {params.quantity} is below the lot size {instrument.lot_size} of "
                    f"{instrument.id}: it would never trade"
                )

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * quantity`` rounded towards zero to the lot (the price must be > 0)."""
        _check_price(price, instrument)
        return self._finish(_exposure(exposure) * self.params.quantity, instrument, price)


class PercentEquitySizer(_BaseSizer):
    """``percent_equity``: ``exposure * fraction * equity / price``; a fraction above 1 is leverage.

    No equity (zero or negative) sizes every target to 0.
    """

    name: ClassVar[str] = "percent_equity"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`PercentEquitySizer`.

        Attributes:
            fraction: the share of equity held at an exposure of 1, in (0, 10].
        """

        fraction: Decimal = attrs.field(default=_ONE, converter=to_decimal, validator=_fraction_in_range)

    params: Params

    def __init__(
        self, params: PercentEquitySizer.Params | None = None, ctx: ComponentContext | None = None
    ) -> None:
        super().__init__(self.Params() if params is None else params, ctx)

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * fraction * equity / price`` rounded towards zero to the lot."""
        _check_price(price, instrument)
        if equity <= 0:
            return ZERO
        return self._finish(_exposure(exposure) * self.params.fraction * equity / price, instrument, price)


# --- risk_per_trade ------------------------------------------------------------------------------------


class RiskPerTradeSizer(_BaseSizer):
    """``risk_per_trade``: lose ``risk`` of equity if a stop ``atr_multiple`` ATRs away is hit.

    ``quantity = exposure * risk * equity / (atr_multiple * ATR)``, at most
    ``max_fraction * equity / price`` in absolute value (also the size when the ATR is 0). The ATR is
    TA-Lib's Wilder ATR of ``atr_period`` bars, one per instrument, fed by :meth:`on_bar`; until it is
    ready every target is 0 (refused, logged once per instrument).
    """

    name: ClassVar[str] = "risk_per_trade"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`RiskPerTradeSizer`.

        Attributes:
            risk: the share of equity lost when the stop is hit, in (0, 1].
            atr_period: the Wilder period of the ATR.
            atr_multiple: how many ATRs away the stop is.
            max_fraction: the largest position, as a share of equity at the price, in (0, 10].
        """

        risk: Decimal = attrs.field(default=Decimal("0.01"), converter=to_decimal, validator=_unit_fraction)
        atr_period: int = attrs.field(default=14, validator=_at_least(1))
        atr_multiple: Decimal = attrs.field(
            default=Decimal(2), converter=to_decimal, validator=_positive_quantity
        )
        max_fraction: Decimal = attrs.field(default=_ONE, converter=to_decimal, validator=_fraction_in_range)

    params: Params

    def __init__(
        self, params: RiskPerTradeSizer.Params | None = None, ctx: ComponentContext | None = None
    ) -> None:
        super().__init__(self.Params() if params is None else params, ctx)
        self._atr_params = AverageTrueRange.Params(period=self.params.atr_period)
        self._atrs: dict[InstrumentId, AverageTrueRange] = {}

    def on_bar(self, bar: Bar) -> None:
        """Update the ATR of the bar's instrument (the engine calls it before the signal's ``on_bar``)."""
        atr = self._atrs.get(bar[0])
        if atr is None:
            atr = self._atrs[bar[0]] = AverageTrueRange(self._atr_params)
        atr.update(bar)

    def atr(self, instrument_id: InstrumentId) -> float | None:
        """The current ATR of ``instrument_id``, ``None`` until it is ready."""
        atr = self._atrs.get(instrument_id)
        return None if atr is None else atr.value

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * risk * equity / (atr_multiple * ATR)``, capped, rounded towards zero."""
        _check_price(price, instrument)
        e = _exposure(exposure)
        if equity <= 0 or not e:
            return ZERO
        atr = self.atr(instrument.id)
        p = self.params
        if atr is None:
            return self._refuse(
                instrument, "atr_not_ready",
                f"the ATR({p.atr_period}) is not ready: it needs {p.atr_period + 1} bars of {instrument.id}",
            )  # fmt: skip
        cap = p.max_fraction * equity / price
        quantity = cap if atr <= 0 else min(p.risk * equity / (p.atr_multiple * to_decimal(atr)), cap)
        return self._finish(e * quantity, instrument, price)


# --- volatility_target ---------------------------------------------------------------------------------


class _Returns:
    """The last ``lookback`` close-to-close log returns of one instrument."""

    __slots__ = ("last_close", "window")

    def __init__(self, lookback: int) -> None:
        self.last_close: float | None = None
        self.window: deque[float] = deque(maxlen=lookback)


class VolatilityTargetSizer(_BaseSizer):
    """``volatility_target``: hold the position whose volatility is ``target_vol``.

    ``quantity = exposure * min(target_vol / realised_vol, max_leverage) * equity / price``, where
    ``realised_vol`` is the sample standard deviation (``n - 1``) of the last ``lookback``
    close-to-close log returns of the instrument, annualised by ``sqrt(bars per 365-day year)`` at the
    preset's timeframe. A realised volatility of 0 holds ``max_leverage``. Until ``lookback`` returns
    (``lookback + 1`` bars) were seen every target is 0 (refused, logged once per instrument).
    """

    name: ClassVar[str] = "volatility_target"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`VolatilityTargetSizer`.

        Attributes:
            target_vol: the annualised volatility to hold at an exposure of 1.
            lookback: how many log returns the realised volatility is measured on.
            max_leverage: the largest position, as a share of equity at the price, in (0, 10].
        """

        target_vol: Decimal = attrs.field(
            default=Decimal("0.2"), converter=to_decimal, validator=_positive_quantity
        )
        lookback: int = attrs.field(default=20, validator=_at_least(2))
        max_leverage: Decimal = attrs.field(
            default=Decimal(2), converter=to_decimal, validator=_fraction_in_range
        )

    params: Params

    def __init__(
        self, params: VolatilityTargetSizer.Params | None = None, ctx: ComponentContext | None = None
    ) -> None:
        """Read the timeframe from ``ctx``.

        Raises:
            ValueError: there is no context (its timeframe annualises the volatility).
        """
        if ctx is None:
            raise ValueError(
                "volatility_target needs the engine's context: its timeframe annualises the volatility"
            )
        super().__init__(self.Params() if params is None else params, ctx)
        self._annualise = math.sqrt(_YEAR_NS / ctx.timeframe)
        self._returns: dict[InstrumentId, _Returns] = {}

    def on_bar(self, bar: Bar) -> None:
        """Add the bar's close-to-close log return (the engine calls it before the signal's ``on_bar``)."""
        returns = self._returns.get(bar[0])
        if returns is None:
            returns = self._returns[bar[0]] = _Returns(self.params.lookback)
        close = bar[5]
        last = returns.last_close
        if last is not None and last > 0 and close > 0:
            returns.window.append(math.log(close / last))
        returns.last_close = close

    def realised_volatility(self, instrument_id: InstrumentId) -> float | None:
        """The annualised realised volatility of ``instrument_id``, ``None`` until ``lookback`` returns
        were seen."""
        returns = self._returns.get(instrument_id)
        n = self.params.lookback
        if returns is None or len(returns.window) < n:
            return None
        window = returns.window
        mean = math.fsum(window) / n
        variance = math.fsum([(r - mean) * (r - mean) for r in window]) / (n - 1)
        return math.sqrt(variance) * self._annualise

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * min(target_vol / realised_vol, max_leverage) * equity / price``, rounded
        towards zero."""
        _check_price(price, instrument)
        e = _exposure(exposure)
        if equity <= 0 or not e:
            return ZERO
        p = self.params
        volatility = self.realised_volatility(instrument.id)
        if volatility is None:
            return self._refuse(
                instrument, "volatility_not_ready",
                f"the realised volatility is not ready: it needs {p.lookback + 1} bars of {instrument.id}",
            )  # fmt: skip
        leverage = p.max_leverage
        if volatility > 0:
            leverage = min(p.target_vol / to_decimal(volatility), leverage)
        return self._finish(e * leverage * equity / price, instrument, price)


# --- kelly_capped --------------------------------------------------------------------------------------


class KellyCappedSizer(_BaseSizer):
    """``kelly_capped``: a fraction of the Kelly bet measured on the strategy's own closed trades.

    Over the last ``window`` closed trades (fed by :meth:`on_trade_closed`), with ``W`` the share of
    winners (net PnL > 0) and ``R`` the average win over the average loss (net PnL < 0),
    ``kelly = W - (1 - W) / R`` (``W`` when there was no loss, 0 when there was no win). The fraction
    held is ``f = min(max(kelly, 0), cap) * fraction_of_kelly``, and
    ``quantity = exposure * f * equity / price``. With fewer than ``min_trades`` trades ``f`` is
    ``fallback``. A fraction of 0 (no edge) refuses every target (logged once per instrument).
    """

    name: ClassVar[str] = "kelly_capped"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`KellyCappedSizer`.

        Attributes:
            window: how many of the latest closed trades count.
            min_trades: how many trades are needed before the Kelly fraction is used (<= ``window``).
            cap: the largest Kelly fraction used, in (0, 1].
            fraction_of_kelly: the share of the capped Kelly fraction held ("half Kelly"), in (0, 1].
            fallback: the fraction of equity held before ``min_trades`` trades, in (0, 1].
        """

        window: int = attrs.field(default=50, validator=_at_least(1))
        min_trades: int = attrs.field(default=10, validator=_at_least(1))
        cap: Decimal = attrs.field(default=Decimal("0.25"), converter=to_decimal, validator=_unit_fraction)
        fraction_of_kelly: Decimal = attrs.field(
            default=Decimal("0.5"), converter=to_decimal, validator=_unit_fraction
        )
        fallback: Decimal = attrs.field(
            default=Decimal("0.05"), converter=to_decimal, validator=_unit_fraction
        )

        def __attrs_post_init__(self) -> None:
            if self.min_trades > self.window:
                raise FieldError(
                    "min_trades", f"min_trades must be <= window ({self.window}), got {self.min_trades}"
                )

    params: Params

    def __init__(
        self, params: KellyCappedSizer.Params | None = None, ctx: ComponentContext | None = None
    ) -> None:
        super().__init__(self.Params() if params is None else params, ctx)
        self._trades: deque[Decimal] = deque()
        self._wins = 0
        self._losses = 0
        self._win_total = ZERO
        self._loss_total = ZERO  # the sum of |loss|

    def _count(self, pnl: Decimal, sign: int) -> None:
        if pnl > 0:
            self._wins += sign
            self._win_total += sign * pnl
        elif pnl < 0:
            self._losses += sign
            self._loss_total -= sign * pnl

    def on_trade_closed(self, pnl: Decimal) -> None:
        """Record the net PnL (after fees) of a round trip the strategy closed; the oldest trade leaves
        the window once it holds ``window`` trades."""
        pnl = to_decimal(pnl)
        trades = self._trades
        if len(trades) == self.params.window:
            self._count(trades.popleft(), -1)
        trades.append(pnl)
        self._count(pnl, 1)

    @property
    def trades(self) -> int:
        """How many closed trades are in the window."""
        return len(self._trades)

    def kelly(self) -> Decimal | None:
        """The raw Kelly fraction ``W - (1 - W) / R`` of the window (may be negative), or ``None`` with
        fewer than ``min_trades`` trades."""
        n = len(self._trades)
        if n < self.params.min_trades:
            return None
        if not self._wins:
            return ZERO
        win_rate = Decimal(self._wins) / n
        if not self._losses:
            return win_rate
        payoff = (self._win_total / self._wins) / (self._loss_total / self._losses)
        return win_rate - (_ONE - win_rate) / payoff

    def fraction(self) -> Decimal:
        """The share of equity held at an exposure of 1: the capped, scaled Kelly fraction, or
        ``fallback`` before ``min_trades`` trades."""
        kelly = self.kelly()
        p = self.params
        if kelly is None:
            return p.fallback
        return min(max(kelly, ZERO), p.cap) * p.fraction_of_kelly

    def size(
        self, exposure: float, *, instrument: Instrument, price: Decimal, equity: Decimal, position: Decimal
    ) -> Decimal:
        """Return ``exposure * f * equity / price`` rounded towards zero (``f`` from :meth:`fraction`)."""
        _check_price(price, instrument)
        e = _exposure(exposure)
        if equity <= 0 or not e:
            return ZERO
        fraction = self.fraction()
        if not fraction:
            return self._refuse(
                instrument, "no_edge",
                f"the Kelly fraction of the last {len(self._trades)} trades is {self.kelly():f}: no edge",
            )  # fmt: skip
        return self._finish(e * fraction * equity / price, instrument, price)


@hookimpl
def register_sizers() -> list[type]:
    """Register the built-in sizers."""
    return [FixedSizer, PercentEquitySizer, RiskPerTradeSizer, VolatilityTargetSizer, KellyCappedSizer]
