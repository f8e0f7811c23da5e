"""`tradehooks run --reload-plugins`: an edited plugin's code is re-imported on reload, its strategy
rebuilt with the old signal's state handed over; a plugin that no longer imports leaves the old code
running and is reported like a rejected preset."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

from .test_run import HEAD, Operator

PLUGIN = '''
from tradehooks import hookimpl


class LiveSignal:
    name = "live_signal"

    def __init__(self, params, ctx):
        self.bars = 0

    def on_bar(self, bar):
        self.bars += 1
        return {exposure}

    def get_state(self):
        return {{"bars": self.bars}}

    def set_state(self, state):
        self.bars = state["bars"]
        self.handed_over = True


@hookimpl
def register_signals():
    return [LiveSignal]
'''

SECOND = PLUGIN.replace("        return {exposure}", "        return 0.5 if getattr(self, 'handed_over', False) else 0.25")

STRATEGY = """
[[strategies]]
id = "live"
signal = "live_signal"
sizer = { name = "fixed", params = { quantity = "0.2" } }
"""


def install_editable(site: Path, code: Path) -> Path:
    """A plugin the way an editable install leaves it: its source folder on the path, a dist-info
    with the entry point."""
    package = code / "tradehooks_live"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN.format(exposure="1.0"))
    dist_info = site / "tradehooks_live-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tradehooks-live\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text("[tradehooks]\nlive = tradehooks_live\n")
    (site / "tradehooks_live.pth").write_text(str(code) + "\n")
    return package / "__init__.py"


def position(status: dict) -> Decimal:
    return Decimal(status["strategy_positions"].get("live/BTCUSDT", "0"))


def test_edited_plugin_code_is_reloaded_without_a_restart(tmp_path: Path):
    """1.0 -> (edit, SIGHUP) 0.5 with the state handed over -> (broken edit) still 0.5, reported."""
    op = Operator(tmp_path)
    module = install_editable(op.site, tmp_path / "code")
    op.preset.write_text(textwrap.dedent(HEAD.format()) + STRATEGY)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(op.site), os.environ.get("PYTHONPATH", "")])}
    # .pth files are read only in site directories: make the folder one for this process
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "code"), env["PYTHONPATH"]])
    op.log = op.log_path.open("w")
    op.process = subprocess.Popen(
        [sys.executable, "-m", "tradehooks", "--log-format", "json", "run", str(op.preset), "--reload-plugins",
         "--no-watch", "--status-file", str(op.status_file)],
        stdout=op.log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        op.wait_status("long 0.2 on the first code", lambda s: position(s) == Decimal("0.2"))
        pid = op.process.pid

        module.write_text(SECOND)
        op.process.send_signal(signal.SIGHUP)
        applied = op.applied(2)
        assert applied["diff"]["reloaded"] == ["live"] and applied["diff"]["changed"] == []
        op.wait_status("0.1 on the new code, which got the old state", lambda s: position(s) == Decimal("0.1"))

        module.write_text(SECOND.replace("def on_bar(self, bar):", "def on_bar(self, bar)"))
        op.mark = len(op.read())
        op.process.send_signal(signal.SIGHUP)
        rejection = op.rejected()
        assert "plugin 'live' failed to re-import: SyntaxError" in rejection["error"]
        status = op.wait_status("the rejection shown", lambda s: s["last_rejection"] is not None)
        assert status["version"] == 2 and position(status) == Decimal("0.1") and status["pid"] == pid
        bars_before = len([r for r in op.read() if r["event"] == "event.bar_processed"])
        op.wait_for("bars still handled on the old code", lambda r: r["event"] == "event.bar_processed"
                    and len([x for x in op.records if x["event"] == "event.bar_processed"]) > bars_before + 5)

        op.process.send_signal(signal.SIGTERM)
        assert op.process.wait(timeout=20) == 0
    finally:
        if op.process.poll() is None:
            op.process.kill()
        op.log.close()
