"""Bybit's payloads as frozen attrs classes, read with one strict cattrs converter.

Structure every payload the adapter reads through :data:`converter` (``converter.structure(payload,
Kline)``): a renamed or missing field then fails loudly where it enters, not three calls later.
"""

from __future__ import annotations

import attrs
import cattrs
from tradehooks.model import Bar, InstrumentId

__all__ = ["Kline", "converter"]

#: the adapter's one converter: unknown keys are errors
converter = cattrs.Converter(forbid_extra_keys=True)


@attrs.frozen(kw_only=True)
class Kline:
    """One candle as the exchange sends it (rename and retype the fields to match its payload).

    Attributes:
        start: the candle's open time, in milliseconds.
        open, high, low, close: prices, as the decimal strings exchanges send.
        volume: traded quantity in base units.
        confirm: whether the candle is closed.
    """

    start: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    confirm: bool

    def to_bar(self, instrument_id: InstrumentId) -> Bar:
        raise NotImplementedError(
            "Kline.to_bar(instrument_id): return Bar(instrument_id, ts=start in nanoseconds, open, high, low, "
            "close, volume as floats); keep it cheap, it runs for every candle"
        )
