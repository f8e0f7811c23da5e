"""KAMA, the WMA, MACD, OBV, the ATR and NATR, Williams' %R, the Donchian channels and Aroon have two
array paths: the compiled
loops (numba, the ``fast`` extra) and the numpy kernels. Each is called explicitly here and checked against TA-Lib (to 1e-9 relative, with NaN
exactly where TA-Lib has it) and against ``update``, on the real data sets and on synthetic series
(long, flat, tiny and large prices, steady trends, across the numpy kernels' chunk boundaries, the
compiled WMA's exact recomputations and the compiled extremes' blocks and runs). Also: which path ``batch`` takes, that numba is imported only by a batch that
runs a compiled loop, that everything works without numba, that processes sharing a fresh on-disk
cache of the compiled code do not trip over each other, and that without a writable cache the numpy
kernels run (with a warning); and that NaN and infinities in the input give the same values on both
paths, NaN where the indicator's window or recursion reads them."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tradehooks.builtins.indicators import (
    Aroon,
    AverageTrueRange,
    DonchianChannels,
    KaufmanAdaptiveMovingAverage,
    MovingAverageConvergenceDivergence,
    NormalizedAverageTrueRange,
    OnBalanceVolume,
    WeightedMovingAverage,
    WilliamsPercentRange,
)
from tradehooks.model import Bar

from .test_indicators import PARAMS, assert_close, load_data_set, outputs_of

np = pytest.importorskip("numpy")
from tradehooks.builtins.indicators import _arrays, _vector  # needs numpy: imported after the skip above

SRC = Path(_arrays.__file__).resolve().parents[3]
DATA_SETS = ["btc", "altcoin", "random_walk"]
CLASSES = [KaufmanAdaptiveMovingAverage, WeightedMovingAverage, MovingAverageConvergenceDivergence,
           OnBalanceVolume, AverageTrueRange, NormalizedAverageTrueRange, WilliamsPercentRange,
           DonchianChannels, Aroon]
CASES = [(cls, raw) for cls in CLASSES for raw in PARAMS[cls.name]]
#: TA-Lib refuses a window of one value for MAX and MIN
TALIB_CASES = [(cls, raw) for cls, raw in CASES if (cls.name, raw) != ("donchian", {"period": 1})]
TALIB_IDS = [f"{cls.name}-{'-'.join(f'{k}={v}' for k, v in raw.items()) or 'defaults'}" for cls, raw in TALIB_CASES]
CASE_IDS = [f"{cls.name}-{'-'.join(f'{k}={v}' for k, v in raw.items()) or 'defaults'}" for cls, raw in CASES]

#: the numpy kernel and the compiled loop of each indicator, each ``(params, Columns) -> {output: array}``
KERNELS = {
    "kama": (_arrays._kama_numpy, _arrays._kama_compiled),
    "wma": (_arrays._wma_numpy, _arrays._wma_compiled),
    "macd": (_arrays._macd_numpy, _arrays._macd_compiled),
    "obv": (_arrays._obv_numpy, _arrays._obv_compiled),
    "willr": (_arrays._willr_numpy, _arrays._willr_compiled),
    "donchian": (_arrays._donchian_numpy, _arrays._donchian_compiled),
    "aroon": (_arrays._aroon_numpy, _arrays._aroon_compiled),
    "atr": (_arrays._atr_numpy, _arrays._atr_compiled),
    "natr": (_arrays._natr_numpy, _arrays._natr_compiled),
}


@pytest.fixture(params=["numpy", "compiled"])
def path(request: pytest.FixtureRequest) -> str:
    """Which kernel to call; the compiled loops are skipped without numba."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        assert _arrays.compiled() is not None
    return str(request.param)


@pytest.fixture(scope="module")
def talib() -> Any:
    return pytest.importorskip("talib")


def run(path: str, cls: Any, params: Any, columns: dict[str, Any]) -> dict[str, Any]:
    numpy_kernel, compiled_kernel = KERNELS[cls.name]
    kernel = compiled_kernel if path == "compiled" else numpy_kernel
    result = kernel(params, _vector.Columns(cls.name, columns))
    assert list(result) == list(cls.outputs)
    return result


