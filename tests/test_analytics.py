"""Analytics: trades built from fills, their statistics and the equity metrics, checked against numbers
worked out by hand on small fixtures."""

from __future__ import annotations

import json
import math
from array import array
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradehooks import BacktestResult, Metrics
from tradehooks._portfolio import Portfolio
from tradehooks._results import compute_metrics
from tradehooks.analytics import (
    TRADE_CSV_COLUMNS,
    Trade,
    build_trades,
    infer_timeframe,
    trade_stats,
    write_trades_csv,
)
from tradehooks.model import Fill, Side, parse_ts

D = Decimal
DAY = 86_400 * 1_000_000_000
T0 = parse_ts("2024-01-01T00:00:00Z")


def day(n: float) -> int:
    return T0 + int(n * DAY)


def fill(n: int, day_: int, strategy: str, instrument: str, side: Side, quantity: str, price: str, fee: str,
         trade_id: str | None = None) -> Fill:
    return Fill(trade_id=trade_id or f"t{n}", client_order_id=f"o{n}", strategy_id=strategy, instrument_id=instrument,
                side=side, quantity=D(quantity), price=D(price), fee=D(fee), ts=day(day_))


BUY, SELL = Side.BUY, Side.SELL

# Two strategies, two instruments. By hand:
#   A  s1 BTC long : buy 2 @ 100 (fee 1), buy 1 @ 106 (0.5), sell 3 @ 110 (1.5)   day 1 -> 4
#      entry 306 / 3 = 102, gross 2*10 + 1*4 = 24, fees 3, net 21
#   B  s1 BTC short: sell 1 @ 108 (0.5); closed by 1 of the flipping buy 3 @ 112 (fee 1.5 -> 0.5)
#      day 5 -> 7, gross -4, fees 1, net -5
#   C  s1 BTC long : the other 2 of that buy (fee 1.0), sell 2 @ 109 (1)            day 7 -> 9
#      gross -6, fees 2, net -8
#   D  s2 ETH short: sell 10 @ 20 (0.2), buy 10 @ 18 (0.2)                          day 3 -> 6
#      gross 20, fees 0.4, net 19.6
#   E  s2 ETH long : buy 5 @ 19 (0.1), still open                                   day 8 ->
FILLS = (
    fill(1, 1, "s1", "BTC", BUY, "2", "100", "1"),
    fill(2, 2, "s1", "BTC", BUY, "1", "106", "0.5"),
    fill(7, 3, "s2", "ETH", SELL, "10", "20", "0.2"),
    fill(3, 4, "s1", "BTC", SELL, "3", "110", "1.5"),
    fill(3, 4, "s1", "BTC", SELL, "3", "110", "1.5"),  # reported twice: applied once
    fill(4, 5, "s1", "BTC", SELL, "1", "108", "0.5"),
    fill(8, 6, "s2", "ETH", BUY, "10", "18", "0.2"),
    fill(5, 7, "s1", "BTC", BUY, "3", "112", "1.5"),
    fill(9, 8, "s2", "ETH", BUY, "5", "19", "0.1"),
    fill(6, 9, "s1", "BTC", SELL, "2", "109", "1"),
)


