"""Reading a run while it trains and after: logging.jsonl events, the end-of-run summary, failure hints.

ms-swift writes one JSON object per logging step to ``<run>/logging.jsonl`` (loss, learning_rate,
``global_step/max_steps`` as "a/b", elapsed/remaining time, ``memory(GiB)`` on GPU), eval lines
(``eval_loss``), a ``train_runtime`` line, and a last line with ``last_model_checkpoint``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from swiftkit.layout import LOGGING_JSONL
from swiftkit.tail import Tailer


@dataclass
class Event:
    kind: str  # train | eval | summary | final | other
    step: Optional[int] = None
    max_steps: Optional[int] = None
    loss: Optional[float] = None
    eval_loss: Optional[float] = None
    learning_rate: Optional[float] = None
    memory_gib: Optional[float] = None
    epoch: Optional[float] = None
    elapsed: Optional[str] = None
    remaining: Optional[str] = None
    train_runtime: Optional[float] = None
    train_loss: Optional[float] = None
    last_checkpoint: Optional[str] = None
    best_checkpoint: Optional[str] = None


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


STEPS_RE = re.compile(r"(\d+)/(\d+)")


def steps_of(entry: dict[str, Any]) -> tuple[Optional[int], Optional[int]]:
    """``global_step/max_steps`` ("12/40") as numbers; (None, None) when absent or malformed."""
    match = STEPS_RE.fullmatch(str(entry.get("global_step/max_steps", "")))
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def step_of(entry: dict[str, Any]) -> Optional[int]:
    return steps_of(entry)[0]


def parse(entry: dict[str, Any]) -> Event:
    """One logging.jsonl object -> an Event."""
    step, max_steps = steps_of(entry)
    common: dict[str, Any] = dict(
        step=step,
        max_steps=max_steps,
        epoch=_num(entry.get("epoch")),
        elapsed=entry.get("elapsed_time"),
        remaining=entry.get("remaining_time"),
    )
    if "last_model_checkpoint" in entry:
        return Event(
            "final",
            step=entry.get("global_step") if isinstance(entry.get("global_step"), int) else step,
            last_checkpoint=entry.get("last_model_checkpoint"),
            best_checkpoint=entry.get("best_model_checkpoint"),
        )
    if "train_runtime" in entry:
        return Event(
            "summary",
            train_runtime=_num(entry.get("train_runtime")),
            train_loss=_num(entry.get("train_loss")),
            **common,
        )
    if "eval_loss" in entry:
        return Event("eval", eval_loss=_num(entry.get("eval_loss")), **common)
    if "loss" in entry:
        return Event(
            "train",
            loss=_num(entry.get("loss")),
            learning_rate=_num(entry.get("learning_rate")),
            memory_gib=_num(entry.get("memory(GiB)")),
            **common,
        )
    return Event("other", **common)


def json_objects(lines: Iterable[str | bytes]) -> list[dict[str, Any]]:
    """The JSON objects among ``lines``; others (a line cut by a killed run, blanks) are skipped."""
    objects = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


class LogFollower:
    """Reads new complete lines of a growing logging.jsonl (a partly written last line waits for its end)."""

    def __init__(self, path: Path) -> None:
        self._lines: list[str] = []
        self._tailer = Tailer(path, self._collect)

    def _collect(self, line: str) -> None:
        self._lines.append(line)

    def poll(self) -> list[Event]:
        self._tailer.read()
        lines, self._lines = self._lines, []
        return [parse(entry) for entry in json_objects(lines)]


@dataclass
class RunSummary:
    run_dir: str
    status: str
    exit_code: Optional[int]
    checkpoint: Optional[str] = None
    final_loss: Optional[float] = None
    best_eval_loss: Optional[float] = None
    best_checkpoint: Optional[str] = None
    steps: Optional[int] = None
    max_steps: Optional[int] = None
    train_runtime: Optional[float] = None
    wall_seconds: Optional[float] = None
    peak_memory_gib: Optional[float] = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)

    def outcome(self) -> dict[str, Any]:
        """What a run's manifest records of it when the run is closed."""
        return {
            "last_checkpoint": self.checkpoint,
            "final_loss": self.final_loss,
            "peak_memory_gib": self.peak_memory_gib,
        }


def summarise(
    run_dir: Path, events: list[Event], status: str, exit_code: Optional[int], wall_seconds: Optional[float] = None
) -> RunSummary:
    s = RunSummary(run_dir=str(run_dir), status=status, exit_code=exit_code, wall_seconds=wall_seconds)
    for e in events:
        if e.step is not None:
            s.steps = max(s.steps or 0, e.step)
        if e.max_steps is not None:
            s.max_steps = e.max_steps
        if e.kind == "train" and e.loss is not None and e.step is not None:
            s.losses.append((e.step, e.loss))
            s.final_loss = e.loss
        if e.kind == "eval" and e.eval_loss is not None and e.step is not None:
            s.eval_losses.append((e.step, e.eval_loss))
            if s.best_eval_loss is None or e.eval_loss < s.best_eval_loss:
                s.best_eval_loss = e.eval_loss
        if e.memory_gib is not None:
            s.peak_memory_gib = max(s.peak_memory_gib or 0.0, e.memory_gib)
        if e.kind == "summary":
            s.train_runtime = e.train_runtime
        if e.kind == "final":
            s.checkpoint = e.last_checkpoint
            s.best_checkpoint = e.best_checkpoint
    return s


def read_events(run_dir: Path) -> list[Event]:
    return LogFollower(Path(run_dir) / LOGGING_JSONL).poll()


# ------------------------------------------------------------------ failure hints (the article's problem table)
HINTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|out of memory", re.I),
        "Out of GPU memory: lower train.max_length or train.per_device_train_batch_size (raise "
        "gradient_accumulation_steps to keep the effective batch), turn on train.gradient_checkpointing, "
        "or use a smaller profile (see 'swiftkit plan sft' for the estimate).",
    ),
    (
        re.compile(r"No space left on device|Errno 28", re.I),
        "Disk full: lower train.save_total_limit, raise train.save_steps, or free space in output_dir.",
    ),
    (
        re.compile(r"corresponds to no data|ZeroDivisionError|There are errors in the dataset", re.I),
        "The data did not reach training: run 'swiftkit validate FILE' on each dataset and check max_length.",
    ),
    (
        re.compile(r"remaining_argv|unrecognized arguments", re.I),
        "ms-swift did not accept a flag: check the installed ms-swift version ('pip show ms-swift'); swiftkit "
        "renders for 3.x and 4.x.",
    ),
    (
        re.compile(
            r"Max retries exceeded|ConnectionError|Name or service not known|Temporary failure in name "
            r"resolution|LocalEntryNotFoundError|offline mode",
            re.I,
        ),
        "The model hub was not reachable: point model.model at a local folder (or the embedded model) and use "
        "local datasets, or check the network.",
    ),
    (
        re.compile(r"Killed|exit code -9|signal 9", re.I),
        "The process was killed (often the system ran out of RAM): lower the batch size or max_length.",
    ),
]


def hint_for(log_tail: str) -> Optional[str]:
    for pattern, hint in HINTS:
        if pattern.search(log_tail):
            return hint
    return None


def tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    text = text.replace("\r", "\n")
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])
