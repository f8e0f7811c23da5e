"""Market side of the emulator: instruments, the order book it matches against, kline history.

Everything here is plain data with no I/O; the server owns one instance of each and mutates it on its
event loop only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

__all__ = [
    "INTERVALS",
    "Book",
    "Instrument",
    "KlineStore",
    "dec",
    "fmt",
    "interval_ms",
    "normalise_bar",
]

# Kline intervals Bybit V5 knows, with their length in ms (months counted as 30 days: the emulator
# never aligns bars to calendar months, it serves what it was given).
INTERVALS: dict[str, int] = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
    "W": 604_800_000,
    "M": 2_592_000_000,
}


def interval_ms(interval: str) -> int:
    """The length of a Bybit kline interval in ms; ``ValueError`` names an unknown one."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(f"unknown Bybit kline interval {interval!r}; known: {', '.join(INTERVALS)}") from None


def dec(value: Any) -> Decimal:
    """An exact decimal from a string, int, float (through its shortest repr) or Decimal."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def fmt(value: Decimal, step: Decimal | None = None) -> str:
    """A plain decimal string as Bybit writes numbers: never an exponent; with ``step`` as many
    decimals as the step has, else trailing zeros trimmed."""
    if step is not None:
        exp = step.as_tuple().exponent
        places = -exp if isinstance(exp, int) and exp < 0 else 0
        return f"{value:.{places}f}"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(slots=True)
class Instrument:
    """One tradable symbol of one category, with the filters orders are checked against.

    For spot, ``qty_step`` plays the part of ``basePrecision`` and ``min_notional`` of ``minOrderAmt``.
    """

    category: str
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_mkt_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    level_qty: Decimal  # size of a generated book level (times a small factor per price)
    quote_precision: Decimal = Decimal("0.00000001")
    symbol_id: int = 0
    launch_ms: int = 1_584_230_400_000

    def price_ok(self, price: Decimal) -> bool:
        return price % self.tick_size == 0

    def qty_ok(self, qty: Decimal) -> bool:
        return qty % self.qty_step == 0

    def fmt_price(self, price: Decimal) -> str:
        return fmt(price, self.tick_size)

    def fmt_qty(self, qty: Decimal) -> str:
        return fmt(qty, self.qty_step)

    def info(self) -> dict[str, Any]:
        """The item of ``/v5/market/instruments-info`` for this instrument."""
        if self.category == "spot":
            return {
                "symbol": self.symbol,
                "symbolId": self.symbol_id,
                "baseCoin": self.base,
                "quoteCoin": self.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": fmt(self.qty_step),
                    "quotePrecision": fmt(self.quote_precision),
                    "minOrderQty": fmt(self.min_qty),
                    "maxOrderQty": fmt(self.max_qty),
                    "minOrderAmt": fmt(self.min_notional),
                    "maxOrderAmt": "8000000",
                    "maxLimitOrderQty": fmt(self.max_qty),
                    "maxMarketOrderQty": fmt(self.max_mkt_qty),
                    "postOnlyMaxLimitOrderSize": fmt(self.max_qty),
                },
                "priceFilter": {"tickSize": str(self.tick_size)},
                "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
                "symbolType": "",
            }
        tick_exp = self.tick_size.as_tuple().exponent
        return {
            "symbol": self.symbol,
            "symbolId": self.symbol_id,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "launchTime": str(self.launch_ms),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(-tick_exp if isinstance(tick_exp, int) and tick_exp < 0 else 0),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": self.fmt_price(self.min_price),
                "maxPrice": self.fmt_price(self.max_price),
                "tickSize": str(self.tick_size),
            },
            "lotSizeFilter": {
                "maxOrderQty": self.fmt_qty(self.max_qty),
                "minOrderQty": self.fmt_qty(self.min_qty),
                "qtyStep": self.fmt_qty(self.qty_step),
                "postOnlyMaxOrderQty": self.fmt_qty(self.max_qty),
                "maxMktOrderQty": self.fmt_qty(self.max_mkt_qty),
                "minNotionalValue": fmt(self.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": self.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "symbolType": "",
        }


Level = tuple[Decimal, Decimal]


@dataclass(slots=True)
class Book:
    """The emulator's L2 book of one instrument: price -> size per side, and the update id ``u``.

    ``bids`` and ``asks`` are ``SortedDict``s keyed by price; best bid is the last bid key, best ask the
    first ask key. Every change made through :meth:`replace` or :meth:`take` bumps ``u`` by one.
    """

    instrument: Instrument
    bids: SortedDict = field(default_factory=SortedDict)
    asks: SortedDict = field(default_factory=SortedDict)
    u: int = 0
    seq: int = 0
    last_price: Decimal | None = None

    def best_bid(self) -> Decimal | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> Decimal | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def levels(self, side: str, depth: int | None = None) -> list[Level]:
        """Best-first levels of ``side`` (``"b"`` or ``"a"``), at most ``depth`` of them."""
        book = self.bids if side == "b" else self.asks
        n = len(book) if depth is None else min(depth, len(book))
        if side == "b":
            return [book.peekitem(-1 - i) for i in range(n)]
        return [book.peekitem(i) for i in range(n)]

    def view(self, depth: int | None = None) -> dict[str, Any]:
        """The public form: ``{"b": [[price, size], ...], "a": [...], "u": int}``, strings best first."""
        inst = self.instrument
        return {
            "b": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in self.levels("b", depth)],
            "a": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in self.levels("a", depth)],
            "u": self.u,
        }

    def replace(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Make the book exactly ``bids`` and ``asks`` (one update)."""
        self.bids = SortedDict({p: q for p, q in bids if q > 0})
        self.asks = SortedDict({p: q for p, q in asks if q > 0})
        self._bump()

    def generate(self, price: Decimal, levels: int, spread_ticks: int = 1) -> None:
        """Re-centre the book on ``price``: ``levels`` levels each side one tick apart, best bid at
        ``price`` rounded down to the tick, best ask ``spread_ticks`` ticks above. Sizes depend only on
        the price of the level, so a small move changes only the levels at the edges."""
        inst = self.instrument
        tick = inst.tick_size
        best_bid = (price / tick).to_integral_value(ROUND_FLOOR) * tick
        best_ask = best_bid + tick * max(spread_ticks, 1)
        bids = [(best_bid - i * tick, self._size_at(best_bid - i * tick)) for i in range(levels)]
        asks = [(best_ask + i * tick, self._size_at(best_ask + i * tick)) for i in range(levels)]
        self.replace([(p, q) for p, q in bids if p > 0], asks)
        self.last_price = price

    def _size_at(self, price: Decimal) -> Decimal:
        n = int((price / self.instrument.tick_size).to_integral_value(ROUND_DOWN))
        return self.instrument.level_qty * (1 + n % 4)

    def take(self, side: str, qty: Decimal | None, limit: Decimal | None,
             quote_amount: Decimal | None = None) -> list[Level]:
        """Consume liquidity as a taker: a ``"Buy"`` walks the asks up to ``limit`` (None: no bound),
        a ``"Sell"`` the bids down to it. Stops after ``qty`` base (or ``quote_amount`` quote, for a
        spot market buy in quote units). Returns the fills (price, qty); removes what it took (one
        update, if anything was taken)."""
        book = self.asks if side == "Buy" else self.bids
        fills: list[Level] = []
        step = self.instrument.qty_step
        while book and (qty is None or qty > 0) and (quote_amount is None or quote_amount > 0):
            price, size = book.peekitem(0) if side == "Buy" else book.peekitem(-1)
            if limit is not None and ((side == "Buy" and price > limit) or (side == "Sell" and price < limit)):
                break
            if quote_amount is not None:
                n = (quote_amount / price / step).to_integral_value(ROUND_DOWN) * step
                got = min(size, n)
                if got <= 0:
                    break
                quote_amount -= got * price
            else:
                assert qty is not None
                got = min(size, qty)
                qty -= got
            fills.append((price, got))
            if got == size:
                del book[price]
            else:
                book[price] = size - got
        if fills:
            self._bump()
        return fills

    def available(self, side: str, limit: Decimal | None) -> Decimal:
        """The base quantity a taker on ``side`` could take at prices within ``limit``."""
        book = self.asks if side == "Buy" else self.bids
        items: Iterator[tuple[Decimal, Decimal]] = iter(book.items()) if side == "Buy" else reversed(book.items())
        total = Decimal(0)
        for price, size in items:
            if limit is not None and ((side == "Buy" and price > limit) or (side == "Sell" and price < limit)):
                break
            total += size
        return total

    def _bump(self) -> None:
        self.u += 1
        self.seq += 1


