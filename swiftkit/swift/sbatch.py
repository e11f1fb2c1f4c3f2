"""The sbatch script of ``swiftkit train --slurm``: the profile's ``slurm:`` section as ``#SBATCH`` lines, then one
``srun`` launcher a node running the exact ``swift sft`` argv and environment that ``plan`` shows.

Each node takes its rank, the node count and the rendezvous address from SLURM's own variables (``SLURM_NODEID``,
``SLURM_NNODES``, the first host of ``SLURM_JOB_NODELIST``); GPUs come from the allocation (SLURM sets
``CUDA_VISIBLE_DEVICES``). Text only: :mod:`swiftkit.swift.slurm` talks to SLURM.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import SlurmSection
from swiftkit.layout import MANIFEST, TRAIN_LOG
from swiftkit.swift.render import GUARD_DIR, Command

# set by the script from SLURM's variables on each node, never copied from the submitting machine's plan
FROM_SLURM = ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
PORT_BASE = 20000  # MASTER_PORT, unless the profile sets launch.master_port: 20000 + job id mod 20000


@dataclass(frozen=True)
class JobSpec:
    """What the script asks SLURM for, and where its run lives (absolute paths: the nodes read them)."""

    slurm: SlurmSection
    job_name: str
    run_dir: Path  # absolute
    workdir: Path  # absolute: the submitting folder, where the argv's relative paths start
    swift: str  # absolute path of the `swift` launcher script (the same Python environment on every node)
    gpus_per_node: int  # 0: no GPUs asked for
    master_port: Optional[int] = None
    version: str = ""


def sbatch_lines(spec: JobSpec) -> list[str]:
    s = spec.slurm
    lines = [
        f"--job-name={spec.job_name}",
        f"--nodes={s.nodes}",
        "--ntasks-per-node=1",  # one launcher a node; torchrun starts the ranks
    ]
    if spec.gpus_per_node:
        lines.append(f"--gpus-per-node={spec.gpus_per_node}")
    if s.cpus_per_task:
        lines.append(f"--cpus-per-task={s.cpus_per_task}")
    for flag, value in (("partition", s.partition), ("account", s.account), ("time", s.time)):
        if value is not None:
            lines.append(f"--{flag}={value}")
    if s.constraint is not None:
        lines.append(f"--constraint={s.constraint}")
    lines += [
        f"--chdir={spec.workdir}",
        f"--output={spec.run_dir / TRAIN_LOG}",
        "--open-mode=append",
        "--export=ALL",  # the submitting shell's environment (venv, caches, HF/ModelScope settings)
        "--no-requeue",  # a preempted job ends (failed, with SLURM's reason) instead of restarting from step 0
        *s.extra,
    ]
    return [f'#SBATCH "{line}"' if any(c.isspace() for c in line) else f"#SBATCH {line}" for line in lines]


def _env_lines(command: Command, spec: JobSpec) -> list[str]:
    out = []
    env = dict(command.env)
    if spec.gpus_per_node:
        env.pop("CUDA_VISIBLE_DEVICES", None)  # the allocation's GPUs, as SLURM sets them on each node
    guard = env.pop("PYTHONPATH", None)
    for key in FROM_SLURM:
        env.pop(key, None)
    for key, value in env.items():
        out.append(f"export {key}={shlex.quote(value)}")
    if guard is not None:  # the remote-code guard first, the user's PYTHONPATH after it
        path = str(GUARD_DIR) if Path(guard).resolve() == GUARD_DIR else str(Path(spec.workdir, guard))
        out.append(f'export PYTHONPATH={shlex.quote(path)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
    out.append("export PYTHONUNBUFFERED=1")
    if "NPROC_PER_NODE" in command.env:  # torchrun over the nodes: rendezvous on the first node
        out += [
            'export NNODES="$SLURM_NNODES"',
            'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
            f"export MASTER_PORT={spec.master_port}"
            if spec.master_port
            else f'export MASTER_PORT="$(( {PORT_BASE} + SLURM_JOB_ID % {PORT_BASE} ))"',
        ]
    return out


# Runs on every node: refuse when the run folder is not visible there (output_dir not on shared storage), then
# start the launcher with this node's rank.
NODE_STEP = (
    'test -f "$1" || { echo "swiftkit: node $(hostname) does not see $1: output_dir must be on storage every node '
    'mounts at the same path" >&2; exit 2; }; shift; export NODE_RANK="$SLURM_NODEID"; exec "$@"'
)


def argv_lines(argv: list[str]) -> list[str]:
    """The argv as shell words, one ``--flag value…`` group a line (joined with ``\\`` by the caller)."""
    groups: list[list[str]] = []
    for word in argv:
        if word.startswith("--") or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return [shlex.join(group) for group in groups]


def render_script(command: Command, spec: JobSpec) -> str:
    """The whole sbatch script (text). ``command`` is the rendered ``swift sft`` with its environment."""
    argv = [spec.swift, *command.argv[1:]] if command.argv and command.argv[0] == "swift" else list(command.argv)
    srun = ["srun", f"--nodes={spec.slurm.nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    if spec.slurm.cpus_per_task:
        srun.append(f"--cpus-per-task={spec.slurm.cpus_per_task}")  # srun does not inherit it from sbatch (22.05+)
    words = [
        shlex.join(srun),
        shlex.join(["bash", "-c", NODE_STEP, "swiftkit-node", str(spec.run_dir / MANIFEST)]),
        *argv_lines(argv),
    ]
    head = [
        "#!/bin/bash",
        *sbatch_lines(spec),
        f"# Made by swiftkit {spec.version} for the run folder {spec.run_dir}.",
        "# Follow it with 'swiftkit logs -f', stop it with 'swiftkit cancel'; after a time limit continue with",
        "# 'swiftkit train --slurm --resume'.",
        "set -euo pipefail",
        *_env_lines(command, spec),
    ]
    return "\n".join(head) + "\n" + " \\\n  ".join(words) + "\n"
