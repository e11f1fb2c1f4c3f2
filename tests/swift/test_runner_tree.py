"""The runner stops every process a launcher started, also those in sessions of their own (as torchrun's ranks
are), on Ctrl-C and when the launcher dies and leaves them running. No ms-swift: a fake launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LAUNCHER = """
import os, subprocess, sys, time
ranks = [subprocess.Popen([sys.executable, "-c", "import time; print('rank up', flush=True); time.sleep(120)"],
                          start_new_session=True) for _ in range(2)]
open(sys.argv[1] + ".tmp", "w").write(" ".join(str(p.pid) for p in ranks))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print("launched", flush=True)
if sys.argv[2] == "crash":
    time.sleep(3)
    os._exit(1)  # like torchrun killed by the OOM killer: the ranks are left behind
time.sleep(120)
"""
WRAPPER = """
import sys
from pathlib import Path
from swiftkit.swift import runner
from swiftkit.swift.render import Command
log = Path(sys.argv[4]) if sys.argv[4] != "-" else None
sys.exit(runner.run(Command([sys.executable, sys.argv[1], sys.argv[2], sys.argv[3]]), log_path=log, grace=3))
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start(tmp_path: Path, mode: str, log: bool) -> tuple[subprocess.Popen[str], list[int]]:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    pids = tmp_path / "pids"
    log_arg = str(tmp_path / "out.log") if log else "-"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(launcher), str(pids), mode, log_arg],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not pids.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    ranks = [int(x) for x in pids.read_text().split()]
    assert all(alive(p) for p in ranks) and len({os.getsid(p) for p in ranks}) == 2
    return proc, ranks


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
@pytest.mark.parametrize("log", [False, True], ids=["terminal", "log-file"])
def test_ctrl_c_stops_ranks_in_their_own_sessions(tmp_path, log):
    proc, ranks = start(tmp_path, "wait", log)
    time.sleep(2.5)  # the runner has looked at the process tree
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not [p for p in ranks if alive(p)], "a rank survived Ctrl-C"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
@pytest.mark.parametrize("log", [False, True], ids=["terminal", "log-file"])
def test_ranks_left_by_a_dead_launcher_are_ended(tmp_path, log):
    proc, ranks = start(tmp_path, "crash", log)
    proc.communicate(timeout=60)  # with a log file the ranks hold the pipe: the runner must not wait for them
    assert proc.returncode == 1
    assert not [p for p in ranks if alive(p)], "a rank outlived its launcher and swiftkit"
    if log:
        assert "launched" in (tmp_path / "out.log").read_text()
