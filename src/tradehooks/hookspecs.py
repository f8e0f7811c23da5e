"""Every hook a tradehooks plugin can implement, grouped by lifecycle.

Two kinds of hooks:

* **Registration hooks** (``register_*``) are called once when an engine is built, and again when
  :meth:`Engine.apply <tradehooks.Engine.apply>` finds a plugin installed since. Each returns a list of classes; each class has a unique ``name`` that presets
  use. The engine builds objects from them and calls those objects directly on every event.
* **Observer hooks** are called with keyword arguments when something happens (an order update, a
  fill, a reload, an error). They are called implementation by implementation; an exception in one
  is logged and reported through :func:`error` and never stops trading or the other observers.

Implement a hook with the :data:`tradehooks.hookimpl` marker; name only the arguments you need::

    from tradehooks import hookimpl

    @hookimpl
    def fill_received(fill):
        print(fill.instrument_id, fill.side, fill.quantity, fill.price)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .model import Bar, Fill, Order, Position

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "tradehooks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used by this module only)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate your plugin's functions with ``@hookimpl``."""


# --- registration hooks: called once per engine build or reload ---------------------------------------


@hookspec
def register_data_sources(engine: Any) -> list[type] | None:
    """Register data-source classes.

    Args:
        engine: the engine being built (read its preset or mode if the classes you offer depend on
            them; do not keep a reference).

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.DataSource`, each with a unique
        ``name`` and an optional ``Params`` attrs class. Return ``None`` or ``[]`` to register nothing.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_data_sources():
            return [MyExchangeData]
    """


@hookspec
def register_indicators(engine: Any) -> list[type] | None:
    """Register indicator classes.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.Indicator`: built as ``cls(params)``,
        updated with every bar in O(1). Each has a unique short ``name`` (``"sma"``) and a ``Params``
        attrs class.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_indicators():
            return [HullMovingAverage]
    """


@hookspec
def register_signals(engine: Any) -> list[type] | None:
    """Register signal (strategy) classes.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.Signal`: built as
        ``cls(params, ctx)`` once per strategy and instrument; ``on_bar(bar)`` returns a target
        exposure in [-1, 1] or ``None``. Each has a unique ``name`` (what a preset's
        ``strategies.signal`` names) and a ``Params`` attrs class for its parameters.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_signals():
            return [MomentumBurst]
    """


@hookspec
def register_sizers(engine: Any) -> list[type] | None:
    """Register sizer classes.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.Sizer`: built as
        ``cls(params, ctx)``; ``size(exposure, instrument=, price=, equity=, position=)`` returns a
        signed quantity rounded towards zero to the lot size.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_sizers():
            return [HalfKelly]
    """


@hookspec
def register_brokers(engine: Any) -> list[type] | None:
    """Register broker classes.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.Broker`: built as
        ``cls(params, ctx)``; ``submit``/``cancel`` never block and report through
        :class:`tradehooks.contracts.BrokerEvents`.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_brokers():
            return [BybitBroker]
    """


@hookspec
def register_risk_rules(engine: Any) -> list[type] | None:
    """Register risk-rule classes.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes satisfying :class:`tradehooks.contracts.RiskRule`: built as
        ``cls(params, ctx)``; ``check(order, portfolio)`` allows, shrinks or denies every order
        before it reaches the broker.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        @hookimpl
        def register_risk_rules():
            return [NoTradingOnSundays]
    """


@hookspec
def register_observers(engine: Any) -> list[type] | None:
    """Register observer classes that presets can switch on with ``[[observers]]``.

    Args:
        engine: the engine being built.

    Returns:
        A list of classes, each with a unique ``name`` and an optional ``Params`` attrs class, built as
        ``cls(params, ctx)`` for each ``[[observers]]`` entry naming it. The object is registered as a
        plugin of that engine only, so its ``@hookimpl`` methods (``fill_received``,
        ``order_updated``, ...) are called like any observer hook. A reload that changes
        ``[[observers]]`` replaces the objects; an object with a ``close()`` method has it called when
        it is replaced or the engine stops.

    Called once when the engine is built, and again when ``apply`` finds a newly installed plugin.

    Example::

        class FillsToSlack:
            name = "slack_fills"

            def __init__(self, params, ctx):
                self.channel = params.channel

            @hookimpl
            def fill_received(self, fill):
                post(self.channel, f"{fill.side.value} {fill.quantity} @ {fill.price}")

        @hookimpl
        def register_observers():
            return [FillsToSlack]
    """


@hookspec
def register_commands() -> list[type] | None:
    """Register subcommands of the ``tradehooks`` command line.

    Returns:
        A list of classes, each with ``name`` (the subcommand), ``help`` (one line),
        ``add_arguments(parser)`` (a classmethod or staticmethod receiving an
        :class:`argparse.ArgumentParser`) and ``run(args) -> int`` (a classmethod or staticmethod
        returning the exit code). A name that clashes with a built-in command is an error.

    Called once each time the ``tradehooks`` command starts (no engine exists yet).

    Example::

        class Hello:
            name = "hello"
            help = "say hello"

            @staticmethod
            def add_arguments(parser):
                parser.add_argument("--who", default="world")

            @staticmethod
            def run(args):
                print("hello", args.who)
                return 0

        @hookimpl
        def register_commands():
            return [Hello]
    """


# --- observer hooks: called when something happens ------------------------------------------------------


