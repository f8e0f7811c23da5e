"""The journal: written before acting, rebuilt from on restart, refusing to trade when unusable."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from tradehooks import Engine
from tradehooks._journal import Journal, JournalError, JournalWriteError, verify
from tradehooks.model import OrderStatus
from tradehooks.testing import RecordingObserver

PRESET = """
[engine]
mode = "backtest"
initial_cash = "1000000"
journal = "journal.sqlite"

[data]
source = "synthetic"
timeframe = "1m"
params = {{ bars = {bars}, initial_price = 30000.0, seed = {seed} }}

[broker]
name = "paper"
params = {{ taker_fee = "0.0005", max_volume_fraction = "{fraction}" }}

[[instruments]]
id = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"

[[strategies]]
id = "trend"
signal = "sma_cross"
params = {{ fast = 5, slow = 20 }}
sizer = {{ name = "fixed", params = {{ quantity = "{quantity}" }} }}
"""


def write_preset(tmp_path: Path, *, bars: int = 600, seed: int = 1, quantity: str = "0.5",
                 fraction: str = "1") -> Path:
    path = tmp_path / "preset.toml"
    path.write_text(textwrap.dedent(PRESET.format(bars=bars, seed=seed, quantity=quantity, fraction=fraction)))
    return path


def run(path: Path, **options):
    async def main():
        async with Engine.from_preset(path, **options) as engine:
            await engine.run()
        return engine

    return anyio.run(main)


class TestWriting:
    def test_every_order_state_and_fill_is_journaled_before_it_is_acted_on(self, tmp_path: Path):
        """The submitted state of each order precedes its acceptance, each fill precedes its snapshot."""
        engine = run(write_preset(tmp_path))
        journal = Journal(tmp_path / "journal.sqlite")
        try:
            entries = list(journal.entries())
        finally:
            journal.close()
        seqs = [seq for seq, *_ in entries]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        kinds = [kind for _, _, kind, _ in entries]
        assert kinds[0] == "preset"
        assert kinds.count("fill") == len(engine.fills) > 0 and kinds.count("snapshot") == len(engine.fills)
        for index, kind in enumerate(kinds):
            if kind == "fill":
                assert kinds[index + 1] == "snapshot"
        first_order = [payload for _, _, kind, payload in entries if kind == "order"][:2]
        assert '"status":"submitted"' in first_order[0] and '"status":"accepted"' in first_order[1]

    def test_the_journal_verifies_and_a_tampered_one_does_not(self, tmp_path: Path):
        """verify passes on a real journal and names the mismatch after a snapshot is altered."""
        run(write_preset(tmp_path))
        path = tmp_path / "journal.sqlite"
        assert verify(path, currency="USDT", initial_cash=Decimal(1_000_000)) == []
        db = sqlite3.connect(path)
        db.execute("UPDATE entries SET payload = replace(payload, '\"cash\": {\"USDT\": \"', '\"cash\": {\"USDT\": \"1')"
                   " WHERE seq = (SELECT max(seq) FROM entries WHERE kind = 'snapshot')")
        db.commit()
        db.close()
        problems = verify(path, currency="USDT", initial_cash=Decimal(1_000_000))
        assert problems and "cash rebuilt from the fills" in problems[-1]

    def test_cli_verify_and_export(self, tmp_path: Path):
        """`tradehooks journal verify` exits 0; `export` writes every order and fill entry."""
        preset = write_preset(tmp_path)
        engine = run(preset)
        verified = subprocess.run([sys.executable, "-m", "tradehooks", "journal", "verify", str(preset)],
                                  capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and "verified" in verified.stdout
        out = tmp_path / "journal.csv"
        exported = subprocess.run([sys.executable, "-m", "tradehooks", "journal", "export", str(preset),
                                   "--output", str(out)], capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        lines = out.read_text().splitlines()
        assert len(lines) - 1 == len(engine.fills) + sum(1 for line in lines if ",order," in line)


class TestRecovery:
    def test_a_restarted_engine_rebuilds_positions_cash_and_open_orders(self, tmp_path: Path):
        """A second engine on the same journal starts where the first stopped: same ledger, the open
        order still open at its broker, and the broker's account equal to the ledger."""
        preset = write_preset(tmp_path, fraction="0.02", quantity="40")  # big orders fill in parts
        first = run(preset)
        open_first = [o.client_order_id for o in first.router.open_orders()]
        assert open_first, "the scenario needs an order still open at the end"

        async def restart():
            engine = Engine.from_preset(preset)
            await engine.start()
            try:
                return (engine.portfolio.cash, engine.portfolio.positions(), engine.broker.balances(),
                        engine.broker.positions(), [o.client_order_id for o in engine.router.open_orders()],
                        [o.client_order_id for o in engine.broker.open_orders()], len(engine.fills))
            finally:
                await engine.stop()

        cash, positions, broker_cash, broker_positions, open_orders, broker_open, fills = anyio.run(restart)
        assert cash == first.portfolio.cash and positions == first.portfolio.positions()
        assert broker_cash["USDT"] == cash and broker_positions == {k: v for k, v in positions.items()}
        assert open_orders == open_first == broker_open
        assert fills == len(first.fills)

    def test_a_fill_reported_twice_is_journaled_and_applied_once(self, tmp_path: Path):
        """Replaying a fill through the engine after a restart changes nothing."""
        preset = write_preset(tmp_path)
        first = run(preset)

        async def again():
            engine = Engine.from_preset(preset)
            await engine.start()
            try:
                engine.fill(first.fills[0])
                return engine.portfolio.cash, len(engine.fills)
            finally:
                await engine.stop()

        cash, count = anyio.run(again)
        assert cash == first.portfolio.cash and count == len(first.fills)


