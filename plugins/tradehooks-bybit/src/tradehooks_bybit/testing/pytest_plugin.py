"""The ``bybit_emulator`` fixture, registered by the ``pytest11`` entry point of tradehooks-bybit.

aiohttp is imported only when a test asks for the fixture, so pytest starts without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tradehooks_bybit.testing import BybitEmulator


@pytest.fixture
def bybit_emulator() -> Iterator[BybitEmulator]:
    """A started :class:`~tradehooks_bybit.testing.BybitEmulator` on a free port, stopped afterwards.

    It has the default instruments (linear and spot BTCUSDT and ETHUSDT) and no account: add one with
    ``bybit_emulator.add_account(key, secret, balances={...})``. A test during which the emulator met a
    defect of its own (see ``errors``) fails.
    """
    from tradehooks_bybit.testing import BybitEmulator

    with BybitEmulator() as emu:
        yield emu
    if emu.errors:
        pytest.fail("the Bybit emulator met a defect of its own:\n" + "\n".join(emu.errors), pytrace=False)
