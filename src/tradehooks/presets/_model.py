"""The preset model: frozen attrs classes structured from TOML by the strict converter."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import attrs

from ..exceptions import FieldError
from ..model import NS_PER_SECOND, Instrument, parse_timeframe

__all__ = [
    "BrokerSettings",
    "DataSettings",
    "EngineSettings",
    "ObserverSettings",
    "PluginSettings",
    "Preset",
    "RiskSettings",
    "SizerSettings",
    "StrategySettings",
]

MODES = ("backtest", "paper", "live")


def _one_of(*choices: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in choices:
            raise FieldError(attribute.name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def _timeframe(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        parse_timeframe(value)
    except ValueError as exc:
        raise FieldError(attribute.name, str(exc)) from None


def parse_stale_after(text: str, timeframe_ns: int) -> int | None:
    """``[data] stale_after`` in nanoseconds, or ``None`` for ``"off"``: ``"<number>x"`` is that many
    timeframes (``"3x"``, ``"1.5x"``), anything else a duration like a timeframe (``"90s"``, ``"5m"``).

    Raises :class:`ValueError` naming the text when it is neither, or not above zero."""
    text = text.strip()
    if text == "off":
        return None
    if text.endswith("x"):
        try:
            multiple = float(text[:-1])
        except ValueError:
            multiple = math.nan
        if not math.isfinite(multiple) or multiple <= 0:
            raise ValueError(f"stale_after {text!r} is not a positive multiple of the timeframe like '3x'")
        return max(1, round(multiple * timeframe_ns))
    try:
        return parse_timeframe(text)
    except ValueError:
        raise ValueError(f"stale_after {text!r} is not 'off', a multiple of the timeframe like '3x', "
                         f"or a duration like '90s' or '5m'") from None


def _stale_after(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        parse_stale_after(value, NS_PER_SECOND)
    except ValueError as exc:
        raise FieldError(attribute.name, str(exc)) from None


def _flat_bars(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0 or value == 1:
        raise FieldError(attribute.name, f"must be 0 (off) or >= 2, got {value}")


def _positive(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"must be > 0, got {value}")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise FieldError(attribute.name, f"must be >= 1, got {value}")


def _at_least_zero(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"must be >= 0, got {value}")


def _identifier(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not all(ch.isalnum() or ch in "_-." for ch in value):
        raise FieldError(attribute.name, f"must be a non-empty name of letters, digits, '_', '-' or '.', got {value!r}")


@attrs.frozen(kw_only=True)
class EngineSettings:
    """``[engine]``: how the engine runs.

    Attributes:
        id: the engine's id in logs (default: the preset file's stem).
        mode: ``backtest``, ``paper`` or ``live``.
        initial_cash: starting cash of a backtest or paper account, in ``currency``.
        currency: the account currency (the instruments' quote currency).
        breaker_errors: consecutive failures of a strategy (its signal or indicators raising) that
            trip its circuit breaker: the strategy stops for ``breaker_cooldown``, then gets one retry.
        breaker_cooldown: how long a tripped strategy rests, on the engine's clock (``30m``, ``1h``).
        warmup_bars: bars of history fed to a strategy added or changed while the engine runs, so
            its indicators are ready before it trades (its targets during warm-up are ignored).
        on_stop: what ``tradehooks run`` does with open orders when it stops: ``cancel`` or ``keep``.
        journal: the SQLite journal file (relative to the preset's folder). Every order, fill and
            applied preset is written there before it is acted on, and a restarted engine rebuilds
            its portfolio and open orders from it. ``tradehooks run`` uses ``.<preset>.journal.sqlite``
            beside the preset when this is not set; backtests keep no journal unless it is set.
        journal_sync: ``"full"`` (the default): every journal entry is flushed to the disk before
            it is acted on, so it survives a power cut; ``"normal"``: it survives a crash of the
            process (SIGKILL included) but the last entries may be lost if the machine itself goes
            down, for a lower latency per order (no disk flush per entry).
        journal_retention_days: when set, each start compacts the journal's entries older than that
            many days (superseded order states and old snapshots; fills and presets are kept, so the
            ledger still rebuilds exactly).
    """

    id: str | None = None
    mode: str = attrs.field(default="backtest", validator=_one_of(*MODES))
    initial_cash: Decimal = attrs.field(default=Decimal(10000), validator=_positive)
    currency: str = "USDT"
    breaker_errors: int = attrs.field(default=5, validator=_at_least_one)
    breaker_cooldown: str = attrs.field(default="1h", validator=_timeframe)
    warmup_bars: int = attrs.field(default=500, validator=_at_least_zero)
    on_stop: str = attrs.field(default="cancel", validator=_one_of("cancel", "keep"))
    journal: str | None = None
    journal_sync: str = attrs.field(default="full", validator=_one_of("full", "normal"))
    journal_retention_days: int | None = attrs.field(default=None, validator=attrs.validators.optional(_at_least_zero))


@attrs.frozen(kw_only=True)
class DataSettings:
    """``[data]``: where bars come from.

    Attributes:
        source: a registered data source's name (``csv``, ``synthetic``, ``bybit``, ...).
        timeframe: the bar length (``1m``, ``5m``, ``1h``, ``1d``).
        params: the source's parameters (validated by its ``Params`` class).
        quality: what the engine does with a bar that fails its data-quality checks (a NaN or
            non-positive price, high < low, open or close outside the range, negative volume, a
            timestamp not after the previous one): ``halt`` stops with a ``DataError``, ``skip``
            drops the bar, ``warn`` logs it and uses it (a bar whose time goes backwards or repeats
            is always dropped). Every rejection goes to the ``data_rejected`` hook. The file sources
            (``csv``, ``parquet``) apply it to the rows they refuse themselves. The same
            policy applies to the three rules below.
        zero_volume: ``"allow"`` (the default: quiet markets have bars without trades) or
            ``"reject"``: a bar with zero volume fails the checks.
        flat_bars: 0 (off, the default) or N >= 2: the N-th consecutive bar of an instrument with
            the same open, high, low and close as the one before (a frozen feed repeating its last
            price) fails the checks, and so does each further one until the prices move.
        stale_after: paper and live mode only: an instrument without a bar for this long is stale
            (``"3x"``, the default, is three timeframes; ``"90s"`` or ``"5m"`` a duration; ``"off"``):
            reported once to the ``data_rejected`` hook, and under ``skip`` and ``halt`` no new orders
            go out for it until its bars come back (``warn`` only reports it).
    """

    source: str
    timeframe: str = attrs.field(default="1m", validator=_timeframe)
    params: dict[str, Any] = attrs.field(factory=dict)
    quality: str = attrs.field(default="halt", validator=_one_of("halt", "skip", "warn"))
    zero_volume: str = attrs.field(default="allow", validator=_one_of("allow", "reject"))
    flat_bars: int = attrs.field(default=0, validator=_flat_bars)
    stale_after: str = attrs.field(default="3x", validator=_stale_after)


@attrs.frozen(kw_only=True)
class BrokerSettings:
    """``[broker]``: where orders go. Defaults to the paper broker."""

    name: str = "paper"
    params: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SizerSettings:
    """``[strategies.sizer]``: how a target exposure becomes a quantity."""

    name: str = "percent_equity"
    params: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class StrategySettings:
    """``[[strategies]]``: one strategy.

    Attributes:
        id: unique within the preset; names the strategy in logs, orders and positions.
        signal: a registered signal's name.
        params: the signal's parameters (validated by its ``Params`` class).
        instruments: the instruments it trades (default: all of the preset's).
        sizer: the sizer and its parameters.
        enabled: a disabled strategy emits no targets.
        on_disable: what happens to its position when it is disabled or removed: ``keep`` or
            ``flatten``.
    """

    id: str = attrs.field(validator=_identifier)
    signal: str
    params: dict[str, Any] = attrs.field(factory=dict)
    instruments: tuple[str, ...] = ()
    sizer: SizerSettings = attrs.field(factory=SizerSettings)
    enabled: bool = True
    on_disable: str = attrs.field(default="keep", validator=_one_of("keep", "flatten"))


@attrs.frozen(kw_only=True)
class RiskSettings:
    """``[[risk]]``: one risk rule.

    Attributes:
        rule: a registered risk rule's name.
        params: its parameters.
    """

    rule: str
    params: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ObserverSettings:
    """``[[observers]]``: one observer component (from ``register_observers``) for this engine.

    Attributes:
        name: a registered observer's name (``fills_csv``, ...).
        params: its parameters.
    """

    name: str
    params: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PluginSettings:
    """``[plugins]``: which plugins the engine loads.

    Attributes:
        disable: plugin names (built-in or entry point) not to load.
    """

    disable: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Preset:
    """A whole preset. Build one with :func:`tradehooks.presets.load_preset` (from a TOML file),
    :func:`tradehooks.presets.parse_preset` (from text or a mapping), or directly in code."""

    engine: EngineSettings = attrs.field(factory=EngineSettings)
    data: DataSettings
    instruments: tuple[Instrument, ...]
    broker: BrokerSettings = attrs.field(factory=BrokerSettings)
    strategies: tuple[StrategySettings, ...] = ()
    risk: tuple[RiskSettings, ...] = ()
    observers: tuple[ObserverSettings, ...] = ()
    plugins: PluginSettings = attrs.field(factory=PluginSettings)
    #: where the preset came from (``None`` when built in code); not part of equality.
    source: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def timeframe_ns(self) -> int:
        """The bar length in nanoseconds."""
        return parse_timeframe(self.data.timeframe)

    @property
    def stale_after_ns(self) -> int | None:
        """``[data] stale_after`` in nanoseconds, ``None`` when off."""
        return parse_stale_after(self.data.stale_after, self.timeframe_ns)

    def instrument(self, instrument_id: str) -> Instrument:
        """The instrument with ``instrument_id`` (``KeyError`` if the preset has none)."""
        for instrument in self.instruments:
            if instrument.id == instrument_id:
                return instrument
        raise KeyError(instrument_id)
