"""Bybit's error answers as tradehooks exceptions.

Every error answer of the exchange (a non-zero ``retCode`` in an HTTP 200 envelope, or an HTTP error
status) becomes one of these; match on the class (or ``code``), never on the message, whose wording
changes over time::

    BybitError (tradehooks BrokerError)
    ├── BybitRateLimited          10006, HTTP 403 (IP limit), HTTP 429         recoverable
    ├── BybitTimestampError       10002: the request's time is outside the recv window   recoverable
    ├── BybitServerError          HTTP 5xx, 10016                              recoverable
    ├── BybitNetworkError         no answer: connect failure, timeout, dropped connection   recoverable
    ├── BybitAuthError            10003, 10004, 10005, 10010, HTTP 401
    ├── BybitInsufficientBalance  110004, 110007, 110012, 110045, 170131
    ├── BybitOrderNotFound        110001, 170213
    ├── BybitDuplicateOrder       110072, 170141
    └── BybitInvalidOrder         10001, 110003, 110017, 110094, 170130, 170136, 170140

``recoverable`` errors may be retried (after the advertised wait); the others need a change first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tradehooks.exceptions import BrokerError

__all__ = [
    "BybitAuthError",
    "BybitDuplicateOrder",
    "BybitError",
    "BybitInsufficientBalance",
    "BybitInvalidOrder",
    "BybitNetworkError",
    "BybitOrderNotFound",
    "BybitRateLimited",
    "BybitServerError",
    "BybitTimestampError",
    "error_for",
    "raise_for_error",
]


class BybitError(BrokerError):
    """The exchange refused or failed a request.

    Attributes:
        code: the exchange's ``retCode`` (``None`` when the answer was an HTTP error without one).
        http_status: the HTTP status of the answer, if known.
        path: the REST path (or WebSocket operation) that failed.
        ret_msg: the exchange's own message.
        recoverable: the same request may succeed later (rate limits, clock skew, server trouble).
    """

    default_recoverable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        path: str = "",
        ret_msg: str = "",
        recoverable: bool | None = None,
    ) -> None:
        super().__init__(message, code=code,
                         recoverable=self.default_recoverable if recoverable is None else recoverable)
        self.http_status = http_status
        self.path = path
        self.ret_msg = ret_msg


class BybitRateLimited(BybitError):
    """Too many requests: the per-endpoint limit (10006) or the IP limit (HTTP 403/429).

    Attributes:
        reset_at_ms: when the endpoint's budget refills (``X-Bapi-Limit-Reset-Timestamp``), if the
            answer said so.
    """

    default_recoverable = True
    reset_at_ms: int | None = None


class BybitTimestampError(BybitError):
    """The request's timestamp is outside the server's recv window (10002): the clocks disagree."""

    default_recoverable = True


class BybitServerError(BybitError):
    """The exchange failed (HTTP 5xx, 10016): the request may succeed later."""

    default_recoverable = True


class BybitNetworkError(BybitError):
    """No answer came: the connection failed, timed out or dropped.

    Attributes:
        maybe_executed: the request may have reached the exchange (a timeout or a connection dropped
            after sending); ``False`` when it certainly was not sent (the connection never opened).
    """

    default_recoverable = True

    def __init__(self, message: str, *, maybe_executed: bool, path: str = "") -> None:
        super().__init__(message, path=path)
        self.maybe_executed = maybe_executed


class BybitAuthError(BybitError):
    """The key is unknown, the signature wrong, the key lacks a permission or is bound to another IP."""


class BybitInsufficientBalance(BybitError):
    """Not enough balance or margin for the order."""


class BybitOrderNotFound(BybitError):
    """No such order, or it is already closed (too late to cancel or amend)."""


class BybitDuplicateOrder(BybitError):
    """The ``orderLinkId`` (client order id) was used before."""


class BybitInvalidOrder(BybitError):
    """The request's parameters break a rule (price range, quantity step, minimum value, ...)."""


_BY_CODE: dict[int, type[BybitError]] = {
    10006: BybitRateLimited,
    429: BybitRateLimited,  # "system level frequency protection" in the unified account's table
    10002: BybitTimestampError,
    10016: BybitServerError,
    **dict.fromkeys((10003, 10004, 10005, 10010), BybitAuthError),
    **dict.fromkeys((110004, 110007, 110012, 110045, 170131), BybitInsufficientBalance),
    **dict.fromkeys((110001, 170213), BybitOrderNotFound),
    **dict.fromkeys((110072, 170141), BybitDuplicateOrder),
    **dict.fromkeys((10001, 110003, 110017, 110094, 170130, 170136, 170140), BybitInvalidOrder),
}


def _status_class(http_status: int) -> type[BybitError]:
    if http_status in (403, 429):
        return BybitRateLimited
    if http_status == 401:
        return BybitAuthError
    if http_status >= 500:
        return BybitServerError
    return BybitError


def error_for(
    payload: Mapping[str, Any] | None, *, http_status: int | None = None, path: str = ""
) -> BybitError | None:
    """The exception ``payload`` (a decoded answer, or ``None`` if the body was not JSON) stands for,
    or ``None`` if it is a success."""
    code: int | None = None
    ret_msg = ""
    if payload is not None:
        raw = payload.get("retCode")
        if raw is not None:
            try:
                code = int(raw)
            except (TypeError, ValueError):
                code = None
        ret_msg = str(payload.get("retMsg", ""))
    where = f"{path}: " if path else ""
    if http_status is not None and http_status != 200:
        cls = _status_class(http_status)
        if cls is BybitError and code is not None and code != 0:
            cls = _BY_CODE.get(code, BybitError)  # a 4xx that still says what was wrong
        hint = " (the IP rate limit; Bybit bans for 10 minutes or more if it goes on)" if http_status == 403 else ""
        detail = f": retCode {code}: {ret_msg}" if code else (f": {ret_msg}" if ret_msg else "")
        return cls(f"{where}HTTP {http_status}{detail}{hint}", code=code, http_status=http_status, path=path,
                   ret_msg=ret_msg)
    if payload is None:
        return BybitServerError(f"{where}the answer is not JSON", http_status=http_status, path=path)
    if code is None:
        return BybitError(f"{where}the answer has no retCode: {dict(payload)!r:.200}", http_status=http_status,
                          path=path)
    if code == 0:
        return None
    cls = _BY_CODE.get(code, BybitError)
    return cls(f"{where}retCode {code}: {ret_msg}", code=code, http_status=http_status, path=path,
               ret_msg=ret_msg)


def raise_for_error(payload: Mapping[str, Any], *, http_status: int | None = None, path: str = "") -> None:
    """Raise the :class:`BybitError` subclass ``payload`` stands for; return ``None`` on success.

    Args:
        payload: the decoded envelope (``retCode``, ``retMsg``, ``result`` ...).
        http_status: the answer's HTTP status; any status but 200 is an error even without a
            ``retCode`` (403 and 429 are rate limits, 401 an auth error, 5xx a server error).
        path: the request's path, named in the message.
    """
    error = error_for(payload, http_status=http_status, path=path)
    if error is not None:
        raise error
