"""`swiftkit train` before and around ms-swift: resolve the run, check the data, make what is missing, run.

The pipeline, one way: profile -> :class:`ResolvedRun` -> checks -> argv -> process. Functions return data
(plans, reports, results); only the runner starts processes.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

from swiftkit.config.profiles import LoadedProfile
from swiftkit.config.schema import Profile
from swiftkit.data.lint import LintSettings
from swiftkit.data.prepare import PreparedEntry, has_placeholders
from swiftkit.data.resolve import BatchChoice, ResolvedRun, assemble_run
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import shown_path
from swiftkit.layout import next_run_dir, node_folder
from swiftkit.model.locate import ensure_model, model_path, needs_conversion
from swiftkit.model.remote_code import refuse_shipped_code
from swiftkit.runs import checkpoints
from swiftkit.sizing import card, fit
from swiftkit.swift.render import Command, render_sft
from swiftkit.swift.version import SwiftFlavor

if TYPE_CHECKING:
    from swiftkit.data.validate import Problem, Report
    from swiftkit.runs.lock import RunLock
    from swiftkit.runs.progress import RunSummary


@dataclass
class TrainPlan:
    """The resolved run and the command rendered from it (plus what the checks found): all `train` needs."""

    run: ResolvedRun
    command: Command
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # other warnings (e.g. a smaller card than the profile's)

    @property
    def batch(self) -> BatchChoice:
        return self.run.batch

    @property
    def output_root(self) -> Path:
        return self.run.output_root

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def data(self) -> list[PreparedEntry]:
        return self.run.data

    @property
    def log(self) -> Path:
        return self.run.log


def output_root(profile: Profile) -> Path:
    """Node 0 (and every single-node run) writes to ``output_dir``; node R > 0 of several to ``output_dir/node-R``,
    so nodes sharing a file system never share a lock, run numbering or data folder. ms-swift saves the adapter
    on global rank 0 only: the checkpoints of a multi-node run are in node 0's run folder."""
    out = Path(profile.output_dir)
    return out if profile.launch.node_rank == 0 else out / node_folder(profile.launch.node_rank)


def resolve_train_run(lp: LoadedProfile, run_dir: Path, resume_from: Optional[Path] = None) -> ResolvedRun:
    """The one resolve of a training run: batch numbers fitted ('auto' fitted to the card and data), then the
    model path, output root and dataset plan decided once. Everything after takes only the result."""
    fitted, choice = fit.apply(lp.profile)
    return assemble_run(lp, fitted, choice, output_root(lp.profile), run_dir, resume_from)


def plan_train(
    lp: LoadedProfile,
    flavor: SwiftFlavor,
    now: Optional[datetime] = None,
    resume: bool = False,
    resume_from: Optional[str] = None,
    slurm: bool = False,
) -> TrainPlan:
    """Everything `swiftkit train` will do, decided without writing anything (plan and --dry-run). ``resume``
    continues the newest run; ``resume_from`` names the checkpoint exactly. ``slurm``: one job runs every node on
    a shared run folder (see jobs.slurm), so it can resume."""
    out = Path(lp.profile.output_dir)
    if out.exists() and not out.is_dir():
        raise SwiftkitError(f"output_dir {out} is a file; set output_dir to a folder.")
    if (resume or resume_from) and lp.profile.launch.nnodes > 1 and not slurm:
        raise SwiftkitError(
            "--resume is not supported for runs over several nodes: each node would pick its own newest "
            "checkpoint. Start a new run, or resume on one node (launch.nnodes: 1)."
        )
    if resume and resume_from:
        raise SwiftkitError("give --resume or --resume-from CHECKPOINT, not both.")
    start = given_resume_point(Path(resume_from)) if resume_from else newest_run_resume_point(out) if resume else None
    run = resolve_train_run(lp, next_run_dir(output_root(lp.profile), now), start)
    return TrainPlan(run, render_sft(run, flavor))


def resumable_checkpoint(run_dir: Path) -> Optional[Path]:
    """The newest checkpoint of this run that training can continue from, or None (it wrote none)."""
    if not run_dir.is_dir():
        return None
    usable = [c for c in checkpoints.read_run(run_dir).complete_checkpoints if c.resumable]
    return usable[-1].path if usable else None