def talib_of(talib: Any, cls: Any, params: Any, c: dict[str, Any]) -> dict[str, Any]:
    if cls.name == "kama":
        return {"value": talib.KAMA(c[params.source], params.period)}
    if cls.name == "wma":
        return {"value": talib.WMA(c[params.source], params.period)}
    if cls.name == "macd":
        return dict(zip(("macd", "signal", "hist"), talib.MACD(c[params.source], params.fast, params.slow,
                                                               params.signal)))
    if cls.name == "obv":
        return {"value": talib.OBV(c[params.source], c["volume"])}
    if cls.name == "willr":
        return {"value": talib.WILLR(c["high"], c["low"], c["close"], params.period)}
    if cls.name == "aroon":
        return dict(zip(("down", "up"), talib.AROON(c["high"], c["low"], params.period)))
    if cls.name in ("atr", "natr"):
        return {"value": getattr(talib, cls.name.upper())(c["high"], c["low"], c["close"], params.period)}
    upper, lower = talib.MAX(c["high"], params.period), talib.MIN(c["low"], params.period)
    return {"upper": upper, "middle": (upper + lower) / 2.0, "lower": lower}


def compare(cls: Any, got: dict[str, Any], expected: dict[str, Any], c: dict[str, Any], what: str) -> None:
    """To 1e-9 relative, with NaN in exactly the same places; near zero to 1e-9 for Williams' %R, Aroon
    and the NATR (0 to -100, 0 to 100, percent), 1e-12 of the total volume for OBV, and 1e-12 of the price level otherwise (MACD's lines
    cross zero)."""
    assert set(got) == set(expected), what
    if cls.name in ("willr", "aroon", "natr"):
        abs_tol = 1e-9
    elif cls.name == "obv":
        abs_tol = 1e-12 * float(np.sum(c["volume"]))
    else:
        abs_tol = 1e-12 * float(np.mean(np.abs(c["close"])))
    for name, column in expected.items():
        values = np.asarray(got[name])
        assert values.dtype == np.float64 and values.shape == np.shape(column), f"{what} {name}"
        assert_close(values.tolist(), list(column), abs_tol=abs_tol, what=f"{what} {name}")


@functools.cache
def _columns(name: str) -> dict[str, Any]:
    bars = load_data_set(name)
    return {field: np.array([getattr(bar, field) for bar in bars]) for field in Bar._fields[1:]}


KINDS = ["walk", "tiny", "large", "flats", "trend", "fall"]


@functools.cache
def synthetic(kind: str, count: int = 20_000) -> dict[str, Any]:
    """Columns of a random walk: ``walk`` around 100, ``tiny`` around 1e-5, ``large`` around 1e7,
    ``flats`` with stretches of identical bars (longer and shorter than the windows), ``trend`` a
    steady climb (KAMA's ratio near 1, the path never above the change by more than rounding) and
    ``fall`` a steady fall (each window's highest high its oldest); volumes from 0 to 1,000."""
    rng = np.random.default_rng(KINDS.index(kind) * 1000 + count)
    steps = rng.normal(0.0, 0.01, count)
    if kind in ("trend", "fall"):
        steps = (np.abs(steps) * 0.1 + 0.001) * (1.0 if kind == "trend" else -1.0)
    scale = {"tiny": 1e-5, "large": 1e7}.get(kind, 100.0)
    close = scale * np.exp(np.cumsum(steps))
    high = close * (1.0 + np.abs(rng.normal(0.0, 0.002, count)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 0.002, count)))
    if kind in ("trend", "fall"):
        high, low = close * 1.001, close * 0.999
    volume = rng.uniform(0.0, 1000.0, count)
    if kind == "flats":
        for start, length in [(500, 3), (1000, 30), (2000, 31), (3000, 80), (9000, 400)]:
            close[start : start + length] = high[start : start + length] = close[start]
            low[start : start + length] = close[start]
    return {"open": close, "high": high, "low": low, "close": close, "volume": volume}


