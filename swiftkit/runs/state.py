"""The true state of a run, also when the process that started it is gone.

A manifest says ``running`` until swiftkit closes it; swiftkit may be killed, or detached on purpose, while
ms-swift trains on. So a ``running`` manifest is checked against its processes (pid and start time, of swiftkit
and of ms-swift) and, once none is alive, closed from ``logging.jsonl``: ms-swift logs ``train_runtime`` only when
the training loop ran to its end (``ok``); without it the run ``failed`` (``interrupted`` when its log ends in a
KeyboardInterrupt). Used by ``status``, ``checkpoints``, ``report``, ``logs`` and the lock.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

from swiftkit.layout import LOCK_NAME, LOGGING_JSONL, TRAIN_LOG
from swiftkit.runs import checkpoints, manifest
from swiftkit.runs.lock import alive, is_locked, lock_info
from swiftkit.runs.progress import RunSummary, read_events, summarise, tail
from swiftkit.swift.slurm import KILLED, JobState, job_state

RUNNING = "running"


@dataclass
class RunState:
    run_dir: str
    status: str  # running | ok | failed | interrupted | unknown
    note: str = ""  # how the status is known, when it is not swiftkit's own record
    pid: Optional[int] = None  # the live ms-swift (or swiftkit) process of a running run
    steps: Optional[int] = None
    max_steps: Optional[int] = None
    checkpoint: Optional[str] = None  # the newest complete checkpoint
    started: Optional[str] = None
    ended: Optional[str] = None
    slurm_job: Optional[str] = None  # the SLURM job of a run submitted with 'train --slurm'

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def live_pid(record: dict[str, Any], run_dir: Path) -> Optional[int]:
    """The pid of a process of this run that still runs: ms-swift first, then swiftkit; None when none does."""
    if alive(record.get("swift_pid"), record.get("swift_start")):
        return int(record["swift_pid"])
    if alive(record.get("pid"), record.get("pid_start")):
        return int(record["pid"])
    lock = run_dir.parent / LOCK_NAME
    if record.get("swift_pid") is None and is_locked(lock) and lock_info(lock).get("run_dir") == str(run_dir):
        # ms-swift started but its pid never reached the manifest (a full disk): the run lock it holds says it lives
        return -1
    return None


def reconcile(run_dir: Path, write: bool = True) -> RunState:
    """The run's true state; a ``running`` manifest whose processes are all gone is closed (when ``write``)."""
    record = manifest.read(run_dir)
    events = read_events(run_dir)
    # ms-swift writes its last line (last/best checkpoint) in a `finally`, also after a crash or a kill; the
    # train_runtime line comes only when the training loop ran to its end
    done = any(e.kind == "summary" for e in events)
    summary = checkpoints.settle(summarise(run_dir, events, "unknown", None))
    state = RunState(
        str(run_dir),
        "unknown",
        steps=summary.steps,
        max_steps=summary.max_steps,
        checkpoint=summary.checkpoint,
    )
    if record is None:
        state.note = "no swiftkit manifest"
        if done:
            state.status = "ok"
        return state
    state.started, state.ended = record.get("started"), record.get("ended")
    state.status = str(record.get("status", "unknown"))
    state.slurm_job = str(record["slurm_job"]) if record.get("slurm_job") else None
    if state.status != RUNNING:
        state.note = str(record.get("reconciled") or record.get("reason") or "")
        return state
    if state.slurm_job:
        return _reconcile_job(run_dir, record, state, summary, done, write)
    pid = live_pid(record, run_dir)
    if pid is not None:
        state.pid = pid if pid > 0 else None
        return state
    state.status, state.note = verdict(summary, done, tail(run_dir / TRAIN_LOG, 30))
    state.ended = _mtime_iso(run_dir / LOGGING_JSONL) or _mtime_iso(run_dir / TRAIN_LOG) or state.started
    if write:
        try:
            manifest.finish(
                run_dir,
                record,
                None,
                state.status,
                ended=state.ended,
                reconciled=state.note,
                **summary.outcome(),
            )
        except OSError:
            pass  # read-only or full: the state is still reported, just not recorded
    return state


