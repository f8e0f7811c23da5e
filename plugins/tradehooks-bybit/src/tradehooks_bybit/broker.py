"""The ``bybit`` broker: orders on Bybit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

from tradehooks.contracts import BrokerEvents, ComponentContext
from tradehooks.model import InstrumentId, Order

from ._http import HttpClient
from ._ws import WebSocketClient
from .config import BybitBrokerConfig
from .constants import REST_URL, REST_URL_TESTNET, WS_PRIVATE_URL, WS_PRIVATE_URL_TESTNET

__all__ = ["BybitBroker"]


class BybitBroker:
    """Sends the engine's orders to Bybit and reports what happens to them.

    ==========================================  =========  ============================================
    Method                                      Required?  What it must do
    ==========================================  =========  ============================================
    ``name`` (class attribute)                  yes        the name a preset's ``[broker] name`` uses
    ``Params`` (class)                          no         the frozen config class ``[broker.params]``
                                                           is validated into (``config.py``)
    ``__init__(params, ctx)``                   yes        keep them; build clients; no I/O
    ``connect(events)``                         yes        authenticate, load open orders, balances
                                                           and positions, start the private stream;
                                                           report to ``events`` from then on
    ``close()``                                 yes        stop the stream, close connections; leave
                                                           open orders as they are
    ``submit(order)``                           yes        never block: queue the request; idempotent
                                                           by ``order.client_order_id``
    ``cancel(client_order_id)``                 yes        never block: queue the cancellation
    ``amend(client_order_id, *, quantity=,      yes        never block: queue the change (or cancel
    price=, trigger_price=)``                              and replace, if the exchange cannot amend)
    ``balances()``                              yes        cash per currency, as last reported
    ``positions()``                             yes        signed position per instrument, as last
                                                           reported
    ==========================================  =========  ============================================

    Report every outcome through ``events``: ``events.order_updated(order)`` for each status change
    (accepted, cancelled, rejected with a ``reason``, expired) and ``events.fill(fill)`` for each
    execution, **before** the order update that says it filled. Orders carry exact ``Decimal`` prices
    and quantities already on the instrument's tick and lot.
    """

    name: ClassVar[str] = "bybit"
    Params: ClassVar[type] = BybitBrokerConfig

    def __init__(self, params: BybitBrokerConfig, ctx: ComponentContext) -> None:
        self._params = params
        self._ctx = ctx
        self._events: BrokerEvents | None = None
        self._http = HttpClient(base_url=REST_URL_TESTNET if params.testnet else REST_URL, timeout=params.timeout,
                                api_key=params.api_key, api_secret=params.api_secret)
        self._ws = WebSocketClient(url=WS_PRIVATE_URL_TESTNET if params.testnet else WS_PRIVATE_URL,
                                   api_key=params.api_key, api_secret=params.api_secret)

    async def connect(self, events: BrokerEvents) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.connect(events): keep `events`; load balances, positions and open "
            "orders over REST (_http.py); connect and authenticate the private WebSocket (_ws.py), "
            "subscribe to order, execution and wallet updates, and start a task that turns them into "
            "events.order_updated(...) and events.fill(...) calls (the engine gives the broker no task "
            "group: open one here with anyio.create_task_group().__aenter__() and exit it in close())"
        )

    async def close(self) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.close(): stop the task started in connect(), close the WebSocket and "
            "the HTTP client; leave open orders on the exchange as they are"
        )

    def submit(self, order: Order) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.submit(order): without blocking, queue a create-order request "
            "carrying order.client_order_id as the exchange's client order id (so a retry cannot "
            "duplicate it); report acceptance or rejection with events.order_updated(order) once the "
            "exchange answers"
        )

    def cancel(self, client_order_id: str) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.cancel(client_order_id): without blocking, queue a cancel request for "
            "that client order id; report the cancellation (or why it failed) with events.order_updated"
        )

    def amend(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}.amend(client_order_id, ...): without blocking, queue an amend request "
            "with the values that are not None (or cancel and replace if the exchange cannot amend); "
            "report the changed order with events.order_updated"
        )

    def balances(self) -> Mapping[str, Decimal]:
        raise NotImplementedError(
            f"{type(self).__name__}.balances(): return the cash per currency as exact Decimals, as last "
            "loaded in connect() and updated from the wallet stream (no I/O here)"
        )

    def positions(self) -> Mapping[InstrumentId, Decimal]:
        raise NotImplementedError(
            f"{type(self).__name__}.positions(): return the signed position per instrument id as exact "
            "Decimals, as last loaded in connect() and updated from the position stream (no I/O here)"
        )
