"""The ``parquet`` data source (plugin ``parquet``): bars read from Parquet files, one per instrument.

Every file has the columns ``timestamp``, ``open``, ``high``, ``low``, ``close`` and ``volume`` (names
matched case-insensitively; other columns are ignored). ``timestamp`` is the candle's **open** time:
a Parquet timestamp (any unit; a zone-less one is UTC) or an integer count of epoch milliseconds or
nanoseconds (``timestamp_unit``; ``"auto"`` decides from the first row: under 10**15 is milliseconds,
that is any time before the year 33658). Prices and volume are any numeric type, read as floats.

Files are streamed one row group at a time (:meth:`pyarrow.parquet.ParquetFile.iter_batches`), so
memory stays flat however long they are. A malformed row is a
:class:`~tradehooks.exceptions.DataError` naming the file and the 1-based row (in ``line``), which
the preset's ``[data] quality`` handles: ``halt`` (the default) stops the run, ``skip`` drops the
row, ``warn`` logs it and uses the bar when it can (a row with a missing value, or whose time is not
after the previous one, is dropped).

Example preset::

    [data]
    source = "parquet"
    [data.params]
    paths = { BTCUSDT = "data/BTC_USDT-5m.parquet", ETHBTC = "data/ETH_BTC-5m.parquet" }

:func:`write_parquet` writes bars in that format (timestamps as UTC nanoseconds) and
:func:`read_parquet_bars` reads a file back.

``pyarrow`` is imported inside the functions that read and write, not at module level: this module is
registered in every plugin manager, and importing ``pyarrow`` costs a quarter of a second.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from tradehooks import hookimpl
from tradehooks.exceptions import DataError, FieldError
from tradehooks.model import Bar, InstrumentId, check_bar, format_ts

from .data_csv import FileDataSource, Reject

if TYPE_CHECKING:
    from tradehooks.contracts import ComponentContext

__all__ = ["COLUMNS", "ParquetDataSource", "read_parquet_bars", "register_data_sources", "write_parquet"]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
"""The columns every bar file has."""

TIMESTAMP_UNITS = ("auto", "ms", "ns")
"""How an integer ``timestamp`` column is read."""

_MS_BELOW = 10**15  # "auto": an integer timestamp under this is epoch ms (10**15 ns is 1970-01-12)
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_INF = float("inf")
_READ_BATCH = 8192  # rows turned into Python objects at a time (a row group may hold more)


def read_parquet_bars(
    path: str | Path,
    instrument_id: InstrumentId,
    *,
    timestamp_unit: str = "auto",
    check_order: bool = True,
    reject: Reject | None = None,
) -> Generator[Bar, None, None]:
    """Stream the bars of one Parquet file, one row group at a time.

    The file is opened on the first ``next()`` and closed when the generator ends or is closed.

    Args:
        path: the file.
        instrument_id: the instrument the bars are stamped with.
        timestamp_unit: how an integer ``timestamp`` column is read: ``"ms"``, ``"ns"``, or ``"auto"``
            (decided from the first row). Ignored for a Parquet timestamp column.
        check_order: refuse a timestamp that is not after the previous one (``False`` lets tools such
            as ``tradehooks data check`` report duplicates and disorder instead).
        reject: what to do with a malformed row (see :data:`~tradehooks.builtins.data_csv.Reject`);
            without it, the first one raises.

    Yields:
        One :class:`~tradehooks.model.Bar` per row, in file order.

    Raises:
        DataError: the file is missing or not Parquet, a column is missing or of the wrong type, or a
            row is malformed (a null, NaN or infinite value, non-positive price, high < low, open or
            close outside [low, high], negative volume, a timestamp that is not after the previous
            one) and ``reject`` raises or is not given; ``path`` and ``line`` (the 1-based row) say
            where.
    """
    if timestamp_unit not in TIMESTAMP_UNITS:
        units = ", ".join(TIMESTAMP_UNITS)
        raise ValueError(f"timestamp_unit must be one of {units}, got {timestamp_unit!r}")
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    name = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise DataError("file not found", path=name) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=name) from None
    with handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"not a Parquet file: {exc}", path=name) from None
        columns, factor = _read_schema(parquet.schema_arrow, name)
        if factor is None and timestamp_unit != "auto":
            factor = _NS_PER[timestamp_unit]
        new = tuple.__new__
        prev: float = -_INF  # stays there without check_order
        row = 0  # rows before the current batch
        for group in range(parquet.num_row_groups):
            try:
                batches = parquet.iter_batches(batch_size=_READ_BATCH, row_groups=[group], columns=columns)
                for batch in batches:
                    size = batch.num_rows
                    kept: list[int] | None = None  # the positions of the rows left, once some were dropped
                    if size and any(batch.column(i).null_count for i in range(6)):
                        batch, kept = _without_nulls(batch, name, row, reject)
                    if not batch.num_rows:
                        row += size
                        continue
                    ts_column = batch.column(0)
                    if factor is None:  # integers, "auto": decided by the first row of the file
                        factor = _NS_PER["ms"] if abs(ts_column[0].as_py()) < _MS_BELOW else 1
                    times = _timestamps(ts_column, factor, pa)
                    values = [batch.column(i).cast(pa.float64()).to_pylist() for i in range(1, 6)]
                    for k, (ts, o, h, lo, c, v) in enumerate(zip(times, *values)):
                        if ts <= prev or not (0 < lo <= o <= h < _INF and lo <= c <= h and 0 <= v < _INF):
                            bar = Bar(instrument_id, ts, o, h, lo, c, v)
                            line = row + (k if kept is None else kept[k]) + 1
                            error = DataError(_bar_problem(bar, prev), path=name, line=line)
                            if reject is None:
                                raise error
                            if reject(error, bar, ts > prev):  # a bar out of time order is never used
                                continue
                        if check_order:
                            prev = ts
                        yield new(Bar, (instrument_id, ts, o, h, lo, c, v))
                    row += size
            except pa.ArrowException as exc:
                raise DataError(f"cannot read row group {group}: {exc}", path=name) from None


def _read_schema(schema: Any, name: str) -> tuple[list[str], int | None]:
    """The file's names of :data:`COLUMNS`, and the ns factor of a timestamp column (``None`` for an
    integer one, decided later)."""
    import pyarrow as pa

    found: dict[str, str] = {}
    for field_name in schema.names:
        key = field_name.strip().lower()
        if key in COLUMNS:
            if key in found:
                raise DataError(f"duplicate column {key!r} ({found[key]!r} and {field_name!r})", path=name)
            found[key] = field_name
    for column in COLUMNS:
        if column not in found:
            raise DataError(f"missing column {column!r}", path=name)
    columns = [found[column] for column in COLUMNS]
    ts_type = schema.field(columns[0]).type
    factor: int | None
    if pa.types.is_timestamp(ts_type):
        factor = _NS_PER[ts_type.unit]
    elif pa.types.is_integer(ts_type):
        factor = None
    else:
        raise DataError(
            f"column {columns[0]!r} has type {ts_type}; expected a timestamp or integer epoch ms or ns",
            path=name,
        )
    for column in columns[1:]:
        value_type = schema.field(column).type
        if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)
                or pa.types.is_decimal(value_type)):
            raise DataError(f"column {column!r} has type {value_type}; expected a number", path=name)
    return columns, factor


def _timestamps(column: Any, factor: int, pa: Any) -> list[int]:
    """Integer nanoseconds of a timestamp or integer column."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values: list[int] = column.to_pylist()
    return values if factor == 1 else [value * factor for value in values]


