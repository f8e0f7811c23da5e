"""Shared helpers for the kernel tests. Every test builds its own engine and files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "plugins" / "tradehooks-examples"

INSTRUMENT = """
[[instruments]]
id = "BTCUSDT"
base = "BTC"
quote = "USDT"
tick_size = "0.1"
lot_size = "0.001"
min_notional = "5"
"""


def preset_text(data_path: str, *, strategies: str | None = None, extra: str = "", timeframe: str = "1m") -> str:
    """A backtest preset on one CSV file with one sma_cross strategy (or ``strategies``)."""
    strategies = strategies if strategies is not None else """
[[strategies]]
id = "trend"
signal = "sma_cross"
params = { fast = 10, slow = 30 }
sizer = { name = "fixed", params = { quantity = "0.01" } }
"""
    return textwrap.dedent(
        f"""
        [engine]
        mode = "backtest"
        initial_cash = "100000"
        currency = "USDT"

        [data]
        source = "csv"
        timeframe = "{timeframe}"
        params = {{ path = "{data_path}" }}
        """
    ) + INSTRUMENT + strategies + extra


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """5,000 generated one-minute BTCUSDT bars in a CSV file."""
    from tradehooks.builtins.data_synthetic import write_csv
    from tradehooks.testing import synthetic_bars

    path = tmp_path / "BTCUSDT-1m.csv"
    write_csv(path, synthetic_bars(5_000, seed=3))
    return path


@pytest.fixture
def preset_file(tmp_path: Path, synthetic_csv: Path) -> Path:
    """A valid preset on ``synthetic_csv``."""
    path = tmp_path / "preset.toml"
    path.write_text(preset_text(synthetic_csv.name))
    return path


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path
