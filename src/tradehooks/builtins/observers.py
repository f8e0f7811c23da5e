"""Built-in observers (plugin ``observers``), switched on per preset with ``[[observers]]``.

``fills_csv`` appends every fill to a CSV file, one line each, written and flushed as it happens::

    [[observers]]
    name = "fills_csv"
    params = { path = "fills.csv" }
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar, TextIO

import attrs

from tradehooks import hookimpl
from tradehooks.contracts import ComponentContext
from tradehooks.exceptions import FieldError
from tradehooks.model import Fill, Position, format_ts

__all__ = ["FillsCsv", "register_observers"]

COLUMNS = ("ts", "strategy_id", "instrument_id", "side", "quantity", "price", "fee", "fee_currency",
           "liquidity", "trade_id", "client_order_id", "position")


def _not_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise FieldError(attribute.name, f"{attribute.name} must not be empty")


class FillsCsv:
    """``fills_csv``: every fill as a CSV line (header written when the file is new or empty)."""

    name: ClassVar[str] = "fills_csv"

    @attrs.frozen(kw_only=True)
    class Params:
        """Parameters of :class:`FillsCsv`.

        Attributes:
            path: the CSV file (relative to the preset's directory); lines are appended.
        """

        path: str = attrs.field(validator=_not_empty)

    def __init__(self, params: FillsCsv.Params, ctx: ComponentContext) -> None:
        path = Path(params.path)
        self.path = path if path.is_absolute() else ctx.base_dir / path
        if not self.path.parent.is_dir():
            raise FieldError("path", f"path: the folder {self.path.parent} does not exist")
        self._file: TextIO | None = None
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("a", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            if new:
                self._writer.writerow(COLUMNS)
        return self._writer

    @hookimpl
    def fill_received(self, fill: Fill, position: Position) -> None:
        self._open().writerow((
            format_ts(fill.ts), fill.strategy_id, fill.instrument_id, fill.side.value, fill.quantity, fill.price,
            fill.fee, fill.fee_currency, fill.liquidity.value, fill.trade_id, fill.client_order_id,
            position.quantity,
        ))
        assert self._file is not None
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


@hookimpl
def register_observers() -> list[type]:
    """Register the built-in observers."""
    return [FillsCsv]
