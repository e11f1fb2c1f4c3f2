"""A real tree from ms-swift with evaluation ('best'), and --resume continuing in a new run folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


def test_best_checkpoint_and_resume(tmp_path: Path, tiny_model: Path):
    from e2e.conftest import RECORDS, steps, tiny_profile

    per_epoch = steps(RECORDS - math.ceil(RECORDS * 0.2), 16)  # ms-swift holds 20% out for evaluation

    profile = tiny_profile(
        tmp_path,
        tiny_model,
        split_dataset_ratio=0.2,
        eval_steps=2,
        save_steps=2,
        save_total_limit=10,
        per_device_train_batch_size=16,
    )
    out = tmp_path / "out"
    first = run_cli("train", "--profile", str(profile))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    runs = checkpoints.scan(out)
    assert [c.step for c in runs[0].checkpoints] == sorted({*range(2, per_epoch + 1, 2), per_epoch})
    best = checkpoints.best(runs)
    assert best is not None and best.eval_loss is not None
    assert best.eval_loss == min(c.eval_loss for c in runs[0].checkpoints if c.eval_loss is not None)
    assert run_cli("checkpoints", "best", "--profile", str(profile)).stdout.strip() == str(best.path)

    resumed = run_cli("train", "--profile", str(profile), "--resume", "--set", "train.num_train_epochs=2")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"--resume_from_checkpoint {runs[0].path}/checkpoint-{per_epoch}" in resumed.stderr
    runs = checkpoints.scan(out)
    assert len(runs) == 2 and runs[1].version == 1
    newest = checkpoints.latest(runs)
    assert newest is not None and newest.path == runs[1].path / f"checkpoint-{2 * per_epoch}"  # steps continue
    latest = run_cli("checkpoints", "latest", "--profile", str(profile)).stdout.strip()
    assert latest == str(runs[1].path / f"checkpoint-{2 * per_epoch}")
