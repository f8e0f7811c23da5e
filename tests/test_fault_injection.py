"""Fault injection with real processes: a paper session is killed with SIGKILL at 50 seeded random
moments and restarted each time. After every kill: no order lost or duplicated, the journal
verifies, and the broker's account rebuilt on restart equals the ledger rebuilt from the journal."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import anyio

from tradehooks import Engine
from tradehooks._journal import Journal, verify

KILLS = 50

PRESET = """
[engine]
mode = "paper"
initial_cash = "1000000"

[data]
source = "synthetic_live"
timeframe = "1m"
params = { initial_price = 30000.0, speed = 3000 }

[broker]
name = "paper"
params = { taker_fee = "0.0005", max_volume_fraction = "0.002" }

[[instruments]]
id = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"

[[strategies]]
id = "fast"
signal = "sma_cross"
params = { fast = 2, slow = 5, allow_short = true }
sizer = { name = "fixed", params = { quantity = "0.3" } }
"""


def journal_state(path: Path):
    journal = Journal(path, "check")
    try:
        fills, orders = journal.recover()
        order_entries = [payload for _, _, kind, payload in journal.entries(("order",))]
    finally:
        journal.close()
    return fills, orders, order_entries


def broker_and_ledger(preset: Path):
    """Start an engine on the journal (as a restart does), read the restored broker and the rebuilt
    ledger, stop without trading."""

    async def main():
        engine = Engine.from_preset(preset, journal=preset.with_name(f".{preset.name}.journal.sqlite"))
        await engine.start()
        try:
            return (engine.broker.balances(), engine.broker.positions(), engine.portfolio.cash,
                    engine.portfolio.positions())
        finally:
            await engine.stop()

    return anyio.run(main)


def test_kill_9_at_fifty_random_points_loses_and_duplicates_nothing(tmp_path: Path):
    """Seeded random kill times; every invariant is checked after each of the 50 restarts."""
    preset = tmp_path / "paper.toml"
    preset.write_text(textwrap.dedent(PRESET))
    journal_path = tmp_path / ".paper.toml.journal.sqlite"
    chance = random.Random(20261125)
    checked_orders = 0
    log = (tmp_path / "runs.log").open("w")
    for kill in range(KILLS):
        process = subprocess.Popen([sys.executable, "-m", "tradehooks", "run", str(preset), "--no-watch"],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        time.sleep(chance.uniform(0.8, 1.6))  # about 0.6 s of start-up, then some trading
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        assert process.returncode == -signal.SIGKILL

        problems = verify(journal_path, currency="USDT", initial_cash=Decimal(1_000_000))
        assert problems == [], f"after kill {kill}: {problems}"
        fills, orders, _ = journal_state(journal_path)
        assert len({f.trade_id for f in fills}) == len(fills), f"after kill {kill}: a fill twice"
        filled = defaultdict(Decimal)
        for fill in fills:
            assert fill.client_order_id in orders, f"after kill {kill}: fill of an unknown order"
            filled[fill.client_order_id] += fill.quantity
        for order_id, quantity in filled.items():
            assert quantity <= orders[order_id].quantity, f"after kill {kill}: {order_id} overfilled"
        balances, positions, cash, ledger = broker_and_ledger(preset)
        assert balances["USDT"] == cash, f"after kill {kill}"
        assert {k: v for k, v in positions.items() if v} == {k: v for k, v in ledger.items() if v}
        checked_orders = len(orders)
    log.close()
    fills, orders, entries = journal_state(journal_path)
    assert checked_orders == len(orders) and len(fills) > 0 and len(orders) > KILLS / 5
    print(f"\n{KILLS} kills, {len(orders)} orders and {len(fills)} fills checked, 0 anomalies")


def test_a_second_signal_forces_the_exit_and_the_journal_stays_consistent(tmp_path: Path):
    """SIGINT twice in a row: the process ends at once or gracefully, and its journal verifies."""
    preset = tmp_path / "paper.toml"
    preset.write_text(textwrap.dedent(PRESET))
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "tradehooks", "run", str(preset), "--no-watch"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) in (0, 130)
    log.close()
    journal_path = tmp_path / ".paper.toml.journal.sqlite"
    assert verify(journal_path, currency="USDT", initial_cash=Decimal(1_000_000)) == []
    balances, positions, cash, ledger = broker_and_ledger(preset)
    assert balances["USDT"] == cash
