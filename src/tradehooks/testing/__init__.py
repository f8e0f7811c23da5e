"""What plugin authors need to test like tradehooks does.

* :func:`synthetic_bars`: deterministic, realistic bars (seeded geometric Brownian motion).
* :class:`SimClock`: a clock that moves only when told.
* :class:`RecordingObserver`: a plugin that records every observer hook call.
* :func:`run_backtest`: backtest one signal class (or registered name) on bars you give it.
* ``tradehooks.testing.pytest_plugin``: opt-in pytest fixtures
  (``pytest_plugins = ["tradehooks.testing.pytest_plugin"]``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import anyio
import attrs

from .._clock import SimClock
from .._engine import Engine
from .._results import BacktestResult
from ..hookspecs import hookimpl
from ..model import Bar, Instrument, NS_PER_SECOND, parse_ts
from ..presets import parse_preset

__all__ = ["RecordingObserver", "SimClock", "default_instrument", "run_backtest", "synthetic_bars"]


def default_instrument(symbol: str = "BTCUSDT") -> Instrument:
    """A BTCUSDT-like instrument: tick 0.1, lot 0.001, min notional 5."""
    return Instrument(id=symbol, base=symbol[:-4] or symbol, quote="USDT", tick_size="0.1", lot_size="0.001",
                      min_notional="5")


def synthetic_bars(
    count: int = 1_000,
    *,
    instrument: Instrument | None = None,
    seed: int = 42,
    start: str = "2024-01-01T00:00:00Z",
    timeframe: str = "1m",
    initial_price: float = 30_000.0,
    volatility: float = 0.6,
    drift: float = 0.0,
) -> list[Bar]:
    """``count`` deterministic bars for ``instrument`` (a BTCUSDT-like one by default)."""
    from ..builtins.data_synthetic import generate_bars
    from ..model import parse_timeframe

    instrument = instrument or default_instrument()
    return list(
        generate_bars(instrument, seed=seed, start_ts=parse_ts(start), timeframe=parse_timeframe(timeframe),
                      count=count, initial_price=initial_price, volatility=volatility, drift=drift)
    )


class RecordingObserver:
    """A plugin that records every observer hook call as ``(hook name, kwargs)``.

    Register it with ``Engine(..., plugins=[observer])`` and read ``observer.calls`` or
    ``observer.of("fill_received")``.
    """

    def __init__(self, name: str = "recorder") -> None:
        self.__name__ = name
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def of(self, hook_name: str) -> list[dict[str, Any]]:
        """The kwargs of every call of ``hook_name``, in order."""
        return [kwargs for name, kwargs in self.calls if name == hook_name]

    @hookimpl
    def engine_started(self, engine: Any) -> None:
        self.calls.append(("engine_started", {"engine": engine}))

    @hookimpl
    def engine_stopping(self, engine: Any, reason: str) -> None:
        self.calls.append(("engine_stopping", {"engine": engine, "reason": reason}))

    @hookimpl
    def preset_applied(self, engine: Any, old: Any, new: Any, diff: Any) -> None:
        self.calls.append(("preset_applied", {"old": old, "new": new, "diff": diff}))

    @hookimpl
    def preset_rejected(self, engine: Any, path: Any, error: Exception) -> None:
        self.calls.append(("preset_rejected", {"path": path, "error": error}))

    @hookimpl
    def order_updated(self, engine: Any, order: Any) -> None:
        self.calls.append(("order_updated", {"order": order}))

    @hookimpl
    def fill_received(self, engine: Any, fill: Any, position: Any) -> None:
        self.calls.append(("fill_received", {"fill": fill, "position": position}))

    @hookimpl
    def risk_tripped(self, engine: Any, rule: str, reason: str, action: str, order: Any) -> None:
        self.calls.append(("risk_tripped", {"rule": rule, "reason": reason, "action": action, "order": order}))

    @hookimpl
    def data_rejected(self, engine: Any, bar: Any, reason: str, action: str) -> None:
        self.calls.append(("data_rejected", {"bar": bar, "reason": reason, "action": action}))

    @hookimpl
    def error(self, engine: Any, where: str, exception: BaseException) -> None:
        self.calls.append(("error", {"where": where, "exception": exception}))


class _BarsPlugin:
    """Registers a data source named ``bars`` serving a fixed list, and optionally a signal class."""

    def __init__(self, bars: Sequence[Bar], signal: type | None) -> None:
        self.__name__ = "testing"
        self._bars = bars
        self._signal = signal

    @hookimpl
    def register_data_sources(self) -> list[type]:
        bars = self._bars

        class ListDataSource:
            name: ClassVar[str] = "bars"

            def __init__(self, params: Any, ctx: Any) -> None:
                self._timeframe = ctx.timeframe

            async def stream(self) -> AsyncIterator[Sequence[Bar]]:
                for start in range(0, len(bars), 4096):
                    yield bars[start : start + 4096]

            async def history(self, instrument_id: str, end: int, count: int) -> Sequence[Bar]:
                found = [b for b in bars if b.instrument_id == instrument_id and b.ts + self._timeframe <= end]
                return found[-count:]

        return [ListDataSource]

    @hookimpl
    def register_signals(self) -> list[type]:
        return [self._signal] if self._signal is not None else []


def run_backtest(
    *,
    signal: type | str,
    bars: Iterable[Bar],
    params: Mapping[str, Any] | None = None,
    instruments: Sequence[Instrument] | None = None,
    sizer: tuple[str, Mapping[str, Any]] = ("fixed", {"quantity": "1"}),
    broker: Mapping[str, Any] | None = None,
    risk: Sequence[Mapping[str, Any]] = (),
    initial_cash: Decimal | int | str = 100_000,
    timeframe: str | None = None,
    data_quality: str = "halt",
    data: Mapping[str, Any] | None = None,
    plugins: Sequence[object] = (),
    autoload_plugins: bool | None = None,
    backend: str = "asyncio",
) -> BacktestResult:
    """Backtest one signal on ``bars`` and return the result.

    Args:
        signal: a signal class (registered for this run only) or the name of an installed one.
        bars: the bars, in time order.
        params: the signal's parameters.
        instruments: the instruments (default: a BTCUSDT-like one per instrument id in ``bars``).
        sizer: ``(name, params)`` of the sizer (default: fixed, quantity 1).
        broker: the paper broker's parameters (default: its defaults).
        risk: risk rules as ``{"rule": name, "params": {...}}`` mappings.
        initial_cash: starting cash.
        timeframe: bar length (default: the spacing of the first two bars, else ``1m``).
        data_quality: ``[data] quality``: what the engine does with a malformed or out-of-order bar
            (``halt``, ``skip`` or ``warn``); the bars given here are checked by the engine.
        data: more keys of ``[data]``, such as ``{"zero_volume": "reject", "flat_bars": 5}``.
        plugins: extra plugins (observers, ...).
        autoload_plugins: load entry points (default: only when ``signal`` is a name).
    """
    bars = list(bars)
    ids = list(dict.fromkeys(bar.instrument_id for bar in bars)) or ["BTCUSDT"]
    instruments = list(instruments or [default_instrument(i) for i in ids])
    if timeframe is None:
        same = [b.ts for b in bars if b.instrument_id == ids[0]][:2]
        seconds = (same[1] - same[0]) // NS_PER_SECOND if len(same) == 2 else 60
        timeframe = f"{seconds}s"
    signal_class = signal if isinstance(signal, type) else None
    signal_name = signal if isinstance(signal, str) else signal.name  # type: ignore[attr-defined]
    preset = parse_preset(
        {
            "engine": {"initial_cash": str(initial_cash), "currency": instruments[0].quote},
            "data": {"source": "bars", "timeframe": timeframe, "quality": data_quality, **dict(data or {})},
            "instruments": [_instrument_table(i) for i in instruments],
            "broker": {"name": "paper", "params": dict(broker or {})},
            "strategies": [{"id": signal_name, "signal": signal_name, "params": dict(params or {}),
                            "sizer": {"name": sizer[0], "params": dict(sizer[1])}}],
            "risk": [dict(rule) for rule in risk],
        }
    )
    autoload = signal_class is None if autoload_plugins is None else autoload_plugins

    async def main() -> BacktestResult:
        engine = Engine(preset, plugins=[_BarsPlugin(bars, signal_class), *plugins], autoload_plugins=autoload,
                        engine_id="test")
        async with engine:
            return await engine.run()

    return anyio.run(main, backend=backend)


def _instrument_table(instrument: Instrument) -> dict[str, Any]:
    return {key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in attrs.asdict(instrument).items()}