def newest_run_resume_point(out: Path) -> Path:
    """What ``--resume`` continues: the newest run's newest resumable checkpoint, never an older run's. A newest
    run that wrote none (stopped before its first checkpoint) is refused, naming the exact way to an older one."""
    runs = checkpoints.scan(out)
    if runs and resumable_checkpoint(runs[-1].path) is None:
        older = checkpoints.latest(runs[:-1], for_resume=True)
        way = f" To continue an older run, name its checkpoint: --resume-from {older.path}." if older else ""
        raise SwiftkitError(
            f"--resume continues the newest run, {runs[-1].path}, and it wrote no checkpoint that can be resumed "
            f"(it stopped before its first); no checkpoint was written, so start again without --resume.{way}"
        )
    return checkpoints.pick(out, "latest", for_resume=True)


def given_resume_point(path: Path) -> Path:
    """``--resume-from PATH``: a complete checkpoint that training can continue from."""
    checkpoints.pick(path)  # complete, else a one-line error
    ck = next((c for c in checkpoints.read_run(path.parent).checkpoints if c.path.name == path.name), None)
    if ck is None or not ck.resumable:
        why = ck.resume_problem if ck is not None else "it is not a checkpoint-N folder of a run"
        raise SwiftkitError(f"cannot resume from {path}: {why}. Run 'swiftkit checkpoints' to list the others.")
    return path


def node_commands(lp: LoadedProfile, flavor: SwiftFlavor) -> list[tuple[int, Command]]:
    """The ms-swift command each node of a multi-node profile runs (its `swiftkit train` sets node_rank)."""
    out = []
    for rank in range(lp.profile.launch.nnodes):
        launch = lp.profile.launch.model_copy(update={"node_rank": rank})
        node = replace(lp, profile=lp.profile.model_copy(update={"launch": launch}))
        out.append((rank, plan_train(node, flavor).command))
    return out


def prepare_train(
    lp: LoadedProfile,
    flavor: SwiftFlavor,
    now: Optional[datetime] = None,
    resume: bool = False,
    on_stage: Optional[Callable[[str], None]] = None,
    resume_from: Optional[str] = None,
    slurm: bool = False,
) -> TrainPlan:
    """Plan, check the user's data (before any model loads), make the embedded model and self-replay data that are
    missing, then plan and check again with them. Raises on data errors; returns the plan with its warnings.
    ``slurm``: the job trains on the cluster's nodes, so this machine's GPUs are not checked."""
    from swiftkit.jobs.replay import ensure_replay
    from swiftkit.sizing.gpus import check_gpu, check_packages

    stage = on_stage or (lambda _text: None)
    plan = plan_train(lp, flavor, now, resume, resume_from, slurm)
    run = plan.run  # from here on the resolved run is the only profile that travels
    refuse_shipped_code(run.profile, run.model)
    refuse_on_errors(check_data(run))
    # a missing card is refused before any model loads (a SLURM job trains on the cluster's nodes, not here)
    gpu_warning = None if slurm else check_gpu(run.profile, run.loaded.name)
    check_packages(run.profile)  # so is a missing liger-kernel, deepspeed or bitsandbytes
    if needs_conversion(run.profile):
        stage("converting the embedded model into a Hugging Face folder (once; about a minute)")
    ensure_model(run.profile)
    missing = run.replays_missing
    for entry in missing:
        assert entry.replay_prompts is not None
        stage(f"self-replay: the base model answers {entry.replay_prompts} (once per model, cached)")
        ensure_replay(
            run.base,
            flavor,
            Path(entry.replay_prompts),
            on_progress=lambda done, total: stage(f"self-replay: {done}/{total} answers"),
        )
    if missing:
        plan = plan_train(lp, flavor, now, resume, resume_from, slurm)
    report = check_data(plan.run)
    refuse_on_errors(report)
    for note in compile_notes(plan.run.profile):
        stage(note)
    plan.warnings = report.warnings
    plan.notes = [gpu_warning] if gpu_warning else []
    return plan


def _empty(folder: Path) -> bool:
    try:
        return not any(folder.iterdir())
    except OSError:  # missing or unreadable: nothing cached there
        return True


