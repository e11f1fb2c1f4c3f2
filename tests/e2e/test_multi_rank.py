"""Two training processes through `swiftkit train` (ms-swift's torchrun path, DDP on the CPU's gloo backend):
one run folder, checkpoints and progress as with one process, and Ctrl-C leaves no rank behind."""

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

from e2e.test_interrupt import processes_mentioning
from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e

# On a machine without CUDA, ms-swift needs --use_cpu for real DDP: without it each rank trains alone.
TWO_RANKS = ["gpu.devices=[0, 1]", "swift_args.use_cpu=true", "swift_args.ddp_backend=gloo"]


def sets(*items: str) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def test_two_ranks_train_one_model_into_one_run_folder(tmp_path: Path, tiny_model: Path):
    from e2e.conftest import RECORDS, steps, tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, per_device_train_batch_size=4, save_steps=100)
    dry = run_cli("train", "--profile", str(profile), "--dry-run", *sets(*TWO_RANKS))
    assert dry.returncode == 0, dry.stderr
    env_part = dry.stdout.split(" swift sft ")[0].split()
    assert "CUDA_VISIBLE_DEVICES=0,1" in env_part and "NPROC_PER_NODE=2" in env_part

    result = run_cli("train", "--profile", str(profile), *sets(*TWO_RANKS))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = checkpoints.scan(tmp_path / "out")
    assert len(runs) == 1, "both ranks must write into the one run folder swiftkit chose"
    run = runs[0]
    log = (run.path / "swiftkit-train.log").read_text(errors="replace")
    assert "torch.distributed.run --nproc_per_node 2" in log
    assert "world_size: 2" in log
    # 4 per rank x 2 ranks = 8 sequences a step: half the steps of one process with batch 4
    final = checkpoints.latest(runs)
    assert final is not None and final.step == steps(RECORDS, 8)
    assert sorted(p.name for p in final.path.glob("rng_state_*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    manifest = json.loads((run.path / "swiftkit-manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["env"]["NPROC_PER_NODE"] == "2"
    summary = result.stdout.splitlines()  # the summary read rank 0's log: exact lines, not a bare number
    assert f"Run folder:   {run.path}" in summary and f"Checkpoint:   {final.path}" in summary
    assert f"Steps:        {final.step}/{final.step}" in summary


def test_ctrl_c_stops_every_rank(tmp_path: Path, tiny_model: Path):
    from e2e.conftest import tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, num_train_epochs=200, per_device_train_batch_size=2, save_steps=5)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "swiftkit", "train", "--profile", str(profile), *sets(*TWO_RANKS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = checkpoints.scan(out) if out.exists() else []
        if runs and checkpoints.latest(runs) is not None:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("no checkpoint appeared in time")
    ranks = [p for p in processes_mentioning(str(out)) if p != proc.pid]
    assert len(ranks) >= 3, "expected the launcher and two ranks"  # swift script, torchrun, 2 ranks
    sessions = {os.getsid(p) for p in ranks if Path(f"/proc/{p}").exists()}
    assert len(sessions) >= 2, "torchrun starts its ranks in sessions of their own"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    time.sleep(1)
    assert processes_mentioning(str(out)) == [], "a rank was left running after Ctrl-C"
    record = json.loads((checkpoints.scan(out)[0].path / "swiftkit-manifest.json").read_text())
    assert record["status"] == "interrupted"
