"""The exceptions tradehooks raises.

Every error the library raises on purpose derives from :class:`TradehooksError`, and subclasses the
built-in exception it semantically is, so ``except ValueError`` keeps working::

    TradehooksError
    ├── PluginError                 a plugin failed to import, implements an unknown hook, clashes
    ├── PresetError (ValueError)    a preset is malformed: carries path, line and key
    ├── FieldError (ValueError)     one field of a value is wrong: carries the field name
    ├── DataError (ValueError)      a data file or bar is malformed: carries path and line
    ├── InvalidOrderError (ValueError)   price/quantity off tick or lot, under min notional, ...
    ├── EngineStateError (RuntimeError)  a method called in the wrong engine state
    ├── StrategyError               a strategy failed where it must not (warming up for a reload)
    └── BrokerError                 a broker refused or failed a request
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "DataError",
    "EngineStateError",
    "FieldError",
    "InvalidOrderError",
    "PluginError",
    "PresetError",
    "StrategyError",
    "TradehooksError",
]


def _where(path: str | None, line: int | None) -> str:
    """``"path:line: "``, ``"path: "`` or ``""``: the prefix of a located error message."""
    if path is None:
        return ""
    return f"{path}:{line}: " if line is not None else f"{path}: "


class TradehooksError(Exception):
    """Base class of every error tradehooks raises on purpose."""


class PluginError(TradehooksError):
    """A plugin could not be loaded, validated or registered.

    Attributes:
        plugin: the plugin's short name (entry-point name or built-in name), if known.
        distribution: the distribution that ships it (``name version``), if known.
    """

    def __init__(self, message: str, *, plugin: str | None = None, distribution: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution


class PresetError(TradehooksError, ValueError):
    """A preset is malformed or names something that does not exist.

    The message reads ``path:line: key: reason``; each part is also an attribute.
    """

    def __init__(
        self, reason: str, *, path: str | None = None, line: int | None = None, key: str | None = None
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.key = key
        what = f"{key}: " if key else ""
        super().__init__(f"{_where(path, line)}{what}{reason}")


class FieldError(TradehooksError, ValueError):
    """One field of a value is wrong. Raise it from an attrs validator so a preset error can point at
    the exact key and line::

        def _positive(instance, attribute, value):
            if value <= 0:
                raise FieldError(attribute.name, f"must be > 0, got {value}")
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class DataError(TradehooksError, ValueError):
    """Market data is missing or malformed (a bad file, a bar with high < low, time going backwards)."""

    def __init__(self, reason: str, *, path: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(f"{_where(path, line)}{reason}")


class InvalidOrderError(TradehooksError, ValueError):
    """An order breaks an instrument's rules (tick size, lot size, minimum notional, ...)."""


class EngineStateError(TradehooksError, RuntimeError):
    """A method was called while the engine is in a state that does not allow it."""


class StrategyError(TradehooksError):
    """A strategy's signal or indicators failed where the engine cannot skip the event (warm-up)."""


class BrokerError(TradehooksError):
    """A broker refused or failed a request.

    Attributes:
        code: the broker's own error code, if it gave one.
        recoverable: the request may be retried (a rate limit, a timeout). An unrecoverable error
            raised while placing an order throws the engine's kill switch.
    """

    def __init__(self, message: str, *, code: str | int | None = None, recoverable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.recoverable = recoverable