@pytest.mark.parametrize("data", DATA_SETS)
@pytest.mark.parametrize(("cls", "raw"), TALIB_CASES, ids=TALIB_IDS)
def test_both_paths_match_talib_on_the_data_sets(talib: Any, path: str, data: str, cls: Any,
                                                 raw: dict[str, Any]) -> None:
    params = cls.Params(**raw)
    columns = _columns(data)
    got = run(path, cls, params, columns)
    compare(cls, got, talib_of(talib, cls, params, columns), columns, f"{path} {cls.name} on {data}:")


LONGER = [(KaufmanAdaptiveMovingAverage, {"period": 100}), (WeightedMovingAverage, {"period": 100}),
          (MovingAverageConvergenceDivergence, {"fast": 3, "slow": 60, "signal": 20}),
          (WilliamsPercentRange, {"period": 300}), (DonchianChannels, {"period": 5000}),
          (Aroon, {"period": 400}), (AverageTrueRange, {"period": 300})]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("cls", "raw"), [*TALIB_CASES, *LONGER],
                         ids=[*TALIB_IDS, *(f"{cls.name}-{next(iter(raw.values()))}" for cls, raw in LONGER)])
def test_both_paths_match_talib_on_synthetic_series(talib: Any, path: str, kind: str, cls: Any,
                                                    raw: dict[str, Any]) -> None:
    params = cls.Params(**raw)
    columns = synthetic(kind)
    got = run(path, cls, params, columns)
    compare(cls, got, talib_of(talib, cls, params, columns), columns, f"{path} {cls.name} on {kind}:")


@pytest.mark.parametrize(("cls", "raw"), CASES, ids=CASE_IDS)
def test_both_paths_match_updates_across_boundaries(path: str, cls: Any, raw: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With the numpy kernels' chunks cut to 257 bars (every state carried across dozens of
    boundaries), and the compiled WMA recomputing its sums every 256 outputs, the values are
    ``update``'s."""
    monkeypatch.setattr(_vector, "CHUNK", 257)
    params = cls.Params(**raw)
    bars = load_data_set("btc")[:6000]
    columns = {name: column[:6000] for name, column in _columns("btc").items()}
    got = run(path, cls, params, columns)
    seen = outputs_of(cls(params), bars)
    expected = {name: np.array(seen[name], dtype=float) for name in cls.outputs}  # None as NaN
    compare(cls, got, expected, columns, f"{path} {cls.name} chunked:")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.name)
def test_the_two_paths_agree_on_a_long_series(cls: Any) -> None:
    """On 200,000 bars (several of the numpy kernels' chunks) the two paths agree to 1e-12 of the value
    and the price (MACD's lines cross zero)."""
    pytest.importorskip("numba")
    columns = synthetic("flats", 200_000)
    x = columns["close"] if cls is not OnBalanceVolume else np.cumsum(columns["volume"])
    params = cls.Params()
    compiled, vectorised = (run(p, cls, params, columns) for p in ("compiled", "numpy"))
    for name in vectorised:
        assert np.array_equal(np.isnan(compiled[name]), np.isnan(vectorised[name]))
        difference = np.nan_to_num(np.abs(compiled[name] - vectorised[name]))
        assert (difference <= 1e-12 * np.nan_to_num(np.abs(vectorised[name]) + x)).all(), name


@pytest.mark.parametrize("count", [0, 1, 2, 3, 9, 10, 11, 12, 33, 34, 35, 300])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.name)
def test_both_paths_are_nan_exactly_through_the_warm_up(path: str, cls: Any, count: int) -> None:
    """However short the series, the result is as long as it and NaN exactly up to the lookback
    index (the windows are of 10 bars here, so the counts go either side of them, of a block of the
    compiled extremes and of MACD's lookback of 33)."""
    params = cls.Params() if cls in (MovingAverageConvergenceDivergence, OnBalanceVolume) else cls.Params(period=10)
    columns = {name: column[:count].copy() for name, column in synthetic("walk").items()}
    got = run(path, cls, params, columns)
    lookback = cls.lookback(params)
    for column in got.values():
        assert len(column) == count
        assert np.isnan(column[:lookback]).all() and not np.isnan(column[lookback:]).any()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.name)
