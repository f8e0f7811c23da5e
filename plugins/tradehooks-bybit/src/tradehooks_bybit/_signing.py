"""How Bybit V5 authenticates private requests: HMAC-SHA256, lowercase hex.

* REST: ``sign(secret, timestamp + api_key + recv_window + payload)`` where ``payload`` is the raw
  query string of a GET or the raw JSON body of a POST, byte for byte as sent.
* WebSocket ``auth``: ``sign(secret, "GET/realtime" + str(expires))``.

The emulator in :mod:`tradehooks_bybit.testing` verifies with the same functions.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["rest_signature", "sign", "ws_auth_signature"]


def sign(secret: str, payload: str) -> str:
    """The lowercase hex HMAC-SHA256 of ``payload`` keyed with ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def rest_signature(secret: str, *, timestamp: int | str, api_key: str, recv_window: int | str, payload: str) -> str:
    """``X-BAPI-SIGN`` of a REST request (``payload``: the query string of a GET, the body of a POST)."""
    return sign(secret, f"{timestamp}{api_key}{recv_window}{payload}")


def ws_auth_signature(secret: str, expires: int) -> str:
    """The signature of a private WebSocket's ``auth`` message that expires at ``expires`` (ms)."""
    return sign(secret, f"GET/realtime{expires}")