class TestBuildTrades:
    def test_round_trips_are_built_per_strategy_and_instrument_in_the_order_they_opened(self):
        trades = build_trades(FILLS, timeframe=DAY)
        assert [(t.strategy_id, t.instrument_id, t.side) for t in trades] == [
            ("s1", "BTC", "long"), ("s2", "ETH", "short"), ("s1", "BTC", "short"), ("s1", "BTC", "long"),
        ]

    def test_a_scaled_in_long_has_average_prices_fifo_pnl_fees_return_and_bars_held(self):
        a = build_trades(FILLS, timeframe=DAY)[0]
        assert a == Trade(
            strategy_id="s1", instrument_id="BTC", side="long", quantity=D(3), open_quantity=D(0),
            entry_ts=day(1), exit_ts=day(4), entry_price=D(102), exit_price=D(110), gross_pnl=D(24),
            fees=D(3), net_pnl=D(21), net_return=21 / 306, bars_held=3, fills=3,
        )

    def test_a_flip_closes_one_trade_and_opens_the_next_splitting_quantity_and_fee(self):
        _, _, b, c = build_trades(FILLS, timeframe=DAY)
        assert (b.side, b.quantity, b.exit_ts, b.exit_price, b.gross_pnl, b.fees, b.net_pnl) == (
            "short", D(1), day(7), D(112), D(-4), D("1.0"), D("-5.0"))
        assert b.net_return == pytest.approx(-5 / 108)
        assert (c.side, c.quantity, c.entry_ts, c.entry_price, c.gross_pnl, c.fees, c.net_pnl, c.bars_held) == (
            "long", D(2), day(7), D(112), D(-6), D("2.0"), D("-8.0"), 2)

    def test_a_short_profits_when_the_price_falls(self):
        d = build_trades(FILLS, timeframe=DAY)[1]
        assert (d.gross_pnl, d.fees, d.net_pnl, d.bars_held) == (D(20), D("0.4"), D("19.6"), 3)
        assert d.net_return == pytest.approx(19.6 / 200)

    def test_the_open_trade_is_returned_only_on_request(self):
        trades = build_trades(FILLS, timeframe=DAY, include_open=True)
        e = trades[-1]
        assert len(trades) == 5 and e.is_open
        assert (e.side, e.quantity, e.open_quantity, e.exit_ts, e.exit_price, e.gross_pnl, e.fees, e.bars_held) == (
            "long", D(5), D(5), None, None, D(0), D("0.1"), None)

    def test_without_a_timeframe_bars_held_is_unknown(self):
        assert {t.bars_held for t in build_trades(FILLS)} == {None}

    def test_no_fills_make_no_trades(self):
        assert build_trades([]) == ()

    def test_a_partial_exit_realises_the_oldest_lot_first(self):
        fills = [fill(1, 0, "s", "X", BUY, "1", "10", "0"), fill(2, 1, "s", "X", BUY, "1", "20", "0"),
                 fill(3, 2, "s", "X", SELL, "1", "30", "0")]
        (trade,) = build_trades(fills, include_open=True)
        assert (trade.gross_pnl, trade.open_quantity, trade.exit_price) == (D(20), D(1), D(30))  # 30 - 10

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["s1", "s2"]), st.sampled_from(["X", "Y"]), st.sampled_from([BUY, SELL]),
                              st.integers(1, 50), st.integers(1, 500), st.integers(0, 30)), max_size=40))
    def test_trades_add_up_to_the_ledger_exactly(self, rows):
        """Gross PnL, fees and closed round trips of the trades equal the portfolio's, to the last unit."""
        fills = [fill(n, n, s, i, side, str(D(q) / 10), str(D(p) / 10), str(D(f) / 100))
                 for n, (s, i, side, q, p, f) in enumerate(rows)]
        portfolio = Portfolio("USD", D(1000))
        for f in fills:
            portfolio.apply_fill(f)
        trades = build_trades(fills, include_open=True)
        assert sum((t.gross_pnl for t in trades), D(0)) == portfolio.realized_pnl
        assert sum((t.fees for t in trades), D(0)) == portfolio.fees
        assert sum(not t.is_open for t in trades) == portfolio.trade_count()
        for t in trades:
            assert t.net_pnl == t.gross_pnl - t.fees
            if not t.is_open:  # average prices are rounded to 28 digits; the PnL is exact
                sign = 1 if t.side == "long" else -1
                by_average = sign * (t.exit_price - t.entry_price) * t.quantity  # type: ignore[operator]
                assert abs(t.gross_pnl - by_average) < D("1e-20")


