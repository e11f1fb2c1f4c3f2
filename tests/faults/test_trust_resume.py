"""Issue 20, row 7: resume is honest. A run stopped (SIGTERM) before its first checkpoint used to print "the last
complete checkpoint is kept. Continue with --resume", and `train --resume` then resumed the *previous, finished*
run. Now it says no checkpoint was written and how to start again, and `--resume` refuses rather than pick another
run; a run stopped after a checkpoint prints the exact `--resume-from` command for its own checkpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


def test_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path: Path, tiny_model: Path):
    from e2e.conftest import tiny_profile

    profile = tiny_profile(tmp_path, tiny_model)
    finished = run_cli("train", "--profile", str(profile))
    assert finished.returncode == 0, finished.stderr[-3000:]
    out = tmp_path / "out"
    [first] = checkpoints.scan(out)

    # the second run: many epochs, a checkpoint only at the very end; SIGTERM once it logs its first step
    argv = [sys.executable, "-m", "swiftkit", "train", "--profile", str(profile)]
    slow = ["--set", "train.num_train_epochs=200", "--set", "train.save_steps=100000"]
    proc = subprocess.Popen([*argv, *slow], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(r.log for r in checkpoints.scan(out)[1:]):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    runs = checkpoints.scan(out)
    assert len(runs) == 2 and runs[1].checkpoints == []
    assert proc.returncode == 130, stderr[-3000:]
    assert "Continue with --resume" not in stderr and "last complete checkpoint is kept" not in stderr
    assert f"Interrupted; no checkpoint was written in {runs[1].path}; start again with: swiftkit train" in stderr

    resumed = run_cli("train", "--profile", str(profile), "--resume")
    assert resumed.returncode == 1, resumed.stderr[-3000:]
    assert f"--resume continues the newest run, {runs[1].path}, and it wrote no checkpoint" in resumed.stderr
    assert f"--resume-from {first.checkpoints[-1].path}" in resumed.stderr  # the exact way to the older run
    assert len(checkpoints.scan(out)) == 2  # nothing started: no run resumed the finished one
