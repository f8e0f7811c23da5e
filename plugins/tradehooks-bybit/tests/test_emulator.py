"""The Bybit V5 emulator speaks the protocol: driven here with raw httpx and websockets only."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradehooks_bybit._signing import rest_signature, ws_auth_signature
from tradehooks_bybit.testing import BybitEmulator

KEY, SECRET = "TESTKEY123", "TEST_SECRET_DO_NOT_USE"
VECTOR_TS = 1_700_000_000_000
D = Decimal


@pytest.fixture
def emu(bybit_emulator: BybitEmulator) -> BybitEmulator:
    bybit_emulator.add_account(KEY, SECRET, balances={"USDT": "10000", "BTC": "1"})
    return bybit_emulator


def headers(payload: str, *, key: str = KEY, secret: str = SECRET, ts: int | None = None,
            rw: str | None = "5000") -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time() * 1000))
    h = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": stamp,
         "X-BAPI-SIGN": rest_signature(secret, timestamp=stamp, api_key=key, recv_window=rw or "",
                                       payload=payload)}
    if rw is not None:
        h["X-BAPI-RECV-WINDOW"] = rw
    return h


def post(emu: BybitEmulator, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    raw = json.dumps(body, separators=(",", ":"))
    h = headers(raw, **kw)
    h["Content-Type"] = "application/json"
    return httpx.post(emu.rest_url + path, content=raw, headers=h, timeout=10)


def get(emu: BybitEmulator, path: str, query: str, *, signed: bool = True, **kw: Any) -> httpx.Response:
    # the query string is sent byte for byte as signed
    return httpx.get(f"{emu.rest_url}{path}?{query}", headers=headers(query, **kw) if signed else {}, timeout=10)


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["retCode"] == 0, body
    return body["result"]


def code(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    return body["retCode"]


def order(emu: BybitEmulator, **fields: Any) -> httpx.Response:
    body = {"category": "linear", "symbol": "BTCUSDT"} | fields
    return post(emu, "/v5/order/create", body)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def recv(ws: Any, pred: Callable[[dict[str, Any]], bool] = lambda m: True, timeout: float = 5) -> dict[str, Any]:
    """The next message matching ``pred`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01)))
        if pred(msg):
            return msg


async def private_ws(emu: BybitEmulator, topics: list[str] | None = None) -> Any:
    ws = await websockets.connect(emu.ws_url + "/v5/private")
    expires = int(time.time() * 1000) + 1000
    await ws.send(json.dumps({"req_id": "a", "op": "auth", "args": [KEY, expires, ws_auth_signature(SECRET, expires)]}))
    assert (await recv(ws))["success"] is True
    await ws.send(json.dumps({"op": "subscribe", "args": topics or ["order", "execution", "position", "wallet"]}))
    ack = await recv(ws)
    assert ack["success"] is True and ack["op"] == "subscribe"
    return ws


def topic(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("topic") == name


class TestSigning:
    def vector_clock(self, emu: BybitEmulator) -> None:
        # put the server clock just after the vectors' timestamp so their recv window holds
        emu.inject_timestamp_skew(VECTOR_TS + 200 - int(time.time() * 1000))

    def test_the_protocol_files_get_vectors_are_accepted_and_bound_to_their_query_order(self, emu):
        self.vector_clock(emu)
        base = {"X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": str(VECTOR_TS), "X-BAPI-RECV-WINDOW": "5000"}
        url = emu.rest_url + "/v5/position/list?"
        sig = "a49ac4c4df96928f43704e260400d5b14ce7a26ac9ae5d5a9c57ee9de8c050c5"
        reordered = "796fa755170ba228d8a53f2b32d69d628efa5ee77599427d82a2c15c4e20b4f2"
        assert code(httpx.get(url + "category=linear&symbol=BTCUSDT", headers=base | {"X-BAPI-SIGN": sig})) == 0
        assert code(httpx.get(url + "symbol=BTCUSDT&category=linear", headers=base | {"X-BAPI-SIGN": reordered})) == 0
        refused = httpx.get(url + "symbol=BTCUSDT&category=linear", headers=base | {"X-BAPI-SIGN": sig})
        assert code(refused) == 10004
        assert "origin_string[1700000000000TESTKEY1235000symbol=BTCUSDT&category=linear]" in refused.json()["retMsg"]

    def test_the_protocol_files_post_vectors_verify_the_raw_body_with_its_spacing(self, emu):
        self.vector_clock(emu)
        obj = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
               "price": "30000", "timeInForce": "GTC"}
        compact, spaced = json.dumps(obj, separators=(",", ":")), json.dumps(obj)
        base = {"X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": str(VECTOR_TS), "X-BAPI-RECV-WINDOW": "5000",
                "X-BAPI-SIGN-TYPE": "2", "Content-Type": "application/json"}
        sig_compact = "1b1f9093e9a6e781592f7312f725f8e16a061650bc9d3d40b0c67c7211af013a"
        sig_spaced = "0f996fc70ae8043b623e7c42d7883a994e2a41492c38eeec8689db0c341b4474"
        url = emu.rest_url + "/v5/order/create"
        assert code(httpx.post(url, content=compact, headers=base | {"X-BAPI-SIGN": sig_compact})) == 0
        assert code(httpx.post(url, content=spaced, headers=base | {"X-BAPI-SIGN": sig_spaced})) == 0
        assert code(httpx.post(url, content=spaced, headers=base | {"X-BAPI-SIGN": sig_compact})) == 10004
        assert len(emu.orders(KEY)) == 2

    def test_an_unknown_key_is_10003_and_a_wrong_secret_10004(self, emu):
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", key="NOPE")) == 10003
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", secret="wrong")) == 10004
        assert code(httpx.get(emu.rest_url + "/v5/order/realtime?category=linear&symbol=BTCUSDT")) == 10003

    def test_without_a_recv_window_header_the_window_is_5000(self, emu):
        now = int(time.time() * 1000)
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", rw=None, ts=now - 3000)) == 0
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", rw=None, ts=now - 6000)) == 10002

    def test_the_recv_window_rule_is_now_minus_window_to_now_plus_1000(self, emu):
        now = int(time.time() * 1000)
        q = "category=linear&symbol=BTCUSDT"
        assert code(get(emu, "/v5/order/realtime", q, ts=now - 4000)) == 0
        late = get(emu, "/v5/order/realtime", q, ts=now - 6000)
        assert code(late) == 10002 and "recv_window[5000]" in late.json()["retMsg"]
        assert code(get(emu, "/v5/order/realtime", q, ts=now - 6000, rw="10000")) == 0
        assert code(get(emu, "/v5/order/realtime", q, ts=now + 500)) == 0
        assert code(get(emu, "/v5/order/realtime", q, ts=now + 3000)) == 10002

    def test_auth_errors_can_be_answered_with_http_401(self):
        with BybitEmulator(auth_error_status=401) as emu:
            r = get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", key="NOPE")
            assert r.status_code == 401 and r.json()["retCode"] == 10003


class TestRateLimits:
    def test_private_answers_carry_the_per_key_budget_headers(self, emu):
        r = order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000")
        assert (r.headers["X-Bapi-Limit"], r.headers["X-Bapi-Limit-Status"]) == ("10", "9")
        assert abs(int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) - r.json()["time"]) < 1000
        r = post(emu, "/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                           "orderType": "Limit", "qty": "0.001", "price": "29000"})
        assert (r.headers["X-Bapi-Limit"], r.headers["X-Bapi-Limit-Status"]) == ("20", "19")
        r = get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT")
        assert r.headers["X-Bapi-Limit"] == "50"

    def test_past_the_budget_the_answer_is_10006_in_an_http_200_until_the_second_rolls(self, emu):
        emu.set_rate_limit("/v5/order/realtime", 3)
        q = "category=linear&symbol=BTCUSDT"
        answers = [get(emu, "/v5/order/realtime", q) for _ in range(4)]
        assert [code(r) for r in answers[:3]] == [0, 0, 0]
        assert [r.headers["X-Bapi-Limit-Status"] for r in answers[:3]] == ["2", "1", "0"]
        assert code(answers[3]) == 10006
        reset = int(answers[3].headers["X-Bapi-Limit-Reset-Timestamp"])
        assert reset > answers[3].json()["time"] - 5
        time.sleep(max(reset - int(time.time() * 1000), 0) / 1000 + 0.05)
        assert code(get(emu, "/v5/order/realtime", q)) == 0

    def test_budgets_are_per_key(self, emu):
        emu.add_account("OTHER", "S2", balances={"USDT": "1"})
        emu.set_rate_limit("/v5/position/list", 1)
        q = "category=linear&symbol=BTCUSDT"
        assert code(get(emu, "/v5/position/list", q)) == 0
        assert code(get(emu, "/v5/position/list", q)) == 10006
        assert code(get(emu, "/v5/position/list", q, key="OTHER", secret="S2")) == 0


    def test_past_the_ip_limit_every_request_is_http_403(self):
        with BybitEmulator(ip_limit=3) as emu:
            answers = [httpx.get(emu.rest_url + "/v5/market/time") for _ in range(4)]
            assert [r.status_code for r in answers] == [200, 200, 200, 403]
            assert answers[3].text == "access too frequent"

    def test_a_get_with_a_body_is_http_403(self, emu):
        r = httpx.request("GET", emu.rest_url + "/v5/market/time", content=b"{}")
        assert r.status_code == 403


class TestFaults:
    def test_an_injected_rate_limit_answers_10006_with_or_without_the_reset_header_and_executes_nothing(self, emu):
        emu.inject_rate_limit(count=1, path="/v5/order/create", with_reset_header=True)
        emu.inject_rate_limit(count=1, path="/v5/order/create", with_reset_header=False)
        first = order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="r1")
        second = order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="r1")
        third = order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="r1")
        assert (code(first), code(second), code(third)) == (10006, 10006, 0)
        assert "X-Bapi-Limit-Reset-Timestamp" in first.headers
        assert "X-Bapi-Limit-Reset-Timestamp" not in second.headers
        assert [o["orderLinkId"] for o in emu.orders(KEY)] == ["r1"]
        assert [r.code for r in emu.requests] == [10006, 10006, 0]

    @pytest.mark.parametrize("status", [403, 500, 502, 503])
    def test_an_injected_http_status_has_a_plain_text_body_and_executes_nothing(self, emu, status):
        emu.inject_http_status(status, count=1, path="/v5/order/create")
        r = order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000")
        assert r.status_code == status
        with pytest.raises(ValueError):
            r.json()
        assert emu.orders(KEY) == []
        assert code(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000")) == 0
        assert [rq.code for rq in emu.requests] == [status, 0]

    def test_an_injected_delay_slows_only_the_matching_requests(self, emu):
        emu.inject_delay(0.4, count=1, path="/v5/market/time")
        t0 = time.monotonic()
        ok(httpx.get(emu.rest_url + "/v5/market/time"))
        assert time.monotonic() - t0 >= 0.4
        t0 = time.monotonic()
        ok(httpx.get(emu.rest_url + "/v5/market/time"))
        assert time.monotonic() - t0 < 0.4

    def test_a_timestamp_skew_fails_the_recv_window_until_the_client_takes_the_server_time(self, emu):
        emu.inject_timestamp_skew(8000)
        q = "category=linear&symbol=BTCUSDT"
        assert code(get(emu, "/v5/order/realtime", q)) == 10002
        server_ms = int(ok(httpx.get(emu.rest_url + "/v5/market/time"))["timeSecond"]) * 1000
        assert server_ms >= int(time.time() * 1000) + 6000
        offset = server_ms - int(time.time() * 1000)
        assert code(get(emu, "/v5/order/realtime", q, ts=int(time.time() * 1000) + offset)) == 0

    def test_accept_after_timeout_executes_the_order_but_answers_too_late(self, emu):
        emu.accept_after_timeout(path="/v5/order/create", count=1, delay=3.0)
        raw = json.dumps({"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                          "qty": "0.001", "price": "29000", "orderLinkId": "late-1"})
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(emu.rest_url + "/v5/order/create", content=raw, headers=headers(raw), timeout=0.5)
        assert [o["orderLinkId"] for o in emu.orders(KEY)] == ["late-1"]
        # the client's safe retry with the same orderLinkId is refused as a duplicate
        assert code(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="late-1")) \
            == 110072
        found = ok(get(emu, "/v5/order/realtime", "category=linear&orderLinkId=late-1"))["list"]
        assert [o["orderStatus"] for o in found] == ["New"]
        assert len([o for o in emu.orders(KEY) if o["orderLinkId"] == "late-1"]) == 1

    def test_drop_sockets_closes_connections_without_a_close_frame(self, emu):
        async def scenario() -> None:
            pub = await websockets.connect(emu.ws_url + "/v5/public/linear")
            priv = await private_ws(emu)
            assert await asyncio.to_thread(emu.ws_connections, "all") == 2
            assert await asyncio.to_thread(emu.drop_sockets, "private") == 1
            with pytest.raises(websockets.ConnectionClosedError) as info:
                await asyncio.wait_for(priv.recv(), 5)
            assert info.value.rcvd is None
            await pub.send(json.dumps({"op": "ping"}))
            assert (await recv(pub))["ret_msg"] == "pong"
            await asyncio.to_thread(emu.drop_sockets, "public")
            with pytest.raises(websockets.ConnectionClosedError):
                await asyncio.wait_for(pub.recv(), 5)

        run(scenario())

    def test_a_resent_snapshot_replaces_the_book_and_clear_faults_disarms_everything(self, emu):
        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}))
            first = await recv(ws, topic("orderbook.50.BTCUSDT"))
            await asyncio.to_thread(emu.resend_book_snapshot, "linear", "BTCUSDT")
            again = await recv(ws, topic("orderbook.50.BTCUSDT"))
            assert again["type"] == "snapshot" and again["data"] == first["data"]
            await ws.close()

        run(scenario())
        emu.inject_http_status(503, count=5)
        emu.inject_timestamp_skew(60_000)
        emu.clear_faults()
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT")) == 0
        emu.clear_requests()
        assert emu.requests == []

    def test_a_skipped_book_delta_leaves_a_gap_in_u(self, emu):
        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}))
            snap = await recv(ws, topic("orderbook.50.BTCUSDT"))
            u0 = snap["data"]["u"]
            await asyncio.to_thread(emu.skip_book_delta, "linear", "BTCUSDT")
            await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", "30010")
            await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", "30020")
            delta = await recv(ws, topic("orderbook.50.BTCUSDT"))
            assert delta["type"] == "delta" and delta["data"]["u"] == u0 + 2
            await ws.close()

        run(scenario())


class TestOrders:
    def test_a_market_buy_walks_the_book_and_pushes_order_execution_position_wallet(self, emu):
        emu.set_book("linear", "BTCUSDT", [("29999.9", "1")], [("30000", "0.4"), ("30001", "0.6"), ("30100", "5")])

        async def scenario() -> list[dict[str, Any]]:
            ws = await private_ws(emu)
            r = await asyncio.to_thread(order, emu, side="Buy", orderType="Market", qty="0.5", orderLinkId="m1")
            result = ok(r)
            assert set(result) == {"orderId", "orderLinkId"} and result["orderLinkId"] == "m1"
            msgs = [await recv(ws) for _ in range(4)]
            await ws.close()
            return msgs

        msgs = run(scenario())
        assert [m["topic"] for m in msgs] == ["order", "execution", "position", "wallet"]
        o = msgs[0]["data"][0]
        assert (o["orderStatus"], o["cumExecQty"], o["leavesQty"], o["timeInForce"]) == ("Filled", "0.500", "0.000", "IOC")
        fills = [(e["execPrice"], e["execQty"], e["isMaker"]) for e in msgs[1]["data"]]
        assert fills == [("30000.00", "0.400", False), ("30001.00", "0.100", False)]
        value = D("30000") * D("0.4") + D("30001") * D("0.1")
        assert D(o["avgPrice"]) == value / D("0.5")
        fee = value * D("0.00055")
        assert sum(D(e["execFee"]) for e in msgs[1]["data"]) == fee
        assert msgs[2]["data"][0]["size"] == "0.500" and "entryPrice" in msgs[2]["data"][0]
        assert emu.balances(KEY)["USDT"] == D("10000") - fee
        assert emu.book("linear", "BTCUSDT")["a"] == [["30001.00", "0.500"], ["30100.00", "5.000"]]

    def test_a_resting_limit_fills_as_maker_when_the_price_crosses_it(self, emu):
        oid = ok(order(emu, side="Buy", orderType="Limit", qty="0.010", price="29900"))["orderId"]
        open_ = ok(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT"))["list"]
        assert [(o["orderId"], o["orderStatus"]) for o in open_] == [(oid, "New")]
        emu.set_price("linear", "BTCUSDT", "29850")
        (ex,) = emu.executions(KEY)
        assert (ex["execPrice"], ex["execQty"], ex["isMaker"], ex["feeRate"]) == ("29900.00", "0.010", True, "0.0002")
        assert emu.balances(KEY)["USDT"] == D("10000") - D("29900") * D("0.010") * D("0.0002")
        assert ok(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT"))["list"] == []
        closed = ok(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT&openOnly=1"))["list"]
        assert [o["orderStatus"] for o in closed] == ["Filled"]

    def test_closing_a_position_realises_pnl_exactly(self, emu):
        ok(order(emu, side="Buy", orderType="Market", qty="0.100"))
        entry = emu.executions(KEY)[-1]
        emu.set_price("linear", "BTCUSDT", "31000")
        ok(order(emu, side="Sell", orderType="Market", qty="0.100", reduceOnly=True))
        exit_ = emu.executions(KEY)[-1]
        pnl = (D(exit_["execPrice"]) - D(entry["execPrice"])) * D("0.1")
        fees = D(entry["execFee"]) + D(exit_["execFee"])
        assert D(exit_["execPnl"]) == pnl
        assert emu.balances(KEY)["USDT"] == D("10000") + pnl - fees
        (pos,) = emu.positions(KEY)
        assert (pos["side"], pos["size"], D(pos["cumRealisedPnl"])) == ("", "0.000", pnl - fees)

    def test_ioc_fok_and_post_only(self, emu):
        emu.set_book("linear", "BTCUSDT", [("29999", "1")], [("30000", "0.2"), ("30050", "1")])
        ok(order(emu, side="Buy", orderType="Limit", qty="0.5", price="30000", timeInForce="IOC", orderLinkId="ioc"))
        ok(order(emu, side="Buy", orderType="Limit", qty="2", price="30050", timeInForce="FOK", orderLinkId="fok"))
        ok(order(emu, side="Buy", orderType="Limit", qty="0.1", price="30050", timeInForce="PostOnly",
                 orderLinkId="po"))
        by_link = {o["orderLinkId"]: o for o in emu.orders(KEY)}
        assert (by_link["ioc"]["orderStatus"], by_link["ioc"]["cumExecQty"]) == ("Cancelled", "0.200")
        assert (by_link["fok"]["orderStatus"], by_link["fok"]["cumExecQty"]) == ("Cancelled", "0.000")
        assert (by_link["po"]["orderStatus"], by_link["po"]["rejectReason"]) == \
            ("Cancelled", "EC_PostOnlyWillTakeLiquidity")

    def test_a_stop_order_sleeps_until_the_last_price_reaches_its_trigger(self, emu):
        ok(order(emu, side="Buy", orderType="Market", qty="0.010"))

        async def scenario() -> list[dict[str, Any]]:
            ws = await private_ws(emu, ["order"])
            r = await asyncio.to_thread(order, emu, side="Sell", orderType="Market", qty="0.010", reduceOnly=True,
                                        triggerPrice="29900", triggerDirection=2, orderLinkId="stop")
            ok(r)
            first = await recv(ws)
            await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", "29950")
            await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", "29890")
            msgs = [first, await recv(ws), await recv(ws)]
            await ws.close()
            return msgs

        msgs = run(scenario())
        states = [(m["data"][0]["orderStatus"], m["data"][0]["stopOrderType"]) for m in msgs]
        assert states == [("Untriggered", "Stop"), ("Triggered", "Stop"), ("Filled", "Stop")]
        assert msgs[0]["data"][0]["triggerPrice"] == "29900.00" and msgs[0]["data"][0]["triggerDirection"] == 2
        (pos,) = emu.positions(KEY)
        assert pos["size"] == "0.000"

    def test_stop_order_rules_and_deactivation(self, emu):
        assert code(order(emu, side="Buy", orderType="Market", qty="0.01", triggerPrice="29000",
                          triggerDirection=1)) == 110092
        assert code(order(emu, side="Sell", orderType="Market", qty="0.01", triggerPrice="31000",
                          triggerDirection=2)) == 110093
        assert code(order(emu, side="Buy", orderType="Market", qty="0.01", triggerPrice="31000")) == 10001
        oid = ok(order(emu, side="Buy", orderType="Limit", qty="0.01", price="31000", triggerPrice="31000",
                       triggerDirection=1))["orderId"]
        ok(post(emu, "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid,
                                         "triggerPrice": "30500"}))
        ok(post(emu, "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid}))
        (o,) = [o for o in emu.orders(KEY) if o["orderId"] == oid]
        assert (o["orderStatus"], o["triggerPrice"]) == ("Deactivated", "30500.00")
        spot = {"category": "spot", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "0.1",
                "price": "29000", "triggerPrice": "29500"}
        assert code(post(emu, "/v5/order/create", spot)) == 170130
        ok(post(emu, "/v5/order/create", spot | {"orderFilter": "StopOrder"}))
        emu.set_price("spot", "BTCUSDT", "29400")
        (spot_order,) = [o for o in emu.orders(KEY) if o["category"] == "spot"]
        assert (spot_order["orderStatus"], spot_order["cumExecQty"]) == ("Filled", "0.100000")

    def test_reduce_only_needs_a_position_to_reduce(self, emu):
        assert code(order(emu, side="Sell", orderType="Market", qty="0.01", reduceOnly=True)) == 110017

    def test_amend_cancel_and_cancel_all(self, emu):
        a = ok(order(emu, side="Buy", orderType="Limit", qty="0.010", price="29000", orderLinkId="a"))
        ok(order(emu, side="Buy", orderType="Limit", qty="0.010", price="28000", orderLinkId="b"))
        ok(order(emu, side="Sell", orderType="Limit", qty="0.010", price="31000", orderLinkId="c"))
        ok(post(emu, "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a",
                                         "qty": "0.020", "price": "29100"}))
        amended = ok(get(emu, "/v5/order/realtime", f"category=linear&orderId={a['orderId']}"))["list"][0]
        assert (amended["qty"], amended["price"]) == ("0.020", "29100.00")
        assert ok(post(emu, "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT",
                                                 "orderId": a["orderId"]}))["orderLinkId"] == "a"
        assert code(post(emu, "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT",
                                                   "orderId": a["orderId"]})) == 110001
        result = ok(post(emu, "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"}))
        assert sorted(x["orderLinkId"] for x in result["list"]) == ["b", "c"] and result["success"] == "1"
        assert {o["orderStatus"] for o in emu.orders(KEY)} == {"Cancelled"}
        history = ok(get(emu, "/v5/order/history", "category=linear&limit=2"))
        assert len(history["list"]) == 2 and history["nextPageCursor"]

    @pytest.mark.parametrize(("fields", "expected"), [
        ({"qty": "0.0015"}, 10001),                 # not a multiple of qtyStep 0.001
        ({"price": "29000.05"}, 10001),             # not a multiple of tickSize 0.10
        ({"qty": "0.0001"}, 10001),                 # below minOrderQty / qtyStep
        ({"qty": "0.001", "price": "1000"}, 110094),  # notional 1 USDT < minNotionalValue 5
        ({"qty": "100"}, 110007),                   # 3,000,000 USDT of margin/10 > 10,000
        ({"price": "5000000"}, 110003),             # above maxPrice
    ])
    def test_linear_filters_and_funds(self, emu, fields, expected):
        body = {"side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "29000"} | fields
        assert code(order(emu, **body)) == expected
        assert emu.orders(KEY) == []

    def test_duplicate_order_link_ids_and_unknown_orders_per_category(self, emu):
        assert code(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="x")) == 0
        assert code(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="x")) == 110072
        spot = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
                "price": "29000", "orderLinkId": "x"}
        assert code(post(emu, "/v5/order/create", spot)) == 0
        assert code(post(emu, "/v5/order/create", spot)) == 170141
        assert code(post(emu, "/v5/order/cancel", {"category": "spot", "symbol": "BTCUSDT", "orderId": "nope"})) \
            == 170213
        assert code(post(emu, "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": "nope",
                                                  "price": "1"})) == 110001

    def test_spot_market_buy_spends_quote_and_fees_come_out_of_the_base(self, emu):
        emu.set_book("spot", "BTCUSDT", [("29999", "1")], [("30000", "0.01"), ("30010", "1")])
        ok(post(emu, "/v5/order/create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                          "orderType": "Market", "qty": "600"}))
        execs = emu.executions(KEY)
        got = sum(D(e["execQty"]) for e in execs)
        spent = sum(D(e["execValue"]) for e in execs)
        assert [e["feeCurrency"] for e in execs] == ["BTC", "BTC"] and spent <= D("600")
        bal = emu.balances(KEY)
        assert bal["USDT"] == D("10000") - spent
        assert bal["BTC"] == D("1") + got - sum(D(e["execFee"]) for e in execs)
        (o,) = emu.orders(KEY)
        assert (o["orderStatus"], o["marketUnit"]) == ("Filled", "quoteCoin")

    def test_spot_limit_orders_lock_their_funds_and_refuse_what_is_not_there(self, emu):
        body = {"category": "spot", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "price": "40000"}
        assert code(post(emu, "/v5/order/create", body | {"qty": "0.6"})) == 0
        assert code(post(emu, "/v5/order/create", body | {"qty": "0.6"})) == 170131
        wallet = ok(get(emu, "/v5/account/wallet-balance", "accountType=UNIFIED&coin=BTC"))["list"][0]
        assert wallet["accountType"] == "UNIFIED"
        assert (wallet["coin"][0]["walletBalance"], wallet["coin"][0]["locked"]) == ("1", "0.6")


class TestMarketData:
    def test_klines_page_newest_first_as_arrays_of_seven_strings(self, emu):
        t0 = 1_700_000_040_000
        emu.load_klines("linear", "BTCUSDT", "1", [(t0 + i * 60_000, 100 + i, 101 + i, 99 + i, 100.5 + i, 2)
                                                  for i in range(10)])
        page = ok(get(emu, "/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=1&limit=4", signed=False))
        assert [row[0] for row in page["list"]] == [str(t0 + i * 60_000) for i in (9, 8, 7, 6)]
        assert all(len(row) == 7 and all(isinstance(x, str) for x in row) for row in page["list"])
        assert page["list"][0][1:] == ["109", "110", "108", "109.5", "2", "219"]
        older = ok(get(emu, "/v5/market/kline", f"symbol=BTCUSDT&interval=1&limit=4&end={t0 + 5 * 60_000}",
                       signed=False))
        assert older["category"] == "linear"
        assert [row[0] for row in older["list"]] == [str(t0 + i * 60_000) for i in (5, 4, 3, 2)]
        assert code(get(emu, "/v5/market/kline", "symbol=BTCUSDT&interval=2", signed=False)) == 10001
        assert code(get(emu, "/v5/market/kline", "symbol=BTCUSDT&interval=1&limit=1001", signed=False)) == 10001

    def test_instruments_info_has_the_linear_and_spot_shapes_and_pages_linear(self, emu):
        first = ok(get(emu, "/v5/market/instruments-info", "category=linear&limit=1", signed=False))
        assert first["list"][0]["lotSizeFilter"]["qtyStep"] == "0.001"
        assert first["list"][0]["priceFilter"]["tickSize"] == "0.10"
        second = ok(get(emu, "/v5/market/instruments-info", f"category=linear&limit=1&cursor={first['nextPageCursor']}",
                        signed=False))
        assert [i["symbol"] for i in first["list"] + second["list"]] == ["BTCUSDT", "ETHUSDT"]
        assert second["nextPageCursor"] == ""
        spot = ok(get(emu, "/v5/market/instruments-info", "category=spot&symbol=BTCUSDT", signed=False))
        assert "nextPageCursor" not in spot
        assert set(spot["list"][0]["lotSizeFilter"]) >= {"basePrecision", "quotePrecision", "minOrderAmt"}

    def test_an_added_instrument_is_listed_and_traded_with_its_filters(self, emu):
        emu.add_instrument("linear", "SOLUSDT", tick_size="0.010", qty_step="0.1", min_qty="0.1", price="150")
        emu.add_instrument("linear", "BTCUSDT", tick_size="0.5", qty_step="0.001", min_qty="0.001")
        rows = ok(get(emu, "/v5/market/instruments-info", "category=linear&symbol=SOLUSDT", signed=False))["list"]
        assert (rows[0]["baseCoin"], rows[0]["priceFilter"]["tickSize"]) == ("SOL", "0.010")
        assert emu.book("linear", "SOLUSDT")["b"][0] == ["150.000", "10.0"]
        assert emu.book("linear", "BTCUSDT")["a"][0][0] == "30000.5"
        assert code(order(emu, symbol="SOLUSDT", side="Buy", orderType="Limit", qty="0.15", price="150")) == 10001
        assert code(order(emu, symbol="SOLUSDT", side="Buy", orderType="Market", qty="1.0")) == 0

    def test_rest_orderbook_defaults_to_25_linear_levels_and_1_spot_level(self, emu):
        linear = ok(get(emu, "/v5/market/orderbook", "category=linear&symbol=BTCUSDT", signed=False))
        spot = ok(get(emu, "/v5/market/orderbook", "category=spot&symbol=BTCUSDT", signed=False))
        assert (len(linear["b"]), len(linear["a"]), len(spot["b"]), len(spot["a"])) == (25, 25, 1, 1)
        assert linear["u"] == emu.book("linear", "BTCUSDT")["u"]

    def test_book_snapshot_and_deltas_reproduce_the_emulators_book(self, emu):
        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]}))
            snap = await recv(ws, topic("orderbook.200.BTCUSDT"))
            assert snap["type"] == "snapshot"
            bids = dict(snap["data"]["b"])
            asks = dict(snap["data"]["a"])
            u = snap["data"]["u"]
            for price in ("30003.3", "29990", "29990.1"):
                await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", price)
            await asyncio.to_thread(order, emu, side="Sell", orderType="Market", qty="3")
            for _ in range(4):
                msg = await recv(ws, topic("orderbook.200.BTCUSDT"))
                assert msg["type"] == "delta" and msg["data"]["u"] == u + 1
                u = msg["data"]["u"]
                for side, levels in (("b", bids), ("a", asks)):
                    for p, q in msg["data"][side]:
                        if q == "0":
                            del levels[p]
                        else:
                            levels[p] = q
            book = await asyncio.to_thread(emu.book, "linear", "BTCUSDT")
            assert sorted(bids.items(), key=lambda x: -D(x[0])) == [tuple(x) for x in book["b"]]
            assert sorted(asks.items(), key=lambda x: D(x[0])) == [tuple(x) for x in book["a"]]
            assert u == book["u"]
            await ws.close()

        run(scenario())

    def test_playback_builds_the_longer_intervals_from_the_played_bars(self, emu):
        t0 = 1_700_000_100_000  # a 5-minute boundary
        bars = [(t0 + i * 60_000, 100 + i, 110 + i, 90 + i, 105 + i, 2) for i in range(7)]

        async def scenario() -> list[dict[str, Any]]:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["kline.5.BTCUSDT"]}))
            await recv(ws, lambda m: m.get("op") == "subscribe")
            await asyncio.to_thread(emu.play, "linear", "BTCUSDT", "1", bars, interval_s=0.01)
            await asyncio.to_thread(emu.wait_played, 10)
            msgs = []
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 0.3))["data"][0])
            await ws.close()
            return msgs

        msgs = run(scenario())
        confirmed = [m for m in msgs if m["confirm"]]
        assert [(k["start"], k["open"], k["high"], k["low"], k["close"], k["volume"]) for k in confirmed] == [
            (t0, "100", "114", "90", "109", "10")]
        assert msgs[-1]["start"] == t0 + 300_000 and msgs[-1]["close"] == "111" and not msgs[-1]["confirm"]
        rows = ok(get(emu, "/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=5", signed=False))["list"]
        assert rows == [[str(t0), "100", "114", "90", "109", "10",
                         str(sum(D(2) * (105 + i) for i in range(5)))]]

    def test_a_taker_walking_levels_prints_one_public_trade_message_per_order(self, emu):
        emu.set_book("linear", "BTCUSDT", [("29999", "1")], [("30000", "0.1"), ("30000.5", "1")])

        async def scenario() -> dict[str, Any]:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}))
            await recv(ws, lambda m: m.get("op") == "subscribe")
            await asyncio.to_thread(order, emu, side="Buy", orderType="Market", qty="0.3")
            msg = await recv(ws, topic("publicTrade.BTCUSDT"))
            await ws.close()
            return msg

        msg = run(scenario())
        assert [(t["S"], t["p"], t["v"], t["L"]) for t in msg["data"]] == [
            ("Buy", "30000.00", "0.100", "PlusTick"), ("Buy", "30000.50", "0.200", "PlusTick")]

    def test_playback_streams_unconfirmed_then_confirmed_klines_trades_and_becomes_history(self, emu):
        bars = [(1_700_000_040_000 + i * 60_000, 30000 + i, 30010 + i, 29990 + i, 30005 + i, 4) for i in range(3)]

        async def scenario() -> list[dict[str, Any]]:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await ws.send(json.dumps({"op": "subscribe", "args": ["kline.1.BTCUSDT", "publicTrade.BTCUSDT"]}))
            await recv(ws, lambda m: m.get("op") == "subscribe")
            await asyncio.to_thread(emu.play, "linear", "BTCUSDT", "1", bars, interval_s=0.05)
            await asyncio.to_thread(emu.wait_played, 10)
            msgs = []
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 0.3)))
            await ws.close()
            return msgs

        msgs = run(scenario())
        klines = [m["data"][0] for m in msgs if m["topic"] == "kline.1.BTCUSDT"]
        assert [k["confirm"] for k in klines] == ([False] * 4 + [True]) * 3
        final = [k for k in klines if k["confirm"]]
        assert [(k["start"], k["end"], k["open"], k["high"], k["low"], k["close"]) for k in final] == [
            (b[0], b[0] + 59_999, str(b[1]), str(b[2]), str(b[3]), str(b[4])) for b in bars]
        assert len([m for m in msgs if m["topic"] == "publicTrade.BTCUSDT"]) == 12
        rows = ok(get(emu, "/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=1", signed=False))["list"]
        assert [r[0] for r in rows] == [str(b[0]) for b in reversed(bars)]
        assert emu.book("linear", "BTCUSDT")["b"][0][0] == "30007.00"


class TestWebSocket:
    def test_pongs_and_subscribe_acks_have_each_endpoints_format(self, emu):
        async def scenario() -> None:
            spot = await websockets.connect(emu.ws_url + "/v5/public/spot")
            linear = await websockets.connect(emu.ws_url + "/v5/public/linear")
            await spot.send(json.dumps({"op": "ping"}))
            pong = await recv(spot)
            assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "op": "ping"}
            await linear.send(json.dumps({"op": "ping"}))
            pong = await recv(linear)
            assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "req_id": "", "op": "ping"}
            await spot.send(json.dumps({"req_id": "s1", "op": "subscribe", "args": ["publicTrade.BTCUSDT"]}))
            ack = await recv(spot)
            assert (ack["success"], ack["ret_msg"], ack["req_id"], ack["op"]) == (True, "subscribe", "s1", "subscribe")
            await linear.send(json.dumps({"op": "subscribe", "args": ["tickers.BTCUSDT"]}))
            ack = await recv(linear)
            assert ack["success"] is False and ack["ret_msg"] == "error:handler not found,topic:tickers.BTCUSDT"
            await spot.send(json.dumps({"op": "subscribe", "args": [f"kline.{i}.BTCUSDT" for i in
                                                                    ("1", "3", "5", "15", "30", "60", "120", "240",
                                                                     "360", "720", "D")]}))
            assert (await recv(spot))["success"] is False
            for ws in (spot, linear):
                await ws.close()

        run(scenario())

    def test_private_auth_pong_and_subscribe_rules(self, emu):
        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/private")
            await ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
            assert (await recv(ws))["success"] is False
            expired = int(time.time() * 1000) - 10
            await ws.send(json.dumps({"op": "auth", "args": [KEY, expired, ws_auth_signature(SECRET, expired)]}))
            refused = await recv(ws)
            assert (refused["success"], refused["ret_msg"], refused["op"]) == (False, "Params Error", "auth")
            expires = int(time.time() * 1000) + 1000
            await ws.send(json.dumps({"op": "auth", "args": [KEY, expires, ws_auth_signature("bad", expires)]}))
            assert (await recv(ws))["success"] is False
            await ws.send(json.dumps({"op": "auth", "args": [KEY, expires, ws_auth_signature(SECRET, expires)]}))
            assert (await recv(ws))["success"] is True
            await ws.send(json.dumps({"op": "subscribe", "args": ["order", "execution.linear"]}))
            assert (await recv(ws))["success"] is False
            await ws.send(json.dumps({"req_id": "p", "op": "ping"}))
            pong = await recv(ws)
            assert (pong["op"], pong["req_id"]) == ("pong", "p") and pong["args"][0].isdigit()
            await ws.close()

        run(scenario())

    def test_a_silent_connection_is_closed_after_the_idle_timeout(self):
        with BybitEmulator(idle_timeout=0.3) as emu:
            async def scenario() -> None:
                ws = await websockets.connect(emu.ws_url + "/v5/public/linear", ping_interval=None)
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)

            run(scenario())

    def test_level_one_is_snapshot_only(self, emu):
        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/public/spot")
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]}))
            first = await recv(ws, topic("orderbook.1.BTCUSDT"))
            await asyncio.to_thread(emu.set_price, "spot", "BTCUSDT", "30100")
            second = await recv(ws, topic("orderbook.1.BTCUSDT"))
            assert (first["type"], second["type"]) == ("snapshot", "snapshot")
            assert second["data"]["b"] == [["30100.00", (await asyncio.to_thread(emu.book, "spot", "BTCUSDT"))["b"][0][1]]]
            await ws.close()

        run(scenario())


class TestLifeCycle:
    def test_stop_closes_the_port_and_the_thread(self):
        before = {t.ident for t in threading.enumerate()}
        emu = BybitEmulator().start()
        port = emu.port
        assert ok(httpx.get(emu.rest_url + "/v5/market/time"))["timeSecond"].isdigit()
        emu.stop()
        emu.stop()
        assert {t.ident for t in threading.enumerate()} <= before
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass

    def test_stop_is_prompt_with_open_sockets_and_an_answer_held_back(self):
        emu = BybitEmulator().start()
        emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
        emu.accept_after_timeout(path="/v5/order/create", delay=60)
        outcome: list[BaseException] = []

        def send() -> None:
            try:
                order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000")
            except httpx.HTTPError as exc:
                outcome.append(exc)

        late = threading.Thread(target=send, daemon=True)

        async def connect() -> list[Any]:
            return [await websockets.connect(emu.ws_url + p) for p in ("/v5/public/linear", "/v5/private")]

        loop = asyncio.new_event_loop()
        sockets = loop.run_until_complete(connect())
        late.start()
        deadline = time.monotonic() + 5
        while not emu.orders(KEY) and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 3
        late.join(5)
        assert not late.is_alive() and outcome  # the held-back answer never came: the connection closed
        for ws in sockets:
            with pytest.raises(websockets.ConnectionClosed):
                loop.run_until_complete(asyncio.wait_for(ws.recv(), 5))
        loop.close()

    def test_a_restart_serves_the_same_state_on_the_same_port(self):
        with BybitEmulator() as emu:
            emu.add_account(KEY, SECRET, balances={"USDT": "1000"})
            ok(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="kept"))
            port = emu.port
            emu.stop()
            with pytest.raises(httpx.ConnectError):
                httpx.get(emu.rest_url + "/v5/market/time")
            emu.start()
            assert emu.port == port
            rows = ok(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT"))["list"]
            assert [r["orderLinkId"] for r in rows] == ["kept"]

            async def ping() -> str:
                async with websockets.connect(emu.ws_url + "/v5/public/linear") as ws:
                    await ws.send(json.dumps({"op": "ping"}))
                    return str((await recv(ws))["ret_msg"])

            assert run(ping()) == "pong"

    def test_the_pytest_plugin_loads_without_aiohttp_and_the_emulator_says_what_is_missing(self):
        code_ = (
            "import sys; sys.modules['aiohttp'] = None\n"
            "import tradehooks_bybit.testing.pytest_plugin\n"
            "try:\n"
            "    from tradehooks_bybit.testing import BybitEmulator\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
        )
        out = subprocess.run([sys.executable, "-c", code_], capture_output=True, text=True, timeout=60, check=True)
        assert "tradehooks-bybit[testing]" in out.stdout

    def test_it_runs_on_its_own_from_the_command_line(self):
        proc = subprocess.Popen([sys.executable, "-m", "tradehooks_bybit.testing", "--key", KEY, "--secret", SECRET,
                                 "--balance", "USDT=5", "--play", "3", "--interval", "0.05"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            rest = json.loads(proc.stdout.readline().split("=", 1)[1])
            assert proc.stdout.readline().startswith('ws_url = "ws://127.0.0.1:')
            deadline = time.monotonic() + 20
            while True:
                rows = httpx.get(rest + "/v5/market/kline?symbol=BTCUSDT&interval=1").json()["result"]["list"]
                if len(rows) == 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert len(rows) == 3
            wallet = httpx.get(rest + "/v5/account/wallet-balance?accountType=UNIFIED",
                               headers=headers("accountType=UNIFIED")).json()["result"]["list"][0]
            assert wallet["coin"][0]["walletBalance"] == "5"
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(10) == 0

    def test_trio_clients_can_use_it(self, emu):
        trio = pytest.importorskip("trio")

        async def main() -> str:
            async with httpx.AsyncClient() as client:
                r = await client.get(emu.rest_url + "/v5/market/time")
                return str(r.json()["retCode"])

        assert trio.run(main) == "0"

    def test_requests_are_recorded_with_their_order_link_ids(self, emu):
        order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000", orderLinkId="rec")
        httpx.get(emu.rest_url + "/v5/nope")
        assert emu.requests == [("POST", "/v5/order/create", "rec", 0), ("GET", "/v5/nope", None, 404)]


class TestAccounts:
    def test_adding_a_known_key_again_rotates_its_secret_and_keeps_its_orders(self, emu):
        ok(order(emu, side="Buy", orderType="Limit", qty="0.001", price="29000"))
        emu.add_account(KEY, "NEW_SECRET")
        assert code(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT")) == 10004
        rows = ok(get(emu, "/v5/order/realtime", "category=linear&symbol=BTCUSDT", secret="NEW_SECRET"))["list"]
        assert len(rows) == 1
        assert emu.balances(KEY)["USDT"] == D("10000")


_accounts = itertools.count()
_op = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["linear", "spot"]), st.sampled_from(["Buy", "Sell"]),
              st.integers(1, 400)),
    st.tuples(st.just("limit"), st.sampled_from(["linear", "spot"]), st.sampled_from(["Buy", "Sell"]),
              st.integers(1, 400), st.integers(-30, 30)),
    st.tuples(st.just("price"), st.sampled_from(["linear", "spot"]), st.integers(29_700, 30_300)),
    st.tuples(st.just("cancel_all"), st.sampled_from(["linear", "spot"])),
)


class TestLedger:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=st.lists(_op, min_size=1, max_size=12))
    def test_wallet_positions_and_orders_always_add_up_to_the_executions(self, bybit_emulator, ops):
        emu = bybit_emulator
        key = f"K{next(_accounts)}"
        emu.add_account(key, "S", balances={"USDT": "20000", "BTC": "0.5"})
        kw = {"key": key, "secret": "S"}
        for op in ops:
            cat = op[1]
            base = {"category": cat, "symbol": "BTCUSDT"}
            if op[0] == "market":
                qty = D(op[3]) / 1000
                if cat == "spot" and op[2] == "Buy":
                    body = base | {"side": "Buy", "orderType": "Market", "qty": str(qty * 30000)}
                else:
                    body = base | {"side": op[2], "orderType": "Market", "qty": str(qty)}
                assert code(post(emu, "/v5/order/create", body, **kw)) in (0, 110007, 170131)
            elif op[0] == "limit":
                mid = D(emu.book(cat, "BTCUSDT")["b"][0][0])
                body = base | {"side": op[2], "orderType": "Limit", "qty": str(D(op[3]) / 1000),
                               "price": str(mid + op[4])}
                assert code(post(emu, "/v5/order/create", body, **kw)) in (0, 110007, 170131)
            elif op[0] == "price":
                emu.set_price(cat, "BTCUSDT", op[2])
            else:
                assert code(post(emu, "/v5/order/cancel-all", base, **kw)) == 0
        execs = emu.executions(key)
        lin = [e for e in execs if e["category"] == "linear"]
        spot = [e for e in execs if e["category"] == "spot"]
        bal = emu.balances(key)
        usdt = D("20000") + sum((D(e["execPnl"]) - D(e["execFee"]) for e in lin), D(0))
        btc = D("0.5")
        for e in spot:
            value, qty, fee = D(e["execValue"]), D(e["execQty"]), D(e["execFee"])
            if e["side"] == "Buy":
                usdt, btc = usdt - value, btc + qty - fee
            else:
                usdt, btc = usdt + value - fee, btc - qty
        assert (bal["USDT"], bal.get("BTC", D(0))) == (usdt, btc)
        assert bal["BTC"] >= 0
        size = sum((D(e["execQty"]) * (1 if e["side"] == "Buy" else -1) for e in lin), D(0))
        positions = emu.positions(key)
        held = sum((D(p["size"]) * (1 if p["side"] == "Buy" else -1) for p in positions), D(0))
        assert held == size
        for o in emu.orders(key):
            mine = [e for e in execs if e["orderId"] == o["orderId"]]
            assert D(o["cumExecQty"]) == sum((D(e["execQty"]) for e in mine), D(0))
            assert (o["orderStatus"] in ("New", "PartiallyFilled")) == (D(o["leavesQty"]) > 0)


_book_op = st.one_of(
    st.tuples(st.just("price"), st.decimals("29900", "30100", places=1)),
    st.tuples(st.just("market"), st.sampled_from(["Buy", "Sell"]), st.integers(1, 3000)),
    st.tuples(st.just("book"), st.lists(st.tuples(st.integers(1, 40), st.integers(1, 9)), max_size=8),
              st.lists(st.tuples(st.integers(1, 40), st.integers(1, 9)), max_size=8)),
    st.tuples(st.just("skip")),
)


class TestBookStream:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=st.lists(_book_op, min_size=1, max_size=10), depth=st.sampled_from([50, 200]))
    def test_a_subscriber_that_resyncs_on_a_gap_always_holds_the_emulators_book(self, emu, ops, depth):
        """Snapshot, then deltas applied (size "0" deletes); a gap in u means a fresh subscription."""
        name = f"orderbook.{depth}.BTCUSDT"

        async def snapshot(ws: Any) -> tuple[dict[str, str], dict[str, str], int]:
            await ws.send(json.dumps({"op": "subscribe", "args": [name]}))
            msg = await recv(ws, topic(name))
            assert msg["type"] == "snapshot"
            return dict(msg["data"]["b"]), dict(msg["data"]["a"]), msg["data"]["u"]

        emu.clear_faults()

        async def scenario() -> None:
            ws = await websockets.connect(emu.ws_url + "/v5/public/linear")
            bids, asks, u = await snapshot(ws)
            for op in ops:
                if op[0] == "price":
                    await asyncio.to_thread(emu.set_price, "linear", "BTCUSDT", op[1])
                elif op[0] == "market":
                    await asyncio.to_thread(order, emu, side=op[1], orderType="Market", qty=str(D(op[2]) / 1000))
                elif op[0] == "skip":
                    await asyncio.to_thread(emu.skip_book_delta, "linear", "BTCUSDT")
                    continue
                else:
                    await asyncio.to_thread(emu.set_book, "linear", "BTCUSDT",
                                            [(29990 - i, q) for i, q in op[1]], [(30010 + i, q) for i, q in op[2]])
                book = await asyncio.to_thread(emu.book, "linear", "BTCUSDT", depth)
                while u < book["u"]:
                    try:
                        msg = await recv(ws, topic(name), timeout=0.3)
                    except TimeoutError:  # the last change was the skipped one: nothing shows the gap yet
                        msg = {"data": {"u": -1}}
                    if msg["data"]["u"] != u + 1:  # a gap: resubscribe for a snapshot
                        await ws.send(json.dumps({"op": "unsubscribe", "args": [name]}))
                        await recv(ws, lambda m: m.get("op") == "unsubscribe")
                        bids, asks, u = await snapshot(ws)
                        continue
                    u = msg["data"]["u"]
                    for side, levels in (("b", bids), ("a", asks)):
                        for p, q in msg["data"][side]:
                            if q == "0":
                                del levels[p]
                            else:
                                levels[p] = q
                assert sorted(bids.items(), key=lambda x: -D(x[0])) == [tuple(x) for x in book["b"]]
                assert sorted(asks.items(), key=lambda x: D(x[0])) == [tuple(x) for x in book["a"]]
            await ws.close()

        run(scenario())


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["linear", "spot", "BTCUSDT", "Buy", "Sell", "Market", "Limit", "GTC", "IOC", "FOK",
                       "PostOnly", "0.001", "30000", "29000.1", "1", "2", "StopOrder", "quoteCoin", "-1", "1e3"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
_fields = ["category", "symbol", "side", "orderType", "qty", "price", "timeInForce", "orderLinkId", "orderId",
           "reduceOnly", "triggerPrice", "triggerDirection", "orderFilter", "marketUnit", "settleCoin"]


class TestRobustness:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(["/v5/order/create", "/v5/order/amend", "/v5/order/cancel", "/v5/order/cancel-all"]),
           body=st.dictionaries(st.sampled_from(_fields), _json_value, max_size=9))
    def test_any_json_body_gets_an_envelope_never_a_crash(self, emu, path, body):
        emu.set_rate_limit(path, 10_000)
        r = post(emu, path, body)
        assert r.status_code == 200, r.text
        assert isinstance(code(r), int)
        assert emu.errors == []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(["/v5/order/realtime", "/v5/order/history", "/v5/execution/list", "/v5/position/list",
                                 "/v5/account/wallet-balance", "/v5/market/kline", "/v5/market/orderbook",
                                 "/v5/market/instruments-info"]),
           query=st.dictionaries(st.sampled_from(["category", "symbol", "interval", "limit", "cursor", "start", "end",
                                                  "openOnly", "orderId", "startTime", "endTime", "coin",
                                                  "accountType", "settleCoin", "baseCoin"]),
                                 st.text(max_size=8) | st.sampled_from(["linear", "spot", "BTCUSDT", "1", "D", "0",
                                                                        "1000", "UNIFIED", "USDT", "-5"]),
                                 max_size=6))
    def test_any_query_gets_an_envelope_never_a_crash(self, emu, path, query):
        emu.set_rate_limit(path, 10_000)
        r = get(emu, path, urlencode(query))
        assert r.status_code == 200, r.text
        assert isinstance(code(r), int)
        assert emu.errors == []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(endpoint=st.sampled_from(["/v5/public/linear", "/v5/public/spot", "/v5/private"]),
           messages=st.lists(st.dictionaries(st.sampled_from(["op", "args", "req_id"]),
                                             st.sampled_from(["subscribe", "unsubscribe", "auth", "ping"]) | _json_value,
                                             max_size=3), max_size=4))
    def test_any_websocket_message_gets_an_answer_and_the_socket_stays_up(self, emu, endpoint, messages):
        async def scenario() -> None:
            async with websockets.connect(emu.ws_url + endpoint) as ws:
                for m in messages:
                    await ws.send(json.dumps(m))
                await ws.send(json.dumps({"op": "ping", "req_id": "last"}))
                await recv(ws, lambda m: m.get("op") in ("ping", "pong") and m.get("req_id") == "last")

        run(scenario())
        assert emu.errors == []

