"""`swiftkit train` before and around ms-swift: the run folder, the data checks, the lock, the manifest.

Functions return data (plans, reports, results); only the runner starts processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from . import checkpoints, embedded
from .errors import SwiftkitError
from .lint import LintSettings
from .prepare import PreparedEntry, has_placeholders, plan_data
from .profiles import LoadedProfile
from .render import Command, model_path, render_sft
from .swift_version import SwiftFlavor

if TYPE_CHECKING:
    from .progress import RunSummary
    from .validate import Report


def ensure_model(lp: LoadedProfile) -> Optional[Path]:
    """Convert the embedded model on first use; None for hub/local models."""
    model = lp.profile.model.model
    return embedded.ensure(model) if embedded.is_embedded(model) else None


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
        templated = (
            entry.role == "identity" and lp.profile.identity is not None and has_placeholders(Path(entry.source))
        )
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
        f"not starting: the training data has errors ({bad}):\n  "
        + "\n  ".join(lines)
        + "\nFix them (run 'swiftkit validate FILE' to list every problem) and try again."
    )


@dataclass
class TrainResult:
    exit_code: int
    status: str  # ok | failed | interrupted
    run_dir: Path
    log: Path
    summary: RunSummary


def check_disk(lp: LoadedProfile) -> Optional[str]:
    """None when the run fits on disk (or cannot be estimated); else the refusal message."""
    from .diskspace import estimate, refusal

    found = estimate(lp.profile)
    return None if found is None or found.fits else refusal(found)


def run_train(lp: LoadedProfile, plan: TrainPlan, **run_options: object) -> TrainResult:
    """Lock the output folder, write the run's data and manifest, run ms-swift (its output to the run's log),
    and record the outcome and summary in the manifest."""
    import time

    from . import manifest, runner
    from .lock import RunLock
    from .prepare import write_data
    from .progress import read_events, summarise

    problem = check_disk(lp)
    if problem:
        raise SwiftkitError(problem)
    with RunLock(lp.profile.output_dir).acquire(run_dir=str(plan.run_dir), started=manifest.now_iso()) as lock:
        plan.run_dir.mkdir(parents=True, exist_ok=False)
        write_data(lp.profile, plan.data)
        record = manifest.build(lp, plan.command, plan.data)
        manifest.write(plan.run_dir, record)
        log = plan.run_dir / "swiftkit-train.log"
        started = time.monotonic()
        try:
            code = runner.run(plan.command, log_path=log, pass_fds=(lock.fd,) if lock.fd else (), **run_options)  # type: ignore[arg-type]
        except BaseException:
            manifest.finish(plan.run_dir, record, -1, "failed", wall_seconds=round(time.monotonic() - started, 1))
            raise
        wall = time.monotonic() - started
        status = "ok" if code == 0 else "interrupted" if code == runner.INTERRUPTED else "failed"
        summary = summarise(plan.run_dir, read_events(plan.run_dir), status, code, wall)
        manifest.finish(
            plan.run_dir,
            record,
            code,
            status,
            wall_seconds=round(wall, 1),
            last_checkpoint=summary.checkpoint,
            final_loss=summary.final_loss,
            peak_memory_gib=summary.peak_memory_gib,
        )
    return TrainResult(code, status, plan.run_dir, log, summary)
