"""One run per output directory; a killed holder never leaves the lock stuck."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import invoke

from swiftkit.errors import SwiftkitError
from swiftkit.runs.lock import LOCK_NAME, RunLock

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from swiftkit.runs.lock import RunLock
RunLock(sys.argv[1]).acquire(run_dir="held-by-test", started="2026-12-03T10:00:00+00:00")
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
        with pytest.raises(
            SwiftkitError,
            match=rf"another swiftkit train is using {tmp_path}: run held-by-test \(swiftkit pid {holder.pid},",
        ):
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
        result = invoke("train", "--profile", str(profile))
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines()[-2:] == [
            "> training: ms-swift starts, loads the model, then trains",
            f"Error: another swiftkit train is using {out}: run held-by-test (swiftkit pid {holder.pid}, started "
            "2026-12-03T10:00:00+00:00); wait for it, press Ctrl-C in its terminal, or give this run another "
            "output_dir.",
        ]
        assert time.monotonic() - started < 30
        assert not any(p.name.startswith("v") for p in out.iterdir())  # no run folder was made
    finally:
        holder.kill()
        holder.wait()


HANDS_OVER = """
import subprocess, sys
from swiftkit.runs.lock import RunLock, start_time
lock = RunLock(sys.argv[1]).acquire(run_dir="handed-over")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], pass_fds=(lock.fd,),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
lock.note(swift_pid=child.pid, swift_start=start_time(child.pid))
print(child.pid, flush=True)
"""


def test_refusal_names_only_live_processes_and_a_dead_owner_never_blocks(tmp_path):
    """swiftkit is gone (as after SIGKILL or --detach) while the ms-swift process it started holds the lock."""
    owner = subprocess.run(
        [sys.executable, "-c", HANDS_OVER, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    child = int(owner.stdout.strip())
    try:
        with pytest.raises(SwiftkitError) as info:
            RunLock(tmp_path).acquire()
        message = str(info.value)
        assert f"run handed-over (ms-swift pid {child}," in message and "its swiftkit is gone" in message
        assert f"kill -INT -- -{child}" in message and "swiftkit logs -f" in message
        info_pid = json.loads((tmp_path / LOCK_NAME).read_text())["pid"]
        assert str(info_pid) not in message.replace(str(child), "")  # the dead swiftkit is not named
    finally:
        os.killpg(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            RunLock(tmp_path).acquire().release()
            break
        except SwiftkitError:
            time.sleep(0.1)  # the child is being reaped
    else:
        pytest.fail("the lock of dead processes was not released")


def test_a_holder_that_wrote_no_start_time_is_named_without_one(tmp_path):
    from swiftkit.runs.lock import holder_text

    text = holder_text({"pid": os.getpid(), "run_dir": "r"}, tmp_path)
    assert (
        text
        == f"run r (swiftkit pid {os.getpid()}); wait for it, press Ctrl-C in its terminal, or give this run "
        + ("another output_dir")
    )
