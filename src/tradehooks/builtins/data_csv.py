"""The ``csv`` data source: bars read from CSV files, one file per instrument.

Every file has the header ``timestamp,open,high,low,close,volume`` (columns in any order) and one
candle per row. ``timestamp`` is the candle's **open** time, either ISO-8601
(``2023-01-02T16:45:00Z``; no zone means UTC) or integer epoch milliseconds, strictly increasing.

Files are streamed a block of rows at a time (parsed by ``pyarrow``), so memory stays flat however
long they are. A malformed row is a :class:`~tradehooks.exceptions.DataError` naming the file and
the line, which the preset's ``[data] quality`` handles: ``halt`` (the default) stops the run,
``skip`` drops the row, ``warn`` logs it and uses the bar when it can (a row that is not a bar, or
whose time is not after the previous one, is dropped).

Example preset::

    [data]
    source = "csv"
    [data.params]
    paths = { BTCUSDT = "data/BTC_USDT-5m.csv", ETHBTC = "data/ETH_BTC-5m.csv" }
"""

from __future__ import annotations

import csv
import heapq
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import closing
from datetime import date, time
from itertools import chain, islice, repeat, takewhile
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio.to_thread
import attrs

from tradehooks import hookimpl
from tradehooks.exceptions import DataError, FieldError
from tradehooks.model import NS_PER_SECOND, Bar, InstrumentId, check_bar, format_ts, parse_ts

if TYPE_CHECKING:
    from tradehooks.contracts import ComponentContext

__all__ = [
    "COLUMNS", "CsvDataSource", "FileDataSource", "read_csv_bars", "read_csv_blocks", "register_data_sources",
]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
"""The columns every bar file has, in the canonical order."""

_EPOCH_DAY = date(1970, 1, 1).toordinal()
_NS_PER_DAY = 86400 * NS_PER_SECOND
_INF = float("inf")
_TS = itemgetter(1)  # Bar.ts: the merge key
# pyarrow parses the file a block of this many bytes (~2,000 rows) at a time: large enough that the
# per-block work (a dozen column checks) is a small share, small enough to keep memory flat.
_BLOCK_BYTES = 1 << 17

Reject = Callable[[DataError, "Bar | None", bool], bool]
"""What a file source does with a malformed row: called with the located error, the bar (``None``
when the row could not be read as one) and whether the bar could be used all the same (its values are
off, but its time is in order); returns ``True`` to drop the row, ``False`` to use the bar, or raises
(the error, to stop). The engine's :attr:`~tradehooks.contracts.ComponentContext.reject_bar` applies
the preset's ``[data] quality``."""


def read_csv_bars(
    path: str | Path, instrument_id: InstrumentId, *, reject: Reject | None = None
) -> Iterator[Bar]:
    """Stream the bars of one CSV file, block by block.

    The file is opened on the first ``next()`` and closed when the generator ends or is closed.

    Args:
        path: the file.
        instrument_id: the instrument the bars are stamped with.
        reject: what to do with a malformed row (see :data:`Reject`); without it, the first one raises.

    Yields:
        One :class:`~tradehooks.model.Bar` per row, in file order.

    Raises:
        DataError: the file is missing or unreadable, the header lacks a column, or a row is
            malformed (wrong field count, not a number, NaN or infinite, non-positive price,
            high < low, open or close outside [low, high], negative volume, a timestamp that is not
            after the previous one) and ``reject`` raises or is not given; ``path`` and ``line``
            (1-based) say where.
    """
    blocks = read_csv_blocks(path, instrument_id, reject=reject)
    try:
        for bars in blocks:
            yield from bars
    finally:
        blocks.close()


def read_csv_blocks(
    path: str | Path, instrument_id: InstrumentId, *, reject: Reject | None = None
) -> Generator[list[Bar], None, None]:
    """:func:`read_csv_bars` in lists of consecutive bars, as they are read (what the ``csv`` source
    streams: a list is handed on without touching each bar)."""
    name = str(path)
    names = _open_header(path, name)
    # The fast path: pyarrow parses whole blocks in C and checks them with numpy. A block it cannot
    # vouch for (a parse error, a null, an unusual timestamp form, a bar that fails a check) ends
    # it; the row reader below then takes over from that block's first row, so every problem is
    # found, worded and located (file and line) exactly as before, and the bars are the same.
    done = 0  # data rows yielded by the fast path
    prev: float = -_INF
    with closing(_arrow_blocks(path, names, instrument_id)) as blocks:
        for bars in blocks:
            if bars is None:
                break
            done += len(bars)
            prev = bars[-1][1]
            yield bars
        else:
            return
    for bar in _read_rows(path, name, instrument_id, done, prev, reject):
        yield [bar]  # one at a time: the bars before a bad row reach the reader before its error


