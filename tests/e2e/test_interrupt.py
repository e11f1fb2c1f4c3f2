"""Ctrl-C during a real `swiftkit train`: exit 130, no ms-swift process left, manifest says interrupted,
and --resume continues from the last complete checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def test_interrupt_then_resume(tmp_path: Path, tiny_model: Path):
    from e2e.conftest import RECORDS, steps, tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, num_train_epochs=40, save_steps=5, save_total_limit=3)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "swiftkit", "train", "--profile", str(profile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = checkpoints.scan(out) if out.exists() else []
        if runs and checkpoints.latest(runs) is not None and processes_mentioning(str(out)):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("no checkpoint appeared in time")
    assert processes_mentioning(str(out)), "ms-swift should be running"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Interrupted" in stderr and "--resume" in stderr
    time.sleep(1)
    assert processes_mentioning(str(out)) == [], "an ms-swift process was left running"

    runs = checkpoints.scan(out)
    record = json.loads((runs[0].path / "swiftkit-manifest.json").read_text())
    assert (record["status"], record["exit_code"]) == ("interrupted", 130)
    kept = checkpoints.latest(runs)
    per_epoch = steps(RECORDS, 8)
    assert kept is not None and kept.step % 5 == 0 and kept.step < 40 * per_epoch

    resumed = run_cli(
        "train", "--profile", str(profile), "--resume", "--set", f"train.num_train_epochs={kept.step // per_epoch + 2}"
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    runs = checkpoints.scan(out)
    assert len(runs) == 2
    final = checkpoints.latest(runs)
    assert final is not None and final.path.parent == runs[1].path and final.step > kept.step
    assert json.loads((runs[1].path / "swiftkit-manifest.json").read_text())["status"] == "ok"
