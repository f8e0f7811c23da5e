"""The WebSocket client against the emulator: subscriptions, heartbeats, reconnects, staleness, auth."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import pytest

from tradehooks_bybit._errors import BybitAuthError, BybitError
from tradehooks_bybit._ws import WebSocketClient
from tradehooks_bybit.testing import BybitEmulator

KEY, SECRET = "WSKEY", "WSSECRET"


def _bars(n: int, price: float = 30_000.0) -> list[tuple[int, float, float, float, float, float]]:
    start = (int(time.time()) // 60 - 10_000) * 60_000
    return [(start + i * 60_000, price + i, price + i + 2, price + i - 1, price + i + 1, 1.0) for i in range(n)]


def _eventually(check: Any, timeout: float = 3.0) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` s (the server notices a close a moment later)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _client(url: str, **kwargs: Any) -> WebSocketClient:
    options: dict[str, Any] = {"url": url, "backoff": 0.02, "backoff_max": 0.2, "open_timeout": 3.0}
    options.update(kwargs)
    return WebSocketClient(**options)


async def _collect(client: WebSocketClient, count: int, timeout: float = 10.0,
                   where: Any = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with anyio.fail_after(timeout):
        async for message in client.messages():
            if where is None or where(message):
                got.append(message)
            if len(got) >= count:
                break
    return got


def _run(backend: str, client: WebSocketClient, body: Any) -> Any:
    async def main() -> Any:
        try:
            return await body(client)
        finally:
            await client.aclose()

    return anyio.run(main, backend=backend)


class TestPublic:
    def test_it_yields_topic_messages_only_stamped_at_receipt(self, emu: BybitEmulator, backend: str):
        client = _client(emu.ws_url + "/v5/public/linear")

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            before = time.perf_counter_ns()
            await c.subscribe(["kline.1.BTCUSDT", "orderbook.50.BTCUSDT"])
            emu.play("linear", "BTCUSDT", "1", _bars(2), interval_s=0.05)
            got = await _collect(c, 6)
            assert all(before <= m["_recv_ns"] <= time.perf_counter_ns() for m in got)
            return got

        got = _run(backend, client, body)
        assert all("topic" in m and "op" not in m for m in got)
        assert {m["topic"] for m in got} <= {"kline.1.BTCUSDT", "orderbook.50.BTCUSDT"}
        assert got[0]["topic"] == "orderbook.50.BTCUSDT" and got[0]["type"] == "snapshot"

    def test_heartbeats_keep_an_idle_connection_open(self, backend: str):
        """The server closes a connection that sends nothing for its idle time; pings prevent it."""
        with BybitEmulator(idle_timeout=1.0) as emu:
            client = _client(emu.ws_url + "/v5/public/linear", ping_interval=0.2)

            async def body(c: WebSocketClient) -> None:
                await c.subscribe(["kline.1.BTCUSDT"])
                with anyio.move_on_after(3.0):
                    async for message in c.messages():
                        raise AssertionError(f"unexpected {message}")

            _run(backend, client, body)
            assert client.connections == 1

    def test_without_heartbeats_the_server_drops_it_and_the_client_reconnects(self, backend: str):
        with BybitEmulator(idle_timeout=0.3) as emu:
            client = _client(emu.ws_url + "/v5/public/linear", ping_interval=60.0)

            async def body(c: WebSocketClient) -> list[dict[str, Any]]:
                await c.subscribe(["kline.1.BTCUSDT"])
                return await _collect(c, 1, timeout=5.0)

            assert _run(backend, client, body)[0]["op"] == "reconnected"
            assert client.connections == 2

    def test_a_dropped_socket_is_reopened_and_resubscribed(self, emu: BybitEmulator, backend: str):
        client = _client(emu.ws_url + "/v5/public/linear")

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe(["orderbook.50.BTCUSDT"])
            first = await _collect(c, 1)
            assert emu.drop_sockets("public") == 1
            return first + await _collect(c, 2)

        got = _run(backend, client, body)
        assert got[0]["type"] == "snapshot"
        assert got[1]["op"] == "reconnected"
        assert got[2]["topic"] == "orderbook.50.BTCUSDT" and got[2]["type"] == "snapshot"  # subscribed again
        assert client.connections == 2 and _eventually(lambda: emu.ws_connections("public") == 0)

    def test_a_silent_connection_is_taken_for_dead(self, emu: BybitEmulator, backend: str):
        """Nothing at all (not even a pong) for stale_after seconds: reopened."""
        client = _client(emu.ws_url + "/v5/public/linear", ping_interval=60.0, stale_after=0.3)

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe(["kline.1.BTCUSDT"])
            return await _collect(c, 1, timeout=5.0)

        started = time.monotonic()
        assert _run(backend, client, body)[0]["op"] == "reconnected"
        assert 0.3 <= time.monotonic() - started < 3.0

    def test_resubscribing_brings_a_fresh_snapshot(self, emu: BybitEmulator, backend: str):
        client = _client(emu.ws_url + "/v5/public/linear")

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe(["orderbook.50.BTCUSDT"])
            first = await _collect(c, 1)
            await c.resubscribe(["orderbook.50.BTCUSDT"])
            return first + await _collect(c, 1)

        got = _run(backend, client, body)
        assert [m["type"] for m in got] == ["snapshot", "snapshot"]
        assert client.connections == 1

    def test_spot_subscriptions_go_ten_topics_a_request(self, emu: BybitEmulator, backend: str):
        """Bybit's spot stream refuses more than 10 topics in one request."""
        intervals = ["1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W"]
        client = _client(emu.ws_url + "/v5/public/spot")

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe([f"kline.{i}.BTCUSDT" for i in intervals] + ["orderbook.50.BTCUSDT"])
            return await _collect(c, 1)  # a refused request would raise here

        assert _run(backend, client, body)[0]["topic"] == "orderbook.50.BTCUSDT"

    def test_a_refused_subscription_is_an_error(self, emu: BybitEmulator, backend: str):
        client = _client(emu.ws_url + "/v5/public/linear")

        async def body(c: WebSocketClient) -> None:
            await c.subscribe(["kline.1.NOSUCHCOIN"])
            await _collect(c, 1)

        with pytest.raises(BybitError, match="subscription refused"):
            _run(backend, client, body)

    def test_a_wrong_path_is_an_error_at_once(self, emu: BybitEmulator, backend: str):
        client = _client(emu.ws_url + "/v5/public/nowhere")
        with pytest.raises(BybitError, match="HTTP 404"):
            _run(backend, client, lambda c: c.subscribe(["kline.1.BTCUSDT"]))

    def test_nothing_listening_gives_up_after_max_attempts(self, backend: str):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        client = _client(f"ws://127.0.0.1:{port}/v5/public/linear", max_attempts=3)

        async def body(c: WebSocketClient) -> None:
            await c.subscribe(["kline.1.BTCUSDT"])

        with pytest.raises(ConnectionError, match="after 3 attempts"):
            _run(backend, client, body)


    def test_subscribe_returns_once_the_server_answered(self, emu: BybitEmulator, backend: str):
        """The book snapshot a subscription brings may arrive with the answer: it is kept, not lost."""
        client = _client(emu.ws_url + "/v5/public/linear")

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe(["kline.1.BTCUSDT"])
            await c.subscribe(["orderbook.1.BTCUSDT", "kline.1.BTCUSDT"])  # known topics are not sent twice
            return await _collect(c, 1)

        assert _run(backend, client, body)[0]["topic"] == "orderbook.1.BTCUSDT"
        assert client.topics == ("kline.1.BTCUSDT", "orderbook.1.BTCUSDT")


