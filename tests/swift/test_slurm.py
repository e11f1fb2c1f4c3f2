"""`swiftkit train --slurm` without training: the job script, the refusals before submission (against a real
slurmctld where one is needed), and SLURM's own parsing of the two-node script (`sbatch --test-only`)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import invoke, run_cli

from swiftkit.runs.progress import RunSummary
from swiftkit.runs.state import job_verdict
from swiftkit.swift.slurm import JobState

TWO_BY_EIGHT = """\
extends: h100
gpu:
  devices: [0, 1, 2, 3, 4, 5, 6, 7]
  memory_gb: 80
slurm:
  nodes: 2
  partition: gpu
  account: my-lab
  time: "1-00:00:00"
  constraint: h100
  cpus_per_task: 64
  extra: ["--qos=normal"]
"""


def profile(tmp_path: Path, text: str = TWO_BY_EIGHT, output_dir: str = "") -> Path:
    path = tmp_path / "cluster.yaml"
    out = output_dir or str(tmp_path / "runs")
    path.write_text(text + f"output_dir: {out}\n", encoding="utf-8")
    return path


def dry_run(path: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    args = [a for s in sets for a in ("--set", s)]
    return invoke("train", "--profile", str(path), "--slurm", "--dry-run", *args)


def test_two_nodes_of_eight_gpus_render_one_launcher_a_node(tmp_path: Path):
    result = dry_run(profile(tmp_path))
    assert result.returncode == 0, result.stderr
    script = result.stdout
    head = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert head[:10] == [
        "#SBATCH --job-name=swiftkit-cluster",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=64",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=my-lab",
        "#SBATCH --time=1-00:00:00",
        "#SBATCH --constraint=h100",
        f"#SBATCH --chdir={Path.cwd().parent if False else Path(__file__).resolve().parents[2]}",
    ]
    assert head[-1] == "#SBATCH --qos=normal"
    # rank, node count and rendezvous come from SLURM on each node; the GPUs from the allocation
    assert 'export NNODES="$SLURM_NNODES"' in script
    assert 'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in script
    assert 'export NODE_RANK="$SLURM_NODEID"' in script
    assert "export NPROC_PER_NODE=8" in script
    assert "CUDA_VISIBLE_DEVICES" not in script
    assert "export SWIFTKIT_REMOTE_CODE=off" in script  # the remote-code guard, as for a local run
    assert "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" in script
    # 16 ranks in all: the batch is fitted to 2 x 8 GPUs, as `plan` does for launch.nnodes=2
    assert "16 processes" in result.stderr
    srun = script[script.index("srun ") :].replace(" \\\n  ", " ")
    words = shlex.split(srun)
    assert words[:5] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1", "--cpus-per-task=64"]
    assert words[words.index("sft") - 1].endswith("swift")
    run_dir = Path(words[words.index("--output_dir") + 1])
    assert run_dir.parent == tmp_path / "runs" and re.fullmatch(r"v0-\d{8}-\d{6}", run_dir.name), run_dir
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_the_job_runs_the_command_plan_shows(tmp_path: Path):
    """The same ms-swift argv as `plan sft` for the same nodes and GPUs (node 0's line)."""
    path = profile(tmp_path)
    script = dry_run(path).stdout
    plan = invoke("plan", "sft", "--profile", str(path), "--set", "launch.nnodes=2", "--set", "launch.master_addr=h0")
    assert plan.returncode == 0, plan.stderr
    planned = shlex.split(plan.stdout.splitlines()[1])
    planned = planned[planned.index("swift") + 1 :]
    words = shlex.split(script[script.index("srun ") :].replace(" \\\n  ", " "))
    ran = words[words.index("sft") :]
    strip = {"--output_dir", "--dataset"}  # the run folder's name carries the time it was planned
    assert [w for i, w in enumerate(ran) if ran[i - 1] not in strip] == [
        w for i, w in enumerate(planned) if planned[i - 1] not in strip
    ]


FIX = "Fix them in the file (or the --set value) and try again."


@pytest.mark.parametrize(
    ("sets", "lines", "code"),
    [
        (
            ["slurm.gpus_per_node=9"],
            [
                "Error: profile PROFILE has 1 problem:",
                "  PROFILE: (top level): slurm.gpus_per_node 9 asks for more GPUs a node than gpu.devices lists "
                "(8: [0, 1, 2, 3, 4, 5, 6, 7]); list 9 devices (e.g. gpu.devices: [0, 1, 2, 3, 4, 5, 6, 7, 8]) or ask "
                "for fewer",
                FIX,
            ],
            1,  # a rule across two fields, one of them from the file
        ),
        (
            ["slurm.time=soon"],
            [
                "Error: profile PROFILE has 1 problem:",
                "  --set slurm.time=soon: slurm.time: 'soon' is not a SLURM time: minutes ('90'), 'H:MM:SS' or "
                "'D-HH:MM:SS'",
                FIX,
            ],
            2,  # a wrong --set value is a usage error
        ),
        (
            ["slurm.extra=['qos=high']"],
            [
                "Error: profile PROFILE has 1 problem:",
                "  --set slurm.extra=['qos=high']: slurm.extra: 'qos=high' must be one sbatch option starting with "
                "'-', e.g. '--qos=high'",
                FIX,
            ],
            2,
        ),
        (
            ["launch.nnodes=2", "launch.master_addr=h0"],
            [
                "Error: launch.nnodes is for starting each node by hand; with --slurm set slurm.nodes instead "
                "(--set launch.nnodes=1 --set slurm.nodes=2)."
            ],
            1,
        ),
    ],
)
def test_profile_mistakes_are_refused_before_anything_runs(
    tmp_path: Path, sets: list[str], lines: list[str], code: int
):
    path = profile(tmp_path)
    result = dry_run(path, *sets)
    assert result.returncode == code
    assert result.stderr.splitlines() == [line.replace("PROFILE", str(path)) for line in lines]
    assert result.stdout == ""


def test_no_sbatch_on_path_is_refused_before_the_data_is_prepared(tmp_path: Path):
    import sys

    result = invoke(
        "train", "--profile", str(profile(tmp_path)), "--slurm", env={"PATH": str(Path(sys.executable).parent)}
    )
    assert result.returncode == 1
    assert result.stderr == (
        "Error: 'sbatch' was not found on PATH: --slurm submits from a machine with SLURM's client commands (a login "
        "node; there 'module load slurm' may be needed). Without SLURM, drop --slurm or see the job script with "
        "--slurm --dry-run.\n"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("state", "tail", "status", "words"),
    [
        ("TIMEOUT", "", "failed", ["TIMEOUT: SLURM stopped it at its time limit", "checkpoint-8", "--resume"]),
        ("UNKNOWN", "*** JOB 7 ON n1 CANCELLED AT 2026-12-03T11:20:43 DUE TO TIME LIMIT ***", "failed", ["TIMEOUT"]),
        ("NODE_FAIL", "", "failed", ["a node of the job failed"]),
        ("PREEMPTED", "", "failed", ["preempted"]),
        ("CANCELLED", "", "interrupted", ["CANCELLED at step 8/20", "checkpoint-8"]),
        ("FAILED", "", "failed", ["FAILED (exit 1:0)"]),
    ],
)
def test_slurm_final_states(state: str, tail: str, status: str, words: list[str]):
    summary = RunSummary(
        run_dir="r", status="unknown", exit_code=None, steps=8, max_steps=20, checkpoint="checkpoint-8"
    )
    found, note = job_verdict(JobState("7", state, exit_code="1:0"), summary, False, tail)
    assert found == status
    for word in words:
        assert word in note
    if status == "failed" and state != "FAILED":  # without a checkpoint there is nothing to resume from
        nothing = RunSummary(run_dir="r", status="unknown", exit_code=None, steps=None, max_steps=None)
        note = job_verdict(JobState("7", state), nothing, False, tail)[1]
        assert "before its first step; the last complete checkpoint is none; submit again with more time" in note


def test_unknown_partition_is_refused_with_the_known_ones(tmp_path: Path, slurm):
    path = profile(tmp_path, TWO_BY_EIGHT.replace("nodes: 2", "nodes: 1"))
    result = run_cli("train", "--profile", str(path), "--slurm")
    assert result.returncode == 1
    assert "slurm.partition 'gpu' is not a partition of this cluster (sinfo lists: debug)" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_several_nodes_on_a_local_disk_are_refused(tmp_path: Path, slurm):
    path = profile(tmp_path, TWO_BY_EIGHT.replace("partition: gpu", "partition: debug"))
    result = run_cli("train", "--profile", str(path), "--slurm")
    assert result.returncode == 1
    assert "slurm.nodes is 2 but output_dir" in result.stderr and "on a local file system" in result.stderr
    assert "--set slurm.shared_output=true" in result.stderr


def test_slurm_parses_the_two_node_script(tmp_path: Path, slurm):
    """SLURM's own parser (sbatch --test-only) takes every line of the 2-node x 8-GPU script. The test cluster is one
    node without GPUs, so only the node count, GPUs and cores are overridden on sbatch's command line (which wins
    over #SBATCH lines); without them SLURM refuses the GPUs this cluster does not have."""
    text = TWO_BY_EIGHT.replace("partition: gpu", "partition: debug").replace("  constraint: h100\n", "")
    text = text.replace("  account: my-lab\n", "").replace('extra: ["--qos=normal"]', "extra: []")
    script = tmp_path / "job.sh"
    rendered = dry_run(profile(tmp_path, text))
    assert rendered.returncode == 0, rendered.stderr
    script.write_text(rendered.stdout)
    as_is = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True)
    assert as_is.returncode == 1 and "gres" in as_is.stderr, as_is.stderr
    fitted = ["--nodes=1", "--gpus-per-node=0", "--cpus-per-task=1"]
    test = subprocess.run(["sbatch", "--test-only", *fitted, str(script)], capture_output=True, text=True)
    assert test.returncode == 0 and "to start at" in test.stderr, test.stderr
    assert "in partition debug" in test.stderr


def test_a_slurm_run_is_not_closed_where_slurm_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Looking at a SLURM run from a machine without squeue must not take the job for dead (a local run would be
    closed 'failed' once its processes are gone)."""
    import json

    from swiftkit.runs.state import reconcile

    run = tmp_path / "v0-20261203-101500"
    run.mkdir()
    record = {"status": "running", "slurm_job": "42", "started": "2026-12-03T10:15:00+00:00", "pid": 999999999}
    (run / "swiftkit-manifest.json").write_text(json.dumps(record))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    state = reconcile(run)
    assert (state.status, state.slurm_job) == ("running", "42")
    assert "SLURM does not answer here" in state.note
    assert json.loads((run / "swiftkit-manifest.json").read_text())["status"] == "running"
