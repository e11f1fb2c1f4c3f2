"""`swiftkit train --slurm` against a real slurmctld on this machine (the `slurm` fixture): two CPU ranks on gloo
trained by a SLURM job, a job cancelled with `swiftkit cancel`, and a job SLURM kills at its time limit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import run_cli

from e2e.test_interrupt import processes_mentioning
from e2e.test_multi_rank import TWO_RANKS, sets
from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e

ON_SLURM = [*TWO_RANKS, "slurm.gpus_per_node=0", "slurm.partition=debug"]


def manifest_of(out: Path) -> dict:
    runs = checkpoints.scan(out)
    assert len(runs) == 1
    return json.loads((runs[0].path / "swiftkit-manifest.json").read_text())


def wait_for_checkpoint(out: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = checkpoints.scan(out) if out.exists() else []
        if runs and checkpoints.latest(runs) is not None:
            return
        time.sleep(1)
    pytest.fail("no checkpoint appeared in time")


def test_a_slurm_job_trains_two_ranks_and_infer_answers_from_its_adapter(tmp_path: Path, tiny_model: Path, slurm):
    from e2e.conftest import RECORDS, steps, tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, per_device_train_batch_size=4, save_steps=100)
    result = run_cli("train", "--profile", str(profile), "--slurm", "--wait", *sets(*ON_SLURM))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "out"
    record = manifest_of(out)
    job = record["slurm_job"]
    assert f"Submitted SLURM job {job}" in result.stderr
    assert record["status"] == "ok" and record["slurm_state"] == "COMPLETED"
    assert job not in slurm.queued()
    run = checkpoints.scan(out)[0].path
    log = (run / "swiftkit-train.log").read_text(errors="replace")
    assert "torch.distributed.run --nproc_per_node 2" in log and "world_size: 2" in log
    latest = run_cli("checkpoints", "latest", "--profile", str(profile))
    assert latest.returncode == 0, latest.stderr
    final = Path(latest.stdout.strip())
    assert final.parent == run and final.name == f"checkpoint-{steps(RECORDS, 8)}"
    status = run_cli("status", "--profile", str(profile))
    assert "ok" in status.stdout and f"SLURM job {job} COMPLETED" in status.stdout
    answer = run_cli("infer", "--profile", str(profile), "--prompt", "Who are you?")
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip(), "infer gave no answer"


def test_cancel_stops_the_job_and_the_run_is_interrupted(tmp_path: Path, tiny_model: Path, slurm):
    from e2e.conftest import tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, num_train_epochs=200, per_device_train_batch_size=2, save_steps=5)
    submitted = run_cli("train", "--profile", str(profile), "--slurm", *sets(*ON_SLURM))
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    out = tmp_path / "out"
    job = manifest_of(out)["slurm_job"]
    wait_for_checkpoint(out)
    running = run_cli("status", "--profile", str(profile))
    assert f"running (job {job})" in running.stdout and f"SLURM job {job} RUNNING" in running.stdout
    cancelled = run_cli("cancel", "--profile", str(profile))
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"Cancelled SLURM job {job}." in cancelled.stderr and "interrupted" in cancelled.stdout
    assert job not in slurm.queued()
    record = manifest_of(out)
    assert record["status"] == "interrupted" and record["slurm_state"] == "CANCELLED"
    assert record["last_checkpoint"]
    followed = run_cli("logs", "-f", "--profile", str(profile))
    assert followed.returncode == 130 and f"SLURM job {job} CANCELLED" in followed.stdout
    resume = run_cli("train", "--profile", str(profile), "--slurm", "--resume", "--dry-run", *sets(*ON_SLURM))
    assert resume.returncode == 0, resume.stderr
    assert f"--resume_from_checkpoint {record['last_checkpoint']}" in resume.stdout.replace(" \\\n  ", " ")
    time.sleep(2)
    assert processes_mentioning(str(out)) == [], "a rank was left running after scancel"


def test_a_job_over_its_time_limit_fails_with_slurms_reason(tmp_path: Path, tiny_model: Path, slurm):
    from e2e.conftest import tiny_profile

    # SLURM's smallest limit is a minute; the test cluster kills at once (OverTimeLimit=0, KillWait=5)
    profile = tiny_profile(tmp_path, tiny_model, num_train_epochs=500, per_device_train_batch_size=2, save_steps=2)
    result = run_cli(
        "train", "--profile", str(profile), "--slurm", "--wait", *sets(*ON_SLURM, "slurm.time=1"), timeout=400
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    record = manifest_of(tmp_path / "out")
    assert record["status"] == "failed" and record["slurm_state"] == "TIMEOUT"
    assert "TIMEOUT: SLURM stopped it at its time limit" in result.stdout
    assert f"the last complete checkpoint is {record['last_checkpoint'] or 'none'}" in result.stdout
    then = "swiftkit train --slurm --resume" if record["last_checkpoint"] else "submit again with more time"
    assert then in result.stdout


def test_two_nodes_train_one_model_over_slurm(tmp_path: Path, tiny_model: Path, slurm_two_nodes):
    """Two SLURM nodes (two slurmd in network namespaces on this machine), one gloo rank each: rank and rendezvous
    from SLURM's variables, one model trained over both, the adapter saved once into the shared run folder."""
    from e2e.conftest import RECORDS, steps, tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, per_device_train_batch_size=4, save_steps=100)
    one_rank = ["gpu.devices=[0]", "swift_args.use_cpu=true", "swift_args.ddp_backend=gloo"]
    nodes = ["slurm.nodes=2", "slurm.gpus_per_node=0", "slurm.shared_output=true"]
    env = slurm_two_nodes.env
    result = run_cli("train", "--profile", str(profile), "--slurm", "--wait", *sets(*one_rank, *nodes), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "out"
    record = manifest_of(out)
    assert record["status"] == "ok" and record["slurm_state"] == "COMPLETED"
    run = checkpoints.scan(out)[0].path
    log = (run / "swiftkit-train.log").read_text(errors="replace")
    for rank in (0, 1):
        assert f"--nnodes 2 --node_rank {rank} --master_addr node1" in log.replace("  ", " ")
    assert "world_size: 2" in log
    final = checkpoints.latest(checkpoints.scan(out))
    assert final is not None and final.step == steps(RECORDS, 8)  # 4 a rank x 2 nodes
    assert sorted(p.name for p in final.path.glob("rng_state_*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