def _open_header(path: str | Path, name: str) -> list[str]:
    """Open the file and read its header; return the column names in file order (normalised)."""
    with _open(path, name) as handle:
        order = _read_header(csv.reader(handle), name)
    names = [""] * len(COLUMNS)
    for column, position in zip(COLUMNS, order):
        names[position] = column
    return names


def _open(path: str | Path, name: str) -> Any:
    try:
        return open(path, newline="", encoding="utf-8-sig")  # closed by the caller's with
    except FileNotFoundError:
        raise DataError("file not found", path=name) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=name) from None


def _arrow_blocks(
    path: str | Path, names: list[str], instrument_id: InstrumentId
) -> Generator[list[Bar] | None, None, None]:
    """The file's bars, a list per block, parsed by pyarrow and checked with numpy; ends with ``None``
    at the first block that is not plainly sound (the caller reads on row by row from there)."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
    import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

    read = pa_csv.ReadOptions(skip_rows=1, column_names=names, block_size=_BLOCK_BYTES,
                              use_threads=False)  # one thread: faster here than handing blocks around
    types = {column: pa.float64() for column in COLUMNS[1:]}
    types["timestamp"] = pa.string()  # parsed below: an unusual form must not stop the reader
    convert = pa_csv.ConvertOptions(column_types=types)
    try:
        reader = pa_csv.open_csv(str(path), read_options=read, convert_options=convert)
    except (pa.ArrowException, OSError):
        yield None
        return
    new = tuple.__new__
    prev: float = -_INF
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError):  # malformed text: the row reader says where and why
                yield None
                return
            if not batch.num_rows:
                continue
            columns = [batch.column(column) for column in COLUMNS[1:]]
            if any(column.null_count for column in columns):  # "", "NaN", "NA"... as nulls
                yield None
                return
            o, h, lo, c, v = (column.to_numpy() for column in columns)  # views, no copies
            times = _block_times(batch.column("timestamp"), np)
            # the row reader's checks, on whole columns (a NaN fails every comparison, as there)
            if times is None or not (
                (lo > 0).all() and (lo <= o).all() and (o <= h).all() and (h < _INF).all()
                and (lo <= c).all() and (c <= h).all() and (v >= 0).all() and (v < _INF).all()
                and times[0] > prev and (times[1:] > times[:-1]).all()
            ):
                yield None
                return
            prev = int(times[-1])
            yield list(map(new, repeat(Bar), zip(repeat(instrument_id), times.tolist(), o.tolist(), h.tolist(),
                                                 lo.tolist(), c.tolist(), v.tolist())))
    finally:
        reader.close()


# ``YYYY-MM-DDTHH:MM:SSZ``: where the separators are, and the digits of each field
_ISO_SEPARATORS = (4, 7, 10, 13, 16, 19)
_ISO_SEPARATOR_BYTES = b"--T::Z"
_ISO_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_EPOCH_DIGITS = 15  # epoch milliseconds of up to 15 digits (exact in int64)
_EPOCH_MS_MAX = (2**63 - 1) // 1_000_000  # the last millisecond whose nanoseconds fit in int64 (2262)


def _block_times(text: Any, np: Any) -> Any:
    """Integer nanoseconds (a numpy array) of a block's timestamp strings when they all have one of
    the two usual forms, ``YYYY-MM-DDTHH:MM:SSZ`` (a real date and time of day, in the years 1678 to
    2261) or epoch milliseconds (up to 2262), both inside int64 nanoseconds; else ``None``. Read
    straight from the column's buffers: what the row reader accepts, nothing more."""
    _, offsets_buffer, data_buffer = text.buffers()
    n = len(text)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=n + 1, offset=text.offset * 4)
    lengths = offsets[1:] - offsets[:-1]
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, dtype=np.uint8, count=last - first, offset=first) if last > first \
        else np.zeros(0, dtype=np.uint8)
    if (lengths == 20).all():
        raw = data.reshape(n, 20)
        if not (raw[:, _ISO_SEPARATORS] == np.frombuffer(_ISO_SEPARATOR_BYTES, dtype=np.uint8)).all():
            return None
        digits = raw[:, _ISO_DIGITS].astype(np.int64) - 48
        if not ((digits >= 0) & (digits <= 9)).all():
            return None
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        month = digits[:, 4] * 10 + digits[:, 5]
        day = digits[:, 6] * 10 + digits[:, 7]
        hour = digits[:, 8] * 10 + digits[:, 9]
        minute = digits[:, 10] * 10 + digits[:, 11]
        second = digits[:, 12] * 10 + digits[:, 13]
        if not ((year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12)).all():
            return None
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        month_days = np.array((0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))[month] + ((month == 2) & leap)
        if not ((day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60) & (second < 60)).all():
            return None
        # days since 1970-01-01 of the proleptic Gregorian date (the usual era arithmetic, March-based)
        shifted = year - (month <= 2)
        era = shifted // 400
        of_era = shifted - era * 400
        of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
        days = era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468
        return (days * 86_400 + hour * 3_600 + minute * 60 + second) * NS_PER_SECOND
    if lengths.min() >= 1 and lengths.max() <= _EPOCH_DIGITS:
        digits = data.astype(np.int64) - 48
        if not ((digits >= 0) & (digits <= 9)).all():
            return None
        # each string right-aligned in a row of 15 digits (leading zeros), then one product with the
        # powers of ten
        column = np.arange(_EPOCH_DIGITS)
        start = _EPOCH_DIGITS - lengths
        index = (offsets[:-1] - first - start)[:, None] + column
        grid = np.where(column >= start[:, None], digits[np.clip(index, 0, len(digits) - 1)], 0)
        milliseconds = grid @ (10 ** column[::-1])
        if milliseconds.max() > _EPOCH_MS_MAX:
            return None
        return milliseconds * 1_000_000
    return None


