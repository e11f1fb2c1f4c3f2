"""Runs and checkpoints in an ms-swift output folder, and the rules for "latest" and "best".

Layout: ``OUTPUT/vN-YYYYMMDD-HHMMSS/checkpoint-STEP``. Versions and steps compare as numbers; run folders
without checkpoints, ``checkpoint-N-merged`` exports, the ``last-checkpoint`` link and incomplete
checkpoints are never "the newest checkpoint".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from swiftkit.errors import SwiftkitError
from swiftkit.layout import CHECKPOINT_RE, LOGGING_JSONL, RUN_RE, merged_path
from swiftkit.runs.progress import json_objects, step_of

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
MERGED_MARKERS = ("config.json",)


@dataclass
class Checkpoint:
    path: Path
    step: int
    complete: bool
    problem: str = ""  # why it is incomplete
    mtime: float = 0.0
    loss: Optional[float] = None
    eval_loss: Optional[float] = None

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


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def merged_complete(path: Path) -> bool:
    if not path.is_dir():
        return False
    weights = list(path.glob("*.safetensors")) + list(path.glob("*.bin"))
    return all(_nonempty(path / m) for m in MERGED_MARKERS) and any(_nonempty(w) for w in weights)


def check_checkpoint(path: Path, step: int) -> str:
    """Empty string when complete, else the reason it is not."""
    if not _nonempty(path / "adapter_config.json"):
        return "adapter_config.json missing or empty"
    if not any(_nonempty(path / w) for w in ADAPTER_WEIGHTS):
        return "adapter weights missing or empty"
    state_file = path / "trainer_state.json"
    if state_file.exists():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "trainer_state.json unreadable"
        if isinstance(state, dict) and state.get("global_step") not in (None, step):
            return f"trainer_state.json says step {state.get('global_step')}, folder says {step}"
    return ""


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
        raise SwiftkitError(f"output directory {root} does not exist; train first with 'swiftkit train --profile P'.")
    if not root.is_dir():
        raise SwiftkitError(f"output directory {root} is a file, not a folder; check the profile's output_dir.")
    runs = []
    for child in root.iterdir():
        match = RUN_RE.match(child.name)
        if not match or not child.is_dir() or child.is_symlink():
            continue
        run = Run(path=child, version=int(match.group(1)), stamp=match.group(2))
        for sub in child.iterdir():
            cm = CHECKPOINT_RE.match(sub.name)
            if not cm or sub.is_symlink() or not sub.is_dir():
                continue
            step = int(cm.group(1))
            problem = check_checkpoint(sub, step)
            run.checkpoints.append(
                Checkpoint(path=sub, step=step, complete=not problem, problem=problem, mtime=sub.stat().st_mtime)
            )
        run.checkpoints.sort(key=lambda c: c.step)
        run.log = read_log(child)
        _attach_losses(run)
        runs.append(run)
    runs.sort(key=lambda r: (r.version, r.stamp))
    return runs


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


def latest(runs: list[Run]) -> Optional[Checkpoint]:
    """The newest complete checkpoint: highest run version, then highest step."""
    for run in reversed(runs):
        logged = _logged(run, "last_model_checkpoint")
        complete = run.complete_checkpoints
        if complete:
            newest = complete[-1]
            return logged if logged is not None and logged.step >= newest.step else newest
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


def resolve(output_dir: str | Path, which: str = "latest") -> Path:
    """``latest``, ``best`` or a path -> a checkpoint folder; a one-line SwiftkitError when there is none."""
    if which not in ("latest", "best"):
        path = Path(which)
        if not path.is_dir():
            raise SwiftkitError(f"checkpoint {which} is not a folder; run 'swiftkit checkpoints' to list them.")
        return path
    runs = scan(output_dir)
    if which == "latest":
        found = latest(runs)
        if found is None:
            raise SwiftkitError(
                f"no complete checkpoint in {output_dir}; train first with 'swiftkit train --profile P'."
            )
        return found.path
    found = best(runs)
    if found is None:
        if latest(runs) is None:
            raise SwiftkitError(
                f"no complete checkpoint in {output_dir}; train first with 'swiftkit train --profile P'."
            )
        raise SwiftkitError(
            f"no 'best' checkpoint in {output_dir}: evaluation never ran. Set train.split_dataset_ratio "
            "(e.g. --set train.split_dataset_ratio=0.1) to evaluate, or use --checkpoint latest."
        )
    return found.path


def table(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per checkpoint (and per run without any), newest last, with latest/best marked."""
    newest, top = latest(runs), best(runs)
    rows: list[dict[str, Any]] = []
    for run in runs:
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
                    "note": "no checkpoint (failed or interrupted run)",
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
                    "note": ck.problem,
                }
            )
    return rows
