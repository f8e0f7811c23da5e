"""The built-in sizers: signed target quantities, rounded towards zero to the lot, refused (and logged
once) under the instrument's minimums."""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.indicators import AverageTrueRange
from tradehooks.builtins.sizers import (
    FixedSizer,
    KellyCappedSizer,
    PercentEquitySizer,
    RiskPerTradeSizer,
    VolatilityTargetSizer,
    register_sizers,
)
from tradehooks.contracts import ComponentContext, Sizer
from tradehooks.exceptions import FieldError
from tradehooks.model import Bar, Instrument, parse_timeframe

D = Decimal
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
COARSE = Instrument(id="ETHUSDT", base="ETH", quote="USDT", tick_size="0.01", lot_size="0.01")


def fixed(quantity: str) -> FixedSizer:
    return FixedSizer(FixedSizer.Params(quantity=D(quantity)), None)


def percent(fraction: str = "1") -> PercentEquitySizer:
    return PercentEquitySizer(PercentEquitySizer.Params(fraction=D(fraction)), None)


class _Clock:
    def now(self) -> int:
        return 0


def make_ctx(timeframe: str = "1d", *instruments: Instrument) -> ComponentContext:
    return ComponentContext(
        engine_id="t", mode="backtest", clock=_Clock(), log=structlog.get_logger("tradehooks"),
        base_dir=Path("."), instruments={i.id: i for i in instruments}, timeframe=parse_timeframe(timeframe),
        strategy_id="s",
    )


def size_of(sizer: Any, exposure: float = 1.0, *, price: str = "100", equity: str = "10000",
            instrument: Instrument = BTC) -> Decimal:
    quantity: Decimal = sizer.size(exposure, instrument=instrument, price=D(price), equity=D(equity),
                                   position=D(0))
    return quantity


