"""The engine end to end: honest fills, a reference loop, independence, observers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import anyio
import pytest

import tradehooks
from tradehooks import Engine, EngineState, EngineStateError, hookimpl
from tradehooks.builtins.data_csv import read_csv_bars
from tradehooks.model import Side
from tradehooks.testing import RecordingObserver

from .conftest import preset_text, shared_file


def reference_sma_cross(bars, fast: int, slow: int, quantity: Decimal, tick: Decimal):
    """A hand-written loop of the sma_cross rule: signal on a bar's close, fill at the next open."""
    closes: list[float] = []
    fills = []
    position = Decimal(0)
    pending = Decimal(0)
    previous = None
    for bar in bars:
        if pending:
            price = Decimal(repr(bar.open))
            price = (price / tick).to_integral_value("ROUND_CEILING" if pending > 0 else "ROUND_FLOOR") * tick
            fills.append((bar.ts, Side.BUY if pending > 0 else Side.SELL, abs(pending), price))
            position += pending
            pending = Decimal(0)
        closes.append(bar.close)
        if len(closes) < slow:
            continue
        f = sum(closes[-fast:]) / fast
        s = sum(closes[-slow:]) / slow
        difference = f - s
        if previous is not None:
            if difference > 0 >= previous:
                pending = quantity - position
            elif difference < 0 <= previous:
                pending = -position
        previous = difference
    return fills


def engine_fills(result):
    return [(f.ts, f.side, f.quantity, f.price) for f in result.fills]


class TestHonestBacktest:
    def test_sma_cross_matches_a_hand_written_loop_on_synthetic_bars(self, preset_file: Path, synthetic_csv: Path):
        """Every fill of the engine equals the reference loop's: same bar, side, quantity and price."""
        result = tradehooks.backtest(preset_file, engine_id="ref")
        bars = list(read_csv_bars(synthetic_csv, "BTCUSDT"))
        expected = reference_sma_cross(bars, 10, 30, Decimal("0.01"), Decimal("0.1"))
        assert len(expected) > 50
        assert engine_fills(result) == expected

    def test_sma_cross_matches_a_hand_written_loop_on_real_btc_data(self, tmp_path: Path):
        """On 10,999 real five-minute BTC/USDT candles the engine trades exactly like the loop."""
        data = shared_file("BTC_USDT-5m.csv")
        preset = tmp_path / "real.toml"
        preset.write_text(preset_text(str(data), timeframe="5m"))
        result = tradehooks.backtest(preset)
        expected = reference_sma_cross(list(read_csv_bars(data, "BTCUSDT")), 10, 30, Decimal("0.01"), Decimal("0.1"))
        assert engine_fills(result) == expected
        assert result.metrics.bars == 10_999

    def test_no_fill_happens_on_the_bar_whose_close_made_the_decision(self, preset_file: Path):
        """Each fill's time is a bar open strictly after the order was created (at a bar close)."""
        result = tradehooks.backtest(preset_file)
        orders = {o.client_order_id: o for o in result.orders}
        for fill in result.fills:
            assert fill.ts >= orders[fill.client_order_id].ts_created

    def test_the_ledger_balances_and_matches_the_paper_broker(self, preset_file: Path):
        """Cash and positions of the engine's ledger equal the paper broker's own account exactly."""

        async def main():
            async with Engine.from_preset(preset_file) as engine:
                await engine.run()
                engine.portfolio.check_balanced()
                assert engine.broker.balances()["USDT"] == engine.portfolio.cash
                assert {k: v for k, v in engine.broker.positions().items() if v} == {
                    k: v for k, v in engine.portfolio.positions().items() if v
                }

        anyio.run(main)

    def test_metrics_are_consistent_with_the_fills(self, preset_file: Path):
        """Fees are the sum of fill fees and final equity is initial cash plus PnL."""
        result = tradehooks.backtest(preset_file)
        metrics = result.metrics
        assert metrics.fees == sum(f.fee for f in result.fills)
        assert metrics.fills == len(result.fills)
        assert metrics.bars == 5_000
        assert len(result.equity) == 5_000
        assert metrics.trades > 0
        assert -1 < metrics.total_return < 1
        assert 0 <= metrics.max_drawdown < 1


