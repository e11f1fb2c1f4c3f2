"""Answers from ms-swift: batch answers to prompts (base model or adapter).

Functions return data; ms-swift runs through the runner.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from swiftkit.data.prompts import load_prompts
from swiftkit.data.resolve import ResolvedModel
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_text
from swiftkit.model.remote_code import refuse_shipped_code
from swiftkit.swift.render import Command, render_infer
from swiftkit.swift.version import SwiftFlavor


def read_prompts_file(path: Path) -> list[str]:
    """The prompts of a text file (one per line) or a JSONL file (see data.prompts.load_prompts)."""
    return [p.prompt for p in load_prompts(path)]


def write_prompts(prompts: list[str], folder: Path) -> Path:
    """A JSONL file of one-turn conversations, the shape `swift infer --val_dataset` answers."""
    lines = [json.dumps({"messages": [{"role": "user", "content": p}]}, ensure_ascii=False) for p in prompts]
    return atomic_write_text(folder / "prompts.jsonl", "\n".join(lines) + "\n")


def batch_command(target: ResolvedModel, flavor: SwiftFlavor, prompts: list[str], folder: Path) -> tuple[Command, Path]:
    """The `swift infer` batch command for ``prompts`` (writes the prompts file) and where results will be."""
    prompts_file = write_prompts(prompts, folder)
    result_file = folder / "results.jsonl"
    return render_infer(target, flavor, str(prompts_file), str(result_file)), result_file


def read_answers(result_file: Path, prompts: list[str]) -> list[str]:
    """Answers in the order of ``prompts`` (matched by the question ms-swift echoes back)."""
    try:
        rows = [json.loads(ln) for ln in result_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, ValueError):
        raise SwiftkitError(f"ms-swift wrote no readable results to {result_file}; see its log.") from None
    if len(rows) != len(prompts):
        raise SwiftkitError(f"ms-swift answered {len(rows)} of {len(prompts)} prompts; see its log.")
    answers: dict[str, list[str]] = {}
    for row in rows:
        asked = next((m["content"] for m in row.get("messages", []) if m.get("role") == "user"), None)
        answers.setdefault(str(asked), []).append(str(row.get("response", "")))
    if set(answers) != set(prompts):
        return [str(row.get("response", "")) for row in rows]  # trust the order
    return [answers[p].pop(0) for p in prompts]


def refuse_code(target: ResolvedModel) -> None:
    """Refuse a model or checkpoint folder that ships code, unless the profile trusts it (see model.remote_code)."""
    refuse_shipped_code(target.profile, target.model, *([target.checkpoint] if target.checkpoint is not None else []))


Progress = Callable[[int, int], None]  # (prompts answered so far, prompts in all)


def complete_lines(path: Path) -> int:
    """Lines ``path`` holds so far, counting only finished ones (0 while it does not exist)."""
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b""))
    except OSError:
        return 0


class ResultCounter:
    """Tells ``on_progress`` how many answers ms-swift has written to its result file, from a thread, each time the
    count grows (ms-swift appends one batch of ``--write_batch_size`` answers at a time)."""

    def __init__(self, path: Path, total: int, on_progress: Progress, poll: float = 0.5) -> None:
        self.path, self.total, self.on_progress, self.poll = path, total, on_progress, poll
        self.done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ResultCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._check()  # the last batch, written just before ms-swift exited

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._check()

    def _check(self) -> None:
        done = min(complete_lines(self.path), self.total)
        if done > self.done:
            self.done = done
            self.on_progress(done, self.total)


def answer_prompts(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    prompts: list[str],
    on_progress: Optional[Progress] = None,
    **run_options: Any,
) -> list[str]:
    """Run ms-swift batch inference on the resolved model (the base model alone when it has no checkpoint) and
    return the answers.

    ``on_progress(answered, total)`` hears how far it is each time a batch of answers has been written."""
    import contextlib
    import tempfile

    from swiftkit.swift import runner

    refuse_code(target)
    with tempfile.TemporaryDirectory(prefix="swiftkit-infer-") as tmp:
        command, result_file = batch_command(target, flavor, prompts, Path(tmp))
        log = Path(tmp) / "swift.log"
        counting = ResultCounter(result_file, len(prompts), on_progress) if on_progress else contextlib.nullcontext()
        with counting:
            code = runner.run(command, log_path=log, **run_options)
        if code == runner.INTERRUPTED:
            raise KeyboardInterrupt
        if code != 0:
            from swiftkit.runs.progress import tail as log_tail

            tail = log_tail(log, 15)
            raise SwiftkitError(f"swift infer failed (exit {code}):\n{tail}")
        return read_answers(result_file, prompts)
