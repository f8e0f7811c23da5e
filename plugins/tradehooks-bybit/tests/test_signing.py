"""Request signing against the reproducible vectors of the protocol notes (HMAC-SHA256, lowercase hex)."""

from __future__ import annotations

import pytest

from tradehooks_bybit._signing import rest_signature, sign, ws_auth_signature

SECRET = "TEST_SECRET_DO_NOT_USE"
KEY = "TESTKEY123"
TS = 1700000000000
COMPACT = ('{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
           '"price":"30000","timeInForce":"GTC"}')
SPACED = ('{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", '
          '"price": "30000", "timeInForce": "GTC"}')


class TestRestSignature:
    @pytest.mark.parametrize(("payload", "expected"), [
        pytest.param("category=linear&symbol=BTCUSDT",
                     "a49ac4c4df96928f43704e260400d5b14ce7a26ac9ae5d5a9c57ee9de8c050c5", id="get"),
        pytest.param("symbol=BTCUSDT&category=linear",
                     "796fa755170ba228d8a53f2b32d69d628efa5ee77599427d82a2c15c4e20b4f2", id="get-reordered"),
        pytest.param("", "64169744670af2e7f69be59a55b037f534569af034d54f0bcf8ce49c4d0da90f", id="get-empty"),
        pytest.param(COMPACT, "1b1f9093e9a6e781592f7312f725f8e16a061650bc9d3d40b0c67c7211af013a", id="post-compact"),
        pytest.param(SPACED, "0f996fc70ae8043b623e7c42d7883a994e2a41492c38eeec8689db0c341b4474", id="post-spaced"),
    ])
    def test_it_matches_the_vector(self, payload: str, expected: str):
        assert rest_signature(SECRET, timestamp=TS, api_key=KEY, recv_window=5000, payload=payload) == expected

    def test_it_signs_the_plain_concatenation(self):
        assert rest_signature(SECRET, timestamp="1", api_key="k", recv_window="5000", payload="a=b") == sign(
            SECRET, "1k5000a=b")

    def test_the_bytes_as_sent_matter(self):
        """The same parameters in another order (or JSON spacing) sign differently: sign what is sent."""
        ordered = rest_signature(SECRET, timestamp=TS, api_key=KEY, recv_window=5000, payload=COMPACT)
        assert ordered != rest_signature(SECRET, timestamp=TS, api_key=KEY, recv_window=5000, payload=SPACED)


class TestWebSocketAuth:
    def test_it_matches_the_vector(self):
        assert ws_auth_signature(SECRET, 1700000001000) == (
            "95466be9a1a4f49619d5c3411dd53a1b40f01dc50d170a8340c0010adf0229ab")

    def test_it_is_lowercase_hex(self):
        signature = ws_auth_signature(SECRET, 1)
        assert len(signature) == 64 and signature == signature.lower()
        int(signature, 16)
