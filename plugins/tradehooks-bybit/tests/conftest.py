# The fixtures tradehooks ships for plugin authors: `bars`, `recording_observer`, `sim_clock`.
pytest_plugins = ["tradehooks.testing.pytest_plugin"]
