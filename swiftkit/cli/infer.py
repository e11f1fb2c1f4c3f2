"""`swiftkit infer` and `swiftkit export`: answers from the newest adapter, and merging it."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    checkpoint_option,
    cli,
    load_profile,
    profile_options,
    require_gpu,
    swift_flavor,
)

if TYPE_CHECKING:
    from swiftkit.jobs.export import ExportDecision


@cli.command(context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to load.")
@click.option("--merged", is_flag=True, help="Use the merged model made by 'swiftkit export'.")
@click.option("--prompt", "prompts", multiple=True, help="Answer this prompt and exit (repeatable).")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path), help="Answer every prompt in a file.")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
def infer(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    merged: bool,
    prompts: tuple[str, ...],
    prompts_file: Optional[Path],
    dry_run: bool,
) -> None:
    """Chat with the trained adapter, or answer prompts non-interactively.

    \b
    Example:
      swiftkit infer --profile cpu-demo --prompt "Who are you?" --prompt "你是谁？"
    """
    from swiftkit.jobs import infer as inference
    from swiftkit.model.remote_code import refuse_shipped_code
    from swiftkit.runs.checkpoints import checkpoint_for
    from swiftkit.swift import render, runner

    lp = load_profile(profile_name, overrides)
    flavor = swift_flavor(planning=dry_run)
    ck = checkpoint_for(lp, checkpoint, merged=merged)
    if not dry_run:
        require_gpu(lp)
    questions = list(prompts) + (inference.read_prompts_file(prompts_file) if prompts_file else [])
    if not questions:
        command = render.render_infer(lp.profile, flavor, str(ck))
        click.echo(command.display(), err=not dry_run)
        if not dry_run:
            refuse_shipped_code(lp.profile, ck)
            sys.exit(runner.run(command))
        return
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="swiftkit-infer-") as tmp:
            command, _ = inference.batch_command(lp, flavor, ck, questions, Path(tmp))
            click.echo(command.display())
        return
    for question, answer in zip(questions, inference.answer_prompts(lp, flavor, ck, questions), strict=True):
        click.echo(f"Q: {question}\nA: {answer.strip()}\n")


@cli.command("export", context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to merge.")
@click.option("--force", is_flag=True, help="Merge again even when an up-to-date merged model exists.")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
def export_(profile_name: str, overrides: tuple[str, ...], checkpoint: str, force: bool, dry_run: bool) -> None:
    """Merge the LoRA adapter into the base model (`swift export --merge_lora true`).

    \b
    Example:
      swiftkit export --profile cpu-demo
    """
    from swiftkit.jobs import export as core
    from swiftkit.runs.checkpoints import checkpoint_for

    lp = load_profile(profile_name, overrides)
    ck = checkpoint_for(lp, checkpoint)
    flavor = swift_flavor(planning=dry_run)
    if dry_run:
        decision = core.plan_export(lp, flavor, ck, force=force)
        click.echo(decision.command.display() if decision.command else f"# up to date: {decision.merged_path}")
        return

    def waiting(holder: dict[str, Any]) -> None:
        who = f" (pid {holder['pid']})" if isinstance(holder.get("pid"), int) else ""
        click.echo(f"Another export of {ck} is running{who}; waiting for it (Ctrl-C to stop waiting).", err=True)

    def starting(decision: ExportDecision) -> None:
        if decision.command is not None:
            click.echo(decision.command.display(), err=True)

    require_gpu(lp)
    result = core.run_export(lp, flavor, ck, force=force, on_wait=waiting, on_start=starting, echo=sys.stderr)
    decision, code = result.decision, result.exit_code
    if decision.command is None:
        click.echo(f"Up to date ({decision.reason}): {decision.merged_path}")
        return
    if code != 0:
        sys.exit(code)
    if result.alignment is not None:
        aligned = result.alignment
        click.echo(("Warning: " if aligned.warning else "") + aligned.note, err=aligned.warning)
    click.echo(f"Merged model: {decision.merged_path}")
