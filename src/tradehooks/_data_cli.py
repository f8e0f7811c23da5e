"""The ``tradehooks data resample``, ``tradehooks data check`` and ``tradehooks data download``
subcommands.

``DataCommand`` in :mod:`tradehooks._cli` wires them: its ``add_arguments`` passes its subparsers to
:func:`add_subcommands`, and its ``run`` asks :func:`run` first, which returns ``None`` for a
subcommand that is not one of these. Files are read and written by extension: ``.csv`` (the ``csv``
source's format) or ``.parquet`` (the ``parquet`` source's). Problems with a file raise
:class:`~tradehooks.exceptions.DataError`, which the CLI prints on one line with exit status 2.

Usage::

    tradehooks data resample --input ETH_BTC-5m.csv --timeframe 30m --output ETH_BTC-30m.parquet
    tradehooks data check --input UNITTEST_BTC-1m.csv --timeframe 1m
    tradehooks data download --source bybit --symbol BTCUSDT --timeframe 1m \
        --start 2024-01-01 --end 2024-02-01 --output BTCUSDT-1m.parquet --param category=linear

``download`` builds a data source as a preset's ``[data]`` table would, asks its ``download()`` for
pages of bars and writes each page, as it arrives, to a part file in a side directory beside the output
(``.NAME.parquet.parts/``). Running the same command again continues after the last bar written; when
the source has no more pages, the parts are assembled into the output file (written to a temporary
file, then renamed) and the side directory is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shutil
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import attrs

from ._indicators_cli import parse_params
from .exceptions import DataError, PresetError, TradehooksError
from .model import Bar, Instrument, check_bar, format_ts, parse_timeframe, parse_ts

__all__ = ["add_subcommands", "run"]

_SUFFIXES = (".csv", ".parquet")


def _timeframe(text: str) -> int:
    """An argparse type: a timeframe such as ``30m``, in ns."""
    try:
        return parse_timeframe(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ts(text: str) -> int:
    """An argparse type: an ISO 8601 time (``2024-01-01``, ``2024-01-01T12:00:00Z``), in ns."""
    try:
        return parse_ts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_subcommands(subparsers: Any) -> None:
    """Add ``resample``, ``check`` and ``download`` to the ``tradehooks data`` subparsers (an
    ``argparse._SubParsersAction``)."""
    resample = subparsers.add_parser(
        "resample", help="aggregate bars to a longer timeframe (CSV or Parquet, by extension)",
        description="Aggregate the bars of a .csv or .parquet file into bars of --timeframe, aligned "
                    "to epoch multiples of it, and write them to a .csv or .parquet file.",
    )  # fmt: skip
    resample.add_argument("--input", type=Path, required=True, help="the bars to read (.csv or .parquet)")
    resample.add_argument("--timeframe", type=_timeframe, required=True,
                          help="the new bar length, e.g. 30m, 1h")
    resample.add_argument("--output", type=Path, required=True, help="the file to write (.csv or .parquet)")
    resample.add_argument("--partial", action="store_true",
                          help="keep the incomplete buckets where the data starts and stops")
    check = subparsers.add_parser(
        "check", help="report gaps, duplicates and out-of-order bars of a bar file",
        description="Read a .csv or .parquet bar file and report its rows, gaps (missing bars at "
                    "--timeframe), duplicate timestamps and out-of-order bars. Exits 0 whatever it "
                    "finds; 2 if the file cannot be read.",
    )  # fmt: skip
    check.add_argument("--input", type=Path, required=True, help="the bars to check (.csv or .parquet)")
    check.add_argument("--timeframe", type=_timeframe, required=True,
                       help="the bar length of the file, e.g. 5m")
    download = subparsers.add_parser(
        "download", help="download bar history from a data source to a Parquet file (resumable)",
        description="Build the data source --source with the --param settings (checked as a preset's "
                    "[data.params]), download the bars of --symbol from --start (inclusive) to --end "
                    "(exclusive) and write them to a .parquet file the parquet source reads. Interrupted, "
                    "the same command continues where it stopped.",
    )  # fmt: skip
    download.add_argument("--source", required=True, metavar="NAME",
                          help="a registered data source that can download (built-in or from a plugin)")
    download.add_argument("--symbol", required=True, help="the instrument id, e.g. BTCUSDT")
    download.add_argument("--timeframe", type=_timeframe, required=True, help="the bar length, e.g. 1m, 1h")
    download.add_argument("--start", type=_ts, required=True, metavar="ISO",
                          help="the first bar's open time, inclusive (ISO 8601, UTC if no zone)")
    download.add_argument("--end", type=_ts, required=True, metavar="ISO",
                          help="where the history stops, exclusive (ISO 8601, UTC if no zone)")
    download.add_argument("--output", type=Path, required=True, help="the .parquet file to write")
    download.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                          help="a [data.params] setting of the source (repeatable); VALUE is read as a "
                               "TOML value when it is one (false, 50, 0.5, [1, 2]), else as a string")
    download.add_argument("--instrument-param", action="append", default=[], metavar="KEY=VALUE",
                          help="an [[instruments]] setting of the symbol the source sees (repeatable): "
                               "base, quote, tick_size, lot_size, min_quantity, min_notional")
    download.add_argument("--disable", action="append", default=[], metavar="PLUGIN",
                          help="do not load this plugin (repeatable)")
    download.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int | None:
    """Run ``args.data_command`` if it is ``resample`` or ``check`` and return its exit status;
    return ``None`` for any other subcommand.

    Raises:
        DataError: the input cannot be read (or has a malformed row), or a file's extension is neither
            ``.csv`` nor ``.parquet``.
    """
    command = getattr(args, "data_command", None)
    if command == "resample":
        return _resample(args.input, args.timeframe, args.output, partial=args.partial)
    if command == "check":
        return _check(args.input, args.timeframe)
    if command == "download":
        return _download(args)
    return None


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        found = path.suffix or "(none)"
        raise DataError(f"unknown file type {found!r}: expected .csv or .parquet", path=str(path))
    return suffix


def _read(path: Path, *, ordered: bool = True) -> Iterator[Bar]:
    """The bars of ``path`` by extension; ``ordered=False`` reads them without the time-order check."""
    from .builtins.data_csv import read_csv_bars
    from .builtins.data_parquet import read_parquet_bars

    if _suffix(path) == ".parquet":
        return read_parquet_bars(path, path.stem, check_order=ordered)
    return read_csv_bars(path, path.stem) if ordered else _read_csv_unordered(path)


def _resample(source: Path, timeframe: int, target: Path, *, partial: bool) -> int:
    from .builtins.data_parquet import write_parquet
    from .builtins.data_synthetic import write_csv
    from .builtins.resample import resample

    kind = _suffix(target)
    _suffix(source)
    if source.resolve() == target.resolve():
        raise DataError("the output would overwrite the input", path=str(target))
    read = 0

    def counted(bars: Iterator[Bar]) -> Iterator[Bar]:
        nonlocal read
        for bar in bars:
            read += 1
            yield bar

    bars = resample(counted(_read(source)), timeframe, include_partial=partial)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial_path = target.with_name(f".{target.name}.partial")  # renamed into place once complete
    try:
        written = write_parquet(partial_path, bars) if kind == ".parquet" else write_csv(partial_path, bars)
        os.replace(partial_path, target)
    finally:
        partial_path.unlink(missing_ok=True)
    print(f"wrote {written} bars to {target} (from {read} bars of {source})")
    return 0


def _check(source: Path, timeframe: int) -> int:
    from .builtins.resample import find_duplicates, find_gaps, find_out_of_order

    rows = 0
    first = last = None
    for bar in _read(source, ordered=False):
        rows += 1
        if first is None:
            first = bar.ts
        last = bar.ts
    if first is None or last is None:
        print(f"{source}: no rows")
        return 0
    gaps = find_gaps(_read(source, ordered=False), timeframe)
    duplicates = find_duplicates(_read(source, ordered=False))
    disorder = find_out_of_order(_read(source, ordered=False))
    print(f"{source}: {rows} rows from {format_ts(first)} to {format_ts(last)}")
    missing = sum(gap.missing for gap in gaps)
    longest = max((gap.missing for gap in gaps), default=0)
    print(f"gaps: {len(gaps)}" + (f" ({missing} missing bars, longest {longest})" if gaps else ""))
    for gap in gaps:
        print(f"  {format_ts(gap.ts)}: {gap.missing} missing (next bar {format_ts(gap.until)})")
    print(f"duplicates: {len(duplicates)}")
    for duplicate in duplicates:
        print(f"  {format_ts(duplicate.ts)}: {duplicate.bars} bars")
    print(f"out of order: {len(disorder)}")
    for late in disorder:
        print(f"  {format_ts(late.ts)} after {format_ts(late.after)}")
    return 0


def _read_csv_unordered(path: Path) -> Iterator[Bar]:
    """The bars of a CSV bar file in file order, every row checked except for time order."""
    from .builtins.data_csv import COLUMNS

    name = str(path)
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise DataError("file not found", path=name) from None
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=name) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [column.strip().lower() for column in next(reader, None) or ()]
            if sorted(header) != sorted(COLUMNS):
                raise DataError(f"the header must be {','.join(COLUMNS)} (in any order)", path=name, line=1)
            order = [header.index(column) for column in COLUMNS]
            for row in reader:
                if not row:
                    continue
                try:
                    if len(row) != len(COLUMNS):
                        raise ValueError(f"expected {len(COLUMNS)} fields, got {len(row)}")
                    ts = parse_ts(row[order[0]])
                    o, h, lo, c, v = (float(row[i]) for i in order[1:])
                except ValueError as exc:  # DataError from parse_ts is a ValueError too
                    raise DataError(f"malformed row: {exc}", path=name, line=reader.line_num) from None
                bar = Bar(path.stem, ts, o, h, lo, c, v)
                problem = check_bar(bar)
                if problem is not None:
                    raise DataError(problem, path=name, line=reader.line_num)
                yield bar
        except csv.Error as exc:
            raise DataError(f"not a readable CSV row: {exc}", path=name, line=reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text: {exc.reason}", path=name) from None


# --- download ------------------------------------------------------------------------------------------

_INSTRUMENT_DEFAULTS = (("tick_size", "0.00000001"), ("lot_size", "0.00000001"))  # loose: any price, any size


def _toml_value(text: str) -> Any:
    """A VALUE that is a TOML value is read as one (``false``, ``50``, ``[1, 2]``), else as text."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _pairs(items: Sequence[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` options as a table, values read as TOML where they are TOML."""
    return parse_params(items, option, _toml_value)


