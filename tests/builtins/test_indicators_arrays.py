"""``batch`` over numpy arrays: the vectorised kernels give what ``update`` gives, bar for bar (same NaN
warm-up, values to 1e-9), on the data sets, across chunk boundaries and on a series long enough for
the real chunking; and they take the input forms the docstring promises."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest

from tradehooks.builtins.indicators import (
    AverageTrueRange,
    BollingerBands,
    MovingAverageConvergenceDivergence,
    SimpleMovingAverage,
    VolumeWeightedAveragePrice,
)
from tradehooks.model import Bar

from .test_indicators import ALL, CASE_IDS, CASES, assert_close, load_data_set, outputs_of

np = pytest.importorskip("numpy")
from tradehooks.builtins.indicators import _vector  # needs numpy: imported after the skip above

DATA_SETS = ["btc", "altcoin", "random_walk"]
OSCILLATORS = {"rsi", "stoch", "stochrsi", "roc", "cci", "willr", "natr", "adx", "aroon", "mfi"}


@functools.cache
def _columns(name: str) -> dict[str, Any]:
    bars = load_data_set(name)
    return {field: np.array([getattr(bar, field) for bar in bars]) for field in Bar._fields[1:]}


def _expected(cls: Any, params: Any, bars: Any) -> dict[str, list[float | None]]:
    seen = outputs_of(cls(params), bars)
    return {name: seen[name] for name in cls.outputs}


def _compare(cls: Any, got: Any, expected: dict[str, list[float | None]], price: float, what: str) -> None:
    got = {"value": got} if cls.outputs == ("value",) else got
    assert list(got) == list(cls.outputs)
    abs_tol = 1e-9 if cls.name in OSCILLATORS else 1e-12 * price
    for name, column in got.items():
        assert column.dtype == np.float64
        assert_close(column.tolist(), expected[name], abs_tol=abs_tol, what=f"{what} {name}")


@pytest.mark.parametrize("data", DATA_SETS)
@pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
def test_arrays_match_updates(data: str, cls: Any, raw: dict[str, Any]) -> None:
    """The vectorised kernel equals the incremental indicator on the whole data set."""
    params = cls.Params(**raw)
    bars = load_data_set(data)
    got = cls.batch(params, _columns(data))
    _compare(cls, got, _expected(cls, params, bars), bars[0].close, f"{cls.name} on {data}:")


@pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
def test_arrays_match_updates_across_chunk_boundaries(
    cls: Any, raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks of 257 bars (so that every state is carried across dozens of boundaries, and the
    recurrences run their blocked path) the values are the same."""
    monkeypatch.setattr(_vector, "CHUNK", 257)
    params = cls.Params(**raw)
    bars = load_data_set("btc")[:6000]
    columns = {name: column[:6000] for name, column in _columns("btc").items()}
    got = cls.batch(params, columns)
    _compare(cls, got, _expected(cls, params, bars), bars[0].close, f"{cls.name} chunked:")


@functools.cache
def _long_series(count: int = 70_000) -> tuple[tuple[Bar, ...], dict[str, Any]]:
    """A geometric random walk long enough for two chunks of the real size, with a flat stretch."""
    rng = np.random.default_rng(11)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, count)))
    close[40_000:40_050] = close[40_000]
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.001, count)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.001, count)))
    high[40_001:40_050] = low[40_001:40_050] = open_[40_001:40_050] = close[40_000]
    volume = rng.uniform(0.0, 10.0, count)
    ts = np.arange(count, dtype=np.int64) * 3_600_000_000_000  # hourly: sessions of 24 bars
    columns = {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    bars = tuple(Bar("X", *row) for row in zip(*(columns[f].tolist() for f in Bar._fields[1:])))
    return bars, columns


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.name)
def test_arrays_match_updates_on_a_long_series(cls: Any) -> None:
    """On 70,000 bars (more than two chunks of the real size) the defaults agree too."""
    bars, columns = _long_series()
    params = cls.Params()
    _compare(cls, cls.batch(params, columns), _expected(cls, params, bars), 100.0, f"{cls.name} long:")


@pytest.mark.parametrize("extra", [0, 1, 17, 1030])
@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.name)
def test_arrays_match_updates_just_past_the_warm_up(cls: Any, extra: int) -> None:
    """A series that ends ``extra`` bars after the first value: shorter than one row of the banded
    products (16 windows) or of the rolling moments (1,024), or just longer; the values are
    ``update``'s."""
    params = cls.Params()
    count = cls.lookback(params) + 1 + extra
    bars = load_data_set("random_walk")[:count]
    columns = {name: column[:count] for name, column in _columns("random_walk").items()}
    _compare(cls, cls.batch(params, columns), _expected(cls, params, bars), 100.0, f"{cls.name} {count} bars:")


