"""`swiftkit plan` and `swiftkit train`: the exact ms-swift command, then the run with its progress and summary."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    checkpoint_option,
    cli,
    load_profile,
    profile_options,
    swift_flavor,
)

if TYPE_CHECKING:
    from datetime import datetime

    from swiftkit.config.profiles import LoadedProfile
    from swiftkit.config.schema import Profile
    from swiftkit.data.resolve import ResolvedModel
    from swiftkit.jobs.train import TrainPlan, TrainResult
    from swiftkit.swift.version import SwiftFlavor


@cli.command(context_settings=CONTEXT)
@click.argument("what", type=click.Choice(["sft", "infer", "export"]))
@profile_options
@checkpoint_option("Adapter for infer/export (default latest).", default=None)
def plan(what: str, profile_name: str, overrides: tuple[str, ...], checkpoint: Optional[str]) -> None:
    """Print the exact ms-swift command a profile runs, as one pasteable line.

    \b
    Example:
      swiftkit plan sft --profile 4090d
      swiftkit plan infer --profile cpu-demo --checkpoint output/cpu-demo/v0-20261127-180000/checkpoint-40
    """
    from swiftkit.jobs import train as training
    from swiftkit.model.remote_code import model_code
    from swiftkit.runs.checkpoints import resolve_model
    from swiftkit.swift import render

    lp = load_profile(profile_name, overrides)
    flavor = swift_flavor(planning=True)
    if what != "sft":
        target = resolve_model(lp, checkpoint or "latest")
        command = render.render_infer(target, flavor) if what == "infer" else render.render_export(target, flavor)
        click.echo(f"# {render.remote_code_note(target.profile, target.model, model_code(target.model))}", err=True)
        click.echo(command.display())
        return
    train_plan = training.plan_train(lp, flavor)
    run = train_plan.run
    _notes(train_plan)
    click.echo(f"# {render.remote_code_note(run.profile, run.model, model_code(run.model))}", err=True)
    _vram_note(run.profile)
    if run.profile.launch.nnodes == 1:
        click.echo(train_plan.command.display())
        return
    for rank, node_command in training.node_commands(lp, flavor):
        click.echo(f"# node {rank}: swiftkit train --profile {profile_name} --set launch.node_rank={rank}")
        click.echo(node_command.display())


def _vram_note(profile: Profile) -> None:
    from swiftkit.sizing import vram

    if profile.gpu is None:  # a CPU profile: no GPU memory to predict
        return
    found = vram.estimate(profile)
    if found is None:
        click.echo("# predicted peak GPU memory: unknown (the model's shape is not known offline)", err=True)
        return
    card = f"{profile.gpu.memory:g} GB"
    click.echo(f"# predicted peak GPU memory: {found.gib:.1f} GiB of {card} ({found.note})", err=True)
    problem = vram.warning(profile, found)
    if problem:
        click.echo(f"warning: {problem}", err=True)


@cli.command(context_settings=CONTEXT)
@profile_options
@click.option(
    "--resume", is_flag=True, help="Continue the newest run from its newest complete checkpoint (in a new run folder)."
)
@click.option(
    "--resume-from",
    metavar="CHECKPOINT",
    help="Continue from exactly this checkpoint folder (what an interrupted run prints).",
)
@click.option("--dry-run", is_flag=True, help="Print the command and stop (checks and writes nothing).")
@click.option("--verbose", "-v", is_flag=True, help="Show ms-swift's own output live instead of a progress bar.")
@click.option("--detach", is_flag=True, help="Start training in the background and return; follow it with 'logs -f'.")
@click.option(
    "--slurm",
    is_flag=True,
    help="Submit the run as one SLURM batch job (the profile's slurm: section; --set slurm.KEY=VALUE overrides).",
)
@click.option("--wait", is_flag=True, help="With --slurm: follow the job until it ends; Ctrl-C cancels it (scancel).")
@click.option(
    "--check",
    is_flag=True,
    help="After a good run, run 'swiftkit eval' on the new checkpoint and end with a verdict against the profile's "
    "eval targets (exit 1 when one is missed). Also on with eval.after_train: true.",
)
def train(
    profile_name: str,
    overrides: tuple[str, ...],
    resume: bool,
    resume_from: Optional[str],
    dry_run: bool,
    verbose: bool,
    detach: bool,
    slurm: bool,
    wait: bool,
    check: bool,
) -> None:
    """Check the data, then train a LoRA adapter with `swift sft` as the profile says.

    ms-swift runs in its own session and writes straight to swiftkit-train.log in the run folder, so it trains on
    if this terminal closes; a progress bar follows its logging.jsonl. Ctrl-C stops it (exit 130).

    \b
    Example:
      swiftkit train --profile cpu-demo
      swiftkit train --profile cpu-demo --detach
      swiftkit train --check
      swiftkit train --profile 4090d --set train.num_train_epochs=5 --dry-run
      swiftkit train --profile h100 --slurm --set slurm.nodes=2 --dry-run
    """
    from datetime import datetime

    from swiftkit.jobs import train as training

    if wait and not slurm:
        raise click.UsageError("--wait follows a SLURM job: use it with --slurm (a local run waits anyway).")
    if slurm and detach:
        raise click.UsageError("--slurm already returns once the job is submitted; leave out --detach.")
    lp = load_profile(profile_name, overrides)
    flavor = swift_flavor(planning=dry_run)
    now = datetime.now()
    if slurm:
        _train_slurm(lp, flavor, now, resume=resume, dry_run=dry_run, wait=wait, verbose=verbose)
    elif dry_run:
        plan_ = training.plan_train(lp, flavor, now=now, resume=resume, resume_from=resume_from)
        click.echo(plan_.command.display())
        _notes(plan_)
    else:
        plan_ = training.prepare_train(lp, flavor, now=now, resume=resume, on_stage=_stage, resume_from=resume_from)
        _train_here(plan_, _profile_ref(lp), overrides, detach=detach, verbose=verbose, check=check)


def _train_here(
    plan_: TrainPlan, ref: Optional[str], overrides: tuple[str, ...], *, detach: bool, verbose: bool, check: bool
) -> None:
    """Start the prepared run here; in the background (--detach), or followed to its summary (and --check)."""
    from swiftkit.cli.display import TrainDisplay
    from swiftkit.jobs import train as training

    _warnings(plan_)
    _notes(plan_)
    click.echo(plan_.command.display(), err=True)
    _stage("training: ms-swift starts, loads the model, then trains")
    started = training.start_train(plan_)
    if detach:
        started.lock.release()  # ms-swift holds its own copy of the run lock
        click.echo(
            f"Training in the background: ms-swift pid {started.proc.pid}, run folder {plan_.run_dir}\n"
            + _follow_lines(_profile_option(ref), f"kill -INT -- -{started.proc.pid}")
            + f"ms-swift log: {plan_.log}"
        )
        return
    click.echo(f"ms-swift log: {plan_.log}", err=True)
    if verbose:
        result = training.wait_train(plan_, started, echo=sys.stdout)
    else:
        with TrainDisplay(plan_.run_dir):
            result = training.wait_train(plan_, started)
    code = report_result(result, ref, overrides)
    if code == 0 and (check or plan_.run.profile.eval.after_train) and result.summary.checkpoint:
        code = _check(plan_.run.trained(Path(result.summary.checkpoint)))
    sys.exit(code)


def _warnings(plan_: TrainPlan) -> None:
    for problem in plan_.warnings:
        click.echo(f"warning: {problem.line()}", err=True)
    for note in plan_.notes:
        click.echo(f"warning: {note}", err=True)


def _profile_option(ref: Optional[str]) -> str:
    """`` --profile REF`` for the commands shown; "" for ./swiftkit.yaml."""
    return f" --profile {shlex.quote(ref)}" if ref else ""


def _follow_lines(option: str, stop: str) -> str:
    """How to follow, inspect and stop a run that goes on without this terminal."""
    return f"  follow it:   swiftkit logs -f{option}\n  its state:   swiftkit status{option}\n  stop it:     {stop}\n"


def _check(target: ResolvedModel) -> int:
    """train --check: the identity eval of the new checkpoint and its verdict; 1 when a target is missed."""
    from swiftkit.cli.evaluate import local_eval, show_local
    from swiftkit.data.prompts import shipped_prompts

    checkpoint = target.adapter
    _stage(f"check: swiftkit eval of {checkpoint.name} (identity probes and general prompts, base vs adapter)")
    report = local_eval(target, shipped_prompts("identity_probes.jsonl"), shipped_prompts("general.jsonl"))
    return 0 if show_local(target, report) else 1


def continue_text(result: TrainResult, profile_ref: Optional[str], overrides: tuple[str, ...] = ()) -> str:
    """How to go on after a stopped run, as an exact command: from this run's own newest resumable checkpoint, or,
    when it wrote none, start again (never a bare --resume, which could pick another run)."""
    from swiftkit.jobs.train import resumable_checkpoint

    words = ["swiftkit", "train"] + (["--profile", profile_ref] if profile_ref else [])
    words += [w for o in overrides for w in ("--set", o)]
    ck = resumable_checkpoint(result.run_dir)
    if ck is None:
        return f"no checkpoint was written in {result.run_dir}; start again with: {shlex.join(words)}"
    again = shlex.join([*words, "--resume-from", str(ck)])
    return f"this run's last complete checkpoint is {ck}; continue from it with: {again}"


def _train_slurm(
    lp: LoadedProfile, flavor: SwiftFlavor, now: datetime, *, resume: bool, dry_run: bool, wait: bool, verbose: bool
) -> None:
    """--slurm: print the job script (--dry-run), or prepare the data here, submit, and optionally follow."""
    from swiftkit.cli.logs import EXIT, follow_run, print_final
    from swiftkit.jobs import slurm as jobs

    if dry_run:
        plan_ = jobs.plan_slurm(lp, flavor, now=now, resume=resume)
        click.echo(plan_.script, nl=False)
        _notes(plan_.train)
        return
    plan_ = jobs.prepare_slurm(lp, flavor, now=now, resume=resume, on_stage=_stage)
    _warnings(plan_.train)
    sub = jobs.submit(lp, plan_)
    ref = _profile_ref(lp)
    option = _profile_option(ref)
    click.echo(
        f"Submitted SLURM job {sub.job_id}: run folder {sub.run_dir}\n"
        + _follow_lines(option, f"swiftkit cancel{option}")
        + f"Job script: {sub.script}\nms-swift log: {sub.log}",
        err=wait,
    )
    if not wait:
        return
    try:
        final = follow_run(sub.run_dir, verbose)
    except KeyboardInterrupt:
        click.echo(f"\nCancelling SLURM job {sub.job_id} (scancel)...", err=True)
        from swiftkit.runs.state import reconcile

        jobs.cancel(sub.run_dir)
        print_final(reconcile(sub.run_dir))
        sys.exit(130)
    print_final(final)
    if final.status == "ok":
        from swiftkit.cli.display import next_commands

        click.echo("Next:\n  " + "\n  ".join(next_commands(ref, in_checkout())))
    sys.exit(EXIT.get(final.status, 1))


def report_result(result: TrainResult, profile_ref: Optional[str], overrides: tuple[str, ...] = ()) -> int:
    """The end-of-run summary, and why it failed; returns the exit code."""
    from swiftkit.cli.display import next_commands, summary_text
    from swiftkit.runs import progress

    click.echo(summary_text(result.summary, next_commands(profile_ref, in_checkout())))
    if result.status == "failed" and result.reason:
        click.echo(
            f"Error: ms-swift stopped (exit {result.exit_code}): {result.reason}. Free some space (or lower "
            f"train.save_total_limit); {continue_text(result, profile_ref, overrides)}. ms-swift's log: {result.log}",
            err=True,
        )
    elif result.status == "failed":
        tail = progress.tail(result.log)
        click.echo(f"\nms-swift failed (exit {result.exit_code}); the end of its log:\n{tail}", err=True)
        hint = progress.hint_for(tail)
        if hint:
            click.echo(f"\nHint: {hint}", err=True)
    elif result.status == "interrupted":
        click.echo(f"Interrupted; {continue_text(result, profile_ref, overrides)}", err=True)
    return result.exit_code


def _stage(text: str) -> None:
    click.echo(f"> {text}", err=True)


def in_checkout() -> bool:
    """Run from a swiftkit checkout (its Makefile here): the make targets work too."""
    makefile = Path("Makefile")
    try:
        return makefile.is_file() and "swiftkit" in makefile.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def _profile_ref(lp: LoadedProfile) -> str:
    """How to name this profile on a command line: a built-in's name, "" for ./swiftkit.yaml, else its path."""
    from swiftkit.config.hints import profile_ref

    return profile_ref(lp)


def _notes(train_plan: TrainPlan) -> None:
    for line in train_plan.batch.card:
        click.echo(f"# {line}", err=True)
    click.echo(f"# {train_plan.batch.line()}", err=True)
    for entry in train_plan.data:
        if entry.write_to or entry.note:
            what = f"writes {entry.argv_value} from {entry.source}" if entry.write_to else entry.source
            click.echo(f"# {what}" + (f": {entry.note}" if entry.note else ""), err=True)
