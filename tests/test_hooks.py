"""Every hook has a test: the hooks not exercised elsewhere are exercised here, and a meta-test fails
when a hookspec is added without a test that implements or observes it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from tradehooks import hookimpl, hookspecs
from tradehooks.testing import run_backtest, synthetic_bars

from .conftest import ROOT

HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "tradehooks_spec"))


class LastClose:
    """A custom indicator: the previous bar's close."""

    name: ClassVar[str] = "last_close"

    @attrs.frozen(kw_only=True)
    class Params:
        pass

    def __init__(self, params: Any) -> None:
        self.value: float | None = None
        self.seen = 0

    def update(self, bar: Any) -> float | None:
        previous, self.value = self.value, bar.close
        self.seen += 1
        return previous


class UpTick:
    """Long after an up-close, flat after a down-close, reading the custom indicator."""

    name: ClassVar[str] = "up_tick"

    def __init__(self, params: Any, ctx: Any) -> None:
        self.last = ctx.indicator("last_close")
        self.before: float | None = None

    def on_bar(self, bar: Any) -> float | None:
        before, self.before = self.before, self.last.value
        if before is None:
            return None
        return 1.0 if bar.close > before else 0.0


class CountingObserver:
    """An observer component switched on by a preset's [[observers]]."""

    name: ClassVar[str] = "counting"
    made: ClassVar[list[CountingObserver]] = []

    @attrs.frozen(kw_only=True)
    class Params:
        label: str = "x"

    def __init__(self, params: Any, ctx: Any) -> None:
        self.label = params.label
        self.fills = 0
        CountingObserver.made.append(self)

    @hookimpl
    def fill_received(self, fill: Any) -> None:
        self.fills += 1


class Custom:
    __name__ = "custom"

    @hookimpl
    def register_indicators(self) -> list[type]:
        return [LastClose]

    @hookimpl
    def register_signals(self) -> list[type]:
        return [UpTick]

    @hookimpl
    def register_observers(self) -> list[type]:
        return [CountingObserver]


def test_a_plugin_indicator_is_updated_before_the_signal_reads_it():
    """register_indicators: the custom indicator is built through ctx.indicator and fed every bar."""
    result = run_backtest(signal="up_tick", bars=synthetic_bars(50), plugins=[Custom()], autoload_plugins=False)
    assert result.metrics.fills > 0


def test_a_plugin_observer_component_hears_its_engine(tmp_path: Path):
    """register_observers: an [[observers]] entry builds the plugin's class, which gets every fill."""
    from tradehooks import Engine
    from tradehooks.presets import parse_preset

    import anyio

    from tradehooks.testing import _BarsPlugin

    preset = parse_preset({
        "data": {"source": "bars"}, "instruments": [{"id": "BTCUSDT", "tick_size": "0.1", "lot_size": "0.001"}],
        "strategies": [{"id": "u", "signal": "up_tick", "sizer": {"name": "fixed", "params": {"quantity": "1"}}}],
        "observers": [{"name": "counting", "params": {"label": "mine"}}],
    })
    CountingObserver.made.clear()

    async def main():
        async with Engine(preset, plugins=[Custom(), _BarsPlugin(synthetic_bars(80), None)],
                          autoload_plugins=False) as engine:
            await engine.run()
        return engine

    engine = anyio.run(main)
    (observer,) = CountingObserver.made
    assert observer.label == "mine" and observer.fills == len(engine.fills) > 0


def test_a_plugin_adds_a_command_to_the_command_line(tmp_path: Path):
    """register_commands: an installed plugin's command runs as `tradehooks hello`."""
    (tmp_path / "tradehooks_hello.py").write_text(textwrap.dedent('''
        from tradehooks import hookimpl

        class Hello:
            name = "hello"
            help = "say hello"

            @staticmethod
            def add_arguments(parser):
                parser.add_argument("--who", default="world")

            @staticmethod
            def run(args):
                print("hello", args.who)
                return 0

        @hookimpl
        def register_commands():
            return [Hello]
    '''))
    dist = tmp_path / "tradehooks_hello-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tradehooks-hello\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tradehooks]\nhello = tradehooks_hello\n")
    run = subprocess.run([sys.executable, "-m", "tradehooks", "hello", "--who", "trader"], capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello trader"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str):
    """Some test implements the hook (def name(...)) or asserts on its calls (observer.of("name"))."""
    sources = [*(ROOT / "tests").rglob("test_*.py"), *(ROOT / "plugins").glob("*/tests/test_*.py")]
    needles = (f"def {hook}(", f'of("{hook}")')
    assert any(any(n in path.read_text() for n in needles) for path in sources), f"no test exercises {hook}"
