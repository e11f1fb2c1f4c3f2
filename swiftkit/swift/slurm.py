"""Talking to SLURM through its own commands (argv lists, no shell): submit, ask a job's state, cancel, list
partitions. SLURM's client commands find the cluster themselves (``SLURM_CONF``, configless DNS records)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.errors import SwiftkitError

TIMEOUT = 60.0
# states of a job that still holds (or waits for) its nodes; every other state is final
ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)
# final states in which SLURM, not the training, ended the job
KILLED = {
    "TIMEOUT": "SLURM stopped it at its time limit",
    "NODE_FAIL": "a node of the job failed",
    "PREEMPTED": "SLURM preempted it for another job",
    "OUT_OF_MEMORY": "SLURM killed it for using more memory than allocated",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "it reached its deadline",
}


@dataclass(frozen=True)
class JobState:
    """A job as SLURM reports it: ``state`` such as PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, FAILED."""

    job_id: str
    state: str
    reason: str = ""  # SLURM's Reason (why pending, or why it ended)
    exit_code: str = ""  # "code:signal"
    source: str = ""  # which command answered: squeue | scontrol | sacct

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason and self.reason not in ("None", "(null)") else ""
        return f"SLURM job {self.job_id} {self.state}{why}"


def tool(name: str) -> Optional[str]:
    return shutil.which(name)


def require(name: str) -> str:
    found = tool(name)
    if found is None:
        raise SwiftkitError(
            f"'{name}' was not found on PATH: --slurm submits from a machine with SLURM's client commands (a login "
            "node; there 'module load slurm' may be needed). Without SLURM, drop --slurm or see the job script "
            "with --slurm --dry-run."
        )
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def _error(what: str, proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout).strip().splitlines()
    return f"{what} failed (exit {proc.returncode}): {text[-1] if text else 'no message'}"


def partitions() -> list[str]:
    """The partitions SLURM knows (``sinfo``)."""
    proc = _run([require("sinfo"), "--noheader", "--format=%R"])
    if proc.returncode != 0:
        raise SwiftkitError(_error("sinfo", proc) + "; check that SLURM answers ('sinfo') and try again.")
    return sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})


def submit(script: Path) -> str:
    """``sbatch --parsable SCRIPT``: the job id."""
    proc = _run([require("sbatch"), "--parsable", str(script)])
    if proc.returncode != 0:
        raise SwiftkitError(
            _error("sbatch", proc) + f". The script is {script}; fix the profile's slurm: section and try again."
        )
    job = proc.stdout.strip().splitlines()[-1].split(";")[0] if proc.stdout.strip() else ""
    if not job.isdigit():
        raise SwiftkitError(f"sbatch answered {proc.stdout.strip()!r}, not a job id; the script is {script}.")
    return job


def cancel(job_id: str) -> None:
    proc = _run([require("scancel"), job_id])
    if proc.returncode != 0:
        raise SwiftkitError(_error(f"scancel {job_id}", proc) + "; see 'squeue --jobs " + job_id + "'.")


def _queued(job_id: str, squeue: str) -> Optional[JobState]:
    """From squeue; None when the job is no longer queued. Raises OSError/SubprocessError when SLURM does not
    answer."""
    proc = _run([squeue, "--noheader", f"--jobs={job_id}", "--format=%T|%r"])
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return None
        raise subprocess.SubprocessError(proc.stderr)
    for line in proc.stdout.splitlines():
        state, _, reason = line.strip().partition("|")
        if state:
            return JobState(job_id, state, reason, source="squeue")
    return None


def _scontrol(job_id: str) -> Optional[JobState]:
    """A job SLURM still remembers (``MinJobAge``, 5 minutes by default, after it ended)."""
    found = tool("scontrol")
    if found is None:
        return None
    proc = _run([found, "show", "job", job_id, "--oneliner"])
    if proc.returncode != 0:
        return None
    fields = dict(word.split("=", 1) for word in proc.stdout.split() if "=" in word)
    if "JobState" not in fields:
        return None
    return JobState(job_id, fields["JobState"], fields.get("Reason", ""), fields.get("ExitCode", ""), "scontrol")


def _sacct(job_id: str) -> Optional[JobState]:
    """A job from SLURM's accounting (clusters that keep it)."""
    found = tool("sacct")
    if found is None:
        return None
    proc = _run([found, "--noheader", "--parsable2", "-X", f"--jobs={job_id}", "--format=State,ExitCode,Reason"])
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and parts[0]:
            state = parts[0].split()[0]  # "CANCELLED by 0"
            return JobState(job_id, state, parts[2] if len(parts) > 2 else "", parts[1], "sacct")
    return None


def job_state(job_id: str) -> Optional[JobState]:
    """The job's state: squeue while it is queued or running, then scontrol or sacct. None when SLURM does not
    answer here (no squeue, controller down): the caller must not take the job for ended."""
    squeue = tool("squeue")
    if squeue is None:
        return None
    try:
        queued = _queued(job_id, squeue)
    except (OSError, subprocess.SubprocessError):
        return None
    if queued is not None and queued.active:
        return queued
    try:
        return _scontrol(job_id) or _sacct(job_id) or queued or JobState(job_id, "UNKNOWN", "", source="gone")
    except (OSError, subprocess.SubprocessError):
        return queued or JobState(job_id, "UNKNOWN", "", source="gone")