def _instrument(symbol: str, params: dict[str, Any]) -> Instrument:
    """The instrument the source is built with (``--instrument-param`` over loose defaults)."""
    fields = {field.name for field in attrs.fields(Instrument)} - {"id"}
    for key in params:
        if key not in fields:
            raise TradehooksError(f"--instrument-param {key}: unknown key (known: {', '.join(sorted(fields))})")
    settings = {**dict(_INSTRUMENT_DEFAULTS), **params}
    try:
        return Instrument(id=symbol, **settings)
    except TradehooksError as exc:
        field = getattr(exc, "field", None)
        raise TradehooksError(f"--instrument-param {field or ''}: {exc}".replace(" :", ":")) from None
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise TradehooksError(f"--instrument-param: {exc}") from None


def _build_source(args: argparse.Namespace, instrument: Instrument, params: dict[str, Any]) -> Any:
    """Build ``--source`` as an engine builds a preset's data source; errors name the option and key."""
    import structlog

    from ._builder import Builder
    from ._clock import WallClock
    from ._manager import PluginManager
    from ._registry import Registry
    from .contracts import ComponentContext
    from .presets import PresetSource
    from .presets._secrets import _Resolver

    manager = args.manager if not args.disable and getattr(args, "manager", None) is not None \
        else PluginManager(disable=args.disable)
    source = PresetSource(None)
    log = structlog.get_logger("tradehooks").bind(command="data download")

    def context(**extra: Any) -> ComponentContext:
        return ComponentContext(engine_id="download", mode="paper", clock=WallClock(), log=log,
                                base_dir=source.base_dir, instruments={instrument.id: instrument},
                                timeframe=args.timeframe, **extra)

    try:
        resolved = _Resolver(source).table(params, ("data", "params"))
        return Builder(Registry(manager), source, context).one(
            "data_source", args.source, resolved, ("data",), "source"
        )
    except PresetError as exc:
        key = exc.key or ""
        if key.startswith("data.params."):
            raise TradehooksError(f"--param {key.removeprefix('data.params.')}: {exc.reason}") from None
        if key == "data.source":
            raise TradehooksError(f"--source {args.source}: {exc.reason}") from None
        raise TradehooksError(f"--source {args.source}: {exc.reason}") from None


