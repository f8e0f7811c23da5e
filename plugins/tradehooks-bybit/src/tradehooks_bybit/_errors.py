"""Bybit's error answers as tradehooks exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradehooks.exceptions import BrokerError

__all__ = ["BybitError", "raise_for_error"]


class BybitError(BrokerError):
    """The exchange refused or failed a request; ``code`` is its own error code."""


def raise_for_error(payload: Mapping[str, Any]) -> None:
    """Raise :class:`BybitError` if ``payload`` is an error answer, else return ``None``."""
    raise NotImplementedError(
        "raise_for_error(payload): read the exchange's error code and message from a response and raise "
        "BybitError(message, code=code) when it is an error (a subclass per kind "
        "helps callers: rate limited, insufficient balance, unknown order); return None on success"
    )
