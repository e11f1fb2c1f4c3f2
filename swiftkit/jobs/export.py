"""`swiftkit export`: merge an adapter into the base model, atomically, one export of a checkpoint at a time, with
the merged model's chat template defaulting to the system prompt training used.

ms-swift writes the merge into a hidden sibling (``.checkpoint-N-merged.partial``); only when every file a model
needs is there and whole (weights, config, tokenizer, generation config) is it renamed to ``checkpoint-N-merged``.
A killed export leaves no merged folder (the next export redoes it); a merged folder that is incomplete counts as
absent; ``--force`` merges again from scratch; a second export of the same checkpoint waits for the first.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

from swiftkit.data.resolve import ResolvedModel
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import refuse_link
from swiftkit.layout import EXPORT_LOG, export_lock_path, merged_path, partial_merged_path
from swiftkit.model.chat_template import Alignment, align
from swiftkit.model.remote_code import refuse_shipped_code
from swiftkit.runs import checkpoints
from swiftkit.swift.render import Command, render_export
from swiftkit.swift.version import SwiftFlavor


@dataclass
class ExportDecision:
    checkpoint: Path
    merged_path: Path
    command: Optional[Command]  # None: nothing to do
    reason: str


def plan_export(target: ResolvedModel, flavor: SwiftFlavor, force: bool = False) -> ExportDecision:
    """Skip when the merged folder is complete and newer than the adapter, unless ``force``."""
    checkpoint = target.adapter
    merged = merged_path(checkpoint)
    if not target.profile.export.merge_lora:
        raise SwiftkitError(f"profile {target.name} has export.merge_lora: false; nothing to export.")
    if not force and checkpoints.merged_complete(merged) and _newer(merged, checkpoint):
        return ExportDecision(checkpoint, merged, None, "already merged and newer than the adapter")
    return ExportDecision(checkpoint, merged, render_export(target, flavor), "")


def _newer(merged: Path, checkpoint: Path) -> bool:
    adapter = [checkpoint / w for w in checkpoints.ADAPTER_WEIGHTS if (checkpoint / w).exists()]
    newest_input = max((p.stat().st_mtime for p in adapter), default=0.0)
    weights = list(merged.glob("*.safetensors")) + list(merged.glob("*.bin"))
    oldest_output = min((p.stat().st_mtime for p in weights), default=0.0)
    return oldest_output >= newest_input


DEFAULT_SYSTEM = re.compile(r"^\[INFO:swift\] default_system: (.*)$", re.M)


def trained_system(log_text: str, fallback: Optional[str]) -> Optional[str]:
    """The system prompt ms-swift's template used, from its log line ``default_system: <repr>`` (ms-swift reads it
    from the checkpoint's args.json, i.e. as training used it); ``fallback`` when the line is missing."""
    found = DEFAULT_SYSTEM.findall(log_text)
    if not found:
        return fallback
    try:
        value = ast.literal_eval(found[-1].strip())
    except (ValueError, SyntaxError):
        return fallback
    return value if isinstance(value, str) or value is None else fallback


def export_log(checkpoint: Path) -> Path:
    return checkpoint.parent / EXPORT_LOG


@dataclass
class ExportResult:
    decision: ExportDecision
    exit_code: int
    alignment: Optional[Alignment] = None  # the chat template's default system prompt, set to the trained one


def run_export(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    force: bool = False,
    on_wait: Optional[Callable[[dict[str, Any]], None]] = None,
    on_start: Optional[Callable[[ExportDecision], None]] = None,
    echo: Optional[TextIO] = None,
) -> ExportResult:
    """Decide and merge under the checkpoint's export lock; ms-swift's exit code is 0 when there was nothing to do,
    130 when interrupted. The merged folder appears only complete (and with its chat template aligned to the
    training system prompt), or not at all."""
    from swiftkit.runs.lock import exclusive
    from swiftkit.swift import runner

    checkpoint = target.adapter
    refuse_shipped_code(target.profile, target.model, checkpoint)
    with exclusive(export_lock_path(checkpoint), on_wait, checkpoint=str(checkpoint), started=_now()) as fd:
        decision = plan_export(target, flavor, force)  # decided again: another export may just have ended
        if decision.command is None:
            return ExportResult(decision, 0)
        partial = partial_merged_path(checkpoint)
        for name in (partial, decision.merged_path):  # ms-swift would write the merge through a planted link
            refuse_link(name)
        # left by a killed export; we hold the lock, so nobody writes them any more
        for stale in [partial, *checkpoint.parent.glob(f".{decision.merged_path.name}.old-*")]:
            shutil.rmtree(stale, ignore_errors=True)
        if on_start is not None:
            on_start(decision)
        log = export_log(checkpoint)
        log.unlink(missing_ok=True)
        alignment = None
        try:
            # the lock lasts as long as ms-swift writes
            code = runner.run(decision.command, log_path=log, echo=echo, pass_fds=(fd,))
            if code == 0:
                problem = checkpoints.merged_problem(partial) if partial.is_dir() else "it wrote no folder"
                if problem:
                    raise SwiftkitError(
                        f"ms-swift's merge of {checkpoint} is incomplete: {problem}; nothing was replaced. "
                        "Check free space and run 'swiftkit export --force' again."
                    )
                text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
                alignment = align(partial, trained_system(text, target.profile.system))
                _swap(partial, decision.merged_path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return ExportResult(decision, code, alignment)


def _swap(new: Path, target: Path) -> None:
    """Put the complete ``new`` folder at ``target``; an old one is moved aside first and removed after."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    try:
        if target.exists():
            os.rename(target, old)
        os.rename(new, target)
    except OSError as exc:
        raise SwiftkitError(f"could not move the merged model into {target}: {exc.strerror}.") from None
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
