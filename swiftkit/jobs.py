"""What each command does before ms-swift starts: resolve checkpoints, write prompt files, decide on skips.

Functions here return data (commands, paths, decisions); only the CLI prints and only the runner starts processes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from . import checkpoints, embedded
from .errors import SwiftkitError
from .fsutil import atomic_write_text
from .profiles import LoadedProfile
from .lint import LintSettings
from .prepare import PreparedEntry, has_placeholders, plan_data
from .render import Command, model_path, render_export, render_infer, render_sft
from .swift_version import SwiftFlavor

if TYPE_CHECKING:
    from .validate import Report


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


RUN_VERSION = re.compile(r"^v(\d+)")


def next_run_dir(output_dir: str | Path, now: Optional[datetime] = None) -> Path:
    """``OUTPUT/vN-YYYYMMDD-HHMMSS`` with N one above any existing version (ms-swift's own rule)."""
    root = Path(output_dir)
    versions = [-1]
    if root.is_dir():
        for child in root.iterdir():
            match = RUN_VERSION.match(child.name)
            if match:
                versions.append(int(match.group(1)))
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return root / f"v{max(versions) + 1}-{stamp}"


@dataclass
class TrainPlan:
    run_dir: Path
    data: list[PreparedEntry]
    command: Command
    resume_from: Optional[Path] = None


def plan_train(
    lp: LoadedProfile, flavor: SwiftFlavor, now: Optional[datetime] = None, resume: bool = False
) -> TrainPlan:
    """Everything `swiftkit train` will do, decided without writing anything."""
    out = Path(lp.profile.output_dir)
    if out.exists() and not out.is_dir():
        raise SwiftkitError(f"output_dir {out} is a file; set output_dir to a folder.")
    resume_from = checkpoints.resolve(out, "latest") if resume else None
    run_dir = next_run_dir(out, now)
    data = plan_data(lp.profile, run_dir)
    command = render_sft(
        lp.profile, flavor, [d.argv_value for d in data], str(run_dir), str(resume_from) if resume_from else None
    )
    return TrainPlan(run_dir, data, command, resume_from)


def lint_settings(lp: LoadedProfile, role: str) -> LintSettings:
    """The identity lint as the profile sets it (general data gets only the universal checks)."""
    p = lp.profile
    tokenizer = None
    model_dir = Path(model_path(p))
    if (model_dir / "tokenizer.json").is_file():
        tokenizer = model_dir / "tokenizer.json"
    if role != "identity":
        return LintSettings(check_identity=False, max_length=p.train.max_length, tokenizer=tokenizer)
    return LintSettings(
        identity=p.identity,
        min_records=p.data.min_records,
        languages=list(p.data.languages),
        max_length=p.train.max_length,
        tokenizer=tokenizer,
    )


def check_data(lp: LoadedProfile, plan: TrainPlan) -> Report:
    """Validate every local dataset the run would read; templates count as templates when the profile fills them."""
    from .validate import Options, Report, validate_file

    report = Report()
    for entry in plan.data:
        if entry.records is None:  # hub data: nothing local to check
            continue
        templated = entry.role == "identity" and lp.profile.identity is not None and has_placeholders(Path(entry.source))
        options = Options(template=templated, lint=lint_settings(lp, entry.role))
        report.files.append(validate_file(Path(entry.source), options))
    return report


def refuse_on_errors(report: Report, limit: int = 30) -> None:
    if report.ok:
        return
    errors = report.errors
    lines = [p.line() for p in errors[:limit]]
    more = sum(f.error_count for f in report.files) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    bad = ", ".join(f.path for f in report.files if f.error_count)
    raise SwiftkitError(
        f"not starting: the training data has errors ({bad}):\n  " + "\n  ".join(lines)
        + "\nFix them (run 'swiftkit validate FILE' to list every problem) and try again."
    )


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


@dataclass
class TrainResult:
    exit_code: int
    status: str  # ok | failed | interrupted
    run_dir: Path
    log: Path


def run_train(lp: LoadedProfile, plan: TrainPlan, **run_options: object) -> TrainResult:
    """Write the run's data and manifest, run ms-swift with its output in the run's log, record the outcome."""
    from . import manifest, runner
    from .prepare import write_data

    plan.run_dir.mkdir(parents=True, exist_ok=False)
    write_data(lp.profile, plan.data)
    record = manifest.build(lp, plan.command, plan.data)
    manifest.write(plan.run_dir, record)
    log = plan.run_dir / "swiftkit-train.log"
    code = runner.run(plan.command, log_path=log, **run_options)  # type: ignore[arg-type]
    status = "ok" if code == 0 else "interrupted" if code == runner.INTERRUPTED else "failed"
    manifest.finish(plan.run_dir, record, code, status)
    return TrainResult(code, status, plan.run_dir, log)
