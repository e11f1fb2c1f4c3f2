"""Training outlives swiftkit, and a run whose owner died is judged by its processes and logging.jsonl.

Fast versions with a stand-in trainer (tests/fake_swift.py) that writes logging.jsonl and checkpoints like
ms-swift; tests/faults/test_survive.py does the same with the real ms-swift.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swiftkit.errors import SwiftkitError
from swiftkit.runs import checkpoints, manifest, state
from swiftkit.runs.lock import RunLock, alive, start_time

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fake_swift.py"
DRIVER = """
import json, sys
from swiftkit.config import profiles
from swiftkit.jobs import train as training
from swiftkit.swift.render import Command
from swiftkit.swift.version import flavor_for

lp = profiles.load(sys.argv[1])
plan = training.plan_train(lp, flavor_for("4.6.0"))
plan.command = Command([sys.executable, sys.argv[2], "--output_dir", str(plan.run_dir), *sys.argv[3:]])
started = training.start_train(plan)
print(json.dumps({"run": str(plan.run_dir), "pid": started.proc.pid}), flush=True)
result = training.wait_train(plan, started)
print(json.dumps({"status": result.status, "code": result.exit_code, "reason": result.reason}), flush=True)
"""


def profile(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    path = tmp_path / "p.yaml"
    path.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\nmodel:\n  model: {tmp_path / 'model'}\n"
        f"data:\n  datasets:\n    - path: {ROOT / 'datasets' / 'identity.json'}\noutput_dir: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    return path


def drive(tmp_path: Path, *fake_args: str) -> tuple[subprocess.Popen[str], Path, int]:
    """swiftkit training the fake in a child process; returns it, the run folder and the fake's pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(profile(tmp_path)), str(FAKE), *fake_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first, proc.stderr.read() if proc.stderr else ""
    started = json.loads(first)
    return proc, Path(started["run"]), int(started["pid"])


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def logged_steps(run: Path) -> int:
    path = run / "logging.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_swiftkit_killed_training_goes_on_and_is_reconciled(tmp_path: Path):
    driver, run, fake = drive(tmp_path, "--steps", "8", "--sleep", "0.3")
    wait_for(lambda: logged_steps(run) >= 1)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    running = state.reconcile(run)
    assert (running.status, running.pid) == ("running", fake)
    with pytest.raises(SwiftkitError) as info:  # the lock names the live trainer, not the dead swiftkit
        RunLock(tmp_path / "out").acquire()
    assert f"ms-swift pid {fake}," in str(info.value) and str(driver.pid) not in str(info.value)
    wait_for(lambda: not alive(fake))
    done = state.reconcile(run)
    assert (done.status, done.steps, done.max_steps) == ("ok", 8, 8)
    assert "after its swiftkit process was gone" in done.note
    record = manifest.read(run)
    assert record is not None and record["status"] == "ok" and record["last_checkpoint"] == str(run / "checkpoint-8")
    assert checkpoints.pick(tmp_path / "out", "latest") == run / "checkpoint-8"
    RunLock(tmp_path / "out").acquire().release()  # free again: never blocked by the dead owner


def test_a_run_whose_processes_all_died_is_failed(tmp_path: Path):
    driver, run, fake = drive(tmp_path, "--steps", "40", "--sleep", "0.2")
    wait_for(lambda: (run / "checkpoint-2").exists() and logged_steps(run) >= 3)
    driver.send_signal(signal.SIGKILL)
    os.killpg(fake, signal.SIGKILL)  # the machine's OOM killer, say
    driver.wait()
    wait_for(lambda: not alive(fake))
    found = state.reconcile(run)
    assert found.status == "failed" and "before the training loop finished" in found.note
    assert found.steps is not None and f"at step {found.steps}/40" in found.note
    assert (manifest.read(run) or {})["status"] == "failed"
    assert found.checkpoint == str(checkpoints.pick(tmp_path / "out", "latest"))
    RunLock(tmp_path / "out").acquire().release()


def test_sigint_stops_the_whole_run(tmp_path: Path):
    driver, run, fake = drive(tmp_path, "--steps", "200", "--sleep", "0.1")
    wait_for(lambda: logged_steps(run) >= 1)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1])["code"] == 130
    assert not alive(fake)
    assert state.reconcile(run).status == "interrupted"


def test_a_full_disk_is_named_and_the_manifest_closed(tmp_path: Path):
    driver, run, _ = drive(tmp_path, "--steps", "8", "--sleep", "0.05", "--fail_at", "5")
    out, _ = driver.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["status"], result["code"]) == ("failed", 1)
    assert result["reason"].startswith(f"the disk holding {run} is full")
    record = manifest.read(run)
    assert record is not None and record["status"] == "failed" and record["reason"] == result["reason"]
    assert record["last_checkpoint"] == str(run / "checkpoint-4")


