"""Checkpoint lookup rules, table-driven over trees built in tmp_path that reproduce each trap."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import invoke
from helpers import safetensors_bytes, write_merged

from swiftkit.errors import SwiftkitError
from swiftkit.runs import checkpoints


def ck(
    out: Path,
    run: str,
    step: int,
    *,
    weights: bytes | None = safetensors_bytes(),
    config: bool = True,
    state_step: int | None = -1,
    merged: bool = False,
) -> Path:
    path = out / run / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if config:
        (path / "adapter_config.json").write_text('{"r": 8}')
    if weights is not None:
        (path / "adapter_model.safetensors").write_bytes(weights)
    if state_step is not None:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step if state_step == -1 else state_step}))
    if merged:
        write_merged(out / run / f"checkpoint-{step}-merged")
    return path


def log(out: Path, run: str, lines: list[dict]) -> None:
    (out / run).mkdir(parents=True, exist_ok=True)
    (out / run / "logging.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


V0, V1, V9, V10 = "v0-20261101-100000", "v1-20261101-110000", "v9-20261101-120000", "v10-20261101-080000"


def tree_versions_numeric(out):
    ck(out, V9, 40)
    ck(out, V10, 8)  # v10 is newer than v9 although its name sorts first and its time is earlier
    return f"{V10}/checkpoint-8"


def tree_steps_numeric(out):
    ck(out, V0, 99)
    ck(out, V0, 100)
    return f"{V0}/checkpoint-100"


def tree_failed_newest_run(out):
    ck(out, V0, 20)
    (out / V1).mkdir()  # ms-swift creates the folder before data loads; the run then failed
    (out / V1 / "args.json").write_text("{}")
    return f"{V0}/checkpoint-20"


def tree_merged_and_link(out):
    ck(out, V0, 20, merged=True)
    (out / V0 / "checkpoint-20-merged" / "checkpoint-99").mkdir()
    os.symlink("checkpoint-20", out / V0 / "last-checkpoint")
    (out / V0 / "checkpoint-final-export").mkdir()
    return f"{V0}/checkpoint-20"


def tree_missing_weights(out):
    ck(out, V0, 10)
    ck(out, V0, 20, weights=None)
    return f"{V0}/checkpoint-10"


def tree_empty_weights(out):
    ck(out, V0, 10)
    ck(out, V0, 20, weights=b"")
    return f"{V0}/checkpoint-10"


def tree_missing_config(out):
    ck(out, V0, 10)
    ck(out, V0, 20, config=False)
    return f"{V0}/checkpoint-10"


def tree_truncated_weights(out):
    ck(out, V0, 10)
    ck(out, V0, 20, weights=safetensors_bytes()[:-8])  # a disk that filled up while saving
    return f"{V0}/checkpoint-10"


def tree_cut_header(out):
    ck(out, V0, 10)
    ck(out, V0, 20, weights=safetensors_bytes()[:40])
    return f"{V0}/checkpoint-10"


def tree_cut_args_json(out):
    ck(out, V0, 10)
    (ck(out, V0, 20) / "args.json").write_text('{"model": "x", "tuner_ty')  # ms-swift reads it to load
    return f"{V0}/checkpoint-10"


def tree_cut_adapter_config(out):
    ck(out, V0, 10)
    (ck(out, V0, 20) / "adapter_config.json").write_text('{"r": ')
    return f"{V0}/checkpoint-10"


def tree_resumed_into_new_run(out):
    ck(out, V0, 10)
    ck(out, V0, 20)
    ck(out, V1, 30)  # --resume_from_checkpoint writes a new vN; steps continue
    return f"{V1}/checkpoint-30"


def tree_resumed_run_failed(out):
    ck(out, V0, 20)
    ck(out, V1, 30, weights=b"")  # killed while saving
    return f"{V0}/checkpoint-20"


def tree_combination(out):
    ck(out, V9, 40, merged=True)
    ck(out, V10, 50, weights=safetensors_bytes()[:100], state_step=12, merged=True)
    os.symlink("checkpoint-50", out / V10 / "last-checkpoint")
    (out / "v11-20261101-130000").mkdir()
    return f"{V9}/checkpoint-40"


def tree_logged_last_is_deleted(out):
    ck(out, V0, 20)
    log(out, V0, [{"last_model_checkpoint": str(out / V0 / "checkpoint-30"), "best_model_checkpoint": None}])
    return f"{V0}/checkpoint-20"


TREES = [
    tree_versions_numeric,
    tree_steps_numeric,
    tree_failed_newest_run,
    tree_merged_and_link,
    tree_missing_weights,
    tree_empty_weights,
    tree_missing_config,
    tree_truncated_weights,
    tree_cut_header,
    tree_cut_args_json,
    tree_cut_adapter_config,
    tree_resumed_into_new_run,
    tree_resumed_run_failed,
    tree_combination,
    tree_logged_last_is_deleted,
]


@pytest.mark.parametrize("build", TREES, ids=[t.__name__[5:] for t in TREES])
def test_latest(tmp_path, build):
    expected = build(tmp_path)
    assert checkpoints.pick(tmp_path, "latest") == tmp_path / expected
    assert checkpoints.pick(tmp_path, "latest", for_resume=True) == tmp_path / expected


RESUME_TREES = {
    "no trainer state": (lambda p: (p / "trainer_state.json").unlink(), "trainer_state.json is missing"),
    "cut trainer state": (lambda p: (p / "trainer_state.json").write_text('{"global_'), "not valid JSON"),
    "state of another step": (
        lambda p: (p / "trainer_state.json").write_text('{"global_step": 15}'),
        "trainer_state.json says step 15, the folder says 20",
    ),
    "cut optimizer": (lambda p: (p / "optimizer.pt").write_bytes(b"PK\x03\x04cut"), "optimizer.pt is cut short"),
}


@pytest.mark.parametrize("name", sorted(RESUME_TREES))
def test_resume_needs_trainer_state_that_matches(tmp_path, name):
    """The adapter still serves infer/export; --resume takes the newest checkpoint it can continue from."""
    damage, reason = RESUME_TREES[name]
    ck(tmp_path, V0, 10)
    damage(ck(tmp_path, V0, 20))
    assert checkpoints.pick(tmp_path, "latest") == tmp_path / V0 / "checkpoint-20"
    assert checkpoints.pick(tmp_path, "latest", for_resume=True) == tmp_path / V0 / "checkpoint-10"
    row = [r for r in checkpoints.table(checkpoints.scan(tmp_path)) if r["step"] == 20][0]
    assert row["complete"] and reason in row["note"] and row["note"].startswith("cannot resume: ")


def test_nothing_resumable_says_why(tmp_path):
    (ck(tmp_path, V0, 20) / "trainer_state.json").unlink()
    with pytest.raises(SwiftkitError) as info:
        checkpoints.pick(tmp_path, "latest", for_resume=True)
    assert str(info.value).startswith(
        f"no checkpoint in {tmp_path} can be resumed: checkpoint-20 of {V0}: trainer_state.json is missing."
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / "adapter_model.safetensors").write_bytes(safetensors_bytes()[:-1]), "is cut short"),
        (lambda p: (p / "adapter_config.json").unlink(), "adapter_config.json is missing"),
    ],
)
def test_a_given_incomplete_checkpoint_is_refused(tmp_path, damage, reason):
    path = ck(tmp_path, V0, 20)
    damage(path)
    with pytest.raises(SwiftkitError, match=f"checkpoint {path} is incomplete: .*{reason}"):
        checkpoints.pick(tmp_path, str(path))


def test_summary_names_only_complete_checkpoints(tmp_path):
    """ms-swift logs last_model_checkpoint even when the disk filled while writing it."""
    from swiftkit.runs.progress import read_events, summarise

    ck(tmp_path, V0, 10)
    (tmp_path / V0 / "checkpoint-20").mkdir()
    (tmp_path / V0 / "checkpoint-20" / "README.md").write_text("x")
    log(
        tmp_path,
        V0,
        [
            {
                "last_model_checkpoint": str(tmp_path / V0 / "checkpoint-20"),
                "best_model_checkpoint": str(tmp_path / V0 / "checkpoint-20"),
            }
        ],
    )
    run = tmp_path / V0
    summary = checkpoints.settle(summarise(run, read_events(run), "failed", 1))
    assert (summary.checkpoint, summary.best_checkpoint) == (str(run / "checkpoint-10"), None)


def test_best_comes_from_evaluation(tmp_path):
    for step in (10, 20, 30):
        ck(tmp_path, V0, step)
    log(
        tmp_path,
        V0,
        [
            {"loss": 2.0, "global_step/max_steps": "10/30"},
            {"eval_loss": 1.5, "global_step/max_steps": "10/30"},
            {"loss": 1.0, "global_step/max_steps": "20/30"},
            {"eval_loss": 0.9, "global_step/max_steps": "20/30"},
            {"loss": 0.5, "global_step/max_steps": "30/30"},
            {"eval_loss": 1.1, "global_step/max_steps": "30/30"},
            {
                "last_model_checkpoint": f"output/x/{V0}/checkpoint-30",
                "best_model_checkpoint": f"output/x/{V0}/checkpoint-20",
            },
        ],
    )
    assert checkpoints.pick(tmp_path, "best") == tmp_path / V0 / "checkpoint-20"
    rows = checkpoints.table(checkpoints.scan(tmp_path))
    marks = {(r["step"], r["latest"], r["best"]) for r in rows}
    assert marks == {(10, False, False), (20, False, True), (30, True, False)}
    assert [r["eval_loss"] for r in rows] == [1.5, 0.9, 1.1]
    assert [r["loss"] for r in rows] == [2.0, 1.0, 0.5]


def test_best_without_logging_uses_eval_losses(tmp_path):
    ck(tmp_path, V0, 10)
    ck(tmp_path, V0, 20)
    (tmp_path / V0 / "logging.jsonl").write_text(
        json.dumps({"eval_loss": 0.7, "global_step/max_steps": "10/20"})
        + "\n"
        + json.dumps({"eval_loss": 0.8, "global_step/max_steps": "20/20"})
        + "\n{truncated"
    )
    assert checkpoints.pick(tmp_path, "best") == tmp_path / V0 / "checkpoint-10"


def test_no_best_when_evaluation_never_ran(tmp_path):
    ck(tmp_path, V0, 10)
    log(
        tmp_path,
        V0,
        [
            {"loss": 1.0, "global_step/max_steps": "10/10"},
            {"last_model_checkpoint": "x/checkpoint-10", "best_model_checkpoint": None},
        ],
    )
    with pytest.raises(SwiftkitError, match="no 'best' checkpoint .* evaluation never ran"):
        checkpoints.pick(tmp_path, "best")


TRAIN_FIRST = "train first with 'swiftkit train' (-p P for another profile than ./swiftkit.yaml)."


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "output directory OUT does not exist; " + TRAIN_FIRST),
        (lambda p: p.write_text("x"), "output directory OUT is a file, not a folder; check the profile's output_dir."),
        (lambda p: p.mkdir(), "no complete checkpoint in OUT; " + TRAIN_FIRST),
        (lambda p: (p / V0).mkdir(parents=True), "no complete checkpoint in OUT; " + TRAIN_FIRST),
    ],
    ids=["missing", "file", "empty", "only-failed-runs"],
)
def test_bad_output_dirs_give_one_line_and_exit_1(tmp_path, setup, message):
    out = tmp_path / "out"
    setup(out)
    message = message.replace("OUT", str(out))
    with pytest.raises(SwiftkitError) as info:
        checkpoints.pick(out, "latest")
    assert str(info.value) == message
    result = invoke("checkpoints", "latest", "--output-dir", str(out))
    assert result.returncode == 1
    assert (result.stdout, result.stderr) == ("", f"Error: {message}\n")


def test_cli_table_and_json(tmp_path):
    tree_combination(tmp_path)
    listing = invoke("checkpoints", "--output-dir", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    text = listing.stdout
    assert "v11-20261101-130000" in text and "no checkpoint" in text and "latest" in text
    rows = json.loads(invoke("checkpoints", "--output-dir", str(tmp_path), "--json").stdout)
    by_step = {r["step"]: r for r in rows}
    assert by_step[40]["latest"] and by_step[40]["merged"] and by_step[40]["complete"]
    assert not by_step[50]["complete"] and "adapter_model.safetensors is cut short" in by_step[50]["note"]
    assert (
        invoke("checkpoints", "latest", "--output-dir", str(tmp_path)).stdout == f"{tmp_path / V9 / 'checkpoint-40'}\n"
    )