def _read_rows(path: str | Path, name: str, instrument_id: InstrumentId, skip: int, prev: float,
               reject: Reject | None) -> Iterator[Bar]:
    """The row reader: the bars of the file after its first ``skip`` data rows (whose last time was
    ``prev``), parsed and checked one row at a time."""
    handle = _open(path, name)
    with handle:
        reader = csv.reader(handle)
        order = _read_header(reader, name)
        rows: Iterator[list[str]] = reader
        if order != (0, 1, 2, 3, 4, 5):
            pick = itemgetter(*order)
            rows = (list(pick(row)) if len(row) == 6 else row for row in reader)
        new = tuple.__new__
        day, day_ns = "\0", 0  # the last 'YYYY-MM-DDT' seen and its midnight in ns
        times: dict[str, int] = {}  # 'HH:MM:SS' -> ns since midnight
        try:
            if skip:  # past the rows the fast path yielded (blank lines hold none)
                for row in rows:
                    skip -= bool(row)
                    if not skip:
                        break
            for row in rows:
                # The per-row path: unpack, parse, one chained comparison; reasons only on failure.
                try:
                    t, ot, ht, lt, ct, vt = row
                    if len(t) == 20 and t[19] == "Z" and t[10] == "T":  # YYYY-MM-DDTHH:MM:SSZ, parts cached
                        if not t.startswith(day):
                            day, day_ns = t[:11], _midnight(t)
                        clock = t[11:19]
                        ts = times.get(clock, -1)
                        if ts < 0:
                            ts = _time_of_day(times, clock)
                        ts += day_ns
                    elif t.isdigit():
                        ts = int(t) * 1_000_000
                    else:
                        ts = parse_ts(t)
                    o = float(ot)
                    h = float(ht)
                    lo = float(lt)
                    c = float(ct)
                    v = float(vt)
                except ValueError:
                    if not row:  # a blank line
                        continue
                    error = DataError(_field_problem(row), path=name, line=reader.line_num)
                    if reject is None:
                        raise error from None
                    reject(error, None, False)  # no bar to use: dropped (unless it raises)
                    continue
                if ts <= prev or not (0 < lo <= o <= h < _INF and lo <= c <= h and 0 <= v < _INF):
                    bar = Bar(instrument_id, ts, o, h, lo, c, v)
                    error = DataError(_bar_problem(bar, prev), path=name, line=reader.line_num)
                    if reject is None:
                        raise error
                    if reject(error, bar, ts > prev):  # a bar out of time order is never used
                        continue
                prev = ts
                yield new(Bar, (instrument_id, ts, o, h, lo, c, v))
        except csv.Error as exc:
            raise DataError(f"not a readable CSV row: {exc}", path=name, line=reader.line_num) from None
        except UnicodeDecodeError as exc:  # decoded in chunks: the line is unknown
            raise DataError(f"not UTF-8 text: {exc.reason}", path=name) from None




