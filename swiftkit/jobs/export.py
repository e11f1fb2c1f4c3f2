"""`swiftkit export`: merge an adapter into the base model, or say it is already merged; then make the merged
model's chat template default to the system prompt training used."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.profiles import LoadedProfile
from swiftkit.errors import SwiftkitError
from swiftkit.layout import EXPORT_LOG, merged_path
from swiftkit.model.chat_template import Alignment, align
from swiftkit.runs import checkpoints
from swiftkit.swift.render import Command, render_export
from swiftkit.swift.version import SwiftFlavor


@dataclass
class ExportDecision:
    checkpoint: Path
    merged_path: Path
    command: Optional[Command]  # None: nothing to do
    reason: str


def plan_export(lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Path, force: bool = False) -> ExportDecision:
    """Skip when the merged folder is complete and newer than the adapter, unless ``force``."""
    merged = merged_path(checkpoint)
    if not lp.profile.export.merge_lora:
        raise SwiftkitError(f"profile {lp.name} has export.merge_lora: false; nothing to export.")
    if merged.exists() and not force:
        if checkpoints.merged_complete(merged) and _newer(merged, checkpoint):
            return ExportDecision(checkpoint, merged, None, "already merged and newer than the adapter")
    overwrite = merged.exists()
    return ExportDecision(checkpoint, merged, render_export(lp.profile, flavor, str(checkpoint), overwrite), "")


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


def export_log(decision: ExportDecision) -> Path:
    return decision.checkpoint.parent / EXPORT_LOG


def align_template(lp: LoadedProfile, decision: ExportDecision) -> Alignment:
    """After a merge: the merged model's chat template defaults to the training system prompt."""
    log = export_log(decision)
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return align(decision.merged_path, trained_system(text, lp.profile.system))
