"""A whole live session as an operator runs it: ``tradehooks run`` in its own process, the
``sma_cross`` example strategy on the emulator's price path through the bybit data source and broker,
a journal; then the journal is compared with what the exchange holds."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _bybit_helpers import KEY, SECRET, compare_with_exchange, journal_orders

from tradehooks_bybit.testing import BybitEmulator

PRESET = """
[engine]
mode = "{mode}"
initial_cash = "100000"
currency = "USDT"
journal = "journal.sqlite"
on_stop = "cancel"

[data]
source = "bybit"
timeframe = "1m"
params = {{ category = "linear", rest_url = "{rest}", ws_url = "{ws}"{data_extra} }}

[[instruments]]
id = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.1"
lot_size = "0.001"
min_quantity = "0.001"
min_notional = "5"

[broker]
name = "{broker}"
{broker_params}

[[strategies]]
id = "trend"
signal = "sma_cross"
params = {{ fast = 3, slow = 8 }}
sizer = {{ name = "fixed", params = {{ quantity = "0.01" }} }}
"""

BYBIT_BROKER = ('params = {{ api_key = "env:BYBIT_API_KEY", api_secret = "env:BYBIT_API_SECRET", '
                'rest_url = "{rest}", ws_url = "{ws}", timeout = 2.0 }}')


def price_path(bars: int = 110, start_ms: int | None = None) -> list[tuple[int, str, str, str, str, str]]:
    """Two waves and a last descent (40-bar period, ending at a trough): the fast average crosses the
    slow one up and down several times and the session ends flat. Candles start at the current
    minute, the first one the data source closes."""
    now_ms = int(time.time() * 1000)
    start = start_ms if start_ms is not None else now_ms - now_ms % 60_000
    path = []
    previous = 30_000.0
    for i in range(bars):
        close = round(30_000 + 400 * math.sin(2 * math.pi * (i + 1) / 40), 1)
        high, low = max(previous, close) + 5, min(previous, close) - 5
        path.append((start + i * 60_000, f"{previous:.1f}", f"{high:.1f}", f"{low:.1f}", f"{close:.1f}", "12.5"))
        previous = close
    return path


class Session:
    """One ``tradehooks run`` process and its JSON log."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.preset = tmp_path / "live.toml"
        self.preset.write_text(textwrap.dedent(text))
        self.journal = tmp_path / "journal.sqlite"
        self.log_path = tmp_path / "run.log"
        self.tmp_path = tmp_path

    def start(self) -> None:
        env = {**os.environ, "BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET}
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tradehooks", "--log-format", "json", "run", str(self.preset), "--no-watch",
             "--status-file", str(self.tmp_path / "status.json")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp_path,
        )

    def records(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tradehooks run exited ({self.process.returncode}) waiting for {what}:\n"
                                     + self.log_path.read_text()[-4000:])
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n" + self.log_path.read_text()[-4000:])

    def started(self) -> bool:
        return any(r.get("event") == "engine.started" for r in self.records())

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.tmp_path / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()
        return code


@pytest.fixture
def emu():
    with BybitEmulator() as emulator:
        emulator.add_account(KEY, SECRET, balances={"USDT": "100000"})
        yield emulator


def export_rows(session: Session) -> list[dict[str, str]]:
    output = session.tmp_path / "export.csv"
    subprocess.run([sys.executable, "-m", "tradehooks", "journal", "export", str(session.preset), "--output",
                    str(output)], check=True, cwd=session.tmp_path, capture_output=True,
                   env={**os.environ, "BYBIT_API_KEY": KEY, "BYBIT_API_SECRET": SECRET})
    with output.open() as handle:
        return list(csv.DictReader(handle))


def test_a_live_session_trades_and_its_journal_matches_the_exchange(emu, tmp_path):
    text = PRESET.format(mode="live", rest=emu.rest_url, ws=emu.ws_url, data_extra="", broker="bybit",
                         broker_params=BYBIT_BROKER.format(rest=emu.rest_url, ws=emu.ws_url))
    session = Session(tmp_path, text)
    session.start()
    try:
        session.wait_for(session.started, 30, "the engine to start")
        emu.play("linear", "BTCUSDT", "1", price_path(), interval_s=0.05)
        emu.wait_played(timeout=60)
        session.wait_for(lambda: session.status().get("open_orders") == 0
                         and Decimal(session.status().get("positions", {}).get("BTCUSDT", "0")) == 0
                         and any(r.get("event") == "event.fill_received" for r in session.records()),
                         20, "the last exit to fill")
    finally:
        code = session.stop()
    assert code == 0, session.log_path.read_text()[-4000:]

    orders, fills = journal_orders(session.journal)
    ours = [o for o in emu.orders(KEY) if o["orderLinkId"] in orders]
    assert len(orders) >= 4, orders  # at least two entries and two exits
    assert {o["side"] for o in ours} == {"Buy", "Sell"}
    assert all(o["status"] == "filled" for o in orders.values()), orders
    problems = compare_with_exchange(orders, fills, emu.orders(KEY), emu.executions(KEY))
    assert not problems, problems
    # the exported journal says the same: every order id, every fill
    rows = export_rows(session)
    assert {r["client_order_id"] for r in rows if r["kind"] == "order"} == set(orders)
    assert sorted(r["trade_id"] for r in rows if r["kind"] == "fill") == sorted(f["trade_id"] for f in fills)
    assert sum((Decimal(f["quantity"]) * (1 if f["side"] == "buy" else -1) for f in fills), Decimal(0)) == 0


def test_paper_trading_on_the_live_book(emu, tmp_path):
    """The bybit data source with an order book and the paper broker: fills walk the emulator's book."""
    text = PRESET.format(mode="paper", rest=emu.rest_url, ws=emu.ws_url, data_extra=", book_depth = 50",
                         broker="paper", broker_params="")
    session = Session(tmp_path, text)
    session.start()
    try:
        session.wait_for(session.started, 30, "the engine to start")
        emu.play("linear", "BTCUSDT", "1", price_path(), interval_s=0.05)
        emu.wait_played(timeout=60)
        session.wait_for(lambda: sum(r.get("event") == "event.fill_received" for r in session.records()) >= 4,
                         20, "the paper fills")
    finally:
        code = session.stop()
    assert code == 0
    _orders, fills = journal_orders(session.journal)
    assert not emu.orders(KEY)  # nothing reached the exchange
    assert len(fills) >= 4
    book_prices = set()
    for record in session.records():
        if record.get("event") == "event.fill_received":
            book_prices.add(Decimal(record["fill"]["price"]))
    # fills at book prices: on the tick, and not simply the bar closes of the path
    closes = {Decimal(bar[4]) for bar in price_path()}
    assert book_prices and all(p % Decimal("0.1") == 0 for p in book_prices)
    assert book_prices - closes
