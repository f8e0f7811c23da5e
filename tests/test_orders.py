"""Orders: the fast state update is attrs.evolve for the state fields."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from tradehooks.model import Order, OrderStatus, OrderType, Side, TimeInForce

STOP_LIMIT = Order(
    client_order_id="O-7", strategy_id="s", instrument_id="BTCUSDT", side=Side.SELL,
    type=OrderType.STOP_LIMIT, quantity=Decimal("0.5"), price=Decimal("100.5"), trigger_price=Decimal(101),
    time_in_force=TimeInForce.DAY, reduce_only=True, post_only=True, status=OrderStatus.PARTIALLY_FILLED,
    filled_quantity=Decimal("0.2"), avg_fill_price=Decimal("100.7"), ts_created=5, ts_updated=6,
    venue_order_id="v-1", reason="why",
)


class TestUpdated:
    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"status": OrderStatus.FILLED, "filled_quantity": Decimal("0.5"),
             "avg_fill_price": Decimal("100.6"), "ts_updated": 9},
            {"status": OrderStatus.CANCELED, "reason": "cancelled on request", "ts_updated": 8},
            {"venue_order_id": None, "avg_fill_price": None},
        ],
    )
    def test_it_equals_evolve_field_by_field(self, changes):
        """Every field of an order with no default left is carried over; the changes are applied."""
        updated = STOP_LIMIT.updated(**changes)
        assert updated == attrs.evolve(STOP_LIMIT, **changes)
        evolved = attrs.evolve(STOP_LIMIT, **changes)
        assert attrs.asdict(updated, recurse=False) == attrs.asdict(evolved, recurse=False)
        assert updated is not STOP_LIMIT and STOP_LIMIT.status is OrderStatus.PARTIALLY_FILLED

    def test_it_changes_only_the_state(self):
        """Quantity, prices and the like are not state: updated() refuses them, evolve validates them."""
        with pytest.raises(TypeError, match="quantity"):
            STOP_LIMIT.updated(quantity=Decimal(1))  # type: ignore[call-arg]

    def test_the_copy_is_frozen_and_hashable(self):
        """The copy is a full Order: frozen, hashable, equal to its equal."""
        updated = STOP_LIMIT.updated(ts_updated=10)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            updated.status = OrderStatus.FILLED  # type: ignore[misc]
        assert hash(updated) == hash(attrs.evolve(STOP_LIMIT, ts_updated=10))


class TestMarket:
    def test_it_equals_the_validated_constructor(self):
        """Order.market() builds, field by field, what the generic constructor builds for a GTC market order."""
        fast = Order.market("O-9", "s", "ETHUSDT", Side.BUY, Decimal("0.25"), 42)
        slow = Order(client_order_id="O-9", strategy_id="s", instrument_id="ETHUSDT", side=Side.BUY,
                     type=OrderType.MARKET, quantity=Decimal("0.25"), ts_created=42, ts_updated=42)
        assert attrs.asdict(fast, recurse=False) == attrs.asdict(slow, recurse=False)
        assert fast == slow and hash(fast) == hash(slow)

    @pytest.mark.parametrize("quantity", [Decimal(0), Decimal("-0.1")])
    def test_it_refuses_a_quantity_that_is_not_positive(self, quantity):
        with pytest.raises(ValueError, match="order quantity must be > 0"):
            Order.market("O-9", "s", "ETHUSDT", Side.SELL, quantity, 1)