class TestUnusableJournal:
    def test_a_corrupt_journal_is_refused_and_nothing_trades(self, tmp_path: Path):
        """Garbage in the journal file: start() raises a JournalError naming it."""
        preset = write_preset(tmp_path)
        (tmp_path / "journal.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x13" * 4096)
        recorder = RecordingObserver()
        with pytest.raises(JournalError, match="journal.sqlite.*refusing to trade"):
            run(preset, plugins=[recorder])
        assert recorder.of("order_updated") == []

    def test_a_journal_in_use_by_another_engine_is_refused(self, tmp_path: Path):
        """A second engine on a journal held by a running one gets a clear error."""
        preset = write_preset(tmp_path)

        async def both():
            first = Engine.from_preset(preset, engine_id="first")
            await first.start()
            try:
                with pytest.raises(JournalError, match=r"in use by engine 'first'"):
                    await Engine.from_preset(preset, engine_id="second").start()
            finally:
                await first.stop()

        anyio.run(both)

    def test_a_full_disk_stops_trading_safely(self, tmp_path: Path):
        """When the journal cannot grow, run() stops with JournalWriteError, the kill switch holds,
        and every order the broker knows of is in the journal."""
        preset = write_preset(tmp_path, bars=3000)
        journal_path = tmp_path / "journal.sqlite"
        Journal(journal_path).close()  # create it, then cap its size so it fills up during the run
        db = sqlite3.connect(journal_path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.close()

        async def main():
            engine = Engine.from_preset(preset)
            await engine.start()
            engine.journal._db.execute(f"PRAGMA max_page_count = {pages + 6}")
            with pytest.raises(JournalWriteError, match="cannot write"):
                await engine.run()
            assert engine.killed
            broker_orders = set(engine.broker._seen)
            await engine.stop()
            return broker_orders

        broker_orders = anyio.run(main)
        journal = Journal(journal_path)
        try:
            _, orders = journal.recover()
        finally:
            journal.close()
        assert broker_orders and broker_orders <= set(orders)
        assert all(o.status is not OrderStatus.SUBMITTED or o.client_order_id not in broker_orders
                   for o in orders.values())


def test_compaction_keeps_what_replay_needs(tmp_path: Path):
    """After compacting, recovery gives the same ledger and orders, and the journal verifies."""
    preset = write_preset(tmp_path, fraction="0.02", quantity="40")
    run(preset)
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    try:
        fills_before, orders_before = journal.recover()
        count_before = len(list(journal.entries()))
        removed = journal.compact()
        fills_after, orders_after = journal.recover()
        count_after = len(list(journal.entries()))
    finally:
        journal.close()
    assert removed > 0 and count_after == count_before - removed
    assert fills_after == fills_before and orders_after == orders_before
    assert verify(path, currency="USDT", initial_cash=Decimal(1_000_000)) == []


class TestSyncSetting:
    def test_normal_sync_still_survives_a_killed_process(self, tmp_path: Path):
        """``journal_sync = "normal"`` drops the flush per entry, not durability against a crash of the
        process: a backtest SIGKILLed right after its run leaves a journal that verifies and rebuilds
        the same ledger."""
        preset = write_preset(tmp_path)
        preset.write_text(preset.read_text().replace('journal = "journal.sqlite"',
                                                     'journal = "journal.sqlite"\njournal_sync = "normal"'))
        script = textwrap.dedent(f"""
            import json, os, signal, anyio
            from tradehooks import Engine

            async def main():
                engine = Engine.from_preset({str(preset)!r})
                await engine.start()
                await engine.run()
                assert engine.journal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
                print(json.dumps({{"cash": str(engine.portfolio.cash), "fills": len(engine.fills)}}), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no close: the process just dies

            anyio.run(main)
        """)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == -9, done.stderr
        before = json.loads(done.stdout)
        assert before["fills"] > 0
        assert verify(tmp_path / "journal.sqlite", currency="USDT", initial_cash=Decimal(1000000)) == []

        async def restart():
            engine = Engine.from_preset(preset)
            await engine.start()
            try:
                return str(engine.portfolio.cash), len(engine.fills)
            finally:
                await engine.stop()

        assert anyio.run(restart) == (before["cash"], before["fills"])

    def test_an_unknown_sync_setting_is_a_preset_error(self, tmp_path: Path):
        preset = write_preset(tmp_path)
        preset.write_text(preset.read_text().replace('journal = "journal.sqlite"',
                                                     'journal = "journal.sqlite"\njournal_sync = "off"'))
        with pytest.raises(Exception, match="journal_sync"):
            Engine.from_preset(preset)