def _midnight(text: str) -> int:
    """Midnight UTC of ``YYYY-MM-DDT...``, in ns (``ValueError`` if it is no date)."""
    if text[4] != "-" or text[7] != "-":
        raise ValueError(text)
    return (date.fromisoformat(text[:10]).toordinal() - _EPOCH_DAY) * _NS_PER_DAY


def _time_of_day(cache: dict[str, int], text: str) -> int:
    """Nanoseconds since midnight of ``HH:MM:SS``, remembered in ``cache`` (kept small)."""
    if text[2] != ":" or text[5] != ":":
        raise ValueError(text)
    moment = time.fromisoformat(text)
    if len(cache) >= 4096:
        cache.clear()
    cache[text] = ns = (moment.hour * 3600 + moment.minute * 60 + moment.second) * NS_PER_SECOND
    return ns


def _read_header(reader: Any, name: str) -> tuple[int, ...]:
    """Read the header row; return the position of each of :data:`COLUMNS` in it."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"not a readable CSV header: {exc}", path=name, line=1) from None
    except UnicodeDecodeError as exc:  # decoded in chunks: the line is unknown
        raise DataError(f"not UTF-8 text: {exc.reason}", path=name) from None
    if not header:
        raise DataError(f"empty file: expected the header {','.join(COLUMNS)}", path=name, line=1)
    names = [column.strip().lower() for column in header]
    for column in names:
        if column not in COLUMNS:
            raise DataError(f"unexpected column {column!r}; expected {','.join(COLUMNS)}", path=name, line=1)
        if names.count(column) > 1:
            raise DataError(f"duplicate column {column!r}", path=name, line=1)
    for column in COLUMNS:
        if column not in names:
            raise DataError(f"missing column {column!r}", path=name, line=1)
    return tuple(names.index(column) for column in COLUMNS)


def _field_problem(row: list[str]) -> str:
    """Why a row failed to parse (called only for bad rows)."""
    if len(row) != len(COLUMNS):
        return f"expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got {len(row)}"
    try:
        parse_ts(row[0])
    except DataError:
        return f"timestamp {row[0]!r} is not an ISO-8601 time or epoch milliseconds"
    for column, text in zip(COLUMNS[1:], row[1:]):
        try:
            float(text)
        except ValueError:
            return f"{column} {text!r} is not a number"
    return f"timestamp {row[0]!r} is not in the form YYYY-MM-DDTHH:MM:SSZ"  # e.g. 2023-01-02T164500.1Z


def _bar_problem(bar: Bar, prev: float) -> str:
    """Why a parsed bar is refused (called only for bad bars)."""
    if bar.ts <= prev:
        return f"timestamp {format_ts(bar.ts)} is not after the previous one {format_ts(int(prev))}"
    return check_bar(bar) or f"malformed bar {bar!r}"


def _drop(error: DataError, bar: Bar | None, usable: bool) -> bool:
    """A :data:`Reject` that leaves every refused row out, unreported."""
    return True


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"{attribute.name} must be > 0, got {value}")


def _non_empty(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not value.strip():
        raise FieldError(attribute.name, f"{attribute.name} must not be empty")


class FileDataSource:
    """Bars from files, one per instrument, merged by timestamp (ties keep the order of ``paths``).

    The shared machinery of the file sources (``csv``, ``parquet``): a subclass sets ``name`` and
    implements :meth:`_read`. ``history()`` re-reads the instrument's file from the start and keeps
    the last ``count`` bars that closed by ``end``.
    """

    name: ClassVar[str] = "files"
    validated: ClassVar[bool] = True  # checks every row itself: the engine need not

    @attrs.frozen(kw_only=True)
    class Params:
        """The ``[data.params]`` of a file source.

        Attributes:
            path: one file (relative paths resolve against the preset's directory), for the preset's
                only instrument or for ``symbol``.
            paths: instrument id -> file, for several instruments.
            symbol: the instrument ``path`` holds; required when the preset has several instruments.
            batch_size: bars per batch yielded by ``stream()``.
        """

        path: str | None = attrs.field(default=None, validator=_non_empty)
        paths: dict[str, str] = attrs.field(factory=dict)
        symbol: str | None = attrs.field(default=None, validator=_non_empty)
        batch_size: int = attrs.field(default=4096, validator=_positive)

        def __attrs_post_init__(self) -> None:
            if (self.path is None) == (not self.paths):
                raise ValueError("give exactly one of 'path' (one file) or 'paths' (instrument id -> file)")
            if self.paths and self.symbol is not None:
                raise ValueError("'symbol' goes with 'path'; 'paths' already names each file's instrument")

    def __init__(self, params: Any, ctx: ComponentContext) -> None:
        """Resolve the files and check that they exist, so a bad preset is refused before it runs.

        Raises:
            ValueError: ``symbol`` is missing or names no instrument of the preset.
            DataError: a file does not exist.
        """
        known = list(ctx.instruments)
        wanted = dict(params.paths)
        if params.path is not None:
            symbol = params.symbol
            if symbol is None:
                if len(known) != 1:
                    raise ValueError(
                        f"'path' needs 'symbol' when the preset has {len(known)} instruments "
                        f"({', '.join(known) or 'none'}); or give 'paths' (instrument id -> file)"
                    )
                symbol = known[0]
            wanted = {symbol: params.path}
        for instrument_id in wanted:
            if known and instrument_id not in ctx.instruments:
                raise ValueError(f"{instrument_id!r} is not an instrument of the preset ({', '.join(known)})")
        self._files: dict[InstrumentId, Path] = {}
        for instrument_id, text in wanted.items():
            path = Path(text).expanduser()
            path = path if path.is_absolute() else ctx.base_dir / path
            if not path.is_file():
                raise DataError("file not found", path=str(path))
            self._files[instrument_id] = path
        self._batch_size = params.batch_size
        self._timeframe = ctx.timeframe
        self._log = ctx.log
        self._reject = ctx.reject_bar

    def _read(self, instrument_id: InstrumentId, path: Path, reject: Reject | None) -> Iterator[Bar]:
        """Stream the bars of one file (a generator, closed when the stream ends), handing the rows it
        refuses to ``reject`` (``None``: the first one raises)."""
        raise NotImplementedError

    def _read_blocks(
        self, instrument_id: InstrumentId, path: Path, reject: Reject | None
    ) -> Generator[list[Bar], None, None]:
        """The bars of :meth:`_read` in lists (a source that reads whole blocks yields them as they are)."""
        bars = self._read(instrument_id, path, reject)
        try:
            while block := list(islice(bars, self._batch_size)):
                yield block
        finally:
            bars.close()  # type: ignore[attr-defined]

    async def stream(self) -> AsyncIterator[list[Bar]]:
        """Yield the bars of every file in batches of ``batch_size``, merged by timestamp.

        Raises:
            DataError: a file vanished or a row is malformed (the batches before it were yielded).
        """
        self._log.debug(f"{self.name} stream starts", files={k: str(v) for k, v in self._files.items()})
        blocks = [self._read_blocks(instrument_id, path, self._reject)
                  for instrument_id, path in self._files.items()]
        readers = [chain.from_iterable(reader) for reader in blocks]  # bar by bar, no generator step each
        bars: Iterator[Bar] = readers[0] if len(readers) == 1 else heapq.merge(*readers, key=_TS)
        size = self._batch_size
        try:
            while batch := list(islice(bars, size)):
                yield batch
        finally:
            for reader in blocks:
                reader.close()

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> list[Bar]:
        """Return up to ``count`` bars of ``instrument_id`` that closed at or before ``end``, oldest
        first (the file is read in a worker thread; an unknown instrument gives ``[]``)."""
        path = self._files.get(instrument_id)
        if path is None or count <= 0:
            return []
        return await anyio.to_thread.run_sync(self._last_bars, instrument_id, path, end - self._timeframe, count)

    def _last_bars(self, instrument_id: InstrumentId, path: Path, last_ts: int, count: int) -> list[Bar]:
        """The last ``count`` bars of the file with ``ts <= last_ts``."""
        # The stream reported the rows the file's checks refuse when it read them; here they are left
        # out quietly (or raise, outside an engine).
        bars = self._read(instrument_id, path, self._reject and _drop)
        try:
            return list(deque(takewhile(lambda bar: bar.ts <= last_ts, bars), maxlen=count))
        finally:
            bars.close()  # type: ignore[attr-defined]


class CsvDataSource(FileDataSource):
    """Bars from CSV files (``timestamp,open,high,low,close,volume``): one file for the preset's
    instrument, or one file per instrument."""

    name: ClassVar[str] = "csv"

    def _read(self, instrument_id: InstrumentId, path: Path, reject: Reject | None) -> Iterator[Bar]:
        return read_csv_bars(path, instrument_id, reject=reject)

    def _read_blocks(
        self, instrument_id: InstrumentId, path: Path, reject: Reject | None
    ) -> Generator[list[Bar], None, None]:
        return read_csv_blocks(path, instrument_id, reject=reject)


@hookimpl
def register_data_sources() -> list[type]:
    """Register the ``csv`` data source."""
    return [CsvDataSource]
