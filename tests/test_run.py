"""`tradehooks run` as an operator uses it: a real process, real preset edits, real signals, a plugin
installed while it runs. After every step: the engine's state (status file and JSON log), the same
process id, and event sequence numbers with no gap and no repeat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

HEAD = """
[engine]
mode = "paper"
initial_cash = "1000000"
warmup_bars = 50

[data]
source = "synthetic_live"
timeframe = "1m"
params = {{ initial_price = 30000.0, speed = 1200 }}

[[instruments]]
id = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"
"""

TREND = """
[[strategies]]
id = "trend"
signal = "sma_cross"
params = {{ fast = {fast}, slow = 20 }}
sizer = {{ name = "fixed", params = {{ quantity = "0.01" }} }}
enabled = {enabled}
"""

HOLD = """
[[strategies]]
id = "hold"
signal = "always_long"
on_disable = "flatten"
sizer = { name = "fixed", params = { quantity = "0.5" } }
"""

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "tradehooks-hold"
version = "1.0.0"
dependencies = []

[project.entry-points.tradehooks]
hold = "tradehooks_hold"
"""

PLUGIN_MODULE = '''
from tradehooks import hookimpl


class AlwaysLong:
    """Always fully long."""

    name = "always_long"

    def __init__(self, params, ctx):
        pass

    def on_bar(self, bar):
        return 1.0


@hookimpl
def register_signals():
    return [AlwaysLong]
'''


def preset(fast: int = 5, enabled: str = "true", extra: str = "") -> str:
    return textwrap.dedent(HEAD.format() + TREND.format(fast=fast, enabled=enabled)) + extra


class Operator:
    """Drives one `tradehooks run` process and reads its log and status file."""

    def __init__(self, tmp_path: Path) -> None:
        self.preset = tmp_path / "live.toml"
        self.status_file = tmp_path / "status.json"
        self.log_path = tmp_path / "run.log"
        self.site = tmp_path / "site"
        self.site.mkdir()
        self.tmp_path = tmp_path
        self.lines_read = 0
        self.records: list[dict[str, Any]] = []

    def start(self) -> None:
        self.preset.write_text(preset())
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.site), os.environ.get("PYTHONPATH", "")])}
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tradehooks", "--log-format", "json", "run", str(self.preset),
             "--status-file", str(self.status_file)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp_path,
        )

    def read(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        complete = lines if self.log_path.read_text().endswith("\n") else lines[:-1]
        for line in complete[self.lines_read:]:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line!r}") from None
        self.lines_read = len(complete)
        return self.records

    def wait_for(self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.records)
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the engine exited ({self.process.returncode}):\n{self.tail()}"
            for record in self.read()[seen:]:
                if predicate(record):
                    return record
            seen = len(self.records)
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-15:])

    def edit(self, text: str) -> None:
        self.mark = len(self.read())
        self.preset.write_text(text)

    def applied(self, version: int) -> dict[str, Any]:
        return self.wait_for(f"preset version {version}",
                             lambda r: r["event"] == "preset.applied" and r["version"] == version)

    def rejected(self) -> dict[str, Any]:
        start = self.mark
        return self.wait_for("a rejection", lambda r: r["event"] == "preset.rejected" and
                             self.records.index(r) >= start)

    def status(self) -> dict[str, Any]:
        return json.loads(self.status_file.read_text())

    def wait_status(self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status_file.exists():
                try:
                    status = self.status()
                except ValueError:
                    status = None
                if status is not None and predicate(status):
                    return status
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for status: {what}: {self.status()}\n{self.tail()}")

    def install_plugin(self) -> None:
        source = self.tmp_path / "tradehooks-hold"
        (source / "tradehooks_hold").mkdir(parents=True)
        (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
        (source / "tradehooks_hold" / "__init__.py").write_text(PLUGIN_MODULE)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(self.site), str(source)], check=True, capture_output=True, timeout=300)


@pytest.fixture
def operator(tmp_path: Path):
    operator = Operator(tmp_path)
    operator.start()
    yield operator
    if operator.process.poll() is None:
        operator.process.kill()
        operator.process.wait()
    operator.log.close()