def _reconcile_job(
    run_dir: Path, record: dict[str, Any], state: RunState, summary: RunSummary, done: bool, write: bool
) -> RunState:
    """A SLURM run: running while SLURM has the job queued or running; then closed with SLURM's final state."""
    assert state.slurm_job is not None
    found = job_state(state.slurm_job)
    if found is None:
        state.note = f"SLURM job {state.slurm_job}: SLURM does not answer here (no squeue, or the controller is down)"
        return state
    if found.active:
        state.note = found.describe()
        return state
    state.status, state.note = job_verdict(found, summary, done, tail(run_dir / TRAIN_LOG, 30))
    state.ended = manifest.now_iso()
    if write:
        try:
            manifest.finish(
                run_dir,
                record,
                _exit_code(found.exit_code),
                state.status,
                reason=state.note,
                slurm_state=found.state,
                **summary.outcome(),
            )
        except OSError:
            pass
    return state


def _exit_code(text: str) -> Optional[int]:
    code = text.split(":")[0]
    return int(code) if code.isdigit() else None


_DUE = re.compile(r"\*\*\* JOB \d+ ON \S+ CANCELLED AT \S+(?: DUE TO ([A-Z ]+?))? \*\*\*")
_DUE_TO = {"TIME LIMIT": "TIMEOUT", "NODE FAILURE": "NODE_FAIL", "PREEMPTION": "PREEMPTED"}


def job_verdict(found: JobState, summary: RunSummary, done: bool, log_tail: str = "") -> tuple[str, str]:
    """(status, note) of a SLURM job that has ended, from SLURM's final state (or, once SLURM has forgotten the
    job, from the line slurmstepd writes into the job's log)."""
    state = found.state
    if state == "UNKNOWN":
        match = _DUE.search(log_tail)
        if match:
            state = _DUE_TO.get(match.group(1) or "", "CANCELLED")
    where = f" at step {summary.steps}/{summary.max_steps}" if summary.steps else " before its first step"
    kept = summary.checkpoint or "none"
    if state == "COMPLETED" and done:
        return "ok", f"SLURM job {found.job_id} COMPLETED"
    if state == "CANCELLED":
        return "interrupted", f"SLURM job {found.job_id} CANCELLED{where}; the last complete checkpoint is {kept}"
    if state in KILLED:
        then = (
            "continue with 'swiftkit train --slurm --resume'"
            if summary.checkpoint
            else "submit again with more time (slurm.time) or earlier checkpoints (train.save_steps)"
        )
        return (
            "failed",
            f"SLURM job {found.job_id} {state}: {KILLED[state]}{where}; the last complete checkpoint is {kept}; {then}",
        )
    if state in ("COMPLETED", "FAILED"):
        return "failed", f"SLURM job {found.job_id} {state} (exit {found.exit_code or '?'}){where}: see its log"
    status, note = verdict(summary, done, log_tail)
    return status, f"SLURM job {found.job_id} is gone: {note}"


def verdict(summary: RunSummary, done: bool, log_tail: str = "") -> tuple[str, str]:
    """(status, note) of a run whose processes are all gone, from what it logged; ``done``: the training loop ran
    to its end (ms-swift logged train_runtime)."""
    if done:
        return "ok", "finished after its swiftkit process was gone (train_runtime in logging.jsonl)"
    where = f" at step {summary.steps}/{summary.max_steps}" if summary.steps else " before its first step"
    if "KeyboardInterrupt" in log_tail:  # stopped with kill -INT (what Ctrl-C sends)
        return "interrupted", f"stopped{where} (KeyboardInterrupt in its log)"
    return "failed", f"its processes ended{where} before the training loop finished"


def _mtime_iso(path: Path) -> Optional[str]:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).astimezone().isoformat(timespec="seconds")
    except OSError:
        return None


def states(output_dir: str | Path, write: bool = True) -> list[RunState]:
    """Every run of an output folder, oldest first, with its true state."""
    return [reconcile(run.path, write) for run in checkpoints.scan(output_dir)]