class TestTradeStats:
    def stats(self):
        trades = build_trades(FILLS, timeframe=DAY, include_open=True)
        return trade_stats(trades, traded_notional=D(1773), initial_equity=D(1000), start=day(0), end=day(10))

    def test_win_rate_profit_factor_and_expectancy(self):
        s = self.stats()
        assert (s.trades, s.wins, s.losses, s.win_rate) == (4, 2, 2, 0.5)
        assert (s.total_won, s.total_lost) == (D("40.6"), D("13.0"))  # 21 + 19.6 ; 5 + 8
        assert s.profit_factor == pytest.approx(40.6 / 13)
        assert s.expectancy == D("6.9")  # (21 - 5 - 8 + 19.6) / 4
        assert (s.avg_win, s.avg_loss) == (D("20.3"), D("-6.5"))

    def test_pnl_and_fees_cover_closed_trades(self):
        s = self.stats()
        assert (s.gross_pnl, s.fees, s.net_pnl) == (D(34), D("6.4"), D("27.6"))  # E's fee 0.1 is not in

    def test_bars_held_exposure_and_turnover(self):
        s = self.stats()
        assert s.avg_bars_held == 2.5  # (3 + 2 + 2 + 3) / 4
        assert s.exposure == pytest.approx(0.9)  # held from day 1 to day 10 of [0, 10]
        assert s.turnover == pytest.approx(1.773)
        assert s.avg_return == pytest.approx((21 / 306 - 5 / 108 - 8 / 224 + 19.6 / 200) / 4)

    def test_no_trades_give_zeros(self):
        s = trade_stats([], start=0, end=10)
        assert (s.trades, s.win_rate, s.profit_factor, s.expectancy, s.avg_win, s.avg_loss, s.exposure) == (
            0, 0.0, 0.0, D(0), D(0), D(0), 0.0)

    def test_only_winners_make_an_infinite_profit_factor_written_as_null(self):
        trades = build_trades([fill(1, 0, "s", "X", BUY, "1", "10", "0"), fill(2, 1, "s", "X", SELL, "1", "11", "0")])
        s = trade_stats(trades)
        assert s.profit_factor == math.inf and s.as_dict()["profit_factor"] is None
        json.dumps(s.as_dict(), allow_nan=False)


# Equity after each of five daily bars, from 100: returns +10%, -10%, 0, +10%, +10%.
EQUITY = [110.0, 99.0, 99.0, 108.9, 119.79]


def metrics(equity=EQUITY, initial="100", final="119.79", **kwargs) -> Metrics:
    return compute_metrics(equity=equity, timeframe=DAY, initial_equity=D(initial), final_equity=D(final),
                           trades=0, fills=0, fees=D(0), bars=len(equity), **kwargs)


class TestEquityMetrics:
    def test_sharpe_sortino_and_volatility_by_hand(self):
        # mean 0.04; squared deviations .0036 .0196 .0016 .0036 .0036 -> sample variance 0.032 / 4 = 0.008
        # downside deviation sqrt(0.1**2 / 5) = sqrt(0.002); 365 periods a year
        m = metrics()
        assert m.volatility == pytest.approx(math.sqrt(0.008 * 365))
        assert m.sharpe == pytest.approx(0.04 / math.sqrt(0.008) * math.sqrt(365))  # sqrt(73)
        assert m.sortino == pytest.approx(0.04 / math.sqrt(0.002) * math.sqrt(365))  # 2 sqrt(73)

    def test_drawdown_its_duration_and_calmar(self):
        m = metrics()
        assert m.max_drawdown == pytest.approx(0.1)  # 110 -> 99
        assert m.max_drawdown_duration == 4 * DAY  # from the peak (bar 1) to the recovery (bar 5)
        assert m.total_return == pytest.approx(0.1979)
        assert m.annualized_return == pytest.approx(1.1979 ** (365 / 5) - 1)
        assert m.calmar == pytest.approx(m.annualized_return / 0.1)

    def test_timestamps_measure_durations_across_gaps(self):
        ts = [day(1), day(2), day(3), day(4), day(6)]  # one day missing before the last bar
        m = metrics(equity_ts=ts)
        assert m.max_drawdown_duration == 5 * DAY
        assert m.annualized_return == pytest.approx(1.1979 ** (365 / 6) - 1)

    def test_a_drawdown_not_recovered_lasts_until_the_end(self):
        m = metrics(equity=[100.0, 120.0, 90.0, 100.0], final="100")
        assert m.max_drawdown == pytest.approx(0.25)
        assert m.max_drawdown_duration == 2 * DAY

    def test_a_flat_curve_has_zero_volatility_and_zero_ratios(self):
        m = metrics(equity=[100.0] * 4, final="100")
        assert (m.volatility, m.sharpe, m.sortino, m.calmar, m.max_drawdown, m.max_drawdown_duration) == (
            0.0, 0.0, 0.0, 0.0, 0.0, 0)
        assert m.annualized_return == 0.0

    def test_a_blown_account_has_an_annualised_return_of_minus_one(self):
        m = metrics(equity=[50.0, -10.0, -20.0], final="-20")
        assert m.annualized_return == -1.0 and m.max_drawdown == pytest.approx(1.4)
        assert math.isfinite(m.sharpe) and math.isfinite(m.sortino)  # returns after the blow-up are ignored

    def test_no_bars_give_zeros(self):
        m = metrics(equity=[], final="100")
        assert (m.annualized_return, m.volatility, m.sharpe, m.max_drawdown_duration) == (0.0, 0.0, 0.0, 0)

    def test_the_old_keyword_arguments_still_work_and_as_dict_is_json(self):
        json.dumps(metrics().as_dict(), allow_nan=False)
        m = Metrics(initial_equity=D(1), final_equity=D(1), total_return=0.0, max_drawdown=0.0, sharpe=0.0,
                    trades=0, fills=0, fees=D(0), bars=0)
        assert m.sortino == 0.0


