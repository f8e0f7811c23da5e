"""The emulator's books of account: instruments, books and accounts, what funds and margin are free,
and the position and wallet views REST and WebSocket show.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._accounts import ZERO, Account, ApiError, Position, display_round
from ._market import Book, Instrument, fmt

__all__ = ["Ledger"]


class Ledger:
    """Instruments, books and accounts, with the balance and margin arithmetic over them."""

    def __init__(self) -> None:
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.books: dict[tuple[str, str], Book] = {}
        self.accounts: dict[str, Account] = {}

    def instrument(self, category: Any, symbol: Any) -> Instrument:
        if category not in ("linear", "spot"):
            raise ApiError(10001, f"params error: category {category!r} is not supported (linear, spot)")
        inst = self.instruments.get((category, symbol)) if isinstance(symbol, str) else None
        if inst is None:
            if category == "spot":
                raise ApiError(170121, f"Invalid symbol {symbol!r}")
            raise ApiError(10001, f"params error: symbol invalid {symbol!r}")
        return inst

    def last_price(self, inst: Instrument) -> Decimal:
        book = self.books[(inst.category, inst.symbol)]
        if book.last_price is not None:
            return book.last_price
        bb, ba = book.best_bid(), book.best_ask()
        if bb is not None and ba is not None:
            return (bb + ba) / 2
        return bb or ba or ZERO

    def _spot_locked(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.live.values():
            if o.category == "spot":
                inst = self.instruments[("spot", o.symbol)]
                if (inst.quote if o.side == "Buy" else inst.base) == coin:
                    total += o.locked
        return total

    def _order_im(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.live.values():
            if o.category == "linear" and o.status != "Untriggered" and not o.reduce_only \
                    and self.instruments[("linear", o.symbol)].quote == coin:
                total += o.leaves * o.price / acct.leverage
        return total

    def _position_im(self, acct: Account, coin: str) -> Decimal:
        return sum((abs(p.size) * p.avg / acct.leverage for p in acct.positions.values()
                    if self.instruments[("linear", p.symbol)].quote == coin), ZERO)

    def _upl(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for p in acct.positions.values():
            inst = self.instruments[("linear", p.symbol)]
            if inst.quote == coin and p.size:
                total += (self.last_price(inst) - p.avg) * p.size
        return total

    def _linear_available(self, acct: Account, coin: str) -> Decimal:
        upl = min(self._upl(acct, coin), ZERO)
        return acct.wallet.get(coin, ZERO) + upl - self._position_im(acct, coin) - self._order_im(acct, coin)

    def position_view(self, acct: Account, inst: Instrument, *, ws: bool = False) -> dict[str, Any]:
        pos = acct.positions.get(inst.symbol) or Position(inst.symbol)
        if ws:
            pos.seq += 1
        mark = self.last_price(inst)
        size = abs(pos.size)
        value = size * pos.avg
        im = value / acct.leverage
        d: dict[str, Any] = {
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": inst.symbol,
            "side": "" if not pos.size else ("Buy" if pos.size > 0 else "Sell"),
            "size": inst.fmt_qty(size),
            "avgPrice": fmt(display_round(pos.avg)),
            "positionValue": fmt(value),
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": fmt(acct.leverage),
            "breakEvenPrice": fmt(display_round(pos.avg)),
            "markPrice": inst.fmt_price(mark),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": fmt(im),
            "positionIMByMp": fmt(size * mark / acct.leverage),
            "positionMM": fmt(value * Decimal("0.005")),
            "positionMMByMp": fmt(size * mark * Decimal("0.005")),
            "positionBalance": fmt(im),
            "takeProfit": "",
            "stopLoss": "",
            "trailingStop": "0",
            "sessionAvgPrice": "",
            "unrealisedPnl": fmt((mark - pos.avg) * pos.size if pos.size else ZERO),
            "curRealisedPnl": fmt(pos.cur_realised),
            "cumRealisedPnl": fmt(pos.cum_realised),
            "adlRankIndicator": 2 if pos.size else 0,
            "createdTime": str(pos.created),
            "updatedTime": str(pos.updated),
            "openTime": 0,
            "seq": pos.seq,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "tradeMode": 0,
        }
        if ws:
            d["entryPrice"] = d.pop("avgPrice")
            d["category"] = "linear"
        return d

    def wallet_view(self, acct: Account, coins: set[str] | None) -> dict[str, Any]:
        rows = []
        tot_equity = tot_wallet = tot_upl = tot_im = tot_mm = tot_order_im = ZERO
        for coin in sorted(acct.wallet):
            bal = acct.wallet[coin]
            upl = self._upl(acct, coin)
            locked = self._spot_locked(acct, coin)
            pos_im = self._position_im(acct, coin)
            order_im = self._order_im(acct, coin)
            if coins is None and not bal and not upl:
                continue
            if coins is not None and coin not in coins:
                continue
            equity = bal + upl
            usd = self._usd(coin)
            tot_equity += equity * usd
            tot_wallet += bal * usd
            tot_upl += upl * usd
            tot_im += (pos_im + order_im) * usd
            tot_mm += pos_im * usd / 2
            tot_order_im += order_im * usd
            rows.append({
                "coin": coin,
                "equity": fmt(equity),
                "usdValue": fmt(equity * usd),
                "walletBalance": fmt(bal),
                "locked": fmt(locked),
                "spotHedgingQty": "0",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": fmt(order_im),
                "totalPositionIM": fmt(pos_im),
                "totalPositionMM": fmt(pos_im / 2),
                "unrealisedPnl": fmt(upl),
                "cumRealisedPnl": fmt(acct.cum_realised.get(coin, ZERO)),
                "bonus": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
                "spotBorrow": "0",
                "free": "",
                "availableToWithdraw": "",
                "availableToBorrow": "",
            })
        margin = tot_wallet + tot_upl
        return {
            "accountType": "UNIFIED",
            "accountIMRate": fmt(display_round(tot_im / margin, 4)) if margin > 0 else "0",
            "accountIMRateByMp": fmt(display_round(tot_im / margin, 4)) if margin > 0 else "0",
            "accountMMRate": fmt(display_round(tot_mm / margin, 4)) if margin > 0 else "0",
            "accountMMRateByMp": fmt(display_round(tot_mm / margin, 4)) if margin > 0 else "0",
            "totalEquity": fmt(tot_equity),
            "totalWalletBalance": fmt(tot_wallet),
            "totalMarginBalance": fmt(margin),
            "totalAvailableBalance": fmt(margin - tot_im),
            "totalPerpUPL": fmt(tot_upl),
            "totalInitialMargin": fmt(tot_im),
            "totalInitialMarginByMp": fmt(tot_im),
            "totalMaintenanceMargin": fmt(tot_mm),
            "totalMaintenanceMarginByMp": fmt(tot_mm),
            "accountLTV": "0",
            "coin": rows,
        }

    def _usd(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC", "USD"):
            return Decimal(1)
        for cat in ("spot", "linear"):
            inst = self.instruments.get((cat, f"{coin}USDT"))
            if inst is not None:
                return self.last_price(inst)
        return ZERO
