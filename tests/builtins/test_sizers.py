"""The built-in sizers: signed target quantities, rounded towards zero to the lot."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradehooks._registry import Factory, ParamsError
from tradehooks.builtins.sizers import FixedSizer, PercentEquitySizer, register_sizers
from tradehooks.contracts import Sizer
from tradehooks.model import Instrument

D = Decimal
BTC = Instrument(id="BTCUSDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
COARSE = Instrument(id="ETHUSDT", base="ETH", quote="USDT", tick_size="0.01", lot_size="0.01")


def fixed(quantity: str) -> FixedSizer:
    return FixedSizer(FixedSizer.Params(quantity=D(quantity)), None)


def percent(fraction: str = "1") -> PercentEquitySizer:
    return PercentEquitySizer(PercentEquitySizer.Params(fraction=D(fraction)), None)


class TestRegisterSizers:
    def test_registers_both_sizers_under_their_short_names(self) -> None:
        """The hook returns ``fixed`` and ``percent_equity``, both satisfying the ``Sizer`` contract."""
        classes = register_sizers()
        assert [cls.name for cls in classes] == ["fixed", "percent_equity"]
        assert isinstance(fixed("1"), Sizer) and isinstance(percent(), Sizer)


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