def result(fills=FILLS, equity=EQUITY, timeframe=None) -> BacktestResult:
    ts = array("q", [day(i + 1) for i in range(len(equity))])
    return BacktestResult(
        engine_id="fixture", metrics=metrics(equity=equity), fills=tuple(fills), orders=(), positions={},
        balances={}, equity_ts=ts, equity=array("d", equity), timeframe=timeframe,
    )


class TestAnalyze:
    def test_the_timeframe_is_inferred_from_the_equity_curve(self):
        assert infer_timeframe([day(1), day(2), day(4)]) == DAY
        assert infer_timeframe([day(1)]) is None
        assert result().analytics.timeframe == DAY

    def test_breakdowns_per_instrument_and_per_strategy(self):
        a = result(equity=[100.0] * 10).analytics
        assert list(a.by_instrument) == ["BTC", "ETH"] and list(a.by_strategy) == ["s1", "s2"]
        btc = a.by_instrument["BTC"]
        assert (btc.trades, btc.wins, btc.net_pnl, btc.traded_notional) == (3, 1, D(8), D(1298))
        assert btc.exposure == pytest.approx(0.7)  # days 1-4, 5-7, 7-9 of [0, 10]
        eth = a.by_strategy["s2"]
        assert (eth.trades, eth.net_pnl, eth.traded_notional) == (1, D("19.6"), D(475))
        assert eth.exposure == pytest.approx(0.5)  # days 3-6 and 8-10

    def test_totals_trades_and_open_trades(self):
        a = result(equity=[100.0] * 10).analytics
        assert len(a.trades) == 4 and len(a.open_trades) == 1
        assert (a.stats.traded_notional, a.stats.exposure) == (D(1773), pytest.approx(0.9))
        assert (a.start_ts, a.end_ts) == (day(0), day(10))

    def test_as_dict_is_flat_json_with_the_breakdowns(self):
        flat = result().analytics.as_dict()
        for key in ("total_return", "annualized_return", "sortino", "calmar", "max_drawdown_duration", "win_rate",
                    "profit_factor", "expectancy", "avg_win", "avg_loss", "exposure", "turnover"):
            assert key in flat
        assert flat["expectancy"] == "6.90000000" and flat["by_strategy"]["s2"]["trades"] == 1
        json.dumps(flat, allow_nan=False)

    def test_an_empty_result_has_empty_analytics(self):
        a = result(fills=(), equity=[]).analytics
        assert (a.trades, a.by_instrument, a.stats.trades, a.start_ts) == ((), {}, 0, None)


class TestTradesCsv:
    def test_one_row_per_trade_with_exact_decimals_and_iso_times(self, tmp_path):
        path = tmp_path / "trades.csv"
        rows = write_trades_csv(build_trades(FILLS, timeframe=DAY, include_open=True), path)
        lines = path.read_text().splitlines()
        assert rows == 5 and lines[0] == ",".join(TRADE_CSV_COLUMNS)
        assert lines[1].startswith("s1,BTC,long,closed,3,0,2024-01-02T00:00:00Z,2024-01-05T00:00:00Z,102,110,24,3.0,21.0,")
        assert lines[5].startswith("s2,ETH,long,open,5,5,2024-01-09T00:00:00Z,,19,,0,0.1,-0.1,")
