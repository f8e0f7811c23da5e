"""The engine: builds one pipeline per strategy and instrument from the registry, then runs bars
through it with direct calls.

Per bar, in this order (no look-ahead):

1. the broker (if simulated) sees the bar first and fills what was ordered on earlier bars;
2. the instrument's last price becomes the bar's close;
3. for each strategy on that instrument: its indicators update, its signal says a target exposure;
4. a changed exposure goes through the sizer to a target quantity, and the order router places what
   is missing (checked by every risk rule) for the broker to fill on a later bar.
"""

from __future__ import annotations

import enum
import time
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio.lowlevel
import structlog

from ._clock import SimClock, WallClock
from ._manager import PluginInfo, PluginManager
from ._observers import Observers
from ._portfolio import Portfolio
from ._registry import Factory, ParamsError, Registry
from ._results import BacktestResult, compute_metrics
from ._router import OrderRouter
from .contracts import ComponentContext, Target
from .exceptions import DataError, EngineStateError, TradehooksError
from .model import Bar, Fill, Instrument, Order, format_ts, to_decimal
from .presets import Preset, PresetSource, load_preset

__all__ = ["Engine", "EngineState"]


class EngineState(enum.Enum):
    """Where an engine is in its life. Each engine goes through these once, in this order."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _Pipeline:
    """One strategy on one instrument: its indicators, signal and sizer."""

    __slots__ = ("strategy_id", "instrument", "settings", "signal", "on_bar", "updates", "sizer", "exposure",
                 "enabled")

    def __init__(self, strategy_id: str, instrument: Instrument, settings: Any, signal: Any,
                 updates: list[Any], sizer: Any) -> None:
        self.strategy_id = strategy_id
        self.instrument = instrument
        self.settings = settings
        self.signal = signal
        self.on_bar = signal.on_bar
        self.updates = tuple(updates)
        self.sizer = sizer
        self.exposure: float | None = None
        self.enabled: bool = settings.enabled


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
    ) -> None:
        self.preset = preset
        source: PresetSource = preset.source or PresetSource(None)
        self._source_info = source
        self.id = engine_id or preset.engine.id or (Path(source.path).stem if source.path else "engine")
        self.mode = preset.engine.mode
        self.state = EngineState.CREATED
        self.log = (logger or structlog.get_logger("tradehooks")).bind(engine_id=self.id)
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
        self._equity_ts = array("q")
        self._equity = array("d")
        self._bars = 0
        self._last_ts: dict[str, int] = {}
        self._stop_requested = False
        self._build()

    @classmethod
    def from_preset(cls, preset: Preset | str | Path, **kwargs: Any) -> Engine:
        """Build an engine from a preset file path or a :class:`Preset`."""
        if not isinstance(preset, Preset):
            preset = load_preset(preset)
        return cls(preset, **kwargs)

    # --- building ----------------------------------------------------------------------------------

    def _context(self, **extra: Any) -> ComponentContext:
        return ComponentContext(
            engine_id=self.id, mode=self.mode, clock=self.clock, log=extra.pop("log", self.log),
            base_dir=self._source_info.base_dir, instruments=self.instruments, timeframe=self.timeframe,
            **extra,
        )

    def _factory(self, kind: str, name: str, key: tuple[Any, ...]) -> Factory:
        try:
            return self.registry.get(kind, name)
        except KeyError as exc:
            raise self._source_info.error(key, str(exc.args[0])) from None

    def _params(self, factory: Factory, raw: Mapping[str, Any], key: tuple[Any, ...]) -> Any:
        try:
            return factory.params(raw)
        except ParamsError as exc:
            path, reason = exc.problems[0]
            raise self._source_info.error(key + path, f"{factory.name}: {reason}") from None

    def _build_one(self, kind: str, name: str, raw: Mapping[str, Any], key: tuple[Any, ...],
                   name_key: str, ctx: ComponentContext) -> Any:
        factory = self._factory(kind, name, key + (name_key,))
        params = self._params(factory, raw, key + ("params",))
        try:
            return factory.cls(params, ctx)
        except TradehooksError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise self._source_info.error(key, f"{factory.name}: {exc}") from None

    def _build(self) -> None:
        preset = self.preset
        self.source = self._build_one("data_source", preset.data.source, preset.data.params, ("data",),
                                      "source", self._context())
        self.broker = self._build_one("broker", preset.broker.name, preset.broker.params, ("broker",), "name",
                                      self._context())
        if hasattr(self.broker, "set_initial_cash"):
            self.broker.set_initial_cash(preset.engine.currency, preset.engine.initial_cash)
        self._broker_on_bar = getattr(self.broker, "on_bar", None)
        risk_rules = [
            (rule.rule, self._build_one("risk_rule", rule.rule, rule.params, ("risk", index), "rule",
                                        self._context()))
            for index, rule in enumerate(preset.risk)
        ]
        self.router = OrderRouter(
            broker=self.broker, portfolio=self.portfolio, instruments=self.instruments, risk_rules=risk_rules,
            clock=self.clock, log=self.log, on_order=self._order_created, on_risk=self._risk_tripped,
            id_prefix="O" if self.mode == "backtest" else f"th{int(time.time() * 1000):x}",
        )
        self._routes: dict[str, list[_Pipeline]] = {}
        self.pipelines: list[_Pipeline] = []
        for index, settings in enumerate(preset.strategies):
            key = ("strategies", index)
            log = self.log.bind(strategy_id=settings.id)
            sizer = self._build_one("sizer", settings.sizer.name, settings.sizer.params, key + ("sizer",), "name",
                                    self._context(strategy_id=settings.id, log=log))
            for instrument_id in settings.instruments or tuple(self.instruments):
                instrument = self.instruments[instrument_id]
                updates: list[Any] = []
                indicators: dict[Any, Any] = {}

                def make_indicator(name: str, params: Mapping[str, Any], _key: Any = key,
                                   _updates: list[Any] = updates, _cache: dict[Any, Any] = indicators) -> Any:
                    cache_key = (name, tuple(sorted((k, repr(v)) for k, v in params.items())))
                    if cache_key in _cache:
                        return _cache[cache_key]
                    factory = self._factory("indicator", name, _key + ("signal",))
                    made = factory.cls(self._params(factory, params, _key + ("params",)))
                    _cache[cache_key] = made
                    _updates.append(made.update)
                    return made

                ctx = self._context(strategy_id=settings.id, instrument=instrument, log=log,
                                    indicator_factory=make_indicator)
                signal = self._build_one("signal", settings.signal, settings.params, key, "signal", ctx)
                pipeline = _Pipeline(settings.id, instrument, settings, signal, updates, sizer)
                self.pipelines.append(pipeline)
                self._routes.setdefault(instrument_id, []).append(pipeline)

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
            await self.broker.connect(self)
        except BaseException:
            self.state = EngineState.STOPPED
            raise
        self.state = EngineState.RUNNING
        self.log.info("engine.started", mode=self.mode, strategies=[s.id for s in self.preset.strategies],
                      plugins=[p.name for p in self.plugins()])
        self._notify("preset_applied", old=None, new=self.preset, diff=None)
        self._notify("engine_started")

    async def stop(self, reason: str = "stopped by host", *, cancel_orders: bool = False) -> None:
        """Stop: tell observers, optionally cancel open orders, close the broker. Idempotent."""
        if self.state in (EngineState.STOPPING, EngineState.STOPPED):
            return
        if self.state is EngineState.CREATED:
            self.state = EngineState.STOPPED
            return
        self.state = EngineState.STOPPING
        self._stop_requested = True
        try:
            self._notify("engine_stopping", reason=reason)
            if cancel_orders:
                self.router.cancel_all()
            await self.broker.close()
        finally:
            self.state = EngineState.STOPPED
            self.log.info("engine.stopped", reason=reason, equity=str(self.portfolio.equity()))

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop("stopped by host" if exc_info[0] is None else f"error: {exc_info[1]!r}")

    # --- running -----------------------------------------------------------------------------------

    async def run(self) -> BacktestResult:
        """Handle every bar of the data source until it ends (or :meth:`stop` is called), then return
        the result. The hot path: direct calls only."""
        self._require(EngineState.RUNNING, action="run")
        routes = self._routes
        marks = self.portfolio.marks
        broker_on_bar = self._broker_on_bar
        clock = self.clock
        simulated = isinstance(clock, SimClock)
        timeframe = self.timeframe
        last_ts = self._last_ts
        equity_ts = self._equity_ts
        equity = self._equity
        equity_float = self.portfolio.equity_float
        on_target = self._on_target
        failed = self._component_failed
        previous = equity_ts[-1] - timeframe if equity_ts else None
        count = 0
        async for batch in self.source.stream():
            for bar in batch:
                instrument_id = bar[0]
                ts = bar[1]
                if ts <= last_ts.get(instrument_id, -1):
                    self._out_of_order(bar, last_ts[instrument_id])
                    continue
                last_ts[instrument_id] = ts
                if ts != previous:
                    if previous is not None:
                        equity_ts.append(previous + timeframe)
                        equity.append(equity_float())
                    previous = ts
                    if simulated:
                        clock._now = ts + timeframe
                if broker_on_bar is not None:
                    broker_on_bar(bar)
                marks[instrument_id] = bar[5]
                for pipe in routes.get(instrument_id, ()):
                    if not pipe.enabled:
                        continue
                    try:
                        for update in pipe.updates:
                            update(bar)
                        target = pipe.on_bar(bar)
                        if target is not None:
                            on_target(pipe, target, bar)
                    except Exception as exc:
                        failed(pipe, exc)
            count += len(batch)
            if self._stop_requested:
                break
            await anyio.lowlevel.checkpoint()
        if previous is not None:
            equity_ts.append(previous + timeframe)
            equity.append(equity_float())
        self._bars += count
        return self.result()

    def _on_target(self, pipe: _Pipeline, target: Target | float, bar: Bar) -> None:
        if isinstance(target, Target):
            exposure, reason = target.exposure, target.reason
        else:
            exposure, reason = float(target), ""
        exposure = 1.0 if exposure > 1.0 else (-1.0 if exposure < -1.0 else exposure)
        if exposure == pipe.exposure:
            return
        pipe.exposure = exposure
        instrument = pipe.instrument
        self.log.debug("target.changed", strategy_id=pipe.strategy_id, instrument_id=instrument.id,
                       exposure=exposure, reason=reason)
        quantity = pipe.sizer.size(
            exposure,
            instrument=instrument,
            price=to_decimal(bar[5]),
            equity=self.portfolio.equity(),
            position=self.portfolio.position(instrument.id, pipe.strategy_id),
        )
        self.router.set_target(pipe.strategy_id, instrument.id, quantity)

    def _component_failed(self, pipe: _Pipeline, exc: Exception) -> None:
        where = f"strategy {pipe.strategy_id}/{pipe.instrument.id}"
        self.log.error("strategy.failed", where=where, error=f"{type(exc).__name__}: {exc}")
        self._notify("error", where=where, exception=exc)

    def _out_of_order(self, bar: Bar, last: int) -> None:
        raise DataError(
            f"{bar.instrument_id}: bar at {format_ts(bar.ts)} is not after the previous bar at {format_ts(last)}"
        )

    # --- broker events (the engine is the broker's BrokerEvents) ---------------------------------------

    def order_updated(self, order: Order) -> None:
        """A broker reports an order's new state."""
        merged = self.router.order_updated(order)
        self._notify("order_updated", order=merged)

    def fill(self, fill: Fill) -> None:
        """A broker reports a fill; it is applied to the ledger once."""
        position = self.portfolio.apply_fill(fill)
        if position is None:
            return
        self.fills.append(fill)
        self._notify("fill_received", fill=fill, position=position)

    def _order_created(self, order: Order) -> None:
        self._notify("order_updated", order=order)

    def _risk_tripped(self, rule: str, reason: str, action: str, order: Order | None) -> None:
        self.log.warning("risk.tripped", rule=rule, reason=reason, action=action,
                         client_order_id=order.client_order_id if order else None)
        self._notify("risk_tripped", rule=rule, reason=reason, action=action, order=order)

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        self._observers.notify(hook_name, **kwargs)

    # --- reading -----------------------------------------------------------------------------------

    @property
    def orders(self) -> dict[str, Order]:
        """Every order of this engine, by client order id, in its latest known state."""
        return self.router.orders

    @property
    def strategies(self) -> dict[str, Any]:
        """The preset's strategies by id."""
        return {s.id: s for s in self.preset.strategies}

    def plugins(self) -> list[PluginInfo]:
        """The plugins this engine loaded."""
        return self.manager.list_plugins()

    def result(self) -> BacktestResult:
        """The metrics, fills, orders and equity curve so far."""
        portfolio = self.portfolio
        metrics = compute_metrics(
            equity=self._equity, timeframe=self.timeframe, initial_equity=portfolio.initial_cash,
            final_equity=portfolio.equity(), trades=portfolio.trade_count(), fills=portfolio.fill_count,
            fees=portfolio.fees, bars=self._bars,
        )
        return BacktestResult(
            engine_id=self.id, metrics=metrics, fills=tuple(self.fills),
            orders=tuple(self.router.orders.values()), positions=portfolio.strategy_positions(),
            balances={portfolio.currency: portfolio.cash}, equity_ts=self._equity_ts, equity=self._equity,
        )