def normalise_bar(bar: Any) -> tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]:
    """``(start_ms, open, high, low, close, volume[, turnover])`` or a ``tradehooks.model.Bar`` (ns
    timestamps) as exact decimals; turnover defaults to volume times close."""
    if hasattr(bar, "instrument_id") and hasattr(bar, "ts"):
        start = int(bar.ts) // 1_000_000
        o, h, lo, c, v = (dec(x) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume))
        return start, o, h, lo, c, v, v * c
    items = list(bar)
    if len(items) not in (6, 7):
        raise ValueError(f"a bar is (start_ms, open, high, low, close, volume[, turnover]); got {bar!r}")
    start = int(items[0])
    o, h, lo, c, v = (dec(x) for x in items[1:6])
    turnover = dec(items[6]) if len(items) == 7 else v * c
    if not (lo <= min(o, c) and max(o, c) <= h):
        raise ValueError(f"bar at {start}: open/close outside [low, high]: {bar!r}")
    return start, o, h, lo, c, v, turnover


class KlineStore:
    """Kline history per (category, symbol, interval): start_ms -> the 7-tuple of decimals."""

    def __init__(self) -> None:
        self._bars: dict[tuple[str, str, str], SortedDict] = {}

    def add(self, category: str, symbol: str, interval: str,
            bar: tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]) -> None:
        self._bars.setdefault((category, symbol, interval), SortedDict())[bar[0]] = bar

    def query(self, category: str, symbol: str, interval: str, start: int | None, end: int | None,
              limit: int) -> list[list[str]]:
        """The newest ``limit`` bars with ``start <= startTime <= end``, newest first, as Bybit's arrays
        of 7 strings."""
        bars: SortedDict | None = self._bars.get((category, symbol, interval))
        if not bars:
            return []
        keys = list(bars.irange(minimum=start, maximum=end))
        out = []
        for k in reversed(keys[-limit:]):
            t, o, h, lo, c, v, turnover = bars[k]
            out.append([str(t), fmt(o), fmt(h), fmt(lo), fmt(c), fmt(v), fmt(turnover)])
        return out

    def known(self, category: str, symbol: str) -> bool:
        return any(k[0] == category and k[1] == symbol for k in self._bars)


