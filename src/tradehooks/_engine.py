"""The engine: builds one pipeline per strategy and instrument from the registry, then runs bars
through it with direct calls.

Per bar, in this order (no look-ahead):

1. the broker (if simulated) sees the bar first and fills what was ordered on earlier bars;
2. the instrument's last price becomes the bar's close;
3. for each strategy on that instrument: its indicators update, its signal says a target exposure;
4. a changed exposure goes through the sizer to a target quantity, and the order router places what
   is missing (checked by every risk rule) for the broker to fill on a later bar.

Control calls from the host (``apply``, ``pause``, ``kill_switch``, ...) run on the engine's event loop
and therefore between two batches of bars (a batch is one bar in paper and live mode).
"""

from __future__ import annotations

import enum
import logging
import math
import sys
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import anyio.lowlevel
import anyio.to_thread
import attrs
import structlog

from ._builder import Builder, Pipeline
from ._clock import SimClock, WallClock
from ._data_rules import FeedWatch, bar_rules, describe_ns
from ._journal import Journal, JournalWriteError
from ._manager import PluginInfo, PluginManager
from ._observers import Observers
from ._portfolio import Portfolio
from ._registry import Registry
from ._reload import PresetDiff, diff_presets
from ._results import BacktestResult, compute_metrics
from ._router import OrderRouter
from .contracts import ComponentContext, Target
from .events import (
    BarProcessed,
    DataRejected,
    EngineStarted,
    EngineStopped,
    ErrorOccurred,
    Event,
    EventStream,
    FillReceived,
    OrderUpdated,
    PresetApplied,
    PresetRejected,
    RiskTripped,
    StrategyStateChanged,
    TargetChanged,
)
from .exceptions import DataError, EngineStateError, StrategyError, TradehooksError
from .model import Bar, Fill, Instrument, Order, check_bar, format_ts, parse_timeframe, to_decimal
from .presets import Preset, PresetSource, load_preset

__all__ = ["Engine", "EngineState", "StrategyInfo"]


def _default_logger() -> Any:
    """The host's structlog set-up when it has one; otherwise warnings and errors on stderr only.

    tradehooks never calls ``structlog.configure()``. An unconfigured structlog prints every level,
    so a script calling ``tradehooks.backtest()`` would drown in debug lines: without a host set-up
    the engine gets a quiet logger of its own instead (global structlog settings stay untouched).
    """
    if structlog.is_configured():
        return structlog.get_logger("tradehooks")
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def _debug_enabled(log: Any) -> bool:
    """Whether ``log`` may emit debug lines (structlog's filtering loggers say; others may)."""
    is_enabled_for = getattr(log, "is_enabled_for", None)
    if is_enabled_for is None:
        return True
    try:
        return bool(is_enabled_for(logging.DEBUG))
    except Exception:  # a logger that answers oddly: keep logging
        return True


