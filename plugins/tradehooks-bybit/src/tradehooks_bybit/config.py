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


@attrs.frozen(kw_only=True)
class BybitBrokerConfig:
    """``[broker.params]`` of the ``bybit`` broker.

    Attributes:
        api_key: the API key (write ``"env:NAME"`` or ``"file:PATH"`` in the preset).
        api_secret: the API secret (same).
        testnet: use the exchange's test network.
        timeout: seconds before a REST request is abandoned.
        recv_window: milliseconds a signed request stays valid, if the exchange asks for one.
    """

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    testnet: bool = False
    timeout: float = attrs.field(default=10.0, validator=_positive)
    recv_window: int = attrs.field(default=5000, validator=_at_least_one)