def instrument_defaults() -> list[Instrument]:
    """The instruments every emulator starts with: BTCUSDT and ETHUSDT, linear and spot."""
    D = Decimal
    return [
        Instrument("linear", "BTCUSDT", "BTC", "USDT", D("0.10"), D("0.001"), D("0.001"), D("1190"), D("5"),
                   D("119"), D("0.10"), D("1999999.80"), D("0.5"), symbol_id=1),
        Instrument("linear", "ETHUSDT", "ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("7240"), D("5"),
                   D("724"), D("0.01"), D("199999.98"), D("5"), symbol_id=2),
        Instrument("spot", "BTCUSDT", "BTC", "USDT", D("0.01"), D("0.000001"), D("0.000048"), D("71.73956243"),
                   D("5"), D("4.5"), D("0.01"), D("1999999.99"), D("0.5"), symbol_id=1),
        Instrument("spot", "ETHUSDT", "ETH", "USDT", D("0.01"), D("0.00001"), D("0.00062"), D("1229.2336343"),
                   D("5"), D("100"), D("0.01"), D("199999.99"), D("5"), symbol_id=2),
    ]


def default_prices() -> Mapping[str, Decimal]:
    return {"BTCUSDT": Decimal(30000), "ETHUSDT": Decimal(2000)}
