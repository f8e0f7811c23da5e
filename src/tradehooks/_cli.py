"""The ``tradehooks`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

from ._manager import PluginManager
from .exceptions import TradehooksError

__all__ = ["main"]


class _Std:
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is at the time of the write, not at
    configuration: a host, or a test harness capturing output, may replace (and close) the stream it
    had before."""

    def __init__(self, name: str) -> None:
        self._name = name

    def write(self, text: str) -> int:
        return getattr(sys, self._name).write(text)  # type: ignore[no-any-return]

    def flush(self) -> None:
        getattr(sys, self._name).flush()


def _configure_logging(level: str, fmt: str, stream: Any = None) -> None:
    """The command line, unlike the library, decides where logs go: stderr, human or JSON."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        # _Std has what PrintLogger uses of a stream (write and flush), not all of TextIO
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, stream or _Std("stderr"))),
        cache_logger_on_first_use=False,
    )


# --- built-in commands ---------------------------------------------------------------------------------


class BacktestCommand:
    name = "backtest"
    help = "run a backtest of a preset and print its metrics"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("preset", type=Path, help="the preset TOML file")
        parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
        parser.add_argument("--report", type=Path, metavar="HTML",
                            help="write a self-contained HTML report (charts, metrics, trades) to this file")
        parser.add_argument("--trades", type=Path, metavar="CSV", help="write the trades to this CSV file")
        parser.add_argument("--disable", action="append", default=[], metavar="PLUGIN",
                            help="do not load this plugin (repeatable)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ._api import backtest
        from .analytics import analyze, write_report, write_trades_csv
        from .presets import load_preset

        preset = load_preset(args.preset)
        result = backtest(preset, disable=args.disable)
        analytics = analyze(result, timeframe=preset.timeframe_ns)
        metrics = analytics.as_dict()
        if args.json:
            print(json.dumps({"engine_id": result.engine_id, **metrics}))
        else:
            print(format_metrics(metrics))
        if args.trades is not None:
            args.trades.parent.mkdir(parents=True, exist_ok=True)
            rows = write_trades_csv([*analytics.trades, *analytics.open_trades], args.trades)
            print(f"wrote {rows} trades to {args.trades}", file=sys.stderr)
        if args.report is not None:
            write_report(result, args.report, preset=preset, disable=args.disable)
            print(f"wrote the report to {args.report}", file=sys.stderr)
        return 0


def format_metrics(metrics: dict[str, Any]) -> str:
    """The metrics as an aligned two-column table (the main ones, those present in ``metrics``)."""
    from ._report import format_duration

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    rows: list[tuple[str, str, Any]] = [
        ("total return", "total_return", pct),
        ("annualised return", "annualized_return", pct),
        ("volatility", "volatility", pct),
        ("max drawdown", "max_drawdown", pct),
        ("drawdown duration", "max_drawdown_duration", format_duration),
        ("sharpe", "sharpe", num),
        ("sortino", "sortino", num),
        ("calmar", "calmar", num),
        ("trades", "trades", str),
        ("win rate", "win_rate", pct),
        ("profit factor", "profit_factor", num),
        ("expectancy", "expectancy", str),
        ("exposure", "exposure", pct),
        ("turnover", "turnover", num),
        ("fills", "fills", str),
        ("fees", "fees", str),
        ("initial equity", "initial_equity", str),
        ("final equity", "final_equity", str),
        ("bars", "bars", str),
    ]
    shown = {label: render(metrics[key]) for label, key, render in rows if key in metrics}
    width = max(map(len, shown))
    value_width = max(map(len, shown.values()))
    rule = "-" * (width + value_width + 3)
    lines = [rule, *(f"{key:<{width}}   {value:>{value_width}}" for key, value in shown.items()), rule]
    return "\n".join(lines)


class PluginsCommand:
    name = "plugins"
    help = "list the plugins tradehooks finds"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON list")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ._registry import KINDS, Registry

        manager = args.manager
        registry = Registry(manager)
        provided: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for factory in registry.factories(kind):
                provided.setdefault(factory.plugin, {}).setdefault(kind, []).append(factory.name)
        rows = [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": list(info.hooks),
                "provides": provided.get(info.name, {}),
            }
            for info in manager.list_plugins()
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for row in rows:
            provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in row["provides"].items())
            print(f"{row['name']:<14} {row['distribution'] or '-'} {row['version'] or ''}")
            print(f"{'':<14} hooks: {', '.join(row['hooks']) or '-'}")
            if provides:
                print(f"{'':<14} {provides}")
        return 0


class ValidateCommand:
    name = "validate"
    help = "check a preset: syntax, keys, values, plugins and their parameters"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("preset", type=Path, help="the preset TOML file")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ._engine import Engine

        engine = Engine.from_preset(args.preset)
        strategies = ", ".join(s.id for s in engine.preset.strategies) or "none"
        print(f"{args.preset}: valid ({engine.mode}; strategies: {strategies})")
        return 0


class DataCommand:
    name = "data"
    help = "make and inspect bar data"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
        generate = sub.add_parser("generate", help="write deterministic synthetic bars to a CSV file")
        generate.add_argument("--output", type=Path, required=True, help="the CSV file to write")
        generate.add_argument("--symbol", default="BTCUSDT")
        generate.add_argument("--bars", type=int, default=100_000)
        generate.add_argument("--timeframe", default="1m")
        generate.add_argument("--start", default="2024-01-01T00:00:00Z")
        generate.add_argument("--seed", type=int, default=42)
        generate.add_argument("--price", type=float, default=30_000.0, help="initial price")
        generate.add_argument("--volatility", type=float, default=0.6, help="annualised volatility")
        generate.add_argument("--tick-size", default="0.1")
        from ._data_cli import add_subcommands

        add_subcommands(sub)  # resample, check

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from . import _data_cli

        handled = _data_cli.run(args)
        if handled is not None:
            return handled
        from .builtins.data_synthetic import generate_bars, write_csv
        from .model import Instrument, parse_timeframe, parse_ts

        instrument = Instrument(id=args.symbol, tick_size=args.tick_size, lot_size="0.001")
        bars = generate_bars(
            instrument, seed=args.seed, start_ts=parse_ts(args.start), timeframe=parse_timeframe(args.timeframe),
            count=args.bars, initial_price=args.price, volatility=args.volatility,
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        rows = write_csv(args.output, bars)
        print(f"wrote {rows} bars of {args.symbol} to {args.output}")
        return 0


class RunCommand:
    name = "run"
    help = "run a preset in paper or live mode until stopped, reloading it when it changes"
    log_level = "info"  # its events are the point: shown unless --log-level says otherwise
    log_stream = "stdout"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("preset", type=Path, help="the preset TOML file")
        parser.add_argument("--status-file", type=Path, default=None,
                            help="where to keep the status for `tradehooks status` (default: "
                                 ".PRESET.status.json beside the preset)")
        parser.add_argument("--no-watch", action="store_true", help="do not reload when the preset changes "
                                                                    "(SIGHUP still reloads)")
        parser.add_argument("--reload-plugins", action="store_true",
                            help="on reload, also re-import plugin modules whose files changed")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import anyio

        from ._runner import run_preset

        log = structlog.get_logger("tradehooks")
        return anyio.run(lambda: run_preset(args.preset, log=log, status_path=args.status_file,
                                            watch=not args.no_watch, reload_plugins=args.reload_plugins))


class StatusCommand:
    name = "status"
    help = "show what a running `tradehooks run` is doing"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("preset", type=Path, help="the preset the engine runs")
        parser.add_argument("--status-file", type=Path, default=None, help="the status file, if not the default")
        parser.add_argument("--json", action="store_true", help="print the status file as it is")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ._runner import status_path_for

        path = args.status_file or status_path_for(args.preset)
        try:
            status = json.loads(path.read_text())
        except FileNotFoundError:
            raise TradehooksError(f"{path}: no status file: is `tradehooks run {args.preset}` running?") from None
        except (OSError, ValueError) as exc:
            raise TradehooksError(f"{path}: cannot read the status file: {exc}") from None
        if args.json:
            print(json.dumps(status, indent=2))
            return 0
        alive = _alive(status.get("pid"))
        print(f"engine {status['engine_id']} ({status['mode']}), pid {status['pid']}"
              f"{'' if alive else ' (not running)'}: {status['state']}, preset version {status['version']}")
        for sid, info in status["strategies"].items():
            exposures = ", ".join(f"{iid} {e}" for iid, e in info["exposures"].items())
            print(f"  strategy {sid:<16} {info['state']:<9} {info['signal']:<16} {exposures}")
        positions = ", ".join(f"{iid} {q}" for iid, q in status["positions"].items()) or "none"
        print(f"  positions: {positions}; equity {status['equity']}; open orders {status['open_orders']}"
              f"{'; KILL SWITCH ON' if status.get('killed') else ''}")
        if status.get("last_error"):
            print(f"  last error: {status['last_error']['where']}: {status['last_error']['error']}")
        if status.get("last_rejection"):
            print(f"  last rejected preset: {status['last_rejection']['error']}")
        return 0


class JournalCommand:
    name = "journal"
    help = "check or export a journal of orders and fills"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="journal_command", required=True, metavar="COMMAND")
        verify = sub.add_parser("verify", help="rebuild the ledger from the fills and compare it with the journal")
        verify.add_argument("preset", type=Path, help="the preset whose journal to check")
        verify.add_argument("--journal", type=Path, default=None, help="the journal file, if not the preset's")
        export = sub.add_parser("export", help="write the journal's orders and fills to .csv or .parquet")
        export.add_argument("preset", type=Path, help="the preset whose journal to export")
        export.add_argument("--journal", type=Path, default=None, help="the journal file, if not the preset's")
        export.add_argument("--output", type=Path, required=True, help="the .csv or .parquet file to write")
        compact = sub.add_parser("compact", help="drop superseded order states and old snapshots")
        compact.add_argument("preset", type=Path, help="the preset whose journal to compact")
        compact.add_argument("--journal", type=Path, default=None, help="the journal file, if not the preset's")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from . import _journal
        from ._runner import journal_path_for
        from .presets import load_preset

        preset = load_preset(args.preset)
        path = args.journal or (
            preset.source.base_dir / preset.engine.journal if preset.engine.journal else journal_path_for(args.preset)
        )
        if not Path(path).exists():
            raise TradehooksError(f"{path}: no journal there")
        if args.journal_command == "compact":
            journal = _journal.Journal(path, "compact")
            try:
                removed = journal.compact()
            finally:
                journal.close()
            print(f"{path}: removed {removed} superseded entries")
            return 0
        if args.journal_command == "export":
            rows = _journal.export(path, args.output)
            print(f"wrote {rows} entries of {path} to {args.output}")
            return 0
        problems = _journal.verify(path, currency=preset.engine.currency, initial_cash=preset.engine.initial_cash)
        for problem in problems:
            print(f"{path}: {problem}")
        if problems:
            return 1
        print(f"{path}: verified: the ledger rebuilt from its fills matches its last snapshot")
        return 0


class KillCommand:
    name = "kill"
    help = "throw (or reset) the kill switch of a running `tradehooks run`"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("preset", type=Path, help="the preset the engine runs")
        parser.add_argument("--reason", default="kill switch from the command line")
        parser.add_argument("--reset", action="store_true", help="reset the kill switch instead")
        parser.add_argument("--status-file", type=Path, default=None, help="the status file, if not the default")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import os
        import signal as signals

        from ._runner import control_path_for, status_path_for

        status_path = args.status_file or status_path_for(args.preset)
        try:
            pid = int(json.loads(status_path.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            raise TradehooksError(f"{status_path}: no status file: is `tradehooks run {args.preset}` running?") from None
        if not _alive(pid):
            raise TradehooksError(f"the engine of {args.preset} (pid {pid}) is not running")
        control = control_path_for(status_path)
        control.write_text(json.dumps({"reset": True} if args.reset else {"kill": args.reason}))
        os.kill(pid, signals.SIGUSR1)
        print(f"{'reset' if args.reset else 'kill switch'} sent to pid {pid}")
        return 0


def _alive(pid: Any) -> bool:
    import os

    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


from ._scaffold import NewExchangeCommand, NewStrategyCommand
from ._indicators_cli import IndicatorsCommand

BUILTIN_COMMANDS: list[Any] = [BacktestCommand, PluginsCommand, ValidateCommand, DataCommand, RunCommand, StatusCommand,
                               JournalCommand, KillCommand,
                    NewStrategyCommand, NewExchangeCommand, IndicatorsCommand]


# --- the entry point -----------------------------------------------------------------------------------


def _parser(commands: Sequence[Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradehooks", description="Backtest, paper-trade and trade live.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                        help="default: info for `run`, warning for the other commands")
    parser.add_argument("--log-format", default="console", choices=["console", "json"])
    # --debug is also accepted after the command name (``tradehooks backtest p.toml --debug``).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help,
                                        parents=[common])
        command.add_arguments(command_parser)
        command_parser.set_defaults(handler=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tradehooks`` command; return its exit code (2 for any error it can explain)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        manager = PluginManager()
        commands = list(BUILTIN_COMMANDS)
        taken = {c.name for c in commands}
        for impl in reversed(manager.hook.register_commands.get_hookimpls()):
            for command in impl.function() or ():
                if command.name in taken:
                    raise TradehooksError(
                        f"plugin {manager.plugin_name(impl.plugin)!r} registers a command named "
                        f"{command.name!r}, which is taken"
                    )
                taken.add(command.name)
                commands.append(command)
        args = _parser(commands).parse_args(argv)
        args.manager = manager
        handler = args.handler
        stream = _Std("stdout" if getattr(handler, "log_stream", "stderr") == "stdout" else "stderr")
        _configure_logging(args.log_level or getattr(handler, "log_level", "warning"), args.log_format, stream)
        return int(args.handler.run(args))
    except TradehooksError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