@hookspec
def engine_started(engine: Any) -> None:
    """The engine has started: plugins are loaded, components built, the broker connected.

    Args:
        engine: the engine (read ``engine.preset``, ``engine.mode``, ``engine.id``).

    Called once per engine start, before the first bar is handled.

    Example::

        @hookimpl
        def engine_started(engine):
            print("started", engine.id, engine.mode)
    """


@hookspec
def engine_stopping(engine: Any, reason: str) -> None:
    """The engine is about to stop.

    Args:
        engine: the engine; its portfolio is still readable.
        reason: why (``"stopped by host"``, or ``"error: ..."`` when the host's block raised).

    Called once per engine, when it stops (after its last bar), before the broker is closed.

    Example::

        @hookimpl
        def engine_stopping(engine, reason):
            print("stopping:", reason, "equity", engine.portfolio.equity())
    """


@hookspec
def preset_applied(engine: Any, old: Any, new: Any, diff: Any) -> None:
    """A preset was put in force.

    Args:
        engine: the engine.
        old: the previous :class:`~tradehooks.presets.Preset` (``None`` for the first one).
        new: the preset now in force.
        diff: what changed, a :class:`~tradehooks.PresetDiff` (``None`` for the first preset).

    Called once when the engine starts, with its preset, and once per preset applied later with
    :meth:`Engine.apply <tradehooks.Engine.apply>`.

    Example::

        @hookimpl
        def preset_applied(new, diff):
            print("now running", [s.id for s in new.strategies], diff)
    """


@hookspec
def preset_rejected(engine: Any, path: str | None, error: Exception) -> None:
    """A new preset was refused; the one in force keeps running, unchanged.

    Args:
        engine: the engine.
        path: the preset file, or ``None`` for a preset passed as an object.
        error: the :class:`~tradehooks.exceptions.PresetError` (or plugin error) saying what and where.

    Called once per refused :meth:`Engine.apply <tradehooks.Engine.apply>`.

    Example::

        @hookimpl
        def preset_rejected(path, error):
            alert(f"preset {path} refused: {error}")
    """


@hookspec
def order_updated(engine: Any, order: Order) -> None:
    """An order was created or its status changed.

    Args:
        engine: the engine.
        order: the order as now known (a frozen :class:`~tradehooks.model.Order`).

    Called for every submission, acknowledgement, partial fill, fill, cancellation, rejection and
    expiry, in the order they happened.

    Example::

        @hookimpl
        def order_updated(order):
            if order.status.value == "rejected":
                print("rejected:", order.client_order_id, order.reason)
    """


@hookspec
def fill_received(engine: Any, fill: Fill, position: Position) -> None:
    """A fill was applied to the ledger.

    Args:
        engine: the engine.
        fill: the fill (exact price, quantity and fee).
        position: the strategy's position in that instrument after the fill.

    Called once per fill, after the ledger was updated and before the order's status update.

    Example::

        @hookimpl
        def fill_received(fill, position):
            print(fill.side.value, fill.quantity, "@", fill.price, "->", position.quantity)
    """


@hookspec
def risk_tripped(engine: Any, rule: str, reason: str, action: str, order: Order | None) -> None:
    """A risk rule denied or shrank an order, a strategy's circuit breaker tripped, or the kill switch
    was thrown.

    Args:
        engine: the engine.
        rule: the rule's name.
        reason: why, in words.
        action: ``"deny"`` or ``"shrink"`` (a risk rule), ``"disable"`` (rule ``"circuit_breaker"``:
            a strategy failed too often and rests) or ``"kill"`` (rule ``"kill_switch"``).
        order: the order concerned, if any.

    Called once per trip.

    Example::

        @hookimpl
        def risk_tripped(rule, reason, action):
            page_oncall(f"{rule}: {action}: {reason}")
    """


@hookspec
def data_rejected(engine: Any, bar: Bar | None, reason: str, action: str) -> None:
    """A bar failed a data-quality check, or an instrument's data went stale.

    Args:
        engine: the engine.
        bar: the rejected bar; ``None`` for a row of a data file that could not be read as a bar (a
            missing field, a value that is not a number); for stale data, the instrument's last bar
            (``None`` if none came).
        reason: what was wrong (``"high 10.0 < low 11.0"``, ``"timestamp ... is not after ..."``,
            ``"zero volume"``, ``"flat series: 30 bars in a row ..."``, ``"stale data: no bar for
            3m ..."``; for a file source's row, ``"PATH:LINE: reason"``).
        action: what the engine did, from ``[data] quality``: ``"halt"`` (it stops with a
            ``DataError`` right after this call), ``"skip"`` (the bar was dropped; a stale
            instrument gets no new order until its next bar) or ``"warn"`` (the bar was used).

    Called once per rejected bar, and once each time an instrument goes stale (paper and live mode,
    ``[data] stale_after``).

    Example::

        @hookimpl
        def data_rejected(bar, reason, action):
            print("bad bar", bar.instrument_id, bar.ts, reason, action)
    """


@hookspec
def error(engine: Any, where: str, exception: BaseException) -> None:
    """Something failed: a strategy's indicators or signal raised, or an observer raised.

    A strategy that keeps failing is stopped by its circuit breaker (``engine.breaker_errors``), which
    is reported through :func:`risk_tripped` with rule ``"circuit_breaker"``.

    Args:
        engine: the engine.
        where: which part failed (``"strategy trend/BTCUSDT"``, ``"observer myplugin.fill_received"``).
        exception: the exception.

    Called once per failure. Exceptions raised here are logged and otherwise ignored.

    Example::

        @hookimpl
        def error(where, exception):
            sentry_sdk.capture_exception(exception)
    """
