"""The ledger: exact, balanced after any sequence of fills (property tests)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradehooks._portfolio import Portfolio
from tradehooks.model import Fill, Side

LOT = Decimal("0.001")
TICK = Decimal("0.1")

fills = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=5_000),  # lots
        st.integers(min_value=1, max_value=1_000_000),  # ticks
        st.integers(min_value=0, max_value=100),  # fee in 1e-6 units
    ),
    max_size=60,
)


def make_fill(n, strategy, instrument, side, lots, ticks, fee):
    return Fill(trade_id=f"t{n}", client_order_id=f"o{n}", strategy_id=strategy, instrument_id=instrument,
                side=side, quantity=lots * LOT, price=ticks * TICK, fee=fee * Decimal("0.000001"))


class TestLedger:
    @settings(max_examples=300, deadline=None)
    @given(fills)
    def test_the_ledger_balances_to_the_last_unit_after_any_fills(self, specs):
        """cash + open cost == initial + realised PnL - fees, exactly, whatever the fills."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        for n, spec in enumerate(specs):
            portfolio.apply_fill(make_fill(n, *spec))
            portfolio.check_balanced()

    @settings(max_examples=200, deadline=None)
    @given(fills)
    def test_closing_every_position_at_entry_prices_leaves_initial_cash_minus_fees(self, specs):
        """Round trips at the same prices realise nothing: only fees are lost."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        applied = [make_fill(n, *spec) for n, spec in enumerate(specs)]
        for fill in applied:
            portfolio.apply_fill(fill)
        for n, fill in enumerate(reversed(applied)):
            reverse = Side.SELL if fill.side is Side.BUY else Side.BUY
            portfolio.apply_fill(make_fill(10_000 + n, fill.strategy_id, fill.instrument_id, reverse,
                                           int(fill.quantity / LOT), int(fill.price / TICK), 0))
        assert all(q == 0 for q in portfolio.positions().values())
        assert portfolio.cash == Decimal("1000") - sum((f.fee for f in applied), Decimal(0))
        assert portfolio.realized_pnl == 0

    def test_realised_pnl_of_a_long_round_trip_is_exact(self):
        """Buy 0.3 at 100.1, sell 0.3 at 100.4: +0.09 realised, cash reflects fees."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        portfolio.apply_fill(make_fill(1, "a", "BTCUSDT", Side.BUY, 300, 1001, 5))
        portfolio.apply_fill(make_fill(2, "a", "BTCUSDT", Side.SELL, 300, 1004, 5))
        assert portfolio.realized_pnl == Decimal("0.09")
        assert portfolio.cash == Decimal("1000.09") - Decimal("0.00001")
        assert portfolio.trade_count() == 1

    def test_a_flip_from_long_to_short_realises_the_long_and_opens_the_short(self):
        """Selling 0.5 while long 0.2 closes the long and leaves 0.3 short at the sell price."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        portfolio.apply_fill(make_fill(1, "a", "BTCUSDT", Side.BUY, 200, 1000, 0))
        position = portfolio.apply_fill(make_fill(2, "a", "BTCUSDT", Side.SELL, 500, 1010, 0))
        assert position.quantity == Decimal("-0.3") and position.avg_price == Decimal("101")
        assert position.realized_pnl == Decimal("0.2")

    def test_a_fill_reported_twice_is_applied_once(self):
        """The same trade_id changes nothing the second time."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        fill = make_fill(1, "a", "BTCUSDT", Side.BUY, 1, 1000, 0)
        assert portfolio.apply_fill(fill) is not None
        assert portfolio.apply_fill(fill) is None
        assert portfolio.position("BTCUSDT") == LOT

    def test_strategies_hold_separate_positions_that_sum_to_the_net(self):
        """Strategy a long 0.002 and b short 0.001 net to 0.001."""
        portfolio = Portfolio("USDT", Decimal("1000"))
        portfolio.apply_fill(make_fill(1, "a", "BTCUSDT", Side.BUY, 2, 1000, 0))
        portfolio.apply_fill(make_fill(2, "b", "BTCUSDT", Side.SELL, 1, 1000, 0))
        assert portfolio.position("BTCUSDT", "a") == Decimal("0.002")
        assert portfolio.position("BTCUSDT", "b") == Decimal("-0.001")
        assert portfolio.position("BTCUSDT") == Decimal("0.001")
