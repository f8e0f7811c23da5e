"""The ``bybit`` data source: Bybit candles as tradehooks bars."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from tradehooks.contracts import ComponentContext
from tradehooks.model import Bar, InstrumentId

from ._http import HttpClient
from ._ws import WebSocketClient
from .config import BybitDataConfig
from .constants import REST_URL, REST_URL_TESTNET, WS_PUBLIC_URL, WS_PUBLIC_URL_TESTNET

__all__ = ["BybitDataSource"]


class BybitDataSource:
    """Closed candles of the preset's instruments from Bybit's public streams.

    ======================================  =========  ================================================
    Method                                  Required?  What it must do
    ======================================  =========  ================================================
    ``name`` (class attribute)              yes        the name a preset's ``[data] source`` uses
    ``Params`` (class)                      no         the frozen config class ``[data.params]`` is
                                                       validated into (``config.py``)
    ``__init__(params, ctx)``               yes        keep them; build clients; no I/O (``tradehooks
                                                       validate`` builds the source without running it)
    ``stream()``                            yes        async generator: yield every **closed** bar of
                                                       every instrument in ``ctx.instruments``, in
                                                       non-decreasing ``ts`` order, until cancelled
    ``history(instrument_id, end, count)``  yes        up to ``count`` closed bars ending at or before
                                                       ``end`` (ns), oldest first, for warm-up; an
                                                       empty sequence if the exchange has none
    ``validated`` (class attribute)         no         ``True`` only if bars can never be malformed
                                                       (the engine then skips its checks); leave unset
    ======================================  =========  ================================================

    A bar's ``ts`` is its **open** time in integer nanoseconds (UTC), prices and volume are floats;
    the bar length is ``ctx.timeframe`` (``constants.TIMEFRAMES`` maps it to the exchange's interval).
    """

    name: ClassVar[str] = "bybit"
    Params: ClassVar[type] = BybitDataConfig

    def __init__(self, params: BybitDataConfig, ctx: ComponentContext) -> None:
        self._params = params
        self._ctx = ctx
        self._http = HttpClient(base_url=REST_URL_TESTNET if params.testnet else REST_URL, timeout=params.timeout)
        self._ws = WebSocketClient(url=WS_PUBLIC_URL_TESTNET if params.testnet else WS_PUBLIC_URL)

    async def stream(self) -> AsyncIterator[Sequence[Bar]]:
        raise NotImplementedError(
            f"{type(self).__name__}.stream(): connect the public WebSocket (_ws.py), subscribe to the "
            "candle channel of every instrument in ctx.instruments at the interval "
            "constants.TIMEFRAMES[ctx.timeframe], and yield each candle once it is closed, as a "
            "tradehooks.model.Bar (parse it in _schemas.py), in time order; run until cancelled and "
            "reconnect (re-subscribing) when the connection drops"
        )
        yield []  # unreachable: makes this method an async generator, as the contract wants

    async def history(self, instrument_id: InstrumentId, end: int, count: int) -> Sequence[Bar]:
        raise NotImplementedError(
            f"{type(self).__name__}.history(): request up to `count` closed candles of `instrument_id` "
            "ending at or before `end` (ns) from the REST candle endpoint (_http.py), paging by "
            "params.history_limit, and return them as Bars, oldest first"
        )
