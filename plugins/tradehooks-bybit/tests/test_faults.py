"""Sessions that meet every fault the emulator can inject, and recover with no order lost or placed
twice: after each, the engine's journal is compared with the exchange's orders and executions.

Each test runs a real engine (the bybit data source and broker, the ``sma_cross`` example strategy,
a journal) on a fast price path that crosses often, injects one fault once orders flow, lets the
path finish, and waits until the engine and the exchange agree on the position."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import tradehooks
from _bybit_helpers import KEY, SECRET, compare_with_exchange, journal_orders, quiet_logger, wait_until
from tradehooks import Engine

from tradehooks_bybit.testing import BybitEmulator

CREATE = "/v5/order/create"


def path(bars: int = 72) -> list[tuple[int, str, str, str, str, str]]:
    """A 12-bar wave: sma_cross(2, 5) changes its mind every few bars, so orders keep coming."""
    now_ms = int(time.time() * 1000)
    start = now_ms - now_ms % 60_000
    rows = []
    previous = 30_000.0
    for i in range(bars):
        close = round(30_000 + 300 * math.sin(2 * math.pi * (i + 1) / 12), 1)
        rows.append((start + i * 60_000, f"{previous:.1f}", f"{max(previous, close) + 5:.1f}",
                     f"{min(previous, close) - 5:.1f}", f"{close:.1f}", "10"))
        previous = close
    return rows


def preset(emu: Any, journal: Path) -> tradehooks.Preset:
    urls = {"rest_url": emu.rest_url, "ws_url": emu.ws_url}
    return tradehooks.parse_preset({
        "engine": {"mode": "live", "journal": str(journal), "initial_cash": "100000", "currency": "USDT"},
        "data": {"source": "bybit", "timeframe": "1m", "params": {"category": "linear", "stale_after": 5.0, **urls}},
        "instruments": [{"id": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.1", "lot_size": "0.001",
                         "min_quantity": "0.001", "min_notional": "5"}],
        "broker": {"name": "bybit", "params": {"api_key": "env:BYBIT_TEST_KEY", "api_secret": "env:BYBIT_TEST_SECRET",
                                               "timeout": 1.0, "max_retries": 6, **urls}},
        "strategies": [{"id": "trend", "signal": "sma_cross", "params": {"fast": 2, "slow": 5},
                        "sizer": {"name": "fixed", "params": {"quantity": "0.01"}}}],
    })


def exchange_position(emu: Any) -> Decimal:
    for row in emu.positions(KEY):
        if row["symbol"] == "BTCUSDT":
            size = Decimal(row["size"])
            return -size if row["side"] == "Sell" else size
    return Decimal(0)


def run_session(emu: Any, journal: Path, inject: Callable[[], Any]) -> dict[str, Any]:
    """Run the path with one fault injected after the first orders; return what the test checks."""
    seen: dict[str, Any] = {}

    async def main() -> None:
        engine = Engine(preset(emu, journal), logger=quiet_logger())
        engine.broker.confirm_after = 0.5
        await engine.start()
        async with anyio.create_task_group() as group:
            group.start_soon(engine.run)
            emu.play("linear", "BTCUSDT", "1", path(), interval_s=0.06)
            await wait_until(lambda: len(engine.orders) >= 2, 20, "the first orders")
            inject()
            await anyio.to_thread.run_sync(emu.wait_played, 60)

            def settled() -> bool:
                return not engine.router.open_orders() and engine.portfolio.position("BTCUSDT") == \
                    exchange_position(emu)

            await wait_until(settled, 30, "the engine and the exchange to agree")
            await anyio.sleep(0.3)  # late answers and messages, if any, arrive
            seen["position"] = engine.portfolio.position("BTCUSDT")
            seen["orders"] = len(engine.orders)
            seen["killed"] = engine.killed
            seen["source_reconnects"] = engine.source.reconnects
            group.cancel_scope.cancel()
        await engine.stop("test over")

    anyio.run(main)
    return seen


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BYBIT_TEST_KEY", KEY)
    monkeypatch.setenv("BYBIT_TEST_SECRET", SECRET)
    with BybitEmulator() as emulator:
        emulator.add_account(KEY, SECRET, balances={"USDT": "100000"})
        yield emulator


def codes(emu: Any, path: str) -> list[int]:
    return [r.code for r in emu.requests if r.path == path]


def creates_by_link(emu: Any) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for r in emu.requests:
        if r.path == CREATE and r.order_link_id:
            found.setdefault(r.order_link_id, []).append(r.code)
    return found


def resynced(emu: Any) -> bool:
    """The broker reloaded its state over REST after the start (a reconnect's reconciliation)."""
    return sum(r.path == "/v5/account/wallet-balance" for r in emu.requests) >= 2


def drop_private_during_503(emu: Any) -> None:
    emu.inject_http_status(503, count=2, path="/v5/order/realtime")
    emu.drop_sockets("private")


FAULTS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, dict[str, Any]], bool]]] = {
    # name: (inject, "the fault really happened")
    "private socket dropped": (lambda emu: emu.drop_sockets("private"), lambda emu, seen: resynced(emu)),
    "public socket dropped": (lambda emu: emu.drop_sockets("public"),
                              lambda emu, seen: seen["source_reconnects"] >= 1),
    "rate limited, with reset header": (
        lambda emu: emu.inject_rate_limit(count=2, path=CREATE, with_reset_header=True),
        lambda emu, seen: codes(emu, CREATE).count(10006) == 2),
    "rate limited, no reset header": (
        lambda emu: emu.inject_rate_limit(count=2, path=CREATE, with_reset_header=False),
        lambda emu, seen: codes(emu, CREATE).count(10006) == 2),
    "HTTP 403": (lambda emu: emu.inject_http_status(403, count=1, path=CREATE),
                 lambda emu, seen: 403 in codes(emu, CREATE)),
    "HTTP 502": (lambda emu: emu.inject_http_status(502, count=1, path=CREATE),
                 lambda emu, seen: 502 in codes(emu, CREATE)),
    "HTTP 503 on the reconciliation's query": (
        drop_private_during_503, lambda emu, seen: 503 in codes(emu, "/v5/order/realtime") and resynced(emu)),
    # the server waits 1.5 s before acting, the client gives up after 1 s, finds nothing, sends again:
    # the late original is then refused as a duplicate
    "slow answer past the timeout": (
        lambda emu: emu.inject_delay(1.5, count=1, path=CREATE),
        lambda emu, seen: any(sorted(c) == [0, 110072] for c in creates_by_link(emu).values())),
    "executed, answered after the timeout": (
        lambda emu: emu.accept_after_timeout(path=CREATE, count=1, delay=2.0),
        lambda emu, seen: any(r.path == "/v5/order/realtime" for r in emu.requests)),
    "clock skew": (lambda emu: emu.inject_timestamp_skew(8000),
                   lambda emu, seen: 10002 in [r.code for r in emu.requests]),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_session_recovers_with_no_order_lost_or_duplicated(emu, tmp_path, fault):
    inject, happened = FAULTS[fault]
    journal = tmp_path / "journal.sqlite"
    seen = run_session(emu, journal, lambda: inject(emu))
    assert happened(emu, seen), f"the fault {fault!r} was not met: {emu.requests[-20:]}"
    assert not seen["killed"]
    orders, fills = journal_orders(journal)
    assert len(orders) >= 4
    problems = compare_with_exchange(orders, fills, emu.orders(KEY), emu.executions(KEY))
    assert not problems, problems
    assert seen["position"] == exchange_position(emu)
    assert sum((Decimal(f["quantity"]) * (1 if f["side"] == "buy" else -1) for f in fills), Decimal(0)) == \
        seen["position"]


def test_an_order_whose_answer_was_lost_is_found_not_sent_again(emu, tmp_path):
    """The create is executed but its answer comes after the client gave up: the broker looks the
    order up by orderLinkId and finds it; the exchange never sees a second create for it."""
    journal = tmp_path / "journal.sqlite"
    run_session(emu, journal, lambda: emu.accept_after_timeout(path=CREATE, count=1, delay=2.0))
    creates = creates_by_link(emu)
    assert all(codes == [0] for codes in creates.values()), creates
    lookups = [r for r in emu.requests if r.path == "/v5/order/realtime" and r.method == "GET"]
    assert lookups


def test_an_unrecoverable_auth_error_throws_the_kill_switch(emu, tmp_path):
    """The key stops working mid-session (HTTP 401): the order is rejected and the kill switch thrown."""
    seen: dict[str, Any] = {}

    async def main() -> None:
        engine = Engine(preset(emu, tmp_path / "journal.sqlite"), logger=quiet_logger())
        await engine.start()
        async with anyio.create_task_group() as group:
            group.start_soon(engine.run)
            emu.play("linear", "BTCUSDT", "1", path(), interval_s=0.06)
            await wait_until(lambda: len(engine.orders) >= 2, 20, "the first orders")
            emu.inject_http_status(401, count=100, path=CREATE)  # the key was revoked
            await wait_until(lambda: engine.killed, 20, "the kill switch")
            seen["rejected"] = [o.reason for o in engine.orders.values() if o.reason.startswith("refused")]
            group.cancel_scope.cancel()
        await engine.stop("test over")

    anyio.run(main)
    assert seen["rejected"] and "HTTP 401" in seen["rejected"][0]