class TestInputs:
    def test_a_plain_array_stands_for_bars_with_every_field_equal(self) -> None:
        """A 1-D array is the close (and high, low, open, volume) of each bar."""
        xs = np.array([1.0, 2.0, 3.0, 4.0, 8.0])
        got = SimpleMovingAverage.batch(SimpleMovingAverage.Params(period=3), xs)
        assert np.isnan(got[:2]).all() and got[2:].tolist() == [2.0, 3.0, 5.0]
        atr = AverageTrueRange.batch(AverageTrueRange.Params(period=2), xs)
        assert np.isnan(atr[:2]).all() and atr[2:].tolist() == [1.0, 1.0, 2.5]

    def test_a_mapping_of_lists_is_accepted(self) -> None:
        """Columns may be lists; only those the indicator reads are needed."""
        got = SimpleMovingAverage.batch(SimpleMovingAverage.Params(period=2, source="high"), {"high": [1, 3, 5]})
        assert np.isnan(got[0]) and got[1:].tolist() == [2.0, 4.0]

    def test_a_missing_column_is_named(self) -> None:
        """An indicator that reads a column the mapping lacks says which."""
        with pytest.raises(ValueError, match="atr reads the column 'high', which the mapping lacks"):
            AverageTrueRange.batch(None, {"close": np.ones(30), "low": np.ones(30)})

    def test_columns_of_different_lengths_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"different lengths \[3, 4\]"):
            SimpleMovingAverage.batch(None, {"close": np.ones(3), "high": np.ones(4)})

    def test_a_two_dimensional_array_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
            SimpleMovingAverage.batch(None, np.ones((2, 3)))

    def test_multi_output_indicators_return_a_dict_of_arrays(self) -> None:
        """MACD gives ``macd``, ``signal`` and ``hist``, in that order."""
        got = MovingAverageConvergenceDivergence.batch(None, _columns("random_walk"))
        assert list(got) == ["macd", "signal", "hist"]
        assert int(np.argmax(~np.isnan(got["macd"]))) == 33

    @pytest.mark.parametrize("count", [0, 1, 5])
    @pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.name)
    def test_a_short_series_is_nan_until_the_warm_up_ends(self, cls: Any, count: int) -> None:
        """However few the bars (none, one, five), the result is as long as the input and NaN up to the
        lookback index."""
        columns = {name: column[:count] for name, column in _columns("random_walk").items()}
        params = cls.Params(period=20) if cls is VolumeWeightedAveragePrice else cls.Params()
        got = cls.batch(params, columns)
        lookback = cls.lookback(params)
        for column in [got] if cls.outputs == ("value",) else got.values():
            assert len(column) == count and np.isnan(column[:lookback]).all()
            assert not np.isnan(column[lookback:]).any()

    def test_a_subclass_runs_through_update(self) -> None:
        """An indicator without a kernel of its own (a subclass) is run bar by bar over the columns."""

        class Wider(BollingerBands):
            __slots__ = ()

        columns = _columns("random_walk")
        got = Wider.batch(BollingerBands.Params(), columns)
        expected = BollingerBands.batch(BollingerBands.Params(), columns)
        for name in BollingerBands.outputs:
            assert np.allclose(got[name], expected[name], rtol=1e-9, equal_nan=True)

    def test_the_session_vwap_reads_the_timestamps(self) -> None:
        """Hourly bars over two days: the VWAP starts afresh on the 25th bar."""
        count = 30
        columns = {
            "ts": np.arange(count, dtype=np.int64) * 3_600_000_000_000,
            "high": np.full(count, 11.0), "low": np.full(count, 9.0),
            "close": np.concatenate([np.full(24, 10.0), np.full(6, 40.0)]), "volume": np.ones(count),
        }
        got = VolumeWeightedAveragePrice.batch(None, columns)
        assert got[23] == 10.0 and got[24] == pytest.approx(20.0) and math.isclose(got[29], 20.0)


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 1000, 5000])
def test_a_bank_of_recursions_equals_stepping_it(count: int) -> None:
    """``Bank.run`` (block matrix products, block ends chained) gives what stepping the recursions one
    input at a time gives, whatever the length, with the states carried between two runs."""
    rng = np.random.default_rng(count)
    x = 100.0 + np.cumsum(rng.normal(0.0, 1.0, count))
    # a MACD-like bank: two EMAs of the input, a third of their difference; outputs mixing them
    bank = _vector.Bank([0.8, 0.95, 0.6], [0.2, 0.05, 0.4], [1.0, 1.0, 0.0], [[], [0.0], [1.0, -1.0]],
                        [[1.0, -1.0, 0.0], [0.5, 2.0, -3.0]])
    start = [100.0, 99.0, 0.5]
    outs = [np.full(count, np.nan), np.full(count, np.nan)]
    middle = count // 3
    state = bank.run(x[:middle], start, outs, 0)
    state = bank.run(x[middle:], state, outs, middle)
    expected = start
    for t, value in enumerate(x.tolist()):
        expected = bank.step(expected, value)
        assert outs[0][t] == pytest.approx(expected[0] - expected[1], rel=1e-12, abs=1e-12)
        assert outs[1][t] == pytest.approx(0.5 * expected[0] + 2.0 * expected[1] - 3.0 * expected[2],
                                           rel=1e-12, abs=1e-9)
    assert state == pytest.approx(expected, rel=1e-12)