def _without_nulls(batch: Any, name: str, row: int, reject: Reject | None) -> tuple[Any, list[int]]:
    """``batch`` without its rows that miss a value, each handed to ``reject`` (raised without it),
    and the positions of the rows left. ``row`` counts the rows of the file before the batch."""
    nulls = [batch.column(i).is_null().to_pylist() for i in range(len(COLUMNS))]
    kept: list[int] = []
    for k in range(batch.num_rows):
        missing = [column for column, null in zip(COLUMNS, nulls) if null[k]]
        if not missing:
            kept.append(k)
            continue
        error = DataError(f"{min(missing)} is missing (null)", path=name, line=row + k + 1)
        if reject is None:
            raise error
        reject(error, None, False)  # no bar to use: dropped (unless it raises)
    return batch.take(kept), kept


def _bar_problem(bar: Bar, prev: float) -> str:
    """Why a bar is refused (called only for suspicious bars)."""
    if bar.ts <= prev:
        return f"timestamp {format_ts(bar.ts)} is not after the previous one {format_ts(int(prev))}"
    return check_bar(bar) or f"malformed bar {bar!r}"


def write_parquet(path: str | Path, bars: Iterable[Bar], *, row_group_size: int = 65_536) -> int:
    """Write ``bars`` to a Parquet file with the columns ``timestamp`` (UTC nanoseconds), ``open``,
    ``high``, ``low``, ``close`` and ``volume`` (float64), ``row_group_size`` rows per row group.

    The bars are consumed ``row_group_size`` at a time, so memory stays flat. The instrument id is not
    written (one file holds one instrument); floats round-trip exactly through
    :func:`read_parquet_bars`.

    Returns:
        The number of rows written.
    """
    if row_group_size <= 0:
        raise ValueError(f"row_group_size must be > 0, got {row_group_size}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [("timestamp", pa.timestamp("ns", tz="UTC"))] + [(c, pa.float64()) for c in COLUMNS[1:]]
    schema = pa.schema(fields)
    rows = 0
    iterator = iter(bars)
    with pq.ParquetWriter(str(path), schema) as writer:
        while chunk := list(islice(iterator, row_group_size)):
            columns = list(zip(*chunk))[1:]
            arrays = [pa.array(columns[0], pa.int64()).cast(schema.field(0).type)]
            arrays += [pa.array(values, pa.float64()) for values in columns[1:]]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=row_group_size)
            rows += len(chunk)
    return rows


def _timestamp_unit(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in TIMESTAMP_UNITS:
        raise FieldError(
            attribute.name, f"{attribute.name} must be one of {', '.join(TIMESTAMP_UNITS)}, got {value!r}"
        )


class ParquetDataSource(FileDataSource):
    """Bars from Parquet files, streamed by row groups: one file for the preset's instrument, or one
    file per instrument."""

    name: ClassVar[str] = "parquet"

    @attrs.frozen(kw_only=True)
    class Params(FileDataSource.Params):
        """The ``[data.params]`` of a ``parquet`` source: those of every file source, plus

        Attributes:
            timestamp_unit: how an integer ``timestamp`` column is read: ``"ms"``, ``"ns"`` or
                ``"auto"``.
        """

        timestamp_unit: str = attrs.field(default="auto", validator=_timestamp_unit)

    def __init__(self, params: ParquetDataSource.Params, ctx: ComponentContext) -> None:
        super().__init__(params, ctx)
        self._unit = params.timestamp_unit

    def _read(self, instrument_id: InstrumentId, path: Path, reject: Reject | None) -> Generator[Bar, None, None]:
        return read_parquet_bars(path, instrument_id, timestamp_unit=self._unit, reject=reject)


@hookimpl
def register_data_sources() -> list[type]:
    """Register the ``parquet`` data source."""
    return [ParquetDataSource]
