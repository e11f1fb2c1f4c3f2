"""Part of the CLI layer: the live progress display and the end-of-run summary text.

A background thread follows ``<run>/logging.jsonl``; on a terminal it drives one rich progress bar, otherwise it
prints a plain line at most every ``interval`` seconds (and at the last step).
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, TextIO

from swiftkit.layout import LOGGING_JSONL
from swiftkit.runs.progress import Event, LogFollower, RunSummary


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def plain_line(e: Event) -> str:
    parts = [f"step {e.step}/{e.max_steps}", f"loss {_fmt(e.loss, '.4f')}", f"lr {_fmt(e.learning_rate, '.2e')}"]
    if e.memory_gib is not None:
        parts.append(f"mem {e.memory_gib:.1f} GiB")
    parts += [f"elapsed {e.elapsed or '-'}", f"remaining {e.remaining or '-'}"]
    return "  ".join(parts)


class TrainDisplay:
    def __init__(self, run_dir: Path, out: TextIO = sys.stdout, interval: float = 30.0, poll: float = 0.5) -> None:
        self.follower = LogFollower(Path(run_dir) / LOGGING_JSONL)
        self.out = out
        self.interval = interval
        self.poll = poll
        self.events: list[Event] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._tty = out.isatty()
        self._last_print = 0.0
        self._progress: Any = None  # rich.progress.Progress on a terminal (imported only then)
        self._task: Any = None

    def __enter__(self) -> TrainDisplay:
        if self._tty:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TextColumn("left {task.fields[left]}"),
                console=Console(file=self.out),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=None, stats="starting ms-swift…", left="-")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._drain(final=True)
        if self._progress is not None:
            self._progress.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._drain(final=False)

    def _drain(self, final: bool) -> None:
        new = self.follower.poll()
        self.events.extend(new)
        trains = [e for e in new if e.kind == "train"]
        evals = [e for e in new if e.kind == "eval"]
        if not trains and not evals:
            return
        last = trains[-1] if trains else None
        if self._progress is not None and self._task is not None:
            if last is not None:
                stats = f"loss {_fmt(last.loss, '.4f')}  lr {_fmt(last.learning_rate, '.1e')}"
                if last.memory_gib is not None:
                    stats += f"  mem {last.memory_gib:.1f} GiB"
                self._progress.update(
                    self._task, completed=last.step or 0, total=last.max_steps, stats=stats, left=last.remaining or "-"
                )
            for e in evals:
                self._progress.console.print(f"eval step {e.step}: eval_loss {_fmt(e.eval_loss, '.4f')}")
            return
        now = time.monotonic()
        for e in evals:
            self.out.write(f"eval step {e.step}: eval_loss {_fmt(e.eval_loss, '.4f')}\n")
        done = last is not None and last.step is not None and last.step == last.max_steps
        if last is not None and (now - self._last_print >= self.interval or done or final):
            self.out.write(plain_line(last) + "\n")
            self._last_print = now
        self.out.flush()


def next_commands(profile_ref: Optional[str], in_checkout: bool) -> list[str]:
    """What to run after a good training run: swiftkit commands, and the Makefile's where there is one.
    ``profile_ref`` is None when there is no profile to name, "" for the default ./swiftkit.yaml."""
    if profile_ref is None:
        return []
    option = f" --profile {shlex.quote(profile_ref)}" if profile_ref else ""
    commands = [
        f"swiftkit infer{option} --prompt 'Who are you?'",
        f"swiftkit export{option}",
        f"swiftkit eval{option}",
        f"swiftkit deploy{option}",
    ]
    if in_checkout and profile_ref:
        commands += [f"make infer PROFILE={profile_ref}", f"make export PROFILE={profile_ref}"]
    return commands


def shown(path: str) -> str:
    """A path as the summary shows it: relative to the current folder when inside it, else absolute (so the run
    folder and its checkpoint are written the same way)."""
    full = Path(path).absolute()
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(full)


def summary_text(s: RunSummary, commands: list[str]) -> str:
    lines = [f"Run folder:   {shown(s.run_dir)}"]
    if s.checkpoint:
        lines.append(f"Checkpoint:   {shown(s.checkpoint)}")
    if s.steps is not None:
        lines.append(f"Steps:        {s.steps}/{s.max_steps}")
    lines.append(f"Final loss:   {_fmt(s.final_loss, '.4f')}")
    if s.best_eval_loss is not None:
        best = f" ({shown(s.best_checkpoint)})" if s.best_checkpoint else ""
        lines.append(f"Best eval:    {s.best_eval_loss:.4f}{best}")
    if s.wall_seconds is not None:
        train = f" (training {s.train_runtime:.1f} s)" if s.train_runtime else ""
        lines.append(f"Wall time:    {s.wall_seconds:.1f} s{train}")
    lines.append(
        f"Peak memory:  {_fmt(s.peak_memory_gib, '.1f')} GiB" if s.peak_memory_gib else "Peak memory:  - (CPU run)"
    )
    if s.status == "ok" and commands:
        lines += ["Next:", *(f"  {c}" for c in commands)]
    return "\n".join(lines)
