"""What each command does before ms-swift starts: resolve checkpoints, write prompt files, decide on skips.

Functions here return data (commands, paths, decisions); only the CLI prints and only the runner starts processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import checkpoints, embedded
from .errors import SwiftkitError
from .fsutil import atomic_write_text
from .profiles import LoadedProfile
from .render import Command, render_export, render_infer, render_sft
from .swift_version import SwiftFlavor


def ensure_model(lp: LoadedProfile) -> Optional[Path]:
    """Convert the embedded model on first use; None for hub/local models."""
    model = lp.profile.model.model
    return embedded.ensure(model) if embedded.is_embedded(model) else None


def checkpoint_for(lp: LoadedProfile, which: str, merged: bool = False) -> Path:
    """The adapter (or its merged folder) that infer/export should use."""
    path = checkpoints.resolve(lp.profile.output_dir, which)
    if merged:
        merged_path = path.with_name(path.name + "-merged")
        if not checkpoints.merged_complete(merged_path):
            raise SwiftkitError(
                f"{path} has no merged model yet; run 'swiftkit export --profile {lp.name}' first."
            )
        return merged_path
    return path


def train_command(lp: LoadedProfile, flavor: SwiftFlavor, extra: tuple[str, ...] = ()) -> Command:
    return render_sft(lp.profile, flavor, extra=extra)


@dataclass
class BatchInfer:
    command: Command
    prompts_file: Path
    result_file: Path
    prompts: list[str]


def write_prompts(prompts: list[str], folder: Path) -> Path:
    """A JSONL file of one-turn conversations, the shape `swift infer --val_dataset` answers."""
    lines = [json.dumps({"messages": [{"role": "user", "content": p}]}, ensure_ascii=False) for p in prompts]
    return atomic_write_text(folder / "prompts.jsonl", "\n".join(lines) + "\n")


def read_prompts_file(path: Path) -> list[str]:
    """Prompts from a text file (one per line) or a JSONL file of {"messages"|"query"|"instruction"}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SwiftkitError(f"cannot read prompts file {path}: {exc}; give a UTF-8 text or JSONL file.") from None
    prompts = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
                prompt = _prompt_of(row)
            except (ValueError, KeyError, TypeError, IndexError):
                raise SwiftkitError(
                    f"{path}:{number}: expected a JSON object with 'messages', 'query' or 'instruction'."
                ) from None
            prompts.append(prompt)
        else:
            prompts.append(line)
    if not prompts:
        raise SwiftkitError(f"{path} holds no prompts; write one prompt per line.")
    return prompts


def _prompt_of(row: dict) -> str:
    if "messages" in row:
        return [m for m in row["messages"] if m["role"] == "user"][-1]["content"]
    for key in ("query", "instruction", "prompt"):
        if isinstance(row.get(key), str):
            return row[key]
    raise KeyError("prompt")


def batch_infer(
    lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Path, prompts: list[str], folder: Path
) -> BatchInfer:
    prompts_file = write_prompts(prompts, folder)
    result_file = folder / "results.jsonl"
    command = render_infer(lp.profile, flavor, str(checkpoint), str(prompts_file), str(result_file))
    return BatchInfer(command, prompts_file, result_file, prompts)


def read_answers(result_file: Path, expected: int) -> list[str]:
    try:
        lines = [ln for ln in result_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError:
        raise SwiftkitError(f"ms-swift wrote no results to {result_file}; see its log above.") from None
    answers = [str(json.loads(line).get("response", "")) for line in lines]
    if len(answers) != expected:
        raise SwiftkitError(f"ms-swift answered {len(answers)} of {expected} prompts; see its log.")
    return answers


@dataclass
class ExportDecision:
    checkpoint: Path
    merged_path: Path
    command: Optional[Command]  # None: nothing to do
    reason: str


def plan_export(lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Path, force: bool = False) -> ExportDecision:
    """Skip when the merged folder is complete and newer than the adapter, unless ``force``."""
    merged = checkpoint.with_name(checkpoint.name + "-merged")
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