class TestIndependence:
    def test_two_engines_with_different_presets_and_plugin_sets_do_not_see_each_other(self, preset_file: Path):
        """An observer given to one engine never hears the other; a disabled plugin is gone in one only."""
        first, second = RecordingObserver("first"), RecordingObserver("second")

        async def main():
            a = Engine.from_preset(preset_file, plugins=[first], engine_id="a")
            other = preset_file.with_name("other.toml")
            other.write_text(preset_file.read_text().replace('signal = "sma_cross"', 'signal = "rsi_reversion"')
                             .replace("params = { fast = 10, slow = 30 }", "params = { period = 7 }"))
            b = Engine.from_preset(other, plugins=[second], disable=["synthetic"], engine_id="b")
            assert "synthetic" in a.registry.names("data_source")
            assert "synthetic" not in b.registry.names("data_source")
            async with a, b:
                async with anyio.create_task_group() as group:
                    group.start_soon(a.run)
                    group.start_soon(b.run)
            return a, b

        a, b = anyio.run(main)
        assert {c["engine"].id for c in first.of("engine_started")} == {"a"}
        assert {c["engine"].id for c in second.of("engine_started")} == {"b"}
        assert len(first.of("fill_received")) == len(a.fills) > 0
        assert len(second.of("fill_received")) == len(b.fills)
        assert a.portfolio is not b.portfolio and a.manager is not b.manager
        assert {o.strategy_id for o in a.orders.values()} == {o.strategy_id for o in b.orders.values()} == {"trend"}
        assert [f.price for f in a.fills] != [f.price for f in b.fills]  # different signals, own ledgers


class FailingObserver:
    __name__ = "failing"

    @hookimpl
    def fill_received(self, fill):
        raise RuntimeError("observer bug")


class TestObservers:
    def test_a_failing_observer_never_breaks_trading_or_other_observers(self, preset_file: Path):
        """The failing observer's error is reported through the error hook; trading is unchanged."""
        recorder = RecordingObserver()
        baseline = tradehooks.backtest(preset_file)
        result = tradehooks.backtest(preset_file, plugins=[FailingObserver(), recorder])
        assert engine_fills(result) == engine_fills(baseline)
        errors = recorder.of("error")
        assert len(errors) == len(result.fills)
        assert errors[0]["where"] == "observer failing.fill_received"
        assert len(recorder.of("fill_received")) == len(result.fills)

    def test_observers_see_the_lifecycle_in_order(self, preset_file: Path):
        """preset_applied and engine_started come first, engine_stopping last; fills precede their order's filled update."""
        recorder = RecordingObserver()
        tradehooks.backtest(preset_file, plugins=[recorder])
        names = [name for name, _ in recorder.calls]
        assert names[:2] == ["preset_applied", "engine_started"]
        assert names[-1] == "engine_stopping"
        assert [c["reason"] for c in recorder.of("engine_stopping")] == ["stopped by host"]
        first_fill = names.index("fill_received")
        assert names[first_fill + 1] == "order_updated"
        assert recorder.calls[first_fill + 1][1]["order"].status.value == "filled"


class TestLifecycle:
    def test_an_engine_cannot_be_started_twice_or_run_after_stopping(self, preset_file: Path):
        """Illegal transitions raise EngineStateError naming the state."""

        async def main():
            engine = Engine.from_preset(preset_file)
            with pytest.raises(EngineStateError, match="is created"):
                await engine.run()
            async with engine:
                with pytest.raises(EngineStateError, match="is running"):
                    await engine.start()
            assert engine.state is EngineState.STOPPED
            with pytest.raises(EngineStateError, match="is stopped"):
                await engine.run()

        anyio.run(main)

    def test_backtest_works_inside_a_running_event_loop(self, preset_file: Path):
        """tradehooks.backtest() called from async code (as in a notebook) returns the same result."""
        expected = tradehooks.backtest(preset_file)

        async def main():
            return tradehooks.backtest(preset_file)

        result = anyio.run(main)
        assert engine_fills(result) == engine_fills(expected)

    def test_the_same_backtest_under_trio_gives_identical_results(self, preset_file: Path):
        """asyncio and trio runs produce the same fills and metrics."""
        on_asyncio = tradehooks.backtest(preset_file)
        on_trio = tradehooks.backtest(preset_file, backend="trio")
        assert engine_fills(on_trio) == engine_fills(on_asyncio)
        assert on_trio.metrics == on_asyncio.metrics


def test_backtest_works_inside_a_running_trio_loop(preset_file):
    """tradehooks.backtest() called from trio code runs in a worker thread and returns the result."""
    import trio

    expected = tradehooks.backtest(preset_file)

    async def main():
        return tradehooks.backtest(preset_file)

    assert engine_fills(trio.run(main)) == engine_fills(expected)