class TestPrivate:
    def test_it_authenticates_and_subscribes_private_topics(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        client = _client(emu.ws_url + "/v5/private", api_key=KEY, api_secret=SECRET, ping_interval=0.1)

        async def body(c: WebSocketClient) -> None:
            await c.subscribe(["order", "execution", "position", "wallet"])
            with anyio.move_on_after(0.5):  # acks and pongs are consumed, never yielded
                async for message in c.messages():
                    raise AssertionError(f"unexpected {message}")

        _run(backend, client, body)
        assert client.connections == 1

    def test_it_authenticates_again_after_a_reconnect(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        client = _client(emu.ws_url + "/v5/private", api_key=KEY, api_secret=SECRET)

        async def body(c: WebSocketClient) -> list[dict[str, Any]]:
            await c.subscribe(["order"])
            emu.drop_sockets("private")
            return await _collect(c, 1)

        assert _run(backend, client, body)[0]["op"] == "reconnected"
        assert client.connections == 2 and _eventually(lambda: emu.ws_connections("private") == 0)

    def test_a_wrong_secret_is_refused(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET)
        client = _client(emu.ws_url + "/v5/private", api_key=KEY, api_secret="WRONG")
        with pytest.raises(BybitAuthError, match="authentication refused"):
            _run(backend, client, lambda c: c.subscribe(["order"]))
