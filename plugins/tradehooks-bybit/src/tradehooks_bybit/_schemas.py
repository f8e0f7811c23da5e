"""Bybit's payloads as frozen attrs classes, and the fast readers of the per-message ones.

Payloads read once (instrument rules) go through :data:`converter`: a missing or retyped field fails
loudly where it enters. Field names are snake_case here and camelCase on the wire; the converter
renames them. Unknown keys are allowed on purpose: Bybit adds fields to its answers without notice
(``isPreListing``, ``RPI``, ...) and a new field must not stop trading.

Candles arrive for every bar, so they are read by plain functions (:func:`bar_from_row`,
:func:`bar_from_ws`) straight into :class:`~tradehooks.model.Bar` floats, without a converter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override
from tradehooks.model import Bar

__all__ = ["InstrumentInfo", "LotSizeFilter", "PriceFilter", "bar_from_row", "bar_from_ws", "converter", "parse_instruments"]

#: the adapter's converter for exchange payloads (camelCase on the wire, snake_case here)
converter = cattrs.Converter(forbid_extra_keys=False)

_CAMEL = re.compile(r"_([a-z])")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _register_camel(cls: type) -> type:
    """Structure ``cls`` from camelCase keys (``tick_size`` <- ``tickSize``)."""
    overrides = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
    converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **overrides))  # type: ignore[arg-type]
    return cls


converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))


@_register_camel
@attrs.frozen(kw_only=True)
class PriceFilter:
    """``priceFilter`` of an instrument: prices are multiples of ``tick_size``."""

    tick_size: Decimal


@_register_camel
@attrs.frozen(kw_only=True)
class LotSizeFilter:
    """``lotSizeFilter`` of an instrument. Linear instruments give ``qty_step``, ``min_order_qty`` and
    ``min_notional_value``; spot ones ``base_precision`` (the quantity step) and ``min_order_amt``
    (the minimum order value, in the quote coin)."""

    qty_step: str | None = None
    min_order_qty: str | None = None
    min_notional_value: str | None = None
    base_precision: str | None = None
    min_order_amt: str | None = None


@_register_camel
@attrs.frozen(kw_only=True)
class InstrumentInfo:
    """One item of ``/v5/market/instruments-info``: the rules of one instrument."""

    symbol: str
    status: str
    base_coin: str = ""
    quote_coin: str = ""
    price_filter: PriceFilter
    lot_size_filter: LotSizeFilter

    @property
    def tick_size(self) -> Decimal:
        return self.price_filter.tick_size

    @property
    def lot_size(self) -> Decimal:
        """The quantity step (``qtyStep``; spot: ``basePrecision``)."""
        lot = self.lot_size_filter
        step = lot.qty_step or lot.base_precision
        if step is None:
            raise ValueError(f"{self.symbol}: the instrument has neither qtyStep nor basePrecision")
        return Decimal(step)

    @property
    def min_quantity(self) -> Decimal:
        """The smallest order quantity (0 when the exchange names none)."""
        value = self.lot_size_filter.min_order_qty
        return Decimal(value) if value else Decimal(0)

    @property
    def min_notional(self) -> Decimal:
        """The smallest order value in the quote coin (``minNotionalValue``; spot: ``minOrderAmt``)."""
        lot = self.lot_size_filter
        value = lot.min_notional_value or lot.min_order_amt
        return Decimal(value) if value else Decimal(0)


def parse_instruments(items: Sequence[Mapping[str, Any]]) -> list[InstrumentInfo]:
    """Structure the ``list`` of an instruments-info answer."""
    return [converter.structure(item, InstrumentInfo) for item in items]


def bar_from_row(instrument_id: str, row: Sequence[str]) -> Bar:
    """A REST candle ``[startTime, open, high, low, close, volume, turnover]`` (strings) as a Bar."""
    return Bar(instrument_id, int(row[0]) * 1_000_000, float(row[1]), float(row[2]), float(row[3]),
               float(row[4]), float(row[5]))


def bar_from_ws(instrument_id: str, item: Mapping[str, Any]) -> Bar:
    """A ``kline`` stream item (``start``, ``open``, ``high``, ``low``, ``close``, ``volume``) as a Bar."""
    return Bar(instrument_id, int(item["start"]) * 1_000_000, float(item["open"]), float(item["high"]),
               float(item["low"]), float(item["close"]), float(item["volume"]))