def compile_notes(profile: Profile, env: Optional[dict[str, str]] = None) -> list[str]:
    """First-run kernel compilation this run will pay, announced before ms-swift starts: Triton compiles Liger's
    kernels once per machine and shape (about 30 s more on the first run, bench/results), FlashAttention-4's
    CuTe DSL compiles its kernels once per shape into its own cache."""
    import getpass
    import os
    import tempfile

    env = dict(os.environ) if env is None else env
    notes = []
    if profile.gpu is not None and profile.train.use_liger_kernel is True:  # the fitted profile: 'auto' decided
        triton = Path(env.get("TRITON_CACHE_DIR") or Path(env.get("HOME", "~")).expanduser() / ".triton" / "cache")
        if _empty(triton):
            notes.append(
                f"first Liger run on this machine ({shown_path(str(triton))} is empty): Triton compiles its kernels "
                "once, about 30 s more than later runs"
            )
    if profile.gpu is not None and profile.train.attn_impl == card.FA4:
        default = Path(tempfile.gettempdir()) / getpass.getuser() / "flash_attention_cute_dsl_cache"
        fa4 = Path(env.get(card.FA4_CACHE_DIR) or default)
        if _empty(fa4):
            notes.append(f"first FlashAttention-4 run here: its kernels compile once into {shown_path(str(fa4))}")
    return notes


def lint_settings(p: Profile, role: str, model: Optional[str] = None) -> LintSettings:
    """The identity lint as the profile sets it (general data gets only the universal checks). ``model``: the
    resolved run's model path (a profile alone, for `validate FILE --profile`, has it looked up)."""
    tokenizer = None
    model_dir = Path(model if model is not None else model_path(p))
    if (model_dir / "tokenizer.json").is_file():
        tokenizer = model_dir / "tokenizer.json"
    if role != "identity":
        return LintSettings(check_identity=False, max_length=p.train.max_length, tokenizer=tokenizer)
    return LintSettings(
        identity=p.identity,
        min_records=p.data.min_records,
        allow_identity_mismatch=p.data.allow_identity_mismatch,
        languages=list(p.data.languages),
        max_length=p.train.max_length,
        tokenizer=tokenizer,
    )


def check_data(run: ResolvedRun) -> Report:
    """Validate every local dataset the run would read; templates count as templates when the profile fills them."""
    from swiftkit.data.validate import Options, Report, validate_file

    report = Report()
    for entry in run.data:
        if entry.records is None:  # hub data: nothing local to check
            continue
        templated = (
            entry.role == "identity" and run.profile.identity is not None and has_placeholders(Path(entry.source))
        )
        options = Options(template=templated, lint=lint_settings(run.profile, entry.role, run.model))
        report.files.append(validate_file(Path(entry.source), options))
    return report


def check_profile_data(lp: LoadedProfile) -> Report:
    """`swiftkit validate` with no files: every local dataset of the profile, checked as training would check it."""
    return check_data(resolve_train_run(lp, next_run_dir(output_root(lp.profile))))


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
    reason: str = ""  # why it failed, when swiftkit can tell (a full disk)


def check_disk(run: ResolvedRun) -> Optional[str]:
    """None when the run fits on disk (or cannot be estimated); else the refusal message."""
    from swiftkit.sizing.disk import estimate, refusal

    found = estimate(run.profile)
    return None if found is None or found.fits else refusal(found)


@dataclass
class StartedRun:
    """ms-swift training in the background: its process, the manifest as written, the run lock swiftkit holds."""

    proc: subprocess.Popen[bytes]
    record: dict[str, Any]
    lock: RunLock
    started: float  # time.monotonic() at the start


