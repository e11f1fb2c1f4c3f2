"""`swiftkit export`: merge an adapter into the base model, or say it is already merged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.profiles import LoadedProfile
from swiftkit.errors import SwiftkitError
from swiftkit.layout import merged_path
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
