"""The parameters of the Bybit components: one frozen config class per component.

tradehooks validates a preset's ``[data.params]`` and ``[broker.params]`` into these classes with
cattrs: unknown keys, wrong types and values a validator refuses are preset errors naming the key
and its line. Validators raise :class:`~tradehooks.exceptions.FieldError` so the error points at
the key.

Secrets are never written in a preset: it says ``api_key = "env:BYBIT_API_KEY"``
(or ``"file:PATH"``), and tradehooks hands the component the value, as a ``str`` whose ``repr``
hides it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from tradehooks.exceptions import FieldError

__all__ = ["BybitBrokerConfig", "BybitDataConfig"]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise FieldError(attribute.name, f"must be > 0, got {value}")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise FieldError(attribute.name, f"must be >= 1, got {value}")


@attrs.frozen(kw_only=True)
class BybitDataConfig:
    """``[data.params]`` of the ``bybit`` data source (public market data: no keys).

    Attributes:
        testnet: use the exchange's test network.
        timeout: seconds before a REST request is abandoned.
        history_limit: the most bars one REST request for history may ask for (the exchange's page
            size); ``history()`` pages through longer spans.
    """

    testnet: bool = False
    timeout: float = attrs.field(default=10.0, validator=_positive)
    history_limit: int = attrs.field(default=1000, validator=_at_least_one)


def _one_of(*allowed: str) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in allowed:
            raise FieldError(attribute.name, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


def _at_least_zero(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class BybitBrokerConfig:
    """``[broker.params]`` of the ``bybit`` broker.

    Attributes:
        api_key: the API key (write ``"env:NAME"`` or ``"file:PATH"`` in the preset).
        api_secret: the API secret (same).
        category: ``"linear"`` (USDT perpetuals: positions) or ``"spot"`` (balances; the base coin's
            balance is the position).
        testnet: use the exchange's test network.
        rest_url: the REST base URL instead of Bybit's (an emulator's ``http://127.0.0.1:PORT``).
        ws_url: the WebSocket base URL instead of Bybit's (``/v5/private`` is appended unless given).
        timeout: seconds before a REST request is abandoned (its outcome is then looked up, never
            assumed).
        recv_window: milliseconds a signed request stays valid.
        max_retries: how many times one request is tried again after a recoverable failure.
        on_unknown: what to do with open orders at the exchange the engine does not know, found on
            start and after every reconnect: ``"report"`` (log and report an error), ``"adopt"``
            (track them as orders of strategy ``adopt_strategy``) or ``"cancel"``.
        adopt_strategy: the strategy id adopted orders are given.
        close_timeout: seconds ``close()`` waits for requests still in flight (cancels sent on stop).
    """

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    category: str = attrs.field(default="linear", validator=_one_of("linear", "spot"))
    testnet: bool = False
    rest_url: str | None = None
    ws_url: str | None = None
    timeout: float = attrs.field(default=10.0, validator=_positive)
    recv_window: int = attrs.field(default=5000, validator=_at_least_one)
    max_retries: int = attrs.field(default=5, validator=_at_least_zero)
    on_unknown: str = attrs.field(default="report", validator=_one_of("report", "adopt", "cancel"))
    adopt_strategy: str = "external"
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