def start_train(plan: TrainPlan) -> StartedRun:
    """Lock the output folder, write the run's data and manifest, and start ms-swift in its own session with its
    output going straight to the run's log: it trains on if swiftkit goes away (see :func:`wait_train`)."""
    from swiftkit.data.resolve import write_data
    from swiftkit.runs import manifest
    from swiftkit.runs.lock import RunLock, start_time
    from swiftkit.swift import runner

    problem = check_disk(plan.run)
    if problem:
        raise SwiftkitError(problem)
    lock = RunLock(plan.output_root).acquire(run_dir=str(plan.run_dir), started=manifest.now_iso())
    try:
        refuse_running(plan.output_root)  # also closes the manifests of runs whose processes are gone
        try:
            plan.run_dir.mkdir(parents=True, exist_ok=False)
            write_data(plan.run)
            record = manifest.build(plan.run, plan.command)
            manifest.write(plan.run_dir, record)
        except OSError as exc:
            shutil.rmtree(plan.run_dir, ignore_errors=True)  # nothing half-made is left to look like a run
            raise SwiftkitError(f"could not write the run folder {plan.run_dir}: {exc.strerror}. {_FREE}") from None
        started = time.monotonic()
        try:
            proc = runner.start(plan.command, plan.log, pass_fds=(lock.fd,) if lock.fd is not None else ())
        except SwiftkitError as exc:
            _close(plan.run_dir, record, None, "failed", reason=str(exc))
            raise
        pid_start = start_time(proc.pid)
        lock.note(swift_pid=proc.pid, swift_start=pid_start)
        try:
            record = manifest.update(plan.run_dir, record, swift_pid=proc.pid, swift_start=pid_start, log=str(plan.log))
        except OSError:
            pass  # a full disk: the run lock ms-swift holds still tells that it runs
    except BaseException:
        lock.release()
        raise
    return StartedRun(proc, record, lock, started)


def refuse_running(output_root: Path) -> None:
    """Refuse to start while a SLURM job of the same output folder still trains (local runs hold the lock)."""
    from swiftkit.runs import state

    for found in state.states(output_root):
        if found.status == state.RUNNING and found.slurm_job:
            raise SwiftkitError(
                f"SLURM job {found.slurm_job} is still training into {output_root} ({Path(found.run_dir).name}); "
                "follow it with 'swiftkit logs -f', stop it with 'swiftkit cancel', or give this run another "
                "output_dir."
            )


_FREE = "Free some space (or change output_dir) and try again."


def wait_train(plan: TrainPlan, run: StartedRun, echo: Optional[TextIO] = None) -> TrainResult:
    """Wait for ms-swift (Ctrl-C stops it: exit 130), then close the manifest with the outcome and a summary that
    names only complete checkpoints."""
    from swiftkit.runs.progress import read_events, summarise
    from swiftkit.swift import runner

    try:
        code = runner.wait(run.proc, log_path=plan.log, echo=echo)
    except BaseException as exc:  # swiftkit itself failed: the runner stopped ms-swift; the manifest says so
        _close(plan.run_dir, run.record, None, "failed", reason=f"swiftkit stopped: {type(exc).__name__}")
        raise
    finally:
        run.lock.release()
    wall = time.monotonic() - run.started
    status = "ok" if code == 0 else "interrupted" if code == runner.INTERRUPTED else "failed"
    summary = checkpoints.settle(summarise(plan.run_dir, read_events(plan.run_dir), status, code, wall))
    reason = failure_reason(plan) if status == "failed" else ""
    _close(
        plan.run_dir,
        run.record,
        code,
        status,
        reason=reason or None,
        wall_seconds=round(wall, 1),
        **summary.outcome(),
    )
    return TrainResult(code, status, plan.run_dir, plan.log, summary, reason)


def _close(run_dir: Path, record: dict[str, Any], code: Optional[int], status: str, **extra: Any) -> None:
    from swiftkit.runs import manifest

    try:
        manifest.finish(run_dir, record, code, status, **extra)
    except OSError as exc:
        raise SwiftkitError(
            f"training ended ({status}) but its manifest in {run_dir} could not be written: {exc.strerror}. {_FREE}"
        ) from None


DISK_LOW = 16 * 1024 * 1024


def failure_reason(plan: TrainPlan) -> str:
    """Why ms-swift failed when swiftkit can tell: the disk holding the run filled up."""
    from swiftkit.runs.progress import tail

    try:
        free = shutil.disk_usage(plan.run_dir).free
    except OSError:
        free = None
    text = tail(plan.log, 40)
    if (free is not None and free < DISK_LOW) or "No space left on device" in text or "Errno 28" in text:
        where = f" ({free / 1024**2:.1f} MiB free)" if free is not None else ""
        return f"the disk holding {plan.run_dir} is full{where}"
    return ""


def run_train(plan: TrainPlan, echo: Optional[TextIO] = None) -> TrainResult:
    """Start ms-swift and wait for it: see :func:`start_train` and :func:`wait_train`."""
    return wait_train(plan, start_train(plan), echo)