class EngineState(enum.Enum):
    """Where an engine is in its life. Each engine goes through these once, in this order."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@attrs.frozen(kw_only=True)
class StrategyInfo:
    """What the host sees of one strategy.

    Attributes:
        settings: its preset settings.
        state: ``running``, ``paused``, ``tripped`` (by its circuit breaker) or ``disabled``.
        exposures: its last target exposure per instrument (``None`` before the first).
    """

    settings: Any
    state: str
    exposures: dict[str, float | None]


class _EquityWatch:
    """An equity-watching risk rule as the hot loop sees it: its ``on_equity``, and the band of equity
    (below a time) inside which the rule said a call would change nothing (its optional
    ``equity_band()``, asked after each call that did not trip)."""

    __slots__ = ("name", "on_equity", "band", "low", "high", "until")

    def __init__(self, name: str, rule: Any) -> None:
        self.name = name
        self.on_equity = rule.on_equity
        self.band = getattr(rule, "equity_band", None)
        self.forget()

    def forget(self) -> None:
        """No band: the rule is called on the next bar."""
        self.low, self.high, self.until = math.inf, -math.inf, 0

    def learn(self) -> None:
        """Ask the rule for its band now (after a call that did not trip)."""
        bounds = self.band() if self.band is not None else None
        if bounds is None:
            self.forget()
        else:
            self.low, self.high, self.until = bounds


class Engine:
    """A trading engine: one preset, one plugin manager, one portfolio. No state is shared between
    engines, so a process may run as many as it likes.

    Building an engine loads its plugins and builds every component, so a preset that names an
    unknown plugin or gives bad parameters fails here, before anything runs.

    Args:
        preset: the validated preset.
        plugins: plugin objects to register after the built-ins and entry points.
        disable: plugin names not to load (added to the preset's ``plugins.disable``).
        autoload_plugins: load plugins from entry points of group ``tradehooks``.
        engine_id: the id in logs (default: the preset's ``engine.id``, else the preset file's stem).
        logger: a structlog logger to bind (default ``structlog.get_logger("tradehooks")``). The
            library never configures logging itself.
        journal: the journal file to use when the preset's ``engine.journal`` names none.
    """

    def __init__(
        self,
        preset: Preset,
        *,
        plugins: Iterable[object] = (),
        disable: Iterable[str] = (),
        autoload_plugins: bool = True,
        engine_id: str | None = None,
        logger: Any = None,
        journal: str | Path | None = None,
    ) -> None:
        self.preset = preset
        source: PresetSource = preset.source or PresetSource(None)
        self.id = engine_id or preset.engine.id or (Path(source.path).stem if source.path else "engine")
        self.mode = preset.engine.mode
        self.state = EngineState.CREATED
        self.log = (logger or _default_logger()).bind(engine_id=self.id)
        self._debug = _debug_enabled(self.log)
        self.clock: Any = SimClock() if self.mode == "backtest" else WallClock()
        self.timeframe = preset.timeframe_ns
        self.instruments: dict[str, Instrument] = {i.id: i for i in preset.instruments}
        self.manager = PluginManager(
            plugins=plugins, disable={*disable, *preset.plugins.disable}, autoload=autoload_plugins
        )
        self.registry = Registry(self.manager, self)
        self._observers = Observers(self.manager, self, self.log)
        self.portfolio = Portfolio(preset.engine.currency, preset.engine.initial_cash)
        self.fills: list[Fill] = []
        self.version = 1
        self._equity_ts = array("q")
        self._equity = array("d")
        self._bars = 0
        self._last_ts: dict[str, int] = {}
        self._feed_watch: FeedWatch | None = None  # paper and live mode with [data] stale_after
        self._stop_requested = False
        self._seq = 0
        self._streams: list[EventStream] = []
        self._bar_streams: list[EventStream] = []  # the subset that wants BarProcessed
        self._tripped: list[Pipeline] = []
        self.journal: Journal | None = None
        self._default_journal = journal
        self._fatal: BaseException | None = None
        self._build()

    @classmethod
    def from_preset(cls, preset: Preset | str | Path, **kwargs: Any) -> Engine:
        """Build an engine from a preset file path or a :class:`Preset`."""
        if not isinstance(preset, Preset):
            preset = load_preset(preset)
        return cls(preset, **kwargs)

    # --- building ----------------------------------------------------------------------------------

    def _builder(self, preset: Preset) -> Builder:
        source: PresetSource = preset.source or PresetSource(None)

        def context(**extra: Any) -> ComponentContext:
            return ComponentContext(
                engine_id=self.id, mode=self.mode, clock=self.clock, log=extra.pop("log", self.log),
                base_dir=source.base_dir, instruments=self.instruments, timeframe=self.timeframe,
                reject_bar=self._reject_row, **extra,
            )

        return Builder(self.registry, source, context)

    def _build(self) -> None:
        preset = self.preset
        build = self._builder(preset)
        self.source = build.one("data_source", preset.data.source, preset.data.params, ("data",), "source")
        self.broker = build.one("broker", preset.broker.name, preset.broker.params, ("broker",), "name")
        if hasattr(self.broker, "set_initial_cash"):
            self.broker.set_initial_cash(preset.engine.currency, preset.engine.initial_cash)
        self._broker_on_bar = getattr(self.broker, "on_bar", None)
        # What the hot loop tests before calling on_bar: the broker's open orders when it lets bars go by
        # while there are none (the engine then writes the bar's ts into ``_broker_times`` instead, and
        # the broker reads the closes from the portfolio's marks), else a constant saying always (or,
        # without on_bar, never: the times then go nowhere).
        skip_quiet_bars = getattr(self.broker, "skip_quiet_bars", None)
        self._broker_times: dict[str, int] = {}
        if self._broker_on_bar is None:
            self._broker_working: Any = ()
        elif skip_quiet_bars is not None:
            self._broker_working, self._broker_times = skip_quiet_bars(self.portfolio.marks)
        else:
            self._broker_working = (True,)
        use_order_books = getattr(self.broker, "use_order_books", None)
        if use_order_books is not None and hasattr(self.source, "order_book"):
            use_order_books(self.source)
        self.router = OrderRouter(
            broker=self.broker, portfolio=self.portfolio, instruments=self.instruments,
            risk_rules=build.risk_rules(preset.risk), clock=self.clock, log=self.log,
            on_order=self._order_created, on_risk=self._risk_tripped, on_broker_error=self._broker_failed,
            id_prefix="O" if self.mode == "backtest" else f"th{int(time.time() * 1000):x}",
        )
        self._cooldown = parse_timeframe(preset.engine.breaker_cooldown)
        self._equity_watchers: list[_EquityWatch] = []
        self._fill_watchers: list[Any] = []
        self._watch(self.router.risk_rules)
        self._observer_objects: list[tuple[str, Any]] = []
        self._attach_observers(build.observers(preset.observers))
        self.pipelines: list[Pipeline] = []
        for index, settings in enumerate(preset.strategies):
            self.pipelines.extend(build.strategy(settings, index, self.instruments, self.log))
        self._route()

    def _route(self) -> None:
        """Rebuild the instrument -> pipelines table the hot loop reads (in place, so the loop's
        local reference stays valid)."""
        routes: dict[str, list[tuple[Pipeline, tuple[Any, ...], Any]]] = getattr(self, "_routes", {})
        routes.clear()
        for pipeline in self.pipelines:  # (pipeline, its indicator updates, its signal's on_bar)
            routes.setdefault(pipeline.instrument.id, []).append((pipeline, pipeline.updates, pipeline.on_bar))
        self._routes = routes

    # --- lifecycle ---------------------------------------------------------------------------------

    def _require(self, *states: EngineState, action: str) -> None:
        if self.state not in states:
            allowed = " or ".join(s.value for s in states)
            raise EngineStateError(
                f"cannot {action}: engine {self.id!r} is {self.state.value} (must be {allowed})"
            )

    async def start(self) -> None:
        """Connect the broker and tell observers the engine started."""
        self._require(EngineState.CREATED, action="start")
        self.state = EngineState.STARTING
        try:
            recovered = self._open_journal()
            await self.broker.connect(self)
            if recovered:
                reconcile = getattr(self.broker, "reconcile", None)
                if reconcile is not None:
                    await reconcile(self.router.open_orders())
        except BaseException:
            self.state = EngineState.STOPPED
            if self.journal is not None:
                self.journal.close()
                self.journal = None
            self._close_streams()
            raise
        self.state = EngineState.RUNNING
        self.log.info("engine.started", mode=self.mode, strategies=[s.id for s in self.preset.strategies],
                      plugins=[p.name for p in self.plugins()])
        self._notify("preset_applied", old=None, new=self.preset, diff=None)
        self._emit(PresetApplied, version=self.version, diff=None)
        self._notify("engine_started")
        self._emit(EngineStarted, engine_id=self.id)

    async def stop(self, reason: str = "stopped by host", *, cancel_orders: bool = False,
                   flatten: bool = False) -> None:
        """Stop the engine. Idempotent.

        Args:
            reason: why, for observers and logs.
            cancel_orders: cancel every open order first.
            flatten: close every position first with market orders. A simulated broker fills them at
                the last price seen (it will see no later bar); a live broker as the market allows.
        """
        if self.state in (EngineState.STOPPING, EngineState.STOPPED):
            return
        if self.state is EngineState.CREATED:
            self.state = EngineState.STOPPED
            self._close_streams()
            return
        self.state = EngineState.STOPPING
        self._stop_requested = True
        try:
            self._notify("engine_stopping", reason=reason)
            if flatten:
                self.router.flatten_all()
                settle = getattr(self.broker, "settle", None)
                if settle is not None:
                    settle()
            if cancel_orders:
                self.router.cancel_all()
            await self.broker.close()
        finally:
            if self.journal is not None:
                self.journal.close()
                self.journal = None
            self._attach_observers([])
            self.state = EngineState.STOPPED
            self.log.info("engine.stopped", reason=reason, equity=str(self.portfolio.equity()))
            self._emit(EngineStopped, engine_id=self.id, reason=reason)
            self._close_streams()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop("stopped by host" if exc_info[0] is None else f"error: {exc_info[1]!r}")

    # --- running -----------------------------------------------------------------------------------

    async def run(self) -> BacktestResult:
        """Handle every bar of the data source until it ends (or :meth:`stop` is called), then return
        the result. In paper and live mode, a :class:`FeedWatch` runs beside it for ``[data]
        stale_after``."""
        self._require(EngineState.RUNNING, action="run")
        stale_after = None if self.mode == "backtest" else self.preset.stale_after_ns
        if stale_after is None:
            return await self._run()
        watch = self._feed_watch = FeedWatch(self.instruments, stale_after, self.clock, self._feed_stale,
                                             self._feed_back)
        result = error = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch.run)
                try:
                    result = await self._run()
                except Exception as exc:  # raised as it is below, not in an exception group
                    error = exc
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._feed_watch = None
        if error is not None:
            raise error
        assert result is not None
        return result

    async def _run(self) -> BacktestResult:
        """:meth:`run`'s loop. The hot path: direct calls only."""
        routes_get = self._routes.get
        marks = self.portfolio.marks
        check = None if getattr(self.source, "validated", False) else check_bar
        rules = bar_rules(self.preset.data.zero_volume, self.preset.data.flat_bars)
        watch = self._feed_watch
        reject = self._reject
        # None only for a broker without on_bar, whose ``_broker_working`` is empty: never called then
        broker_on_bar = cast("Callable[[Bar], object]", self._broker_on_bar)
        broker_working = self._broker_working
        broker_times = self._broker_times
        clock = self.clock
        simulated = isinstance(clock, SimClock)
        timeframe = self.timeframe
        last_ts = self._last_ts
        last_get = last_ts.get
        equity_ts = self._equity_ts
        equity = self._equity
        portfolio = self.portfolio
        equity_float = portfolio.equity_float
        held = portfolio._net_f  # the float positions held: while none is, the equity is the cash (no call)
        on_target = self._on_target
        failed = self._component_failed
        tripped = self._tripped
        watchers = self._equity_watchers
        router = self.router
        bar_streams = self._bar_streams
        streams = self._streams
        previous = equity_ts[-1] - timeframe if equity_ts else None
        async for batch in self._batches():
            if self._stop_requested:  # stop() came while the source was producing this batch
                break
            for bar in batch:
                instrument_id = bar[0]
                ts = bar[1]
                if ts <= last_get(instrument_id, -1):
                    reject(bar, f"timestamp {format_ts(ts)} is not after the previous bar's "
                                f"{format_ts(last_ts[instrument_id])}", True)
                    continue
                if check is not None:
                    reason = check(bar)
                    if reason is not None and reject(bar, reason, False):
                        continue
                if rules is not None:
                    reason = rules(bar)
                    if reason is not None and reject(bar, reason, False):
                        continue
                if watch is not None:
                    watch.last[instrument_id] = bar
                    if instrument_id in watch.stale:
                        watch.back(instrument_id, bar)
                last_ts[instrument_id] = ts
                if ts != previous:
                    if previous is not None:
                        equity_ts.append(previous + timeframe)
                        value = portfolio._cash_f
                        if held:  # Portfolio.equity_float(), spelt out: this runs on every bar
                            for held_id, held_quantity in held.items():
                                value += held_quantity * marks[held_id]
                        equity.append(value)
                        if watchers and not router.killed:  # equity-watching risk rules, every bar
                            at = previous + timeframe
                            for limit in watchers:
                                if limit.low < value < limit.high and at < limit.until:
                                    continue  # inside the band the rule gave: a call would change nothing
                                reason = limit.on_equity(value, at)
                                if reason:
                                    self._equity_tripped(limit.name, reason)
                                    break
                                if limit.band is not None:
                                    limit.learn()
                    previous = ts
                    if simulated:
                        clock._now = ts + timeframe
                    if tripped:
                        self._retry_tripped()
                if broker_working:
                    broker_on_bar(bar)
                else:
                    broker_times[instrument_id] = ts
                marks[instrument_id] = bar[5]
                for pipe, updates, on_bar in routes_get(instrument_id, ()):
                    if not pipe.enabled:
                        continue
                    try:
                        for update in updates:
                            update(bar)
                        target = on_bar(bar)
                        if target is not None:
                            on_target(pipe, target, bar)
                    except Exception as exc:
                        failed(pipe, exc)
                    else:
                        if pipe.errors:
                            pipe.errors = 0
                if bar_streams:
                    self._seq += 1
                    event = BarProcessed(seq=self._seq, ts=clock.now(), bar=bar, equity=equity_float())
                    for stream in bar_streams:
                        stream.put(event)
            self._bars += len(batch)  # per batch: right even if the run is cancelled mid-stream
            if self._stop_requested:
                break
            for stream in streams:
                if stream.full:
                    await stream.wait_writable()
            await anyio.lowlevel.checkpoint()
        if previous is not None:
            equity_ts.append(previous + timeframe)
            equity.append(equity_float())
        if self._fatal is not None:
            raise self._fatal
        return self.result()

    async def _batches(self) -> AsyncIterator[Sequence[Bar]]:
        """The data source's batches. In paper and live mode a failing source is retried with
        exponential backoff (1 s doubling to 60 s) while its instruments are marked stale (no new
        orders); a backtest, or a ``DataError`` (bad data, not a failure), stops the run instead."""
        delay = 1.0
        failing = False
        while True:
            try:
                async for batch in self.source.stream():
                    if failing:
                        failing = False
                        self.router.stale.clear()
                        if self._feed_watch is not None and self.preset.data.quality == "skip":
                            self.router.stale.update(self._feed_watch.stale)  # still without bars
                        self.log.warning("data.recovered")
                    delay = 1.0
                    yield batch
                return
            except (TradehooksError, anyio.get_cancelled_exc_class()):
                raise
            except Exception as exc:
                if self.mode == "backtest":
                    raise
                failing = True
                self.router.stale.update(self.instruments)
                where = f"data source {self.preset.data.source}"
                self.log.error("data.failed", where=where, error=f"{type(exc).__name__}: {exc}", retry_in=delay)
                self._notify("error", where=where, exception=exc)
                self._emit(ErrorOccurred, where=where, exception=exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, 60.0)

    def _broker_failed(self, order: Order | None, exc: Exception) -> None:
        """The broker raised instead of taking an order (or reported a failure of its own through
        :meth:`error`). One that says it may be retried (``BrokerError(..., recoverable=True)``) only
        rejects that order; anything else throws the kill switch, since the broker's state is no longer
        known."""
        where = f"broker {self.preset.broker.name}"
        self.log.error("broker.failed", where=where, client_order_id=order.client_order_id if order else None,
                       error=f"{type(exc).__name__}: {exc}")
        self._notify("error", where=where, exception=exc)
        self._emit(ErrorOccurred, where=where, exception=exc)
        if not getattr(exc, "recoverable", False) and not self.router.killed:
            self.log.warning("kill_switch.tripped", rule="broker", reason=str(exc))
            self._risk_tripped("broker", f"unrecoverable broker error: {exc}", "kill", order)
            self.router.kill(flatten=False)

    def error(self, exception: Exception) -> None:
        """A broker reports a failure found in its own tasks, after ``submit`` returned (an
        authentication error on a queued request, an order it cannot account for): it is logged and
        reported to observers and event streams; one that is not ``recoverable`` throws the kill switch
        (without flattening)."""
        self._broker_failed(None, exception)

    def _on_target(self, pipe: Pipeline, target: Target | float, bar: Bar) -> None:
        if isinstance(target, Target):
            exposure, reason = target.exposure, target.reason
        else:
            exposure, reason = float(target), ""
        exposure = 1.0 if exposure > 1.0 else (-1.0 if exposure < -1.0 else exposure)
        if exposure == pipe.exposure:
            return
        pipe.exposure = exposure
        instrument = pipe.instrument
        portfolio = self.portfolio
        quantity = pipe.sizer.size(
            exposure,
            instrument=instrument,
            price=portfolio.exact_price(instrument.id, bar[5]),
            equity=portfolio.equity(),
            position=portfolio.position(instrument.id, pipe.strategy_id),
        )
        if self._debug:  # even a filtered-out debug call builds its keyword arguments
            self.log.debug("target.changed", strategy_id=pipe.strategy_id, instrument_id=instrument.id,
                           exposure=exposure, reason=reason)
        if self._streams:
            self._emit(TargetChanged, strategy_id=pipe.strategy_id, instrument_id=instrument.id,
                       exposure=exposure, quantity=quantity, reason=reason)
        self.router.set_target(pipe.strategy_id, instrument.id, quantity)

    def _component_failed(self, pipe: Pipeline, exc: Exception) -> None:
        """A strategy raised: report it, count it, and trip its circuit breaker after too many."""
        where = f"strategy {pipe.strategy_id}/{pipe.instrument.id}"
        self.log.error("strategy.failed", where=where, error=f"{type(exc).__name__}: {exc}")
        self._notify("error", where=where, exception=exc)
        self._emit(ErrorOccurred, where=where, exception=exc)
        pipe.errors += 1
        if pipe.errors >= self.preset.engine.breaker_errors:
            pipe.tripped_until = self.clock.now() + self._cooldown
            pipe.refresh()
            self._tripped.append(pipe)
            reason = (f"{pipe.errors} consecutive failures, last {type(exc).__name__}: {exc}; "
                      f"resting until {format_ts(pipe.tripped_until)}")
            self._risk_tripped("circuit_breaker", f"{where}: {reason}", "disable", None)
            self._strategy_state(pipe.strategy_id, "tripped", reason)

    def _retry_tripped(self) -> None:
        """Half-open: a tripped strategy whose cool-down is over gets one more try (one more failure
        trips it again, a success resets its count)."""
        now = self.clock.now()
        for pipe in list(self._tripped):
            if pipe.tripped_until is not None and now >= pipe.tripped_until:
                self._tripped.remove(pipe)
                pipe.tripped_until = None
                pipe.errors = self.preset.engine.breaker_errors - 1
                pipe.refresh()
                self._strategy_state(pipe.strategy_id, "running", "cool-down over: one retry")

    # --- the journal -------------------------------------------------------------------------------------

    def _open_journal(self) -> bool:
        """Open the preset's journal and rebuild from it; return whether it held anything."""
        setting = self.preset.engine.journal or self._default_journal
        if setting is None:
            return False
        path = Path(setting)
        if not path.is_absolute():
            path = (self.preset.source.base_dir if self.preset.source else Path.cwd()) / path
        journal = self.journal = Journal(path, self.id, sync=self.preset.engine.journal_sync)
        days = self.preset.engine.journal_retention_days
        if days is not None:
            removed = journal.compact(time.time_ns() - days * 86_400 * 1_000_000_000)
            self.log.info("journal.compacted", removed=removed, older_than_days=days)
        fills, orders = journal.recover()
        for fill in fills:
            if self.portfolio.apply_fill(fill) is not None:
                self.fills.append(fill)
        for order in orders.values():
            self.router.adopt(order)
        restore = getattr(self.broker, "restore", None)
        if restore is not None:
            restore(list(orders.values()), fills)
        if fills or orders:
            self.log.info("journal.recovered", path=str(path), fills=len(fills), orders=len(orders),
                          open_orders=len(self.router.open_orders()),
                          positions={k: str(v) for k, v in self.portfolio.positions().items() if v})
        journal.note("preset", {"version": self.version, "path": self.preset.source.path if self.preset.source
                                else None}, self.clock.now())
        return bool(fills or orders)

    def _journaled(self, write: Any, *args: Any) -> Any:
        """Write to the journal (if any); a failed write stops trading: no new orders, the run ends,
        and ``run()`` raises the error."""
        if self.journal is None:
            return True
        try:
            return write(*args)
        except JournalWriteError as exc:
            if self._fatal is None:
                self._fatal = exc
                self.router.killed = True  # no order may go out that the journal cannot record
                self._stop_requested = True
                self.log.critical("journal.failed", error=str(exc))
                self._notify("error", where="journal", exception=exc)
                self._emit(ErrorOccurred, where="journal", exception=exc)
            raise

    def _watch(self, risk_rules: list[tuple[str, Any]]) -> None:
        """Note which risk rules watch equity and fills (lists kept in place for the hot loop)."""
        self._equity_watchers[:] = [_EquityWatch(name, rule) for name, rule in risk_rules
                                    if hasattr(rule, "on_equity")]
        self._fill_watchers[:] = [rule.on_fill for _, rule in risk_rules if hasattr(rule, "on_fill")]

    def _equity_tripped(self, rule: str, reason: str) -> None:
        """An equity-watching risk rule (given the equity after every bar, while the kill switch is not
        thrown) answered with ``reason``: throw the kill switch, flattening."""
        self.log.warning("kill_switch.tripped", rule=rule, reason=reason)
        self._risk_tripped(rule, reason, "kill", None)
        self.router.kill(flatten=True)

    def _reject(self, bar: Bar, reason: str, always_drop: bool) -> bool:
        """A bar failed a data-quality check: act as ``[data] quality`` says; return True to drop it."""
        action = self.preset.data.quality
        self._notify("data_rejected", bar=bar, reason=reason, action=action)
        self._emit(DataRejected, bar=bar, reason=reason, action=action)
        if action == "halt":
            raise DataError(f"{bar.instrument_id}: bar at {format_ts(bar.ts)}: {reason}")
        self.log.warning("data.rejected", instrument_id=bar.instrument_id, ts=format_ts(bar.ts), reason=reason,
                         action=action)
        return always_drop or action == "skip"

    def _reject_row(self, error: DataError, bar: Bar | None, usable: bool) -> bool:
        """A data source refused a row of its own (``ComponentContext.reject_bar``): act as
        ``[data] quality`` says; return True to drop it. A halt raises ``error``, which names the
        file and line."""
        action = self.preset.data.quality
        self._notify("data_rejected", bar=bar, reason=str(error), action=action)
        self._emit(DataRejected, bar=bar, reason=str(error), action=action)
        if action == "halt":
            raise error
        self.log.warning("data.rejected", instrument_id=bar.instrument_id if bar else None,
                         ts=format_ts(bar.ts) if bar else None, path=error.path, line=error.line,
                         reason=error.reason, action=action)
        return not usable or action == "skip"

    def _feed_stale(self, instrument_id: str, bar: Bar | None, silent: int) -> None:
        """:class:`FeedWatch`: no bar of ``instrument_id`` for ``silent`` ns: report it and act as
        ``[data] quality`` says. ``skip`` and ``halt`` both hold new orders for it until its bars
        come back: a silent feed is not bad data, and stopping would leave open positions unattended.
        ``warn`` only reports it."""
        action = self.preset.data.quality
        reason = (f"stale data: no bar for {describe_ns(silent)} "
                  f"(stale_after = {self.preset.data.stale_after!r})")
        self._notify("data_rejected", bar=bar, reason=reason, action=action)
        self._emit(DataRejected, bar=bar, reason=reason, action=action)
        self.log.warning("data.stale", instrument_id=instrument_id, silent_for=describe_ns(silent), action=action)
        if action != "warn":
            self.router.stale.add(instrument_id)

    def _feed_back(self, instrument_id: str, bar: Bar) -> None:
        """:class:`FeedWatch`: a bar of a stale instrument came: orders for it may go out again."""
        self.log.warning("data.fresh", instrument_id=instrument_id, ts=format_ts(bar.ts))
        if instrument_id in self.router.stale:
            self.router.stale.discard(instrument_id)
            self.router.reconcile_instrument(instrument_id)

    def _attach_observers(self, observers: list[tuple[str, Any]]) -> None:
        for name, component in self._observer_objects:
            self.manager.detach(component)
            close = getattr(component, "close", None)
            if close is not None:
                close()
        self._observer_objects = []
        for name, component in observers:
            self.manager.attach(component, name)
            self._observer_objects.append((name, component))

    # --- host control ------------------------------------------------------------------------------

    def _pipelines_of(self, strategy_id: str) -> list[Pipeline]:
        found = [p for p in self.pipelines if p.strategy_id == strategy_id]
        if not found:
            known = ", ".join(sorted({p.strategy_id for p in self.pipelines})) or "none"
            raise KeyError(f"no strategy {strategy_id!r} in engine {self.id!r} (strategies: {known})")
        return found

    def pause(self, strategy_id: str, reason: str = "paused by host") -> None:
        """Stop a strategy from emitting targets; its position and open orders stay as they are."""
        self._require(EngineState.CREATED, EngineState.RUNNING, action="pause a strategy")
        for pipe in self._pipelines_of(strategy_id):
            pipe.paused = True
            pipe.refresh()
        self._strategy_state(strategy_id, "paused", reason)

    def resume(self, strategy_id: str, reason: str = "resumed by host") -> None:
        """Let a paused strategy emit targets again (from its next bar)."""
        self._require(EngineState.CREATED, EngineState.RUNNING, action="resume a strategy")
        for pipe in self._pipelines_of(strategy_id):
            pipe.paused = False
            pipe.refresh()
        self._strategy_state(strategy_id, "running", reason)

    def kill_switch(self, reason: str, *, flatten: bool = True) -> None:
        """Cancel every open order, close every position (unless ``flatten=False``) and refuse new
        orders until :meth:`reset_kill_switch`."""
        self._require(EngineState.RUNNING, action="trip the kill switch")
        self.log.warning("kill_switch.tripped", reason=reason, flatten=flatten)
        if self.journal is not None:
            self._journaled(self.journal.note, "kill", {"reason": reason, "flatten": flatten}, self.clock.now())
        self._risk_tripped("kill_switch", reason, "kill", None)
        self.router.kill(flatten=flatten)

    def reset_kill_switch(self) -> None:
        """Accept orders again; each strategy trades from its next target."""
        self.router.reset_kill()
        for watch in self._equity_watchers:  # a rule that tripped is asked again on the next bar
            watch.forget()
        if self.journal is not None:
            self._journaled(self.journal.note, "kill_reset", {}, self.clock.now())
        for pipe in self.pipelines:
            pipe.exposure = None
        self.log.warning("kill_switch.reset")

    @property
    def killed(self) -> bool:
        """True while the kill switch holds."""
        return self.router.killed

    async def apply(self, preset: Preset | str | Path, *, rebuild: Sequence[str] = ()) -> PresetDiff:
        """Validate ``preset`` completely, build every new object, then swap it in between two events.

        Unchanged strategies keep their state; positions, balances and open orders belong to the
        portfolio and survive. A strategy removed or disabled stops emitting targets; with
        ``on_disable = "flatten"`` its position is closed. Changing the engine, data, instruments,
        broker or plugins needs a restart and is refused.

        Plugins installed since the engine started are found (entry points are scanned again). New
        and changed strategies are warmed up with ``engine.warmup_bars`` bars of history first.
        ``rebuild`` names strategies to rebuild even if their settings did not change (after their
        plugin's code was reloaded); a rebuilt signal receives its predecessor's state when the old
        signal has ``get_state()`` and the new one ``set_state(state)``.

        Raises:
            PresetError: the preset is invalid or needs a restart; nothing changed.
            TradehooksError: a new plugin fails to load, or a new strategy fails while warming up;
                nothing changed.
        """
        self._require(EngineState.CREATED, EngineState.RUNNING, action="apply a preset")
        path = str(preset) if not isinstance(preset, Preset) else (preset.source.path if preset.source else None)
        try:
            # Reading files and scanning installed distributions run in a worker thread, so bars keep
            # being handled meanwhile; building and swapping happen here, on the engine's loop.
            new = preset if isinstance(preset, Preset) else await anyio.to_thread.run_sync(load_preset, preset)
            diff = diff_presets(self.preset, new)
            installed = await anyio.to_thread.run_sync(self.manager.new_entry_points)
            loaded = installed and self.manager.load_entry_points(installed)  # installed since the start
            if loaded or rebuild:  # new plugins, or plugins whose code was re-imported
                self.registry = Registry(self.manager, self)
            build = self._builder(new)
            rebuilt = set(diff.added) | set(diff.changed) | set(rebuild)
            fresh: dict[str, list[Pipeline]] = {
                settings.id: build.strategy(settings, index, self.instruments, self.log)
                for index, settings in enumerate(new.strategies) if settings.id in rebuilt
            }
            risk_rules = build.risk_rules(new.risk) if diff.risk_changed else None
            observers = build.observers(new.observers) if diff.observers_changed else None
            if rebuild:
                diff = attrs.evolve(diff, reloaded=tuple(s for s in rebuild if s in {x.id for x in new.strategies}))
            await self._warm_up([p for pipes in fresh.values() for p in pipes], new.engine.warmup_bars)
        except TradehooksError as exc:
            self.log.warning("preset.rejected", path=path, error=str(exc), key=getattr(exc, "key", None),
                             line=getattr(exc, "line", None))
            self._notify("preset_rejected", path=path, error=exc)
            self._emit(PresetRejected, error=exc)
            raise
        self._hand_over(fresh)
        if observers is not None:
            self._attach_observers(observers)
        self._swap(new, diff, fresh, risk_rules)
        return diff

    async def _warm_up(self, pipelines: list[Pipeline], count: int) -> None:
        """Feed history to new pipelines' indicators and signals (targets ignored), up to the last
        bar the engine handled, so they trade from the next bar with ready indicators."""
        if not count:
            return
        for pipe in pipelines:
            instrument_id = pipe.instrument.id
            fed = -1
            while True:
                last = self._last_ts.get(instrument_id)
                if last is None or last <= fed:
                    break  # nothing (more) handled: the pipeline is level with the engine
                bars = await self.source.history(instrument_id, last + self.timeframe, count)
                try:
                    for bar in bars:
                        if bar.ts > fed:
                            for update in pipe.updates:
                                update(bar)
                            pipe.on_bar(bar)
                            fed = bar.ts
                except Exception as exc:
                    raise StrategyError(
                        f"strategy {pipe.strategy_id!r} failed while warming up on {instrument_id}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                if not bars:
                    break
            await anyio.lowlevel.checkpoint()  # let bars be handled between two strategies' warm-ups

    def _hand_over(self, fresh: dict[str, list[Pipeline]]) -> None:
        """A rebuilt strategy gets its predecessor's state when both signals support it
        (``get_state()`` on the old one, ``set_state(state)`` on the new one)."""
        for strategy_id, pipes in fresh.items():
            for pipe in pipes:
                old = next((p for p in self.pipelines if p.strategy_id == strategy_id
                            and p.instrument.id == pipe.instrument.id), None)
                if old is None:
                    continue
                pipe.paused = old.paused  # a paused strategy stays paused through a rebuild
                pipe.refresh()
                get_state = getattr(old.signal, "get_state", None)
                set_state = getattr(pipe.signal, "set_state", None)
                if get_state is not None and set_state is not None:
                    set_state(get_state())

    def _swap(self, new: Preset, diff: PresetDiff, fresh: dict[str, list[Pipeline]],
              risk_rules: list[tuple[str, Any]] | None) -> None:
        """Put a validated preset in force. Runs without awaiting: no event is handled half-way."""
        old = self.preset
        kept = {p.strategy_id: p for p in self.pipelines}
        settings_of = {s.id: s for s in new.strategies}
        pipelines: list[Pipeline] = []
        for settings in new.strategies:
            if settings.id in fresh:
                pipelines.extend(fresh[settings.id])
                continue
            for pipe in (p for p in self.pipelines if p.strategy_id == settings.id):
                pipe.settings = settings
                pipe.refresh()
                pipelines.append(pipe)
        for strategy_id in (*diff.removed, *diff.disabled, *diff.changed):
            gone = kept.get(strategy_id)
            if gone is None:
                continue
            settings = settings_of.get(strategy_id, gone.settings)
            policy = gone.settings.on_disable if strategy_id in diff.removed else settings.on_disable
            for instrument_id in {p.instrument.id for p in self.pipelines if p.strategy_id == strategy_id}:
                if strategy_id in diff.changed:
                    continue  # the rebuilt strategy takes over its target from its next signal
                if policy == "flatten":
                    self.router.set_target(strategy_id, instrument_id, to_decimal(0))
                else:
                    self.router.forget_target(strategy_id, instrument_id)
        self.pipelines = pipelines
        self._tripped[:] = [p for p in self._tripped if p in pipelines]
        self._route()
        if risk_rules is not None:
            self.router.risk_rules = risk_rules
            self._watch(risk_rules)
        if self.journal is not None:  # journal write first: a failure leaves the old preset in force
            self._journaled(self.journal.note, "preset", {"version": self.version + 1, "diff": diff.as_dict(),
                                                          "path": new.source.path if new.source else None},
                            self.clock.now())
        self.preset = new
        self.version += 1
        self.log.info("preset.applied", version=self.version, diff=diff.as_dict())
        self._notify("preset_applied", old=old, new=new, diff=diff)
        self._emit(PresetApplied, version=self.version, diff=diff)

    # --- events ------------------------------------------------------------------------------------

    def events(self, *, maxsize: int = 10_000, policy: str = "drop_oldest", bars: bool = True) -> EventStream:
        """A new stream of this engine's events, from now on, for one consumer::

            async for event in engine.events():
                ...

        Args:
            maxsize: how many events it buffers.
            policy: ``"drop_oldest"`` (the engine never waits; the consumer is told how many it missed)
                or ``"backpressure"`` (nothing is lost; the engine waits between batches while the
                buffer is full).
            bars: include a :class:`~tradehooks.events.BarProcessed` per bar.

        The stream ends after :class:`~tradehooks.events.EngineStopped`.
        """
        if self.state is EngineState.STOPPED:
            raise EngineStateError(f"cannot read events: engine {self.id!r} is stopped")
        stream = EventStream(maxsize, policy, bars, self._forget_stream)
        self._streams.append(stream)
        if bars:
            self._bar_streams.append(stream)
        return stream

    def _forget_stream(self, stream: EventStream) -> None:
        for streams in (self._streams, self._bar_streams):
            if stream in streams:
                streams.remove(stream)

    def _close_streams(self) -> None:
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()
        self._bar_streams.clear()

    def _emit(self, kind: type[Event], **fields: Any) -> None:
        if not self._streams:
            return
        self._seq += 1
        event = kind(seq=self._seq, ts=self.clock.now(), **fields)
        for stream in self._streams:
            stream.put(event)

    def _strategy_state(self, strategy_id: str, state: str, reason: str) -> None:
        self.log.info("strategy.state", strategy_id=strategy_id, state=state, reason=reason)
        self._emit(StrategyStateChanged, strategy_id=strategy_id, state=state, reason=reason)

    # --- broker events (the engine is the broker's BrokerEvents) ---------------------------------------

    def order_updated(self, order: Order) -> None:
        """A broker reports an order's new state (journaled before anything acts on it)."""
        if self.journal is not None:
            self._journaled(self.journal.order, order, self.clock.now())
        merged = self.router.order_updated(order)
        self._observers.notify("order_updated", order=merged)  # not through _notify: once per order update
        if self._streams:  # (checked here too: several order events per fill, mostly with no stream)
            self._emit(OrderUpdated, order=merged)

    def fill(self, fill: Fill) -> None:
        """A broker reports a fill; it is journaled, then applied to the ledger, once."""
        journal = self.journal
        if journal is not None and not self._journaled(journal.fill, fill, self.clock.now()):
            return  # journaled before: a fill reported twice (after a reconnect, say)
        if not self.portfolio.record_fill(fill):
            return
        if journal is not None:
            self._journaled(journal.snapshot, {self.portfolio.currency: self.portfolio.cash},
                            self.portfolio.positions(), self.clock.now())
        self.fills.append(fill)
        for on_fill in self._fill_watchers:
            on_fill(fill)
        closed = self.portfolio.closed_trade_pnl(fill.strategy_id, fill.instrument_id)
        if closed is not None:
            for pipe in self.pipelines:
                if pipe.strategy_id == fill.strategy_id and pipe.instrument.id == fill.instrument_id:
                    on_trade_closed = getattr(pipe.sizer, "on_trade_closed", None)
                    if on_trade_closed is not None:
                        on_trade_closed(closed)
        if self._streams or self._observers.listens("fill_received"):
            position = self.portfolio.position_of(fill.strategy_id, fill.instrument_id)
            self._notify("fill_received", fill=fill, position=position)
            self._emit(FillReceived, fill=fill, position=position)

    def _order_created(self, order: Order) -> None:
        if self.journal is not None:  # before the broker hears of it
            self._journaled(self.journal.order, order, self.clock.now())
        self._observers.notify("order_updated", order=order)
        if self._streams:
            self._emit(OrderUpdated, order=order)

    def _risk_tripped(self, rule: str, reason: str, action: str, order: Order | None) -> None:
        self.log.warning("risk.tripped", rule=rule, reason=reason, action=action,
                         client_order_id=order.client_order_id if order else None)
        if self.journal is not None:
            self._journaled(self.journal.note, "risk", {"rule": rule, "reason": reason, "action": action,
                                                        "client_order_id": order.client_order_id if order else None},
                            self.clock.now())
        self._notify("risk_tripped", rule=rule, reason=reason, action=action, order=order)
        self._emit(RiskTripped, rule=rule, reason=reason, action=action, order=order)

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        self._observers.notify(hook_name, **kwargs)

    # --- reading -----------------------------------------------------------------------------------

    @property
    def orders(self) -> dict[str, Order]:
        """Every order of this engine, by client order id, in its latest known state."""
        return self.router.orders

    @property
    def strategies(self) -> dict[str, StrategyInfo]:
        """Each strategy of the preset in force: settings, state and last exposures."""
        found: dict[str, StrategyInfo] = {}
        for settings in self.preset.strategies:
            pipes = [p for p in self.pipelines if p.strategy_id == settings.id]
            state = pipes[0].state if pipes else ("running" if settings.enabled else "disabled")
            found[settings.id] = StrategyInfo(settings=settings, state=state,
                                              exposures={p.instrument.id: p.exposure for p in pipes})
        return found

    def plugins(self) -> list[PluginInfo]:
        """The plugins this engine loaded."""
        return self.manager.list_plugins()

    def result(self) -> BacktestResult:
        """The metrics, fills, orders and equity curve so far."""
        portfolio = self.portfolio
        metrics = compute_metrics(
            equity=self._equity, timeframe=self.timeframe, initial_equity=portfolio.initial_cash,
            final_equity=portfolio.equity(), trades=portfolio.trade_count(), fills=portfolio.fill_count,
            fees=portfolio.fees, bars=self._bars, equity_ts=self._equity_ts,
        )
        return BacktestResult(
            engine_id=self.id, metrics=metrics, fills=tuple(self.fills), timeframe=self.timeframe,
            orders=tuple(self.router.orders.values()), positions=portfolio.strategy_positions(),
            balances={portfolio.currency: portfolio.cash}, equity_ts=self._equity_ts, equity=self._equity,
        )


