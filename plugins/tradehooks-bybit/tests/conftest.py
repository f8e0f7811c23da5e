"""Fixtures of the Bybit plugin's tests.

tradehooks' fixtures for plugin authors are imported (not named in ``pytest_plugins``, which pytest
refuses in a conftest that is not at the root of the run, as here when the suite runs from the
repository's root).
"""

from tradehooks.testing.pytest_plugin import bars, recording_observer, sim_clock  # noqa: F401
