"""Building components from a preset, every failure located at the preset's file, line and key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._registry import Factory, ParamsError, Registry
from .contracts import ComponentContext
from .exceptions import FieldError, TradehooksError
from .model import Instrument
from .presets import PresetSource, StrategySettings

__all__ = ["Builder", "Pipeline"]


class Pipeline:
    """One strategy on one instrument: its indicators, signal and sizer (one of each per instrument),
    and its run state."""

    __slots__ = ("strategy_id", "instrument", "settings", "signal", "on_bar", "updates", "sizer", "exposure",
                 "enabled", "paused", "tripped_until", "errors", "indicators")

    def __init__(self, settings: StrategySettings, instrument: Instrument, signal: Any, indicators: list[Any],
                 sizer: Any) -> None:
        self.strategy_id = settings.id
        self.instrument = instrument
        self.settings = settings
        self.signal = signal
        self.on_bar = signal.on_bar
        self.indicators = tuple(indicators)
        # A sizer that keeps its own statistics (ATR, volatility) is fed every bar too, before the signal.
        sizer_on_bar = getattr(sizer, "on_bar", None)
        self.updates = tuple(indicator.update for indicator in indicators) + (
            (sizer_on_bar,) if sizer_on_bar is not None else ()
        )
        self.sizer = sizer
        self.exposure: float | None = None
        self.paused = False
        self.tripped_until: int | None = None  # set while the circuit breaker holds it
        self.errors = 0  # consecutive failures
        self.enabled = settings.enabled  # what the hot loop reads: enabled, not paused, not tripped

    def refresh(self) -> None:
        self.enabled = self.settings.enabled and not self.paused and self.tripped_until is None

    @property
    def state(self) -> str:
        if not self.settings.enabled:
            return "disabled"
        if self.tripped_until is not None:
            return "tripped"
        return "paused" if self.paused else "running"


class Builder:
    """Builds components for one engine from one preset's settings."""

    def __init__(self, registry: Registry, source: PresetSource,
                 context: Callable[..., ComponentContext]) -> None:
        self.registry = registry
        self.source = source
        self._context = context

    def factory(self, kind: str, name: str, key: tuple[Any, ...]) -> Factory:
        try:
            return self.registry.get(kind, name)
        except KeyError as exc:
            raise self.source.error(key, str(exc.args[0])) from None

    def params(self, factory: Factory, raw: Mapping[str, Any], key: tuple[Any, ...]) -> Any:
        try:
            return factory.params(raw)
        except ParamsError as exc:
            path, reason = exc.problems[0]
            raise self.source.error(key + path, f"{factory.name}: {reason}") from None

    def one(self, kind: str, name: str, raw: Mapping[str, Any], key: tuple[Any, ...], name_key: str,
            ctx: ComponentContext | None = None) -> Any:
        """Build the ``kind`` component ``name`` with parameters ``raw`` found at ``key``."""
        factory = self.factory(kind, name, key + (name_key,))
        params = self.params(factory, raw, key + ("params",))
        try:
            return factory.cls(params, ctx if ctx is not None else self._context())
        except FieldError as exc:  # a parameter judged wrong only once the component saw its context
            raise self.source.error(key + ("params", exc.field), f"{factory.name}: {exc.reason}") from None
        except TradehooksError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise self.source.error(key, f"{factory.name}: {exc}") from None

    def strategy(self, settings: StrategySettings, index: int, instruments: Mapping[str, Instrument],
                 log: Any) -> list[Pipeline]:
        """One pipeline per instrument the strategy trades."""
        key = ("strategies", index)
        log = log.bind(strategy_id=settings.id)
        pipelines = []
        for instrument_id in settings.instruments or tuple(instruments):
            instrument = instruments[instrument_id]
            sizer = self.one("sizer", settings.sizer.name, settings.sizer.params, key + ("sizer",), "name",
                             self._context(strategy_id=settings.id, instrument=instrument, log=log))
            indicators: list[Any] = []
            cache: dict[Any, Any] = {}

            def make_indicator(name: str, params: Mapping[str, Any], _made: list[Any] = indicators,
                               _cache: dict[Any, Any] = cache) -> Any:
                cache_key = (name, tuple(sorted((k, repr(v)) for k, v in params.items())))
                if cache_key not in _cache:
                    factory = self.factory("indicator", name, key + ("signal",))
                    _cache[cache_key] = factory.cls(self.params(factory, params, key + ("params",)))
                    _made.append(_cache[cache_key])
                return _cache[cache_key]

            ctx = self._context(strategy_id=settings.id, instrument=instrument, log=log,
                                indicator_factory=make_indicator)
            signal = self.one("signal", settings.signal, settings.params, key, "signal", ctx)
            pipelines.append(Pipeline(settings, instrument, signal, indicators, sizer))
        return pipelines

    def observers(self, observers: Any) -> list[tuple[str, Any]]:
        """``(registration name, object)`` for each ``[[observers]]`` entry."""
        return [(f"observer {entry.name} #{index}",
                 self.one("observer", entry.name, entry.params, ("observers", index), "name"))
                for index, entry in enumerate(observers)]

    def risk_rules(self, rules: Any) -> list[tuple[str, Any]]:
        return [(rule.rule, self.one("risk_rule", rule.rule, rule.params, ("risk", index), "rule"))
                for index, rule in enumerate(rules)]