class _Parts:
    """The side directory of a download: one Parquet file per page written, in order, and a note of
    the request they belong to."""

    def __init__(self, output: Path, request: dict[str, Any]) -> None:
        self.dir = output.with_name(f".{output.name}.parts")
        self.request = request
        self.files: list[Path] = []
        self.bars = 0
        self.last: Bar | None = None

    def open(self, symbol: str) -> None:
        """Create the directory, or take up the parts of the same request found there."""
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints

        from .builtins.data_parquet import read_parquet_bars

        note = self.dir / "request.json"
        if self.dir.exists():
            try:
                found = json.loads(note.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found = None
            if found != self.request:
                raise DataError(
                    "a partial download of another request is there (other source, symbol, timeframe, "
                    "start, end or params): remove the directory to start afresh", path=str(self.dir)
                )
            for stale in self.dir.glob("*.tmp"):
                stale.unlink()
            self.files = sorted(self.dir.glob("part-*.parquet"))
            for file in self.files:
                self.bars += pq.ParquetFile(file).metadata.num_rows
            if self.files:
                *_, self.last = read_parquet_bars(self.files[-1], symbol)
            return
        self.dir.mkdir(parents=True)
        note.write_text(json.dumps(self.request), encoding="utf-8")

    def write(self, bars: list[Bar]) -> None:
        """Write one page as the next part file (temporary file, then renamed: all or nothing)."""
        from .builtins.data_parquet import write_parquet

        target = self.dir / f"part-{len(self.files) + 1:06d}.parquet"
        temporary = target.with_name(target.name + ".tmp")
        write_parquet(temporary, bars)
        os.replace(temporary, target)
        self.files.append(target)
        self.bars += len(bars)
        self.last = bars[-1]

    def assemble(self, output: Path, symbol: str) -> int:
        """Write every part, in order, to ``output`` (temporary file, then renamed); remove the parts."""
        from .builtins.data_parquet import read_parquet_bars, write_parquet

        temporary = output.with_name(f".{output.name}.partial")
        try:
            rows = write_parquet(temporary, chain.from_iterable(read_parquet_bars(f, symbol) for f in self.files))
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)
        shutil.rmtree(self.dir)
        return rows