def test_batch_takes_the_compiled_path_on_long_series_only(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``batch`` runs the compiled loop from :data:`COMPILED_FROM` bars on (when numba is there), the
    numpy kernel below that: each path, called alone, gives ``batch``'s result bit for bit."""
    params = cls.Params()
    for count in (_arrays.COMPILED_FROM - 1, _arrays.COMPILED_FROM):
        columns = {name: column[:count].copy() for name, column in synthetic("walk", count + 1).items()}
        got = cls.batch(params, columns)
        got = {"value": got} if cls.outputs == ("value",) else got
        taken = "compiled" if count >= _arrays.COMPILED_FROM and _arrays.compiled() is not None else "numpy"
        for name, column in run(taken, cls, params, columns).items():
            assert np.array_equal(got[name], column, equal_nan=True), f"{cls.name} {count}: {name}"
    monkeypatch.setattr(_arrays, "compiled", lambda: None)  # as without numba
    columns = synthetic("walk", _arrays.COMPILED_FROM)
    got = cls.batch(params, columns)
    got = {"value": got} if cls.outputs == ("value",) else got
    for name, column in run("numpy", cls, params, columns).items():
        assert np.array_equal(got[name], column, equal_nan=True)


def _python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter on this source tree; return what it prints."""
    environment = {**os.environ, "PYTHONPATH": str(SRC), **env}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, capture_output=True,
                          text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_numba_is_imported_only_by_a_batch_that_runs_a_compiled_loop() -> None:
    """Importing tradehooks, running ``update`` bar by bar, a batch over a list, a short batch and a
    batch of another indicator over arrays leave numba unimported; a long KAMA batch imports it."""
    pytest.importorskip("numba")
    printed = _python("""
        import sys
        import numpy as np
        import tradehooks
        from tradehooks.builtins.indicators import KaufmanAdaptiveMovingAverage as K, SimpleMovingAverage as S
        from tradehooks.builtins.indicators import _arrays
        from tradehooks.model import Bar
        x = 100.0 + np.cumsum(np.random.default_rng(1).normal(0.0, 1.0, _arrays.COMPILED_FROM))
        k = K()
        for i, v in enumerate(x[:100].tolist()):
            k.update(Bar("X", i, v, v, v, v, 1.0))
        K.batch(None, x[:100].tolist())
        K.batch(None, x[:1000])
        S.batch(None, x)
        print("numba" in sys.modules)
        K.batch(None, x)
        print("numba" in sys.modules)
    """)
    assert printed.split() == ["False", "True"]


def test_without_numba_the_numpy_kernels_run() -> None:
    """With numba unimportable, a long KAMA, WMA and MACD batch runs the numpy kernels, and gives their
    values."""
    printed = _python("""
        import sys
        sys.modules["numba"] = None  # import numba raises ImportError
        import numpy as np
        from tradehooks.builtins.indicators import (KaufmanAdaptiveMovingAverage as K,
            MovingAverageConvergenceDivergence as M, WeightedMovingAverage as W, _arrays, _vector)
        x = 100.0 + np.cumsum(np.random.default_rng(1).normal(0.0, 1.0, 2 * _arrays.COMPILED_FROM))
        c = _vector.Columns("x", x)
        same = [np.array_equal(K.batch(None, x), _arrays._kama_numpy(K.Params(), c)["value"], equal_nan=True),
                np.array_equal(W.batch(None, x), _arrays._wma_numpy(W.Params(), c)["value"], equal_nan=True),
                np.array_equal(M.batch(None, x)["hist"], _arrays._macd_numpy(M.Params(), c)["hist"],
                               equal_nan=True)]
        print(_arrays.compiled() is None, all(same), "tradehooks.builtins.indicators._compiled" in sys.modules)
    """)
    assert printed.split() == ["True", "True", "False"]


def test_processes_sharing_a_fresh_cache_of_the_compiled_loops(tmp_path: Path) -> None:
    """Two processes compiling the loops at once into the same empty on-disk cache both get the right
    values, and leave a cache that a third process loads (with no recompilation) and uses."""
    pytest.importorskip("numba")
    pytest.importorskip("talib")
    code = textwrap.dedent("""
        import numpy as np, talib
        from tradehooks.builtins.indicators import _arrays, _compiled
        x = 100.0 + np.cumsum(np.random.default_rng(3).normal(0.0, 1.0, 5000))
        out = np.empty_like(x)
        _compiled.kama(x, 30, 2.0 / 31.0, 2.0 / 3.0 - 2.0 / 31.0, out)
        ok = np.allclose(out, talib.KAMA(x, 30), rtol=1e-9, equal_nan=True)
        _compiled.wma(x, 20, out)
        ok = ok and np.allclose(out, talib.WMA(x, 20), rtol=1e-9, equal_nan=True)
        loops = [_compiled.kama, _compiled.wma]
        print(ok, sum(len(f.stats.cache_hits) for f in loops), sum(len(f.stats.cache_misses) for f in loops))
    """)
    environment = {**os.environ, "PYTHONPATH": str(SRC), "NUMBA_CACHE_DIR": str(tmp_path)}
    both = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=environment) for _ in range(2)]
    for process in both:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.split()[0] == "True"
    assert list(tmp_path.rglob("*.nbi")) and list(tmp_path.rglob("*.nbc"))
    ok, hits, misses = _python(code, NUMBA_CACHE_DIR=str(tmp_path)).split()
    assert (ok, hits, misses) == ("True", "2", "0")


#: NaN or an infinity at these rows of a series of ``NONFINITE_SIZE`` bars: in the first warm-up, two
#: in a row, one alone, and near the end
NONFINITE_AT = [3, 9_000, 9_001, 20_000, 33_100]
NONFINITE_SIZE = _arrays.COMPILED_FROM + 400
#: the windowed indicators (NaN where their window holds a NaN) and the rows of that window
WINDOW_SPANS = {"wma": 0, "willr": 0, "donchian": 0, "aroon": 1}
#: the columns each output of a windowed indicator reads over its window
WINDOW_READS = {"wma": {"value": ("close",)}, "willr": {"value": ("high", "low")},
                "donchian": {"upper": ("high",), "middle": ("high", "low"), "lower": ("low",)},
                "aroon": {"up": ("high",), "down": ("low",)}}


def _with(bad: float, fields: tuple[str, ...]) -> dict[str, Any]:
    columns = {name: column.copy() for name, column in synthetic("walk", NONFINITE_SIZE).items()}
    for name in fields:
        columns[name][NONFINITE_AT] = bad
    return columns


def _batch_both_ways(cls: Any, params: Any, columns: dict[str, Any],
                     monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    """``batch`` with the compiled loops, then as without numba."""
    assert _arrays.compiled() is not None

    def batch() -> dict[str, Any]:
        got = cls.batch(params, columns)
        return {"value": got} if cls.outputs == ("value",) else got

    compiled = batch()
    with monkeypatch.context() as patch:
        patch.setattr(_arrays, "compiled", lambda: None)
        return compiled, batch()


def _assert_same(cls: Any, compiled: dict[str, Any], vectorised: dict[str, Any], what: str) -> None:
    """NaN in the same places, the values to 1e-12 relative and 1e-12 of the price (0 to 100 ranges:
    1e-9, as :func:`compare`)."""
    for name in cls.outputs:
        assert np.array_equal(np.isnan(compiled[name]), np.isnan(vectorised[name])), f"{what} {name}"
        abs_tol = 1e-9 if cls.name in ("willr", "aroon", "natr") else 1e-12 * 100.0
        np.testing.assert_allclose(compiled[name], vectorised[name], rtol=1e-12, atol=abs_tol, equal_nan=True,
                                   err_msg=f"{what} {name}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("fields", [("open", "high", "low", "close", "volume"), ("high",), ("low",), ("close",),
                                    ("volume",)], ids=lambda fields: "all" if len(fields) > 1 else fields[0])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.name)
def test_nonfinite_inputs_give_the_same_values_on_both_paths(cls: Any, fields: tuple[str, ...], bad: float,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A long series (compiled loops) with NaN or an infinity here and there, in the warm-up and near
    the end: the compiled loops and the numpy kernels give the same values, NaN in the same places."""
    pytest.importorskip("numba")
    params = cls.Params(period=10) if cls in WINDOW_SPANS else cls.Params()
    compiled, vectorised = _batch_both_ways(cls, params, _with(bad, fields), monkeypatch)
    _assert_same(cls, compiled, vectorised, f"{cls.name} with {bad} in {fields}:")


@pytest.mark.parametrize("cls", [cls for cls in CLASSES if cls.name in WINDOW_SPANS], ids=lambda cls: cls.name)
def test_a_nan_makes_every_window_that_holds_it_nan(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The windowed indicators: NaN exactly where the window of an output holds a NaN of a column it
    reads (besides the warm-up; and Williams' %R where its own close is NaN), on both paths; elsewhere
    the values of the series without NaN."""
    pytest.importorskip("numba")
    params = cls.Params(period=10)
    span = params.period + WINDOW_SPANS[cls.name]
    clean = {"value": cls.batch(params, _with(0.0, ()))} if cls.outputs == ("value",) else cls.batch(
        params, _with(0.0, ()))
    for fields in (("high",), ("low",), ("close",), ("high", "low", "close")):
        both = _batch_both_ways(cls, params, _with(np.nan, fields), monkeypatch)
        for got in both:
            for name, reads in WINDOW_READS[cls.name].items():
                hit = np.zeros(NONFINITE_SIZE, dtype=bool)
                if set(reads) & set(fields):
                    for row in NONFINITE_AT:
                        hit[row : row + span] = True
                if cls.name == "willr" and "close" in fields:
                    hit[NONFINITE_AT] = True  # the close of the bar itself, by the formula
                hit[: span - 1] = True  # the warm-up
                assert np.array_equal(np.isnan(got[name]), hit), f"{cls.name} {name} with NaN in {fields}"
                np.testing.assert_allclose(got[name][~hit], clean[name][~hit], rtol=1e-12)


@pytest.mark.parametrize("cls", [cls for cls in CLASSES if cls.name not in WINDOW_SPANS],
                         ids=lambda cls: cls.name)
def test_a_nan_makes_every_later_value_of_a_recursion_nan_as_talib(talib: Any, cls: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """KAMA, MACD, the ATR and NATR carry a NaN to every later value, on both paths, as TA-Lib does;
    OBV as TA-Lib too (a NaN close moves nothing, a NaN volume stops the total). Not compared: a NaN
    close alone in the ATR, which TA-Lib's true range skips (its comparisons with the high and low
    are false) where the arrays carry it on, as they do a NaN high or low."""
    pytest.importorskip("numba")
    params = cls.Params()
    scale = _with(0.0, ())  # for the tolerances
    every = ("high", "low", "close", "volume")
    cases = [every, ("volume",)] if cls.name in ("atr", "natr") else [every, ("close",), ("volume",)]
    for fields in cases:
        columns = _with(np.nan, fields)
        expected = talib_of(talib, cls, params, columns)
        for got in _batch_both_ways(cls, params, columns, monkeypatch):
            compare(cls, got, expected, scale, f"{cls.name} with NaN in {fields}:")
        if cls.name != "obv":
            first = min(max(row, cls.lookback(params)) for row in NONFINITE_AT) if "close" in fields else None
            for name in cls.outputs:
                assert first is None or np.isnan(got[name][first:]).all(), name


#: a long KAMA and Donchian batch, against the numpy kernels; prints whether the compiled module is
#: unavailable, whether the values are the numpy kernels' bit for bit, and where the package is
_FALLBACK_CHECK = """
    import numpy as np
    import tradehooks
    from tradehooks.builtins.indicators import DonchianChannels as D, KaufmanAdaptiveMovingAverage as K
    from tradehooks.builtins.indicators import _arrays, _vector
    x = 100.0 + np.cumsum(np.random.default_rng(1).normal(0.0, 1.0, _arrays.COMPILED_FROM))
    c = _vector.Columns("x", x)
    same = []
    for _ in range(2):
        same.append(np.array_equal(K.batch(None, x), _arrays._kama_numpy(K.Params(), c)["value"], equal_nan=True))
        same.append(np.array_equal(D.batch(None, x)["upper"], _arrays._donchian_numpy(D.Params(), c)["upper"],
                                   equal_nan=True))
    print("RESULT", _arrays.compiled() is None, all(same), tradehooks.__file__)
"""


def _unwritable(tmp_path: Path) -> Path:
    """A path no process can create a directory at, root included: one under a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory\n")
    return blocker / "cache"


def test_without_a_writable_cache_the_numpy_kernels_run(tmp_path: Path) -> None:
    """A copy of the package whose source tree numba cannot write its cache into, with NUMBA_CACHE_DIR
    and the user's cache directory unusable too: importing the compiled loops fails (numba finds no
    place for its cache), and a long batch runs the numpy kernels, gives their values, and says so
    once in the log."""
    pytest.importorskip("numba")
    copy = tmp_path / "src"
    shutil.copytree(SRC / "tradehooks", copy / "tradehooks", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tradehooks" / "builtins" / "indicators" / "__pycache__").write_text("a file, not a directory\n")
    unwritable = _unwritable(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FALLBACK_CHECK)], check=False, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(copy), "NUMBA_CACHE_DIR": str(unwritable),
                          "HOME": str(unwritable), "XDG_CACHE_HOME": str(unwritable), "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    result = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert result == [["True", "True", str(copy / "tradehooks" / "__init__.py")]], done.stdout
    log = done.stdout + done.stderr
    assert log.count("compiled loops unavailable") == 1, log
    assert "no locator available" in log, log  # the reason numba gave


def test_a_cache_that_becomes_unwritable_before_the_first_call(tmp_path: Path) -> None:
    """NUMBA_CACHE_DIR writable when the compiled loops are imported, replaced by a file before their
    first call: numba compiles the loop but cannot save it, and the batch runs the numpy kernel
    instead (then the loop already compiled, or the numpy kernel again): the same values, one warning."""
    pytest.importorskip("numba")
    cache = tmp_path / "cache"
    code = textwrap.dedent("""
        import os, shutil
        from tradehooks.builtins.indicators import _arrays
        assert _arrays.compiled() is not None
        shutil.rmtree(os.environ["NUMBA_CACHE_DIR"])
        open(os.environ["NUMBA_CACHE_DIR"], "w").close()
    """) + textwrap.dedent(_FALLBACK_CHECK)
    printed = _python(code, NUMBA_CACHE_DIR=str(cache))
    result = [line.split()[1:3] for line in printed.splitlines() if line.startswith("RESULT")]
    assert result == [["False", "True"]], printed
    assert printed.count("compiled loops unavailable") == 1, printed
    assert cache.is_file()


def test_the_quick_check_for_nonfinite_values_falls_back_on_huge_ones() -> None:
    """The first non-finite value is found after a quick check (``x . x``) that overflows on finite
    values above 1e154 in size: those are then found finite, one by one."""
    assert _arrays._first_nonfinite(np.array([1e200, -1e200, 3.0])) is None
    assert _arrays._first_nonfinite(np.array([1e200, 2.0, np.inf, np.nan]), 1) == 3
    assert _arrays._first_nonfinite(np.array([])) is None
    assert _arrays._holding_nan(np.array([1e200, 1.0, 2.0]), 2, infinite=True) is None
    assert _arrays._holding_nan(np.array([1.0, np.inf, 2.0, 3.0]), 2, infinite=False) is None
    held = _arrays._holding_nan(np.array([1.0, np.inf, 2.0, 3.0]), 2, infinite=True)
    assert held is not None and held.tolist() == [False, True, True, False]
    held = _arrays._holding_nan(np.array([np.nan, 1.0, 2.0, 3.0, np.nan]), 3, infinite=False)
    assert held is not None and held.tolist() == [True, True, True, False, True]
