"""The ``tradehooks data resample`` and ``tradehooks data check`` subcommands.

``DataCommand`` in :mod:`tradehooks._cli` wires them: its ``add_arguments`` passes its subparsers to
:func:`add_subcommands`, and its ``run`` asks :func:`run` first, which returns ``None`` for a
subcommand that is not one of these. Files are read and written by extension: ``.csv`` (the ``csv``
source's format) or ``.parquet`` (the ``parquet`` source's). Problems with a file raise
:class:`~tradehooks.exceptions.DataError`, which the CLI prints on one line with exit status 2.

Usage::

    tradehooks data resample --input ETH_BTC-5m.csv --timeframe 30m --output ETH_BTC-30m.parquet
    tradehooks data check --input UNITTEST_BTC-1m.csv --timeframe 1m
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import DataError
from .model import Bar, check_bar, format_ts, parse_timeframe, parse_ts

__all__ = ["add_subcommands", "run"]

_SUFFIXES = (".csv", ".parquet")


def _timeframe(text: str) -> int:
    """An argparse type: a timeframe such as ``30m``, in ns."""
    try:
        return parse_timeframe(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_subcommands(subparsers: Any) -> None:
    """Add ``resample`` and ``check`` to the ``tradehooks data`` subparsers (an
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
