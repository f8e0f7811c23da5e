"""Fixtures of the Bybit plugin's tests.

tradehooks' fixtures for plugin authors are imported (not named in ``pytest_plugins``, which pytest
refuses in a conftest that is not at the root of the run, as here when the suite runs from the
repository's root).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tradehooks.testing.pytest_plugin import bars, recording_observer, sim_clock  # noqa: F401

from tradehooks_bybit.testing import BybitEmulator


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend a test runs its coroutine on (``anyio.run(..., backend=backend)``)."""
    return str(request.param)


@pytest.fixture
def emu() -> Iterator[BybitEmulator]:
    """A Bybit emulator on 127.0.0.1 (a real HTTP and WebSocket server in a background thread)."""
    with BybitEmulator() as emulator:
        yield emulator
