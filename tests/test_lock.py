"""One run per output directory; a killed holder never leaves the lock stuck."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.errors import SwiftkitError
from swiftkit.runs.lock import LOCK_NAME, RunLock

ROOT = Path(__file__).resolve().parent.parent
HOLDER = """
import sys, time
from swiftkit.runs.lock import RunLock
RunLock(sys.argv[1]).acquire(run_dir="held-by-test")
print("held", flush=True)
time.sleep(600)
"""


def hold(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_with_who_holds_it(tmp_path):
    holder = hold(tmp_path)
    try:
        with pytest.raises(SwiftkitError, match=rf"another swiftkit train is using {tmp_path} \(pid {holder.pid},"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_a_killed_process_is_recovered(tmp_path):
    holder = hold(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid  # the file is still there
    with RunLock(tmp_path).acquire(run_dir="mine") as lock:
        assert lock.fd is not None
        assert json.loads((tmp_path / LOCK_NAME).read_text())["run_dir"] == "mine"
    RunLock(tmp_path).acquire().release()  # released on exit


def test_train_is_refused_while_another_run_holds_the_output_dir(tmp_path):
    out = tmp_path / "out"
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\noutput_dir: {out}\n"
        f"model:\n  model: {tmp_path / 'no-model-needed'}\n"
        f"data:\n  datasets:\n    - path: {ROOT / 'datasets' / 'identity.json'}\n"
    )
    (tmp_path / "no-model-needed").mkdir()
    holder = hold(out)
    try:
        started = time.monotonic()
        result = run_cli("train", "--profile", str(profile))
        assert result.returncode == 1, result.stderr
        assert f"Error: another swiftkit train is using {out} (pid {holder.pid}" in result.stderr
        assert time.monotonic() - started < 30
        assert not any(p.name.startswith("v") for p in out.iterdir())  # no run folder was made
    finally:
        holder.kill()
        holder.wait()
