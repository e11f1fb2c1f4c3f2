"""`swiftkit infer` and `swiftkit export`: answers from the newest adapter, and merging it."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

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
    from swiftkit.data.resolve import ResolvedModel
    from swiftkit.jobs.export import ExportDecision
    from swiftkit.swift.version import SwiftFlavor

TRUST_NOTE = (
    "ms-swift's 'trust_remote_code=True … will execute custom Python code' warnings are its standard text: "
    "swiftkit's import guard (remote code: off, see 'swiftkit plan') refuses any code shipped with a model in that "
    "process, so none ran."
)


@cli.command(context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to load.")
@click.option("--merged", is_flag=True, help="Use the merged model made by 'swiftkit export'.")
@click.option("--prompt", "prompts", multiple=True, help="Answer this prompt and exit (repeatable).")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path), help="Answer every prompt in a file.")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
@click.option("--verbose", "-v", is_flag=True, help="With --prompt/--prompts: show ms-swift's own output too.")
def infer(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    merged: bool,
    prompts: tuple[str, ...],
    prompts_file: Optional[Path],
    dry_run: bool,
    verbose: bool,
) -> None:
    """Chat with the trained adapter, or answer prompts non-interactively.

    \b
    Example:
      swiftkit infer --profile cpu-demo --prompt "Who are you?" --prompt "你是谁？"
    """
    from swiftkit.jobs import infer as inference
    from swiftkit.runs.checkpoints import resolve_model

    lp = load_profile(profile_name, overrides)
    flavor = swift_flavor(planning=dry_run)
    target = resolve_model(lp, checkpoint, merged=merged)
    if not dry_run:
        require_gpu(target.loaded)
    questions = list(prompts) + (inference.read_prompts_file(prompts_file) if prompts_file else [])
    if not questions:
        _chat(target, flavor, dry_run)
    elif dry_run:
        with tempfile.TemporaryDirectory(prefix="swiftkit-infer-") as tmp:
            command, _ = inference.batch_command(target, flavor, questions, Path(tmp))
            click.echo(command.display())
    else:
        _answer(target, flavor, questions, verbose)


def _chat(target: ResolvedModel, flavor: SwiftFlavor, dry_run: bool) -> None:
    """Interactive `swift infer` (the command shown on stderr first, or alone on stdout with --dry-run)."""
    from swiftkit.jobs.infer import refuse_code
    from swiftkit.swift import render, runner

    command = render.render_infer(target, flavor)
    click.echo(command.display(), err=not dry_run)
    if not dry_run:
        refuse_code(target)
        sys.exit(runner.run(command))


def _answer(target: ResolvedModel, flavor: SwiftFlavor, questions: list[str], verbose: bool) -> None:
    from swiftkit.jobs import infer as inference

    assert target.checkpoint is not None  # infer always resolves a checkpoint
    click.echo(
        f"> infer: ms-swift loads the model and {target.checkpoint.name}, then answers {len(questions)} prompt(s)",
        err=True,
    )
    answers = inference.answer_prompts(
        target,
        flavor,
        questions,
        on_progress=lambda done, total: click.echo(f"> infer: {done}/{total} answers", err=True),
        echo=sys.stderr if verbose else None,
    )
    if verbose and not target.profile.model.trust_remote_code:
        click.echo(f"# {TRUST_NOTE}", err=True)
    for question, answer in zip(questions, answers, strict=True):
        click.echo(f"Q: {question}\nA: {answer.strip()}\n")


@cli.command("export", context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to merge.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["hf", "gguf"]),
    default="hf",
    show_default=True,
    help="hf: the merged Hugging Face folder; gguf: also one .gguf file (llama.cpp, Ollama, LM Studio), a Modelfile.",
)
@click.option(
    "--quant",
    type=click.Choice(["f16", "bf16", "q8_0", "q4_k_m"]),
    default="q8_0",
    show_default=True,
    help="GGUF weight type; q4_k_m needs llama.cpp's quantiser (pip install 'swiftkit[gguf-run]').",
)
@click.option("--force", is_flag=True, help="Merge again even when an up-to-date merged model exists.")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
@click.option("--verbose", "-v", is_flag=True, help="Show ms-swift's own output (always in swiftkit-export.log).")
def export_(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    fmt: str,
    quant: str,
    force: bool,
    dry_run: bool,
    verbose: bool,
) -> None:
    """Merge the LoRA adapter into the base model (`swift export --merge_lora true`); with --format gguf, also
    write it as one GGUF file with the identity inside, and an Ollama Modelfile beside it.

    \b
    Example:
      swiftkit export --profile cpu-demo
      swiftkit export --profile cpu-demo --format gguf --quant q8_0
    """
    from swiftkit.runs.checkpoints import resolve_model

    lp = load_profile(profile_name, overrides)
    target = resolve_model(lp, checkpoint)
    flavor = swift_flavor(planning=dry_run)
    if dry_run:
        _export_dry_run(target, flavor, fmt, quant, force)
        return
    require_gpu(target.loaded)
    echo = sys.stderr if verbose else None
    if fmt == "gguf":
        _export_gguf(target, flavor, quant, force, echo)
    else:
        _export_hf(target, flavor, force, echo)


def _export_dry_run(target: ResolvedModel, flavor: SwiftFlavor, fmt: str, quant: str, force: bool) -> None:
    from swiftkit.jobs import export as core

    decision = core.plan_export(target, flavor, force=force)
    click.echo(decision.command.display() if decision.command else f"# up to date: {decision.merged_path}")
    if fmt == "gguf":
        from swiftkit.jobs.gguf_export import file_name

        click.echo(f"# then write {decision.merged_path.parent / file_name(target, quant)} and its Modelfile")


def _waiting(ck: Path) -> Callable[[dict[str, Any]], None]:
    """What export says while another export of the same checkpoint holds its lock."""

    def waiting(holder: dict[str, Any]) -> None:
        who = f" (pid {holder['pid']})" if isinstance(holder.get("pid"), int) else ""
        click.echo(f"Another export of {ck} is running{who}; waiting for it (Ctrl-C to stop waiting).", err=True)

    return waiting


def _starting(ck: Path) -> Callable[[ExportDecision], None]:
    """What export says when ms-swift starts merging: the command and where its log goes."""
    from swiftkit.jobs import export as core

    def starting(decision: ExportDecision) -> None:
        if decision.command is not None:
            click.echo(decision.command.display(), err=True)
            log = core.export_log(ck)
            click.echo(
                f"> export: ms-swift loads the base model and {ck.name}, merges and saves (log: {log})", err=True
            )

    return starting


def _export_hf(target: ResolvedModel, flavor: SwiftFlavor, force: bool, echo: Optional[TextIO]) -> None:
    from swiftkit.jobs import export as core

    ck = target.adapter
    result = core.run_export(target, flavor, force=force, on_wait=_waiting(ck), on_start=_starting(ck), echo=echo)
    decision, code = result.decision, result.exit_code
    if decision.command is None:
        click.echo(f"Up to date ({decision.reason}): {decision.merged_path}")
        return
    if echo is not None and not target.profile.model.trust_remote_code:
        click.echo(f"# {TRUST_NOTE}", err=True)
    if code != 0:
        from swiftkit.runs.progress import tail

        if echo is None:
            click.echo(tail(core.export_log(ck), 15), err=True)
        click.echo(f"Error: ms-swift's export failed (exit {code}); its log: {core.export_log(ck)}", err=True)
        sys.exit(code)
    if result.alignment is not None:
        aligned = result.alignment
        click.echo(("Warning: " if aligned.warning else "") + aligned.note, err=aligned.warning)
    click.echo(f"Merged model: {decision.merged_path}")


def _export_gguf(target: ResolvedModel, flavor: SwiftFlavor, quant: str, force: bool, echo: Optional[TextIO]) -> None:
    from swiftkit.jobs import export as core
    from swiftkit.jobs.gguf_export import MODELFILE, run_gguf_export

    def progress(done: int, total: int, name: str) -> None:
        if done == 1 or done == total or done % 25 == 0:
            click.echo(f"  GGUF: {done}/{total} tensors written ({name})", err=True)

    ck = target.adapter
    result = run_gguf_export(target, flavor, quant, force, _waiting(ck), _starting(ck), echo, progress)
    if result.merged.exit_code != 0:
        click.echo(
            f"Error: ms-swift's export failed (exit {result.merged.exit_code}); its log: {core.export_log(ck)}",
            err=True,
        )
        sys.exit(result.merged.exit_code)
    aligned = result.merged.alignment
    for note in ([aligned.note] if aligned is not None and aligned.changed else []) + result.notes:
        click.echo(note, err=note.startswith("Warning"))
    assert result.path is not None and result.modelfile is not None
    click.echo(f"Merged model: {result.merged.decision.merged_path}")
    made = f", quantised by {result.quantiser}" if result.quantiser else ""
    click.echo(f"GGUF ({quant}, {result.size / 1e6:.1f} MB, {result.seconds:.1f} s{made}): {result.path}")
    name = result.path.stem.lower()
    click.echo(f"Modelfile: {result.modelfile}")
    click.echo("Run it:")
    click.echo(f"  llama.cpp:  llama-cli -m {result.path} -cnv")
    click.echo(f"  Ollama:     cd {result.path.parent} && ollama create {name} -f {MODELFILE} && ollama run {name}")
    click.echo(f"  LM Studio:  lms import {result.path}")