def _checked(page: Sequence[Bar], last: Bar | None, start: int, end: int, name: str) -> list[Bar]:
    """The bars of ``page`` to write: each checked, within [start, end), after ``last``; a repeat of the
    bar before (pages that overlap) is dropped."""
    kept: list[Bar] = []
    for bar in page:
        ts = bar.ts
        if not start <= ts < end:
            raise DataError(f"data source {name!r} sent a bar at {format_ts(ts)}, outside the requested "
                            f"[{format_ts(start)}, {format_ts(end)})")
        if last is not None and ts <= last.ts:
            if ts == last.ts and tuple(bar[1:]) == tuple(last[1:]):
                continue
            what = "a different bar for" if ts == last.ts else "a bar out of order at"
            raise DataError(f"data source {name!r} sent {what} {format_ts(ts)} (after {format_ts(last.ts)})")
        problem = check_bar(bar)
        if problem is not None:
            raise DataError(f"data source {name!r} sent a bad bar at {format_ts(ts)}: {problem}")
        kept.append(bar)
        last = bar
    return kept


def _download(args: argparse.Namespace) -> int:
    """``tradehooks data download``: see the module docstring."""
    import anyio

    output: Path = args.output
    if output.suffix.lower() != ".parquet":
        raise DataError(f"the output must be a .parquet file, not {output.suffix or '(none)'!r}", path=str(output))
    start, end, timeframe, name = args.start, args.end, args.timeframe, args.source
    if start >= end:
        raise TradehooksError(f"--start {format_ts(start)} is not before --end {format_ts(end)}")
    params = _pairs(args.param, "--param")
    instrument = _instrument(args.symbol, _pairs(args.instrument_param, "--instrument-param"))
    source = _build_source(args, instrument, params)
    download = getattr(source, "download", None)
    if download is None:
        raise TradehooksError(f"data source {name!r} cannot download history (it has no download() method)")
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    request = {"source": name, "symbol": args.symbol, "timeframe": timeframe, "start": start, "end": end,
               "params": digest}  # params only hashed: they may hold a secret's reference
    output.parent.mkdir(parents=True, exist_ok=True)
    parts = _Parts(output, request)
    parts.open(args.symbol)
    resumed = parts.bars
    expected = -(-(end - start) // timeframe)
    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

    progress = tqdm(total=expected, initial=min(parts.bars, expected), unit=" bars", desc=args.symbol,
                    file=sys.stderr, disable=args.quiet or not sys.stderr.isatty(), dynamic_ncols=True)

    async def fetch() -> None:
        begin = start if parts.last is None else parts.last.ts + timeframe
        if begin >= end:
            return
        pages: AsyncIterator[Sequence[Bar]] = download(args.symbol, begin, end)
        async with contextlib.aclosing(pages):  # type: ignore[type-var]
            async for page in pages:
                bars = _checked(page, parts.last, start, end, name)
                if bars:
                    parts.write(bars)
                    progress.update(len(bars))

    try:
        with progress:
            anyio.run(fetch)
    except KeyboardInterrupt:
        print(f"interrupted: {parts.bars} bars kept in {parts.dir}; run the same command to continue",
              file=sys.stderr)
        raise
    except TradehooksError:
        raise
    except Exception as exc:
        raise TradehooksError(
            f"data source {name!r} failed after {parts.bars} bars ({type(exc).__name__}: {exc}); "
            f"they are kept in {parts.dir}: run the same command to continue"
        ) from exc
    if not parts.bars:
        shutil.rmtree(parts.dir)
        raise DataError(f"data source {name!r} has no bars of {args.symbol} from {format_ts(start)} to "
                        f"{format_ts(end)}: nothing written")
    rows = parts.assemble(output, args.symbol)
    again = f" (continued after {resumed} bars)" if resumed else ""
    print(f"wrote {rows} bars of {args.symbol} from {name} to {output}{again}")
    return 0
