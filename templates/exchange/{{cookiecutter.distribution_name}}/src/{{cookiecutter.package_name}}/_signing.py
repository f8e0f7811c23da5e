"""How {{ cookiecutter.exchange_name }} authenticates private requests."""

from __future__ import annotations

__all__ = ["sign"]


def sign(secret: str, payload: str) -> str:
    """The signature of ``payload`` with ``secret``, as the exchange expects it in a private request.

    Many exchanges want ``hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()``
    where ``payload`` joins a timestamp, the API key, a receive window and the request's query string
    or body: check the exchange's documentation for the exact order.
    """
    raise NotImplementedError(
        "sign(secret, payload): return the signature the exchange expects (often the hex HMAC-SHA256 of "
        "timestamp + api_key + recv_window + query or body); never log the secret"
    )
