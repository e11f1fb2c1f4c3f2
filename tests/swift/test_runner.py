"""The runner: argv straight to the process, a clean stop on Ctrl-C, a second Ctrl-C hurries the stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from swiftkit.swift import runner
from swiftkit.swift.render import Command

STUBBORN = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def test_argv_reaches_the_child_as_is(tmp_path):
    log = tmp_path / "log"
    weird = ["-x", "a b", "$(id)", "中文", "--flag=1", ""]
    code = runner.run(
        Command([sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *weird]), log_path=log
    )
    assert code == 0
    import json

    assert json.loads(log.read_text().strip()) == weird


def test_second_ctrl_c_skips_the_grace_period(tmp_path):
    pid = os.getpid()

    def press_ctrl_c_twice() -> None:
        time.sleep(1.0)
        os.kill(pid, signal.SIGINT)
        time.sleep(1.0)
        os.kill(pid, signal.SIGINT)

    threading.Thread(target=press_ctrl_c_twice, daemon=True).start()
    started = time.monotonic()
    code = runner.run(Command([sys.executable, "-c", STUBBORN]), log_path=tmp_path / "log", grace=30)
    assert code == runner.INTERRUPTED
    assert time.monotonic() - started < 10  # not the 30 s grace: the second press sent SIGTERM


def test_swift_commands_start_the_module_directly(monkeypatch):
    monkeypatch.delenv("NPROC_PER_NODE", raising=False)
    argv = runner.resolved_argv(Command(["swift", "sft", "--model", "m"]), env={})
    assert argv == [sys.executable, "-m", "swift.cli.sft", "--model", "m"]
    torchrun = runner.resolved_argv(Command(["swift", "sft", "--model", "m"]), env={"NPROC_PER_NODE": "2"})
    assert torchrun[0].endswith("swift") and torchrun[1:] == ["sft", "--model", "m"]
