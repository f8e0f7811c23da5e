"""The REST client: error answers as exceptions, the query as signed and sent, and recovery from rate
limits, server errors, timeouts and clock skew, against the emulator over real sockets."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import pytest
from tradehooks.exceptions import BrokerError

from tradehooks_bybit._errors import (
    BybitAuthError,
    BybitDuplicateOrder,
    BybitError,
    BybitInsufficientBalance,
    BybitInvalidOrder,
    BybitNetworkError,
    BybitOrderNotFound,
    BybitRateLimited,
    BybitServerError,
    BybitTimestampError,
    error_for,
    raise_for_error,
)
from tradehooks_bybit._http import HttpClient, encode_query
from tradehooks_bybit.testing import BybitEmulator

KEY, SECRET = "KEY1", "SECRET1"
KLINE = "/v5/market/kline"
KLINE_PARAMS = {"category": "linear", "symbol": "BTCUSDT", "interval": "1", "limit": 5}


def envelope(code: int, msg: str = "") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 1}


class TestErrorMapping:
    def test_a_success_is_no_error(self):
        raise_for_error(envelope(0, "OK"))
        assert error_for(envelope(0)) is None

    @pytest.mark.parametrize(("code", "cls", "recoverable"), [
        (10006, BybitRateLimited, True), (10002, BybitTimestampError, True), (10016, BybitServerError, True),
        (10003, BybitAuthError, False), (10004, BybitAuthError, False), (10005, BybitAuthError, False),
        (10010, BybitAuthError, False),
        *[(c, BybitInsufficientBalance, False) for c in (110004, 110007, 110012, 110045, 170131)],
        (110001, BybitOrderNotFound, False), (170213, BybitOrderNotFound, False),
        (110072, BybitDuplicateOrder, False), (170141, BybitDuplicateOrder, False),
        *[(c, BybitInvalidOrder, False) for c in (10001, 110003, 110017, 110094, 170130, 170136, 170140)],
        (99999, BybitError, False),
    ])
    def test_each_code_is_its_class(self, code: int, cls: type[BybitError], recoverable: bool):
        with pytest.raises(BybitError) as caught:
            raise_for_error(envelope(code, "text"), path="/v5/order/create")
        error = caught.value
        assert type(error) is cls and isinstance(error, BrokerError)
        assert error.code == code and error.recoverable is recoverable and error.ret_msg == "text"
        assert "/v5/order/create" in str(error) and str(code) in str(error)

    @pytest.mark.parametrize(("status", "cls"), [
        (403, BybitRateLimited), (429, BybitRateLimited), (401, BybitAuthError), (500, BybitServerError),
        (502, BybitServerError), (503, BybitServerError),
    ])
    def test_http_error_statuses_without_a_body(self, status: int, cls: type[BybitError]):
        error = error_for(None, http_status=status, path="/p")
        assert type(error) is cls and error.http_status == status and f"HTTP {status}" in str(error)

    def test_a_404_with_a_retcode_says_what_it_is(self):
        error = error_for(envelope(10001, "bad category"), http_status=404, path="/p")
        assert type(error) is BybitInvalidOrder and error.code == 10001

    def test_the_ip_limit_message_warns_of_the_ban(self):
        assert "10 minutes" in str(error_for(None, http_status=403))

    def test_a_200_that_is_not_json_is_a_server_error(self):
        assert type(error_for(None, http_status=200)) is BybitServerError

    def test_an_envelope_without_retcode_is_an_error(self):
        assert type(error_for({"result": {}}, http_status=200)) is BybitError

    def test_a_network_error_says_whether_the_request_may_have_run(self):
        error = BybitNetworkError("x", maybe_executed=True, path="/p")
        assert error.recoverable and error.maybe_executed


class TestQuery:
    def test_it_keeps_the_order_and_drops_none(self):
        assert encode_query({"symbol": "BTCUSDT", "category": "linear", "cursor": None}) == (
            "symbol=BTCUSDT&category=linear")

    def test_it_spells_booleans_and_escapes(self):
        assert encode_query({"a": True, "b": False, "c": "x y,z", "d": 5}) == "a=true&b=false&c=x%20y%2Cz&d=5"

    def test_no_params_is_an_empty_query(self):
        assert encode_query(None) == "" and encode_query({}) == ""


def _client(emu: BybitEmulator, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {"base_url": emu.rest_url, "api_key": KEY, "api_secret": SECRET, "backoff": 0.02,
                               "backoff_max": 0.5, "timeout": 5.0}
    options.update(kwargs)
    return HttpClient(**options)


def _run(backend: str, client: HttpClient, call: Any) -> Any:
    async def main() -> Any:
        try:
            return await call(client)
        finally:
            await client.aclose()

    return anyio.run(main, backend=backend)


def _attempts(emu: BybitEmulator, path: str) -> list[int]:
    return [r.code for r in emu.requests if r.path == path]


class TestAgainstTheEmulator:
    def test_a_public_get_returns_the_result(self, emu: BybitEmulator, backend: str):
        result = _run(backend, _client(emu), lambda c: c.get("/v5/market/instruments-info", {"category": "linear"}))
        assert {item["symbol"] for item in result["list"]} >= {"BTCUSDT", "ETHUSDT"}

    def test_signed_get_and_post_are_accepted(self, emu: BybitEmulator, backend: str):
        """The server recomputes the signature over the raw query and the raw body it received."""
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})

        async def calls(client: HttpClient) -> tuple[Any, Any]:
            wallet = await client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": "USDT"},
                                      signed=True)
            created = await client.post("/v5/order/create", {
                "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": "20000", "timeInForce": "GTC", "orderLinkId": "sig-test-1"})
            return wallet, created

        wallet, created = _run(backend, _client(emu), calls)
        assert wallet["list"][0]["coin"][0]["coin"] == "USDT"
        assert created["orderLinkId"] == "sig-test-1" and created["orderId"]
        assert [r.code for r in emu.requests if r.path != "/v5/market/time"] == [0, 0]

    def test_a_wrong_secret_is_an_auth_error_sent_once(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET)
        with pytest.raises(BybitAuthError) as caught:
            _run(backend, _client(emu, api_secret="WRONG"),
                 lambda c: c.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"}, signed=True))
        assert caught.value.code == 10004
        assert _attempts(emu, "/v5/account/wallet-balance") == [10004]

    def test_an_unknown_key_is_an_auth_error(self, emu: BybitEmulator, backend: str):
        with pytest.raises(BybitAuthError) as caught:
            _run(backend, _client(emu), lambda c: c.get("/v5/position/list", {"category": "linear"}, signed=True))
        assert caught.value.code == 10003

    @pytest.mark.parametrize("reset_header", [True, False], ids=["reset-header", "no-reset-header"])
    def test_a_rate_limit_is_waited_out_then_the_get_succeeds(self, emu: BybitEmulator, backend: str,
                                                               reset_header: bool):
        emu.inject_rate_limit(count=2, path=KLINE, with_reset_header=reset_header)
        started = time.monotonic()
        _run(backend, _client(emu), lambda c: c.get(KLINE, KLINE_PARAMS))
        elapsed = time.monotonic() - started
        assert _attempts(emu, KLINE) == [10006, 10006, 0]
        if reset_header:  # the answer said "in one second": the client waited for it, not less
            assert elapsed >= 0.9

    def test_a_rate_limited_post_is_sent_again(self, emu: BybitEmulator, backend: str):
        """The server refused it without acting: re-sending cannot duplicate the order."""
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        emu.inject_rate_limit(count=1, path="/v5/order/create", with_reset_header=False)
        body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": "20000", "orderLinkId": "rl-1"}
        _run(backend, _client(emu), lambda c: c.post("/v5/order/create", body))
        assert _attempts(emu, "/v5/order/create") == [10006, 0]
        assert len(emu.orders(KEY)) == 1

    @pytest.mark.parametrize("status", [403, 429, 500, 502, 503])
    def test_a_get_recovers_from_an_http_error(self, emu: BybitEmulator, backend: str, status: int):
        emu.inject_http_status(status, count=2, path=KLINE)
        result = _run(backend, _client(emu), lambda c: c.get(KLINE, KLINE_PARAMS))
        assert result["symbol"] == "BTCUSDT"
        assert _attempts(emu, KLINE) == [status, status, 0]

    def test_an_ip_limit_holds_back_every_path(self, emu: BybitEmulator, backend: str):
        """After an HTTP 403 no path is requested until the pause is over (never hammer)."""
        emu.inject_http_status(403, count=1, path=KLINE)
        hints: list[float] = []

        async def calls(c: HttpClient) -> None:
            async def look() -> None:  # the largest hold seen while the kline request is not yet sent again
                seen = 0.0
                with anyio.fail_after(10):
                    while len(_attempts(emu, KLINE)) < 2:
                        seen = max(seen, c.wait_hint("/v5/market/instruments-info"))
                        await anyio.sleep(0.005)
                hints.append(seen)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(c.get, KLINE, KLINE_PARAMS)
                tasks.start_soon(look)
            hints.append(c.wait_hint("/v5/market/instruments-info"))

        _run(backend, _client(emu, backoff=1.0, backoff_max=1.0), calls)
        assert hints[0] > 0 and hints[1] == 0.0
        assert _attempts(emu, KLINE) == [403, 0]

    def test_retries_are_bounded(self, emu: BybitEmulator, backend: str):
        emu.inject_http_status(503, count=10, path=KLINE)
        with pytest.raises(BybitServerError):
            _run(backend, _client(emu, max_retries=2), lambda c: c.get(KLINE, KLINE_PARAMS))
        assert _attempts(emu, KLINE) == [503, 503, 503]

    def test_a_post_is_not_resent_after_a_server_error(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        emu.inject_http_status(502, count=1, path="/v5/order/create")
        body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}
        with pytest.raises(BybitServerError):
            _run(backend, _client(emu), lambda c: c.post("/v5/order/create", body))
        assert _attempts(emu, "/v5/order/create") == [502]

    def test_a_slow_answer_times_out_and_the_get_is_sent_again(self, emu: BybitEmulator, backend: str):
        emu.inject_delay(2.0, count=1, path=KLINE)
        result = _run(backend, _client(emu, timeout=0.3), lambda c: c.get(KLINE, KLINE_PARAMS))
        assert result["symbol"] == "BTCUSDT"

    def test_a_post_that_timed_out_may_have_run(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        emu.accept_after_timeout(path="/v5/order/create", count=1, delay=2.0)
        body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": "20000", "orderLinkId": "late-1"}
        with pytest.raises(BybitNetworkError) as caught:
            _run(backend, _client(emu, timeout=0.3), lambda c: c.post("/v5/order/create", body))
        assert caught.value.maybe_executed and caught.value.recoverable
        assert [o["orderLinkId"] for o in emu.orders(KEY)] == ["late-1"]

    def test_nothing_listening_is_a_network_error_that_never_ran(self, backend: str):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        client = HttpClient(base_url=f"http://127.0.0.1:{port}", api_key=KEY, api_secret=SECRET, backoff=0.01,
                            max_retries=1, timeout=1.0)
        with pytest.raises(BybitNetworkError) as caught:
            _run(backend, client, lambda c: c.get(KLINE, KLINE_PARAMS))
        assert not caught.value.maybe_executed

    def test_a_clock_jump_is_resynced_and_the_request_sent_again(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})

        async def calls(client: HttpClient) -> Any:
            await client.sync_time()
            emu.inject_timestamp_skew(8000)
            return await client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"}, signed=True)

        client = _client(emu)
        _run(backend, client, calls)
        assert _attempts(emu, "/v5/account/wallet-balance") == [10002, 0]
        assert 7000 < client.time_offset_ms < 9000

    def test_the_first_signed_request_syncs_the_clock(self, emu: BybitEmulator, backend: str):
        emu.add_account(KEY, SECRET)
        emu.inject_timestamp_skew(-20_000)  # a local clock 20 s ahead would be refused
        client = _client(emu)
        _run(backend, client, lambda c: c.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"},
                                              signed=True))
        assert _attempts(emu, "/v5/account/wallet-balance") == [0]

    def test_a_spent_budget_is_waited_for_instead_of_refused(self, emu: BybitEmulator, backend: str):
        """X-Bapi-Limit-Status 0: the next request to that path waits for the window instead of being
        refused with 10006."""
        emu.add_account(KEY, SECRET)
        emu.set_rate_limit("/v5/position/list", 2)
        params = {"category": "linear", "symbol": "BTCUSDT"}

        async def calls(client: HttpClient) -> float:
            await client.get("/v5/position/list", params, signed=True)
            await client.get("/v5/position/list", params, signed=True)
            hint = client.wait_hint("/v5/position/list")
            await client.get("/v5/position/list", params, signed=True)
            return hint

        hint = _run(backend, _client(emu), calls)
        assert 0.5 < hint <= 1.1
        assert _attempts(emu, "/v5/position/list") == [0, 0, 0]