def test_pid_reuse_is_not_mistaken_for_the_run(tmp_path: Path):
    """A manifest naming a pid that now belongs to another process (another start time) is a dead run."""
    run = tmp_path / "out" / "v0-20260101-000000"
    run.mkdir(parents=True)
    record = {"status": "running", "pid": os.getpid(), "pid_start": (start_time(os.getpid()) or 0) + 1}
    manifest.write(run, record)
    assert state.reconcile(run).status == "failed"
    assert (manifest.read(run) or {})["status"] == "failed"


# ------------------------------------------------------------------ swiftkit's own writes on a full disk
def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_manifest_is_closed_in_place_when_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run = tmp_path / "v0-20260101-000000"
    run.mkdir()
    start = {"status": "running", "argv": ["swift", "sft"], "started": manifest.now_iso()}
    manifest.write(run, start)
    monkeypatch.setattr(manifest, "atomic_write_text", _no_space)
    manifest.finish(run, start, 1, "failed", reason="the disk is full")
    closed = manifest.read(run)
    assert closed is not None and (closed["status"], closed["reason"]) == ("failed", "the disk is full")


def test_run_folder_that_cannot_be_written_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from swiftkit.config import profiles
    from swiftkit.jobs import train as training
    from swiftkit.swift.render import Command
    from swiftkit.swift.version import flavor_for

    lp = profiles.load(str(profile(tmp_path)))
    plan = training.plan_train(lp, flavor_for("4.6.0"))
    plan.command = Command([sys.executable, str(FAKE), "--output_dir", str(plan.run_dir)])
    monkeypatch.setattr(manifest, "atomic_write_text", _no_space)
    with pytest.raises(SwiftkitError) as info:
        training.start_train(plan)
    assert str(info.value).startswith(f"could not write the run folder {plan.run_dir}: No space left on device.")
    assert not plan.run_dir.exists()  # nothing half-made that looks like a run
    RunLock(tmp_path / "out").acquire().release()  # and the lock is free


STEP2 = '{"loss": 1, "global_step/max_steps": "2/4"}'
NULL_FINAL = '{"last_model_checkpoint": null, "best_model_checkpoint": null}'  # ms-swift writes it in a `finally`


@pytest.mark.parametrize(
    ("log", "train_log", "expected"),
    [
        (
            ['{"loss": 1, "global_step/max_steps": "4/4"}', '{"train_runtime": 1}', '{"last_model_checkpoint": "x"}'],
            "",
            "ok",
        ),
        ([STEP2, NULL_FINAL], "Traceback ...\nKeyboardInterrupt\n", "interrupted"),
        ([STEP2, NULL_FINAL], "BrokenPipeError: [Errno 32] Broken pipe\n", "failed"),  # its reader died
        ([STEP2], "Killed\n", "failed"),
        ([], "", "failed"),
    ],
    ids=["finished", "kill -INT", "EPIPE", "killed", "never started"],
)
def test_a_dead_run_is_judged_by_its_log(tmp_path: Path, log: list[str], train_log: str, expected: str):
    run = tmp_path / "out" / "v0-20260101-000000"
    run.mkdir(parents=True)
    (run / "logging.jsonl").write_text("".join(line + "\n" for line in log))
    (run / "swiftkit-train.log").write_text(train_log)
    manifest.write(run, {"status": "running", "pid": 2**22 + 7, "swift_pid": 2**22 + 9, "started": "then"})
    found = state.reconcile(run)
    assert found.status == expected
    record = manifest.read(run)
    assert (
        record is not None
        and record["status"] == expected
        and record["reconciled"] == found.note
        and record["ended"] is not None
    )


HOLD = """
import sys, time
from swiftkit.runs.lock import RunLock
RunLock(sys.argv[1]).acquire(run_dir=sys.argv[2])
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("holder_run", ["this", "another"])
def test_a_run_whose_pid_never_reached_the_manifest_is_judged_by_the_lock(tmp_path: Path, holder_run: str):
    """A full disk kept ms-swift's pid out of the manifest: the run lock, if held for this run, says it lives."""
    out = tmp_path / "out"
    run = out / "v0-20260101-000000"
    run.mkdir(parents=True)
    manifest.write(run, {"status": "running", "pid": 2**22 + 7, "started": "then"})
    named = str(run) if holder_run == "this" else str(out / "v1-20260101-000001")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out), named], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert state.reconcile(run).status == ("running" if holder_run == "this" else "failed")
    finally:
        holder.kill()
        holder.wait()
