"""``tradehooks indicators``: list the registered indicators, or compute one over a CSV file of bars.

The indicators come from a plugin manager's registry, so those of plugins are listed and computed
exactly like the built-in ones.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from ._registry import Factory, ParamsError, Registry
from .exceptions import TradehooksError

__all__ = ["IndicatorsCommand", "parse_params"]


class IndicatorsCommand:
    name = "indicators"
    help = "list the indicators, or compute one over a CSV file of bars"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="indicators_command", required=True, metavar="COMMAND")
        listing = sub.add_parser("list", help="list every registered indicator: parameters, outputs, warm-up",
                                 description="List every registered indicator (built-in and from plugins).")
        listing.add_argument("--json", action="store_true", help="print a JSON list")
        compute = sub.add_parser("compute", help="compute an indicator over a CSV file of bars",
                                 description="Compute an indicator over a CSV file of bars and write one "
                                             "row per bar: the timestamp and each output.")
        compute.add_argument("indicator", metavar="NAME", help="the indicator's name, e.g. sma")
        compute.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                             help="a parameter, e.g. period=20 (repeatable)")
        compute.add_argument("--data", type=Path, required=True, metavar="FILE.csv",
                             help="the bars: timestamp,open,high,low,close,volume")
        compute.add_argument("--output", type=Path, default=None, metavar="OUT.csv",
                             help="where to write the CSV (default: standard output)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        registry = Registry(args.manager)
        if args.indicators_command == "list":
            rows = [describe(factory) for factory in registry.factories("indicator")]
            print(json.dumps(rows, indent=2) if args.json else format_table(rows))
            return 0
        return compute(registry, args.indicator, args.param, args.data, args.output)


# --- list ---------------------------------------------------------------------------------------------


def describe(factory: Factory) -> dict[str, Any]:
    """What ``indicators list`` shows about one indicator."""
    cls = factory.cls
    parameters = _defaults(getattr(cls, "Params", None))
    warmup = getattr(cls, "warmup", None)
    lookback: int | None = None
    if callable(getattr(cls, "lookback", None)):
        try:
            lookback = int(cls.lookback(None))  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 (a plugin's lookback without defaults: show the formula only)
            lookback = None
    return {
        "name": factory.name,
        "class": cls.__name__ if factory.distribution == "tradehooks" else f"{cls.__module__}.{cls.__qualname__}",
        "plugin": factory.plugin,
        "parameters": parameters,
        "outputs": list(getattr(cls, "outputs", ("value",))),
        "warmup": warmup,
        "lookback": lookback,
    }


def _defaults(params_cls: Any) -> dict[str, Any]:
    """Each parameter and its default (``"required"`` when it has none)."""
    if params_cls is None or not attrs.has(params_cls):
        return {}
    defaults: dict[str, Any] = {}
    for field in attrs.fields(params_cls):
        if field.default is attrs.NOTHING:
            defaults[field.alias or field.name] = "required"
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            defaults[field.alias or field.name] = field.default.factory()
        else:
            defaults[field.alias or field.name] = field.default
    return defaults


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The indicators as an aligned table, one per line."""
    header = ("name", "class", "parameters (defaults)", "outputs", "first value at")
    lines = [header]
    for row in rows:
        parameters = " ".join(f"{key}={_text(value)}" for key, value in row["parameters"].items()) or "-"
        if row["warmup"] is None:
            warmup = "-" if row["lookback"] is None else str(row["lookback"])
        elif row["lookback"] is None or row["warmup"] == str(row["lookback"]):
            warmup = row["warmup"]
        else:
            warmup = f"{row['warmup']} ({row['lookback']})"
        lines.append((row["name"], row["class"], parameters, " ".join(row["outputs"]), warmup))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1] for line in lines
    )


def _text(value: Any) -> str:
    return "none" if value is None else str(value)


# --- compute ------------------------------------------------------------------------------------------


def parse_params(items: Sequence[str], option: str = "--param",
                 read: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """``["period=20", "source=high"]`` -> ``{"period": 20, "source": "high"}``.

    By default a value reads as an integer, else a number, else ``none``/``null`` (``None``),
    ``true``/``false``, else as text; ``read`` replaces that reading. The component's ``Params``
    then check the values. Errors name ``option``.
    """
    read = read or _value
    raw: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TradehooksError(f"{option} must be KEY=VALUE, got {item!r}")
        if key in raw:
            raise TradehooksError(f"{option} {key} is given twice")
        raw[key] = read(text.strip())
    return raw


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def compute(registry: Registry, name: str, items: Sequence[str], data: Path, output: Path | None) -> int:
    """Write ``name``'s outputs over the bars of ``data`` as CSV to ``output`` (standard output if
    ``None``)."""
    from .builtins.data_csv import read_csv_bars
    from .model import format_ts

    try:
        factory = registry.get("indicator", name)
    except KeyError as exc:
        raise TradehooksError(exc.args[0]) from None
    raw = parse_params(items)
    try:
        params = factory.params(raw)
    except ParamsError as exc:
        raise TradehooksError(f"{name}: {exc}") from None
    indicator = factory.cls(params)
    outputs = tuple(getattr(factory.cls, "outputs", ("value",)))
    bars = read_csv_bars(data, data.stem)
    first = next(bars, None)  # a missing or malformed file fails here, before anything is written

    def rows() -> Iterator[list[str]]:
        update = indicator.update
        for bar in itertools.chain([first] if first is not None else [], bars):
            update(bar)
            yield [format_ts(bar.ts), *(_cell(getattr(indicator, output, None)) for output in outputs)]

    if output is None:
        return _write(sys.stdout, outputs, rows(), to_stdout=True)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = output.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise TradehooksError(f"{output}: cannot write: {exc.strerror or exc}") from None
    with handle:
        count = _write(handle, outputs, rows(), to_stdout=False)
    shown = ", ".join(f"{key}={_text(value)}" for key, value in attrs.asdict(params).items()) if (
        params is not None and attrs.has(type(params))) else ""
    print(f"wrote {count} rows of {name}({shown}) to {output}")
    return 0


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def _write(handle: TextIO, outputs: Sequence[str], rows: Iterator[list[str]], *, to_stdout: bool) -> int:
    """Write the header and ``rows``; return how many rows (0 for standard output)."""
    writer = csv.writer(handle, lineterminator="\n")
    count = 0
    try:
        writer.writerow(["timestamp", *outputs])
        for row in rows:
            writer.writerow(row)
            count += 1
        handle.flush()
    except BrokenPipeError:  # `... | head`: the reader has seen enough
        if to_stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        raise
    return 0 if to_stdout else count