def refusals(logs: Iterable[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "sizer.refused"]


def bar(high: float, low: float, close: float, instrument: str = "BTCUSDT") -> Bar:
    return Bar(instrument, 0, close, high, low, close, 1.0)


def feed(sizer: Any, bars: Iterable[Bar]) -> None:
    for item in bars:
        sizer.on_bar(item)


class TestRegisterSizers:
    def test_registers_every_sizer_under_its_short_name(self) -> None:
        """The hook returns the five sizers, each satisfying the ``Sizer`` contract."""
        classes = register_sizers()
        assert [cls.name for cls in classes] == [  # type: ignore[attr-defined]
            "fixed", "percent_equity", "risk_per_trade", "volatility_target", "kelly_capped"
        ]
        built = [fixed("1"), percent(), RiskPerTradeSizer(), VolatilityTargetSizer(None, make_ctx()),
                 KellyCappedSizer()]
        assert all(isinstance(sizer, Sizer) for sizer in built)

    def test_only_the_sizers_that_need_them_have_the_optional_feeds(self) -> None:
        """``on_bar`` exists on the ATR and volatility sizers, ``on_trade_closed`` on the Kelly sizer."""
        assert [hasattr(cls, "on_bar") for cls in register_sizers()] == [False, False, True, True, False]
        kelly_only = [False, False, False, False, True]
        assert [hasattr(cls, "on_trade_closed") for cls in register_sizers()] == kelly_only

    @pytest.mark.parametrize("cls", [RiskPerTradeSizer, VolatilityTargetSizer, KellyCappedSizer],
                             ids=lambda cls: cls.name)
    def test_the_new_sizers_take_an_empty_params_table(self, cls: type) -> None:
        """Every parameter of the new sizers has a default."""
        factory = Factory("sizer", cls.name, cls, "sizers", None)  # type: ignore[attr-defined]
        assert factory.params({}) == cls.Params()  # type: ignore[attr-defined]


class TestRefusals:
    def test_a_target_under_the_minimum_notional_is_refused_and_logged(self) -> None:
        """0.001 BTC at 5000 is worth 5 < 10: the target is 0 and ``sizer.refused`` says why."""
        small = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001", min_notional="10")
        with capture_logs() as logs:
            assert size_of(fixed("0.001"), price="5000", instrument=small) == 0
        [entry] = refusals(logs)
        assert entry["log_level"] == "warning" and entry["instrument_id"] == "BTCUSDT"
        assert entry["sizer"] == "fixed"
        assert entry["reason"] == "notional 5.000 at 5000 is below the minimum notional 10"

    def test_a_target_at_the_minimum_notional_is_kept(self) -> None:
        """The minimum is inclusive: 0.002 at 5000 is exactly 10."""
        small = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001", min_notional="10")
        with capture_logs() as logs:
            assert size_of(fixed("0.002"), price="5000", instrument=small) == D("0.002")
        assert refusals(logs) == []

    def test_a_target_under_the_minimum_quantity_is_refused(self) -> None:
        """0.005 is a whole number of lots but under ``min_quantity`` 0.01."""
        minimum = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001", min_quantity="0.01")
        with capture_logs() as logs:
            assert size_of(percent(), price="20000", equity="100", instrument=minimum) == 0
        [entry] = refusals(logs)
        assert entry["reason"] == "quantity 0.005 is below the minimum quantity 0.01"

    def test_a_target_under_one_lot_is_refused(self) -> None:
        """A non-zero target that rounds down to nothing says so."""
        with capture_logs() as logs:
            assert size_of(fixed("0.5"), -0.01, instrument=COARSE) == 0
        [entry] = refusals(logs)
        assert entry["reason"] == "target -0.005 is under one lot (0.01)"

    def test_the_reason_is_logged_once_per_instrument_and_reason(self) -> None:
        """Repeating a refusal logs nothing more; another instrument or another reason logs again."""
        rules = {"tick_size": "0.1", "lot_size": "0.001", "min_notional": "10", "min_quantity": "0.003"}
        one, other = Instrument(id="ONE", **rules), Instrument(id="TWO", **rules)
        sizer = percent()
        with capture_logs() as logs:
            for _ in range(3):
                size_of(sizer, equity="4", price="1000", instrument=one)  # 0.004: notional 4 < 10
            size_of(sizer, equity="4", price="1000", instrument=other)
            size_of(sizer, equity="2", price="1000", instrument=one)  # 0.002 < min_quantity
        assert [(e["instrument_id"], e["reason"].split()[0]) for e in refusals(logs)] == [
            ("ONE", "notional"), ("TWO", "notional"), ("ONE", "quantity")
        ]

    def test_a_zero_exposure_is_flat_without_a_log(self) -> None:
        """Exposure 0 is a plain 0 target, not a refusal."""
        small = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001", min_notional="10")
        with capture_logs() as logs:
            assert size_of(percent(), 0.0, instrument=small) == 0
        assert refusals(logs) == []

    def test_the_log_goes_through_the_contexts_logger(self) -> None:
        """A sizer built by the engine logs with the context's bound logger (strategy id and all)."""
        small = Instrument(id="BTCUSDT", tick_size="0.1", lot_size="0.001", min_notional="10")
        ctx = make_ctx("1m")
        ctx = ComponentContext(engine_id="e", mode="backtest", clock=_Clock(), base_dir=Path("."),
                               log=structlog.get_logger("tradehooks").bind(strategy_id="trend"),
                               instruments={}, timeframe=ctx.timeframe)
        sizer = FixedSizer(FixedSizer.Params(quantity=D("0.001")), ctx)
        with capture_logs() as logs:
            size_of(sizer, price="5000", instrument=small)
        assert refusals(logs)[0]["strategy_id"] == "trend"


class TestRiskPerTradeSizer:
    # Flat bars: every true range is 2, so the ATR is 2 once ready.
    FLAT = (bar(101, 99, 100),) * 4

    def sizer(self, **params: Any) -> RiskPerTradeSizer:
        return RiskPerTradeSizer(RiskPerTradeSizer.Params(atr_period=3, **params), make_ctx())

    def test_risks_a_share_of_equity_over_the_stop_distance(self) -> None:
        """ATR 2, stop 2 ATRs = 4 away, 1 % of 10000 at risk: 100 / 4 = 25 units."""
        sizer = self.sizer()
        feed(sizer, self.FLAT)
        assert sizer.atr("BTCUSDT") == 2.0
        assert size_of(sizer) == D(25)
        assert size_of(sizer, -0.5) == D("-12.5")

    def test_follows_the_wilder_atr(self) -> None:
        """A bar with range 5 moves the ATR to (2 * 2 + 5) / 3 = 3: 100 / 6 = 16.666 units."""
        sizer = self.sizer()
        bars = [*self.FLAT, bar(103, 98, 100)]
        feed(sizer, bars)
        reference = AverageTrueRange.batch(AverageTrueRange.Params(period=3), bars)[-1]
        assert sizer.atr("BTCUSDT") == reference == 3.0
        assert size_of(sizer) == D("16.666")

    def test_is_capped_by_a_share_of_equity(self) -> None:
        """With ``max_fraction`` 0.1 the position is at most 1000 USDT: 10 units at 100."""
        sizer = self.sizer(max_fraction="0.1")
        feed(sizer, self.FLAT)
        assert size_of(sizer) == D(10)
        assert size_of(sizer, -1.0) == D(-10)

    def test_refuses_until_the_atr_is_ready_and_says_so_once(self) -> None:
        """Three bars are not enough for ATR(3) (the first has no true range); the fourth is."""
        sizer = self.sizer()
        with capture_logs() as logs:
            feed(sizer, self.FLAT[:3])
            assert size_of(sizer) == 0
            assert size_of(sizer, -1.0) == 0
            feed(sizer, self.FLAT[3:])
            assert size_of(sizer) == D(25)
        [entry] = refusals(logs)
        assert entry["reason"] == "the ATR(3) is not ready: it needs 4 bars of BTCUSDT"

    def test_keeps_one_atr_per_instrument(self) -> None:
        """Bars of another instrument do not move this instrument's ATR."""
        sizer = self.sizer()
        feed(sizer, self.FLAT)
        feed(sizer, [bar(200, 100, 150, "ETHUSDT")] * 4)
        assert sizer.atr("BTCUSDT") == 2.0 and sizer.atr("ETHUSDT") == 100.0

    def test_a_zero_atr_holds_the_cap(self) -> None:
        """Bars with no range at all (ATR 0) would mean an infinite size: the cap holds."""
        sizer = self.sizer(max_fraction="0.5")
        feed(sizer, [bar(100, 100, 100)] * 4)
        assert size_of(sizer) == D(50)

    @pytest.mark.parametrize(("key", "value", "message"), [
        ("risk", "0", "risk must be > 0 and <= 1, got 0"),
        ("risk", "1.5", "risk must be > 0 and <= 1, got 1.5"),
        ("atr_period", 0, "atr_period must be >= 1, got 0"),
        ("atr_multiple", "-1", "atr_multiple must be > 0, got -1"),
        ("max_fraction", "11", "max_fraction must be > 0 and <= 10, got 11"),
    ])
    def test_params_refuse_values_out_of_range(self, key: str, value: Any, message: str) -> None:
        """Each parameter is checked with a ``FieldError`` naming it."""
        with pytest.raises(FieldError, match=message) as caught:
            RiskPerTradeSizer.Params(**{key: value})
        assert caught.value.field == key


class TestVolatilityTargetSizer:
    # 50 bars a year: a return series of +0.1, -0.1 has a sample deviation of sqrt(0.02) per bar,
    # sqrt(0.02 * 50) = 1.0 a year.
    FIFTY_A_YEAR = f"{365 * 86400 // 50}s"
    CLOSES = (100.0, 100.0 * math.exp(0.1), 100.0)

    def sizer(self, timeframe: str | None = None, **params: Any) -> VolatilityTargetSizer:
        return VolatilityTargetSizer(VolatilityTargetSizer.Params(lookback=2, **params),
                                     make_ctx(timeframe or self.FIFTY_A_YEAR))

    def test_holds_target_over_realised_volatility_of_equity(self) -> None:
        """Realised 100 %, target 20 %: 0.2 * 10000 / 300 = 6.666 units."""
        sizer = self.sizer()
        feed(sizer, [bar(c, c, c) for c in self.CLOSES])
        assert sizer.realised_volatility("BTCUSDT") == pytest.approx(1.0, rel=1e-12)
        assert size_of(sizer, price="300") == D("6.666")
        assert size_of(sizer, -1.0, price="300") == D("-6.666")

    def test_annualises_with_the_presets_timeframe(self) -> None:
        """Daily bars: sqrt(0.02 * 365) = 2.7019 a year, so 0.2 / 2.7019 * 10000 / 300 = 2.467 units."""
        sizer = self.sizer("1d")
        feed(sizer, [bar(c, c, c) for c in self.CLOSES])
        assert sizer.realised_volatility("BTCUSDT") == pytest.approx(math.sqrt(7.3), rel=1e-12)
        assert size_of(sizer, price="300") == D("2.467")

    def test_is_capped_by_max_leverage(self) -> None:
        """A 500 % target on a 100 % market would be 5x; ``max_leverage`` 2 holds 2 * 10000 / 300."""
        sizer = self.sizer(target_vol="5")
        feed(sizer, [bar(c, c, c) for c in self.CLOSES])
        assert size_of(sizer, price="300") == D("66.666")

    def test_a_flat_market_holds_max_leverage(self) -> None:
        """No volatility at all: the cap holds."""
        sizer = self.sizer(max_leverage="1")
        feed(sizer, [bar(100, 100, 100)] * 3)
        assert size_of(sizer) == D(100)

    def test_refuses_until_lookback_returns_were_seen(self) -> None:
        """``lookback`` 2 needs three closes; before that the target is 0, logged once."""
        sizer = self.sizer()
        with capture_logs() as logs:
            feed(sizer, [bar(c, c, c) for c in self.CLOSES[:2]])
            assert sizer.realised_volatility("BTCUSDT") is None
            assert size_of(sizer) == 0 and size_of(sizer) == 0
            feed(sizer, [bar(100, 100, 100)])
            assert size_of(sizer, price="300") == D("6.666")
        [entry] = refusals(logs)
        assert entry["reason"] == "the realised volatility is not ready: it needs 3 bars of BTCUSDT"

    def test_measures_only_the_last_lookback_returns(self) -> None:
        """Old returns leave the window: after a calm stretch the volatility is the calm one's."""
        sizer = self.sizer()
        feed(sizer, [bar(c, c, c) for c in [100.0, 150.0, 50.0, 50.0, 50.0]])
        assert sizer.realised_volatility("BTCUSDT") == 0.0

    def test_needs_a_context_for_the_timeframe(self) -> None:
        """Without the engine's context there is no timeframe to annualise with."""
        with pytest.raises(ValueError, match="timeframe"):
            VolatilityTargetSizer(None, None)

    @pytest.mark.parametrize(("key", "value", "message"), [
        ("target_vol", "0", "target_vol must be > 0, got 0"),
        ("lookback", 1, "lookback must be >= 2, got 1"),
        ("lookback", True, "lookback must be an integer, got True"),
        ("max_leverage", "0", "max_leverage must be > 0 and <= 10, got 0"),
    ])
    def test_params_refuse_values_out_of_range(self, key: str, value: Any, message: str) -> None:
        """Each parameter is checked with a ``FieldError`` naming it."""
        with pytest.raises(FieldError, match=message):
            VolatilityTargetSizer.Params(**{key: value})


class TestKellyCappedSizer:
    # Three wins of 30 and a loss of 20: W = 0.75, R = 1.5, Kelly = 0.75 - 0.25 / 1.5 = 0.58333...
    EDGE = ("30", "30", "30", "-20")
    NO_EDGE = ("10", "-20", "-20", "-20")  # W = 0.25, R = 0.5: Kelly = 0.25 - 0.75 / 0.5 = -1.25

    def sizer(self, trades: Iterable[str] = (), **params: Any) -> KellyCappedSizer:
        sizer = KellyCappedSizer(KellyCappedSizer.Params(**{"min_trades": 4, "window": 10, **params}))
        for pnl in trades:
            sizer.on_trade_closed(D(pnl))
        return sizer

    def test_uses_the_fallback_before_min_trades(self) -> None:
        """Three trades of four needed: 5 % of 10000 at 100 is 5 units."""
        sizer = self.sizer(self.EDGE[:3])
        assert sizer.kelly() is None and sizer.fraction() == D("0.05")
        assert size_of(sizer) == D(5)
        assert size_of(sizer, -0.5) == D("-2.5")

    def test_caps_and_scales_the_kelly_fraction(self) -> None:
        """Kelly 0.583 is capped at 0.25 and halved: 12.5 % of equity, 12.5 units at 100."""
        sizer = self.sizer(self.EDGE)
        assert sizer.kelly() == D("0.75") - D("0.25") / D("1.5")
        assert sizer.fraction() == D("0.125")
        assert size_of(sizer) == D("12.5")

    def test_holds_the_full_kelly_fraction_when_uncapped(self) -> None:
        """With cap 1 and fraction_of_kelly 1, 0.58333 of 10000 at 100 is 58.333 units."""
        sizer = self.sizer(self.EDGE, cap="1", fraction_of_kelly="1")
        assert size_of(sizer) == D("58.333")

    def test_no_edge_refuses_every_target(self) -> None:
        """A negative Kelly fraction is clamped to 0: nothing is held, and the log says why once."""
        sizer = self.sizer(self.NO_EDGE)
        with capture_logs() as logs:
            assert size_of(sizer) == 0 and size_of(sizer, -1.0) == 0
        [entry] = refusals(logs)
        assert entry["reason"] == "the Kelly fraction of the last 4 trades is -1.25: no edge"

    def test_only_the_last_window_trades_count(self) -> None:
        """With a window of 4, four good trades push four bad ones out."""
        sizer = self.sizer([*self.NO_EDGE, *self.EDGE], window=4)
        assert sizer.trades == 4
        assert sizer.kelly() == D("0.75") - D("0.25") / D("1.5")

    def test_winners_only_bet_the_win_rate(self) -> None:
        """No loss means an infinite payoff ratio: Kelly is the win rate, here 1, then capped."""
        sizer = self.sizer(["5", "1", "2", "0"])
        assert sizer.kelly() == D("0.75")  # the zero trade counts, but neither as win nor as loss
        assert sizer.fraction() == D("0.125")

    def test_losers_only_bet_nothing(self) -> None:
        """No win at all: Kelly is 0."""
        sizer = self.sizer(["-5", "-1", "-2", "-3"])
        assert sizer.kelly() == 0 and size_of(sizer) == 0

    def test_min_trades_cannot_exceed_the_window(self) -> None:
        """A window of 5 can never hold 10 trades."""
        with pytest.raises(FieldError, match=r"min_trades must be <= window \(5\), got 10"):
            KellyCappedSizer.Params(window=5)

    @pytest.mark.parametrize(("key", "value", "message"), [
        ("window", 0, "window must be >= 1, got 0"),
        ("cap", "1.1", "cap must be > 0 and <= 1, got 1.1"),
        ("fraction_of_kelly", "0", "fraction_of_kelly must be > 0 and <= 1, got 0"),
        ("fallback", "-0.1", "fallback must be > 0 and <= 1, got -0.1"),
    ])
    def test_params_refuse_values_out_of_range(self, key: str, value: Any, message: str) -> None:
        """Each parameter is checked with a ``FieldError`` naming it."""
        params: dict[str, Any] = {"min_trades": 1, key: value}
        with pytest.raises(FieldError, match=message):
            KellyCappedSizer.Params(**params)


class TestFixedSizer:
    def size(self, sizer: FixedSizer, exposure: float, instrument: Instrument = BTC) -> Decimal:
        return sizer.size(exposure, instrument=instrument, price=D("20000"), equity=D("10000"), position=D(0))

    @pytest.mark.parametrize(
        ("exposure", "expected"), [(1.0, "0.5"), (-1.0, "-0.5"), (0.5, "0.25"), (-0.25, "-0.125")]
    )
    def test_holds_exposure_times_quantity(self, exposure: float, expected: str) -> None:
        """A full exposure holds the quantity, a partial one the same share of it, with the sign kept."""
        assert self.size(fixed("0.5"), exposure) == D(expected)

    @pytest.mark.parametrize(("exposure", "expected"), [(0.3333, "0.166"), (-0.3333, "-0.166")])
    def test_rounds_towards_zero_to_the_lot(self, exposure: float, expected: str) -> None:
        """0.16665 becomes 0.166 and -0.16665 becomes -0.166: never more than asked, long or short."""
        assert self.size(fixed("0.5"), exposure) == D(expected)

    def test_a_quantity_under_one_lot_is_zero(self) -> None:
        """A target smaller than the lot rounds to a plain 0, not -0."""
        result = self.size(fixed("0.5"), -0.01, COARSE)
        assert result == 0 and str(result) == "0"

    @pytest.mark.parametrize(("exposure", "expected"), [(3.0, "0.5"), (-7.5, "-0.5")])
    def test_clamps_exposure_to_one(self, exposure: float, expected: str) -> None:
        """An exposure beyond [-1, 1] is treated as fully long or fully short."""
        assert self.size(fixed("0.5"), exposure) == D(expected)

    def test_uses_the_exact_decimal_of_the_exposure(self) -> None:
        """0.1 of 3 is exactly 0.3, not the binary float's 0.30000000000000004."""
        assert self.size(fixed("3"), 0.1) == D("0.3")

    def test_refuses_a_zero_price(self) -> None:
        """Sizing at a price of 0 is a ``ValueError`` naming the instrument."""
        with pytest.raises(ValueError, match="BTCUSDT"):
            fixed("1").size(1.0, instrument=BTC, price=D(0), equity=D(100), position=D(0))

    def test_refuses_a_nan_exposure(self) -> None:
        """A NaN exposure is a ``ValueError``, never a silent position."""
        with pytest.raises(ValueError):
            self.size(fixed("1"), float("nan"))

    @pytest.mark.parametrize("quantity", ["0", "-1"])
    def test_params_refuse_a_quantity_that_is_not_positive(self, quantity: str) -> None:
        """``quantity`` must be > 0."""
        with pytest.raises(ValueError, match=f"quantity must be > 0, got {quantity}"):
            FixedSizer.Params(quantity=D(quantity))

    def test_params_are_required_and_read_from_a_preset_table(self) -> None:
        """A preset gives ``quantity`` as a string or number; leaving it out is an error."""
        factory = Factory("sizer", "fixed", FixedSizer, "sizers", None)
        assert factory.params({"quantity": "0.25"}) == FixedSizer.Params(quantity=D("0.25"))
        assert factory.params({"quantity": 0.1}).quantity == D("0.1")
        with pytest.raises(ParamsError, match="quantity"):
            factory.params({})


class TestPercentEquitySizer:
    def size(
        self,
        sizer: PercentEquitySizer,
        exposure: float,
        *,
        price: str = "20000",
        equity: str = "10000",
        instrument: Instrument = BTC,
    ) -> Decimal:
        return sizer.size(exposure, instrument=instrument, price=D(price), equity=D(equity), position=D(0))

    @pytest.mark.parametrize(
        ("fraction", "exposure", "expected"),
        [
            ("1", 1.0, "0.5"),
            ("0.5", 1.0, "0.25"),
            ("1", -0.5, "-0.25"),
            ("3", 1.0, "1.5"),
            ("10", -1.0, "-5"),
        ],
    )
    def test_holds_a_fraction_of_equity(self, fraction: str, exposure: float, expected: str) -> None:
        """The target is ``exposure * fraction * equity / price``; a fraction above 1 is leverage."""
        assert self.size(percent(fraction), exposure) == D(expected)

    @pytest.mark.parametrize(("exposure", "expected"), [(1.0, "0.03"), (-1.0, "-0.03")])
    def test_rounds_towards_zero_to_the_lot(self, exposure: float, expected: str) -> None:
        """1000 USDT at 30000 is 0.0333... ETH lots, held as 0.03 long or short."""
        result = self.size(percent(), exposure, price="30000", equity="1000", instrument=COARSE)
        assert result == D(expected)

    def test_clamps_exposure_to_one(self) -> None:
        """An exposure of 4 sizes like an exposure of 1."""
        assert self.size(percent("0.5"), 4.0) == self.size(percent("0.5"), 1.0) == D("0.25")

    def test_no_equity_means_no_position(self) -> None:
        """Zero or negative equity sizes every target to 0, never to a reversed position."""
        assert self.size(percent(), 1.0, equity="0") == 0
        assert self.size(percent(), -1.0, equity="-500") == 0

    def test_refuses_a_zero_price(self) -> None:
        """Sizing at a price of 0 is a ``ValueError`` instead of a division by zero."""
        with pytest.raises(ValueError, match="price must be > 0"):
            self.size(percent(), 1.0, price="0")

    def test_defaults_to_all_of_the_equity(self) -> None:
        """Without parameters the fraction is 1."""
        assert PercentEquitySizer.Params().fraction == 1
        factory = Factory("sizer", "percent_equity", PercentEquitySizer, "sizers", None)
        assert factory.params({}) == PercentEquitySizer.Params()

    @pytest.mark.parametrize("fraction", ["0", "-0.5", "10.01"])
    def test_params_refuse_a_fraction_outside_the_range(self, fraction: str) -> None:
        """``fraction`` must be > 0 and at most 10."""
        with pytest.raises(ValueError, match=f"fraction must be > 0 and <= 10, got {fraction}"):
            PercentEquitySizer.Params(fraction=D(fraction))
