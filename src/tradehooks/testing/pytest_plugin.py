"""Opt-in pytest fixtures for plugin authors.

Enable in a ``conftest.py``::

    pytest_plugins = ["tradehooks.testing.pytest_plugin"]
"""

from __future__ import annotations

import pytest

from tradehooks.model import Bar
from tradehooks.testing import RecordingObserver, SimClock, synthetic_bars


@pytest.fixture
def bars() -> list[Bar]:
    """2,000 deterministic one-minute BTCUSDT-like bars."""
    return synthetic_bars(2_000)


@pytest.fixture
def recording_observer() -> RecordingObserver:
    """A fresh observer plugin that records every hook call."""
    return RecordingObserver()


@pytest.fixture
def sim_clock() -> SimClock:
    """A simulated clock at 2024-01-01T00:00:00Z."""
    return SimClock(1_704_067_200 * 1_000_000_000)