def test_an_operator_changes_a_running_engine_without_restarting_it(operator: Operator):
    """Parameter change, disable, enable, four kinds of broken preset, a fix, a plugin installed while
    running and a strategy added from it, its removal with flatten, then SIGTERM: one process, one
    unbroken sequence of events, and the positions the steps call for."""
    op = operator
    op.wait_for("the first bar", lambda r: r["event"] == "event.bar_processed")
    pid = op.process.pid
    assert op.wait_status("running", lambda s: s["state"] == "running")["pid"] == pid

    op.edit(preset(fast=6))
    diff = op.applied(2)["diff"]
    assert diff["changed"] == ["trend"] and diff["unchanged"] == []

    op.edit(preset(fast=6, enabled="false"))
    assert op.applied(3)["diff"]["disabled"] == ["trend"]
    assert op.wait_status("trend disabled", lambda s: s["strategies"]["trend"]["state"] == "disabled")

    op.edit(preset(fast=6, enabled="true"))
    assert op.applied(4)["diff"]["enabled"] == ["trend"]

    broken = {
        "syntax": (preset(fast=6).replace('mode = "paper"', 'mode = "paper'), "not valid TOML", None),
        "unknown key": (preset(fast=6).replace("slow = 20", "slw = 20"), "unknown key 'slw'",
                        "strategies[0].params.slw"),
        "bad value": (preset(fast=6).replace("fast = 6", 'fast = "six"'), "expected an integer",
                      "strategies[0].params.fast"),
        "missing secret": (preset(fast=6).replace('quantity = "0.01"', 'quantity = "0.01", api_key = "env:TH_NOPE"'),
                           "TH_NOPE", "strategies[0].sizer.params.api_key"),
    }
    for name, (text, message, key) in broken.items():
        op.edit(text)
        rejection = op.rejected()
        assert message in rejection["error"], name
        assert rejection["line"] is not None and (key is None or rejection["key"] == key), name
        status = op.wait_status(f"rejection shown ({name})",
                                lambda s: s["last_rejection"] and message in s["last_rejection"]["error"])
        assert status["version"] == 4 and status["pid"] == pid

    op.edit(preset(fast=6))
    op.applied(5)
    assert op.wait_status("rejection cleared", lambda s: s["last_rejection"] is None)["version"] == 5

    op.install_plugin()
    op.edit(preset(fast=6, extra=textwrap.dedent(HOLD)))
    assert op.applied(6)["diff"]["added"] == ["hold"]
    op.wait_status("hold is long 0.5", lambda s: Decimal(s["strategy_positions"].get("hold/BTCUSDT", "0")) == Decimal("0.5"))
    listed = op.status()["strategies"]
    assert listed["hold"]["signal"] == "always_long" and listed["trend"]["state"] == "running"

    op.edit(preset(fast=6))
    assert op.applied(7)["diff"]["removed"] == ["hold"]
    op.wait_status("hold flattened", lambda s: Decimal(s["strategy_positions"].get("hold/BTCUSDT", "1")) == 0)

    op.process.send_signal(signal.SIGTERM)
    assert op.process.wait(timeout=20) == 0
    records = op.read()
    stopped = [r for r in records if r["event"] == "engine.stopped"]
    assert len(stopped) == 1 and stopped[0]["reason"] == "signal SIGTERM"
    sequence = [r["seq"] for r in records if r["event"].startswith("event.")]
    assert sequence == list(range(1, len(sequence) + 1))  # nothing dropped, nothing twice
    assert op.status()["state"] == "stopped" and op.status()["pid"] == pid


def test_status_explains_a_missing_engine(tmp_path: Path):
    """`tradehooks status` without a running engine says so in one line, exit 2."""
    (tmp_path / "p.toml").write_text(preset())
    run = subprocess.run([sys.executable, "-m", "tradehooks", "status", str(tmp_path / "p.toml")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no status file" in run.stderr and "Traceback" not in run.stderr
