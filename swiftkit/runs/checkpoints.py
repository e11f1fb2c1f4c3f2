"""Runs and checkpoints in an ms-swift output folder, and the rules for "latest" and "best".

Layout: ``OUTPUT/vN-YYYYMMDD-HHMMSS/checkpoint-STEP``. Versions and steps compare as numbers; run folders
without checkpoints, ``checkpoint-N-merged`` exports, the ``last-checkpoint`` link and incomplete
checkpoints are never "the newest checkpoint".

Complete is checked, not assumed (a killed run or a full disk leaves folders with cut files): the adapter config
parses, the weights' header parses and the file holds every tensor's bytes, args.json (read by ms-swift for
infer/export/resume) parses. ``--resume`` also needs trainer_state.json naming the folder's step, and whole
optimizer/scheduler/RNG state files where present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from swiftkit.config import hints
from swiftkit.config.profiles import LoadedProfile
from swiftkit.data.resolve import ResolvedModel, assemble_model
from swiftkit.errors import SwiftkitError
from swiftkit.layout import CHECKPOINT_RE, LOGGING_JSONL, RUN_RE, is_merged, merged_path
from swiftkit.runs.integrity import ADAPTER_WEIGHTS, check_checkpoint, check_resume, merged_complete, merged_problem
from swiftkit.runs.progress import RunSummary, json_objects, step_of

__all__ = ["ADAPTER_WEIGHTS", "check_checkpoint", "check_resume", "merged_complete", "merged_problem"]


@dataclass
class Checkpoint:
    path: Path
    step: int
    complete: bool
    problem: str = ""  # why it is incomplete
    resume_problem: str = ""  # why --resume cannot continue from it
    mtime: float = 0.0
    loss: Optional[float] = None
    eval_loss: Optional[float] = None

    @property
    def resumable(self) -> bool:
        return self.complete and not self.resume_problem

    @property
    def merged_path(self) -> Path:
        return merged_path(self.path)

    @property
    def merged(self) -> bool:
        return merged_complete(self.merged_path)


@dataclass
class Run:
    path: Path
    version: int
    stamp: str
    checkpoints: list[Checkpoint] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete_checkpoints(self) -> list[Checkpoint]:
        return [c for c in self.checkpoints if c.complete]

    def summary_line(self) -> dict[str, Any]:
        """logging.jsonl's last line with last/best_model_checkpoint, or {}."""
        for entry in reversed(self.log):
            if "last_model_checkpoint" in entry or "best_model_checkpoint" in entry:
                return entry
        return {}


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """logging.jsonl entries; unreadable lines (a run killed mid-write) are skipped."""
    try:
        return json_objects((run_dir / LOGGING_JSONL).read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return []


def _attach_losses(run: Run) -> None:
    for ck in run.checkpoints:
        for entry in run.log:
            step = step_of(entry)
            if step is None or step > ck.step:
                continue
            if "loss" in entry and isinstance(entry["loss"], (int, float)):
                ck.loss = float(entry["loss"])
            if step == ck.step and isinstance(entry.get("eval_loss"), (int, float)):
                ck.eval_loss = float(entry["eval_loss"])


def scan(output_dir: str | Path) -> list[Run]:
    """Every run folder in ``output_dir``, oldest first, each with its checkpoints in step order."""
    root = Path(output_dir)
    if not root.exists():
        raise SwiftkitError(
            f"output directory {root} does not exist; "
            "train first with 'swiftkit train' (-p P for another profile than ./swiftkit.yaml)."
        )
    if not root.is_dir():
        raise SwiftkitError(f"output directory {root} is a file, not a folder; check the profile's output_dir.")
    runs = []
    for child in root.iterdir():
        match = RUN_RE.match(child.name)
        if not match or not child.is_dir() or child.is_symlink():
            continue
        runs.append(read_run(child))
    runs.sort(key=lambda r: (r.version, r.stamp))
    return runs


def read_run(folder: Path) -> Run:
    """One run folder with its checkpoints (each checked) in step order and its logging.jsonl."""
    match = RUN_RE.match(folder.name)
    run = Run(path=folder, version=int(match.group(1)) if match else -1, stamp=match.group(2) if match else "")
    for sub in folder.iterdir():
        cm = CHECKPOINT_RE.match(sub.name)
        if not cm or sub.is_symlink() or not sub.is_dir():
            continue
        step = int(cm.group(1))
        problem = check_checkpoint(sub)
        run.checkpoints.append(
            Checkpoint(
                path=sub,
                step=step,
                complete=not problem,
                problem=problem,
                resume_problem="" if problem else check_resume(sub, step),
                mtime=sub.stat().st_mtime,
            )
        )
    run.checkpoints.sort(key=lambda c: c.step)
    run.log = read_log(folder)
    _attach_losses(run)
    return run


def _logged(run: Run, key: str) -> Optional[Checkpoint]:
    """The checkpoint logging.jsonl names under ``key``, if it is one of this run's complete checkpoints."""
    value = run.summary_line().get(key)
    if not isinstance(value, str) or not value:
        return None
    name = Path(value).name
    for ck in run.complete_checkpoints:
        if ck.path.name == name:
            return ck
    return None


def latest(runs: list[Run], for_resume: bool = False) -> Optional[Checkpoint]:
    """The newest complete checkpoint (resumable, with ``for_resume``): highest run version, then highest step."""
    for run in reversed(runs):
        logged = _logged(run, "last_model_checkpoint")
        usable = [c for c in run.complete_checkpoints if c.resumable or not for_resume]
        if usable:
            newest = usable[-1]
            return logged if logged in usable and logged.step >= newest.step else newest
    return None


def best(runs: list[Run]) -> Optional[Checkpoint]:
    """The best checkpoint by evaluation in the newest run that evaluated, or None if none did."""
    for run in reversed(runs):
        if not run.complete_checkpoints:
            continue
        logged = _logged(run, "best_model_checkpoint")
        if logged is not None and any("eval_loss" in e for e in run.log):
            return logged
        state_best = _best_from_state(run)
        if state_best is not None:
            return state_best
        evaluated = [c for c in run.complete_checkpoints if c.eval_loss is not None]
        if evaluated:
            return min(evaluated, key=lambda c: (c.eval_loss, -c.step))
    return None


def _best_from_state(run: Run) -> Optional[Checkpoint]:
    for ck in reversed(run.complete_checkpoints):
        try:
            state = json.loads((ck.path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        value = state.get("best_model_checkpoint") if isinstance(state, dict) else None
        if isinstance(value, str) and state.get("best_metric") is not None:
            for other in run.complete_checkpoints:
                if other.path.name == Path(value).name:
                    return other
    return None


def _none_complete(output_dir: str | Path, runs: list[Run], for_resume: bool = False) -> SwiftkitError:
    broken = [c for r in runs for c in r.checkpoints if not c.complete or (for_resume and not c.resumable)]
    if not broken:
        return SwiftkitError(
            f"no complete checkpoint in {output_dir}; "
            "train first with 'swiftkit train' (-p P for another profile than ./swiftkit.yaml)."
        )
    newest = broken[-1]
    what = "can be resumed" if for_resume else "is complete"
    return SwiftkitError(
        f"no checkpoint in {output_dir} {what}: {newest.path.name} of {newest.path.parent.name}: "
        f"{newest.problem or newest.resume_problem}. Run 'swiftkit checkpoints' to see each one, or train again."
    )


def pick(output_dir: str | Path, which: str = "latest", for_resume: bool = False) -> Path:
    """``latest``, ``best`` or a path -> a complete checkpoint folder; a one-line SwiftkitError when there is none.

    ``for_resume``: the newest checkpoint that ``--resume`` can continue from."""
    if which not in ("latest", "best"):
        return _given(Path(which))
    runs = scan(output_dir)
    if which == "latest":
        found = latest(runs, for_resume)
        if found is None:
            raise _none_complete(output_dir, runs, for_resume)
        return found.path
    found = best(runs)
    if found is None:
        if latest(runs) is None:
            raise _none_complete(output_dir, runs)
        raise SwiftkitError(
            f"no 'best' checkpoint in {output_dir}: evaluation never ran. Set train.split_dataset_ratio "
            "(e.g. --set train.split_dataset_ratio=0.1) to evaluate, or use --checkpoint latest."
        )
    return found.path


def checkpoint_for(lp: LoadedProfile, which: str, merged: bool = False) -> Path:
    """The adapter (or its merged folder) that infer/export should use."""
    path = pick(lp.profile.output_dir, which)
    if merged:
        folder = merged_path(path)
        if not merged_complete(folder):
            raise SwiftkitError(f"{path} has no merged model yet; run '{hints.command(lp, 'export')}' first.")
        return folder
    return path


def resolve_model(lp: LoadedProfile, which: str, merged: bool = False) -> ResolvedModel:
    """The one resolve of infer, export, deploy and eval: the checkpoint chosen (see :func:`checkpoint_for`) and the
    base model's path, decided once. Everything after takes only the result."""
    return assemble_model(lp, checkpoint_for(lp, which, merged))


def _given(path: Path) -> Path:
    """A checkpoint given as a path: an adapter folder (checked like any other) or a merged model."""
    if not path.is_dir():
        raise SwiftkitError(f"checkpoint {path} is not a folder; run 'swiftkit checkpoints' to list them.")
    problem = merged_problem(path) if is_merged(path) else check_checkpoint(path)
    if problem:
        raise SwiftkitError(
            f"checkpoint {path} is incomplete: {problem}. Run 'swiftkit checkpoints' to list the complete ones."
        )
    return path


def settle(summary: RunSummary) -> RunSummary:
    """Name only complete checkpoints: ms-swift logs its last/best checkpoint even when writing it failed (a full
    disk), so each is replaced by the run's newest complete checkpoint, or dropped."""
    run = read_run(Path(summary.run_dir))
    complete = {c.path.name: c for c in run.complete_checkpoints}
    if summary.checkpoint is None or Path(summary.checkpoint).name not in complete:
        newest = run.complete_checkpoints[-1] if run.complete_checkpoints else None
        summary.checkpoint = str(newest.path) if newest else None
    if summary.best_checkpoint is not None and Path(summary.best_checkpoint).name not in complete:
        summary.best_checkpoint = None
    return summary


def table(runs: list[Run], run_states: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    """One row per checkpoint (and per run without any), newest last, with latest/best marked; ``run_states``
    (run folder -> its true state, see runs.state) fills each row's ``run_status``."""
    newest, top = latest(runs), best(runs)
    rows: list[dict[str, Any]] = []
    states = run_states or {}
    for run in runs:
        status = states.get(str(run.path))
        if not run.checkpoints:
            rows.append(
                {
                    "run": run.path.name,
                    "step": None,
                    "path": None,
                    "time": None,
                    "loss": None,
                    "eval_loss": None,
                    "complete": False,
                    "merged": False,
                    "latest": False,
                    "best": False,
                    "run_status": status,
                    "note": f"no checkpoint ({status or 'failed or interrupted'} run)",
                }
            )
        for ck in run.checkpoints:
            rows.append(
                {
                    "run": run.path.name,
                    "step": ck.step,
                    "path": str(ck.path),
                    "time": ck.mtime,
                    "loss": ck.loss,
                    "eval_loss": ck.eval_loss,
                    "complete": ck.complete,
                    "merged": ck.merged,
                    "latest": newest is not None and ck.path == newest.path,
                    "best": top is not None and ck.path == top.path,
                    "run_status": status,
                    "note": ck.problem or (f"cannot resume: {ck.resume_problem}" if ck.resume_problem else ""),
                }
            )
    return rows
