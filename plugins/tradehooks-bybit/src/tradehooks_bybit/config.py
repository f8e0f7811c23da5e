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


def _page_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 1000:
        raise FieldError(attribute.name, f"must be between 1 and 1000 (Bybit's page size), got {value}")


def _book_depth(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value not in (0, 1, 50, 200):
        raise FieldError(attribute.name, f"must be 0 (no book), 1, 50 or 200, got {value}")


def _url(schemes: tuple[str, ...]) -> Callable[[object, attrs.Attribute[str | None], str | None], None]:
    def check(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and not value.startswith(schemes):
            raise FieldError(attribute.name, f"must start with {' or '.join(schemes)}, got {value!r}")

    return check


def _one_of(*allowed: str) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in allowed:
            raise FieldError(attribute.name, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")

    return check


def _at_least_zero(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class BybitDataConfig:
    """``[data.params]`` of the ``bybit`` data source (public market data: no keys).

    Attributes:
        category: ``"linear"`` (USDT perpetuals) or ``"spot"``.
        testnet: use the exchange's test network.
        rest_url: the REST base URL instead of Bybit's (an emulator's ``http://127.0.0.1:PORT``).
        ws_url: the WebSocket base URL instead of Bybit's (``/v5/public/{category}`` is appended
            unless the URL has a ``/v5/`` path).
        timeout: seconds before a REST request is abandoned.
        history_limit: the most candles one REST request asks for (at most 1000, Bybit's page size);
            ``history()`` and ``download()`` page through longer spans.
        book_depth: ``0`` keeps no order book; ``1``, ``50`` or ``200`` keeps an L2 book of that many
            levels per side for every instrument (stream ``orderbook.{depth}.{symbol}``).
        trades: also receive every public trade (``add_trade_listener``).
        stale_after: seconds without any message (not even a heartbeat answer) before the stream is
            taken for dead and opened again.
        check_instruments: on start, compare each preset instrument's tick size, lot size, minimum
            quantity and minimum notional with the exchange's, and refuse to run on a mismatch.
    """

    category: str = attrs.field(default="linear", validator=_one_of("linear", "spot"))
    testnet: bool = False
    rest_url: str | None = attrs.field(default=None, validator=_url(("http://", "https://")))
    ws_url: str | None = attrs.field(default=None, validator=_url(("ws://", "wss://")))
    timeout: float = attrs.field(default=10.0, validator=_positive)
    history_limit: int = attrs.field(default=1000, validator=_page_size)
    book_depth: int = attrs.field(default=0, validator=_book_depth)
    trades: bool = False
    stale_after: float = attrs.field(default=60.0, validator=_positive)
    check_instruments: bool = True


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
