"""The command line: parse options, call one core function, print its result. Nothing else lives here."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from swiftkit import __version__
from swiftkit.data.formats import FORMATS
from swiftkit.errors import SwiftkitError
from swiftkit.layout import EVAL_REPORT

if TYPE_CHECKING:  # annotations only: the fast paths import none of these at run time
    from swiftkit.config.profiles import LoadedProfile
    from swiftkit.config.schema import Profile
    from swiftkit.jobs.train import TrainPlan
    from swiftkit.swift.version import SwiftFlavor

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SwiftkitGroup(click.Group):
    """Turns expected errors into 'Error: …' + exit 1, and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwiftkitError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a profile field (dotted key), e.g. --set train.learning_rate=2e-4. Repeatable.",
    )(func)
    func = click.option(
        "--profile",
        "-p",
        "profile_name",
        envvar="SWIFTKIT_PROFILE",
        required=True,
        metavar="NAME|PATH",
        help="Built-in profile name (see 'swiftkit profiles list') or a .yaml file. Default: $SWIFTKIT_PROFILE.",
    )(func)
    return func


def optional_profile(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--profile for commands that can also work without one (they take a folder instead)."""
    return click.option(
        "--profile", "-p", "profile_name", envvar="SWIFTKIT_PROFILE", metavar="NAME|PATH", help=help_text
    )


def _load(profile_name: str, overrides: tuple[str, ...]) -> LoadedProfile:
    from swiftkit.config import profiles

    return profiles.load(profile_name, overrides)


def _flavor() -> SwiftFlavor:
    from swiftkit.swift.version import installed_flavor

    return installed_flavor()


@click.group(cls=SwiftkitGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="swiftkit")
def cli() -> None:
    """Identity fine-tuning with ms-swift, made reliable.

    \b
    Example:
      swiftkit plan sft --profile 4090d
      swiftkit train --profile cpu-demo
    """


# ---------------------------------------------------------------- profiles
@cli.group(context_settings=CONTEXT)
def profiles() -> None:
    """List and inspect run profiles.

    \b
    Example:
      swiftkit profiles list
    """


@profiles.command("list", context_settings=CONTEXT)
def profiles_list() -> None:
    """List the built-in profiles.

    \b
    Example:
      swiftkit profiles list
    """
    from swiftkit.config import profiles as core

    for name in core.builtin_names():
        lp = core.load(name)
        click.echo(f"{name:<14} {lp.profile.model.model:<34} {lp.profile.description}")


@profiles.command("show", context_settings=CONTEXT)
@click.argument("name", metavar="NAME|PATH")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (dotted key).")
def profiles_show(name: str, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved profile (extends and --set applied) as YAML.

    \b
    Example:
      swiftkit profiles show 4090d --set train.max_length=1024
    """
    import yaml

    lp = _load(name, overrides)
    click.echo(f"# {lp.path}", nl=True)
    click.echo(yaml.safe_dump(lp.profile.model_dump(mode="json"), sort_keys=False, allow_unicode=True), nl=False)


@profiles.command("cp", context_settings=CONTEXT)
@click.argument("name", metavar="NAME")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
def profiles_cp(name: str, dest: Path, force: bool) -> None:
    """Copy a built-in profile to DEST to start your own (comments kept).

    \b
    Example:
      swiftkit profiles cp 4090d my-4090d.yaml
    """
    from swiftkit.config import profiles as core

    written = core.copy_builtin(name, dest, force=force)
    click.echo(f"Wrote {written}; use it with: swiftkit train --profile {written}")


@profiles.command("schema", context_settings=CONTEXT)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def profiles_schema(output: Optional[Path], force: bool) -> None:
    """Print the profile JSON Schema, for editor completion and checking of profile YAML.

    \b
    Example:
      swiftkit profiles schema -o .swiftkit-profile.schema.json
      # then, first line of a profile:  # yaml-language-server: $schema=.swiftkit-profile.schema.json
    """
    import json as json_

    from swiftkit.config.profiles import json_schema
    from swiftkit.fsutil import atomic_write_text

    text = json_.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text, force=force)
        click.echo(f"Wrote {output}")


# ---------------------------------------------------------------- plan
@cli.command(context_settings=CONTEXT)
@click.argument("what", type=click.Choice(["sft", "infer", "export"]))
@profile_options
@click.option(
    "--checkpoint", default=None, metavar="latest|best|PATH", help="Adapter for infer/export (default latest)."
)
def plan(what: str, profile_name: str, overrides: tuple[str, ...], checkpoint: Optional[str]) -> None:
    """Print the exact ms-swift command a profile runs, as one pasteable line.

    \b
    Example:
      swiftkit plan sft --profile 4090d
      swiftkit plan infer --profile cpu-demo --checkpoint output/cpu-demo/v0-20261127-180000/checkpoint-40
    """
    from swiftkit.jobs import infer as inference
    from swiftkit.jobs import train as training
    from swiftkit.swift import render

    lp = _load(profile_name, overrides)
    flavor = _flavor()
    if what == "sft":
        train_plan = training.plan_train(lp, flavor)
        command = train_plan.command
        _notes(train_plan)
    elif what == "infer":
        command = render.render_infer(lp.profile, flavor, str(inference.checkpoint_for(lp, checkpoint or "latest")))
    else:
        command = render.render_export(lp.profile, flavor, str(inference.checkpoint_for(lp, checkpoint or "latest")))
    click.echo(f"# {render.remote_code_note(lp.profile, flavor)}", err=True)
    if what == "sft":
        _vram_note(lp.profile)
    click.echo(command.display())


def _vram_note(profile: Profile) -> None:
    from swiftkit.sizing import vram

    if profile.gpu is None:  # a CPU profile: no GPU memory to predict
        return
    found = vram.estimate(profile)
    if found is None:
        click.echo("# predicted peak GPU memory: unknown (the model's shape is not known offline)", err=True)
        return
    card = f"{profile.gpu.memory_gb:g} GB"
    click.echo(f"# predicted peak GPU memory: {found.gib:.1f} GiB of {card} ({found.note})", err=True)
    problem = vram.warning(profile, found)
    if problem:
        click.echo(f"warning: {problem}", err=True)


# ---------------------------------------------------------------- train / infer / export
@cli.command(context_settings=CONTEXT)
@profile_options
@click.option("--resume", is_flag=True, help="Continue from the newest complete checkpoint (in a new run folder).")
@click.option("--dry-run", is_flag=True, help="Print the command and stop (checks and writes nothing).")
@click.option("--verbose", "-v", is_flag=True, help="Show ms-swift's own output live instead of a progress bar.")
def train(profile_name: str, overrides: tuple[str, ...], resume: bool, dry_run: bool, verbose: bool) -> None:
    """Check the data, then train a LoRA adapter with `swift sft` as the profile says.

    ms-swift's output goes to swiftkit-train.log in the run folder; a progress bar follows its logging.jsonl.

    \b
    Example:
      swiftkit train --profile cpu-demo
      swiftkit train --profile 4090d --set train.num_train_epochs=5 --dry-run
    """
    from datetime import datetime

    from swiftkit.jobs import train as training

    lp = _load(profile_name, overrides)
    flavor = _flavor()
    now = datetime.now()
    if dry_run:
        plan_ = training.plan_train(lp, flavor, now=now, resume=resume)
        click.echo(plan_.command.display())
        _notes(plan_)
        return
    plan_ = training.prepare_train(lp, flavor, now=now, resume=resume, on_stage=_stage)
    from swiftkit.cli.display import TrainDisplay, summary_text
    from swiftkit.runs import progress

    for problem in plan_.warnings:
        click.echo(f"warning: {problem.line()}", err=True)
    click.echo(plan_.command.display(), err=True)
    click.echo(f"ms-swift log: {plan_.log}", err=True)
    if verbose:
        result = training.run_train(lp, plan_, echo=sys.stdout)
    else:
        with TrainDisplay(plan_.run_dir):
            result = training.run_train(lp, plan_)
    click.echo(summary_text(result.summary, _profile_ref(lp)))
    if result.status == "failed":
        tail = progress.tail(result.log)
        click.echo(f"\nms-swift failed (exit {result.exit_code}); the end of its log:\n{tail}", err=True)
        hint = progress.hint_for(tail)
        if hint:
            click.echo(f"\nHint: {hint}", err=True)
    elif result.status == "interrupted":
        click.echo("Interrupted; the last complete checkpoint is kept. Continue with --resume.", err=True)
    sys.exit(result.exit_code)


def _stage(text: str) -> None:
    click.echo(f"> {text}", err=True)


def _profile_ref(lp: LoadedProfile) -> str:
    from swiftkit.config.profiles import builtin_dir

    return lp.name if lp.path.resolve().parent == builtin_dir().resolve() else str(lp.path)


def _notes(train_plan: TrainPlan) -> None:
    for entry in train_plan.data:
        if entry.write_to or entry.note:
            what = f"writes {entry.argv_value} from {entry.source}" if entry.write_to else entry.source
            click.echo(f"# {what}" + (f": {entry.note}" if entry.note else ""), err=True)


@cli.command(context_settings=CONTEXT)
@profile_options
@click.option("--checkpoint", default="latest", show_default=True, metavar="latest|best|PATH", help="Adapter to load.")
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
    from swiftkit.swift import render, runner

    lp = _load(profile_name, overrides)
    flavor = _flavor()
    ck = inference.checkpoint_for(lp, checkpoint, merged=merged)
    questions = list(prompts) + (inference.read_prompts_file(prompts_file) if prompts_file else [])
    if not questions:
        command = render.render_infer(lp.profile, flavor, str(ck))
        click.echo(command.display(), err=not dry_run)
        if not dry_run:
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
@click.option("--checkpoint", default="latest", show_default=True, metavar="latest|best|PATH", help="Adapter to merge.")
@click.option("--force", is_flag=True, help="Merge again even when an up-to-date merged model exists.")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
def export_(profile_name: str, overrides: tuple[str, ...], checkpoint: str, force: bool, dry_run: bool) -> None:
    """Merge the LoRA adapter into the base model (`swift export --merge_lora true`).

    \b
    Example:
      swiftkit export --profile cpu-demo
    """
    from swiftkit.jobs import export as core
    from swiftkit.jobs.infer import checkpoint_for
    from swiftkit.swift import runner

    lp = _load(profile_name, overrides)
    ck = checkpoint_for(lp, checkpoint)
    decision = core.plan_export(lp, _flavor(), ck, force=force)
    if decision.command is None:
        click.echo(f"Up to date ({decision.reason}): {decision.merged_path}")
        return
    click.echo(decision.command.display(), err=not dry_run)
    if dry_run:
        return
    code = runner.run(decision.command)
    if code != 0:
        sys.exit(code)
    click.echo(f"Merged model: {decision.merged_path}")


# ---------------------------------------------------------------- replay / eval
@cli.command(context_settings=CONTEXT)
@profile_options
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(path_type=Path),
    help="General prompts (.jsonl with 'prompt'). Default: the profile's replay entry, else the shipped set.",
)
@click.option("--force", is_flag=True, help="Ask the model again even when answers are cached.")
def replay(profile_name: str, overrides: tuple[str, ...], prompts_file: Optional[Path], force: bool) -> None:
    """Save the base model's own answers to general prompts as Alpaca data (cached per model).

    Mix it into training with a dataset entry `{replay: PROMPTS_FILE, ratio: 1}`; works offline.

    \b
    Example:
      swiftkit replay --profile cpu-demo
    """
    from swiftkit.data.prompts import shipped_prompts
    from swiftkit.jobs.replay import ensure_replay

    lp = _load(profile_name, overrides)
    if prompts_file is None:
        entry = next((d for d in lp.profile.data.datasets if d.replay), None)
        prompts_file = Path(entry.replay) if entry and entry.replay else shipped_prompts("replay.jsonl")
    path, made = ensure_replay(lp, _flavor(), prompts_file, force=force)
    click.echo(f"{'Wrote' if made else 'Cached'}: {path}")


@cli.command("eval", context_settings=CONTEXT)
@profile_options
@click.option("--checkpoint", default="latest", show_default=True, metavar="latest|best|PATH", help="Adapter to score.")
@click.option("--probes", type=click.Path(path_type=Path), help="Identity probes (.jsonl with prompt/asks).")
@click.option("--general", type=click.Path(path_type=Path), help="General prompts (.jsonl with prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report (it is always saved in the checkpoint).")
def eval_(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    probes: Optional[Path],
    general: Optional[Path],
    as_json: bool,
) -> None:
    """Did it work? Identity pass rate, pollution rate and changed answers, base model vs adapter.

    \b
    Example:
      swiftkit eval --profile cpu-demo
      swiftkit eval --profile cpu-demo --checkpoint best --json
    """
    import json as json_

    from swiftkit.data.prompts import shipped_prompts
    from swiftkit.eval import score as evaluate
    from swiftkit.jobs.evaluate import run_eval
    from swiftkit.jobs.infer import checkpoint_for

    lp = _load(profile_name, overrides)
    ck = checkpoint_for(lp, checkpoint)
    report = run_eval(
        lp,
        _flavor(),
        ck,
        probes or shipped_prompts("identity_probes.jsonl"),
        general or shipped_prompts("general.jsonl"),
    )
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"checkpoint: {ck}")
    click.echo(evaluate.table(report))
    click.echo(f"report: {ck / EVAL_REPORT}")


# ---------------------------------------------------------------- checkpoints
@cli.command(context_settings=CONTEXT)
@click.argument("which", required=False, type=click.Choice(["latest", "best"]))
@optional_profile("Look in this profile's output_dir. Default: $SWIFTKIT_PROFILE.")
@click.option("--output-dir", type=click.Path(path_type=Path), help="Look in this folder instead of a profile's.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a profile field.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def checkpoints(
    which: Optional[str],
    profile_name: Optional[str],
    output_dir: Optional[Path],
    overrides: tuple[str, ...],
    as_json: bool,
) -> None:
    """List runs and checkpoints (latest and best marked), or print only the latest/best path.

    \b
    Example:
      swiftkit checkpoints --profile cpu-demo
      swiftkit checkpoints latest --profile cpu-demo
      swiftkit checkpoints best --output-dir output/4090d --json
    """
    import json as json_

    from swiftkit.runs import checkpoints as core

    if output_dir is None:
        if not profile_name:
            raise click.UsageError("give --profile NAME or --output-dir DIR (or set SWIFTKIT_PROFILE).")
        output_dir = Path(_load(profile_name, overrides).profile.output_dir)
    if which:
        path = core.resolve(output_dir, which)
        click.echo(json_.dumps({which: str(path)}) if as_json else str(path))
        return
    rows = core.table(core.scan(output_dir))
    if not rows:
        raise SwiftkitError(f"no runs in {output_dir}; train first with 'swiftkit train --profile P'.")
    if as_json:
        click.echo(json_.dumps(rows, indent=2))
        return
    _print_checkpoint_table(rows)


def _print_checkpoint_table(rows: list[dict[str, Any]]) -> None:
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("run", "step", "time", "loss", "eval loss", "complete", "merged", ""):
        table.add_column(column, justify="right" if column in ("step", "loss", "eval loss") else "left")

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.4g}"

    for row in rows:
        marks = " ".join(m for m in ("latest", "best") if row[m]) or row["note"]
        when = datetime.fromtimestamp(row["time"]).strftime("%Y-%m-%d %H:%M") if row["time"] else "-"
        table.add_row(
            row["run"],
            "-" if row["step"] is None else str(row["step"]),
            when,
            num(row["loss"]),
            num(row["eval_loss"]),
            "yes" if row["complete"] else "no",
            "yes" if row["merged"] else "no",
            marks,
        )
    Console(width=160).print(table)


# ---------------------------------------------------------------- report
@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path(path_type=Path))
@optional_profile("Report the newest run of this profile. Default: $SWIFTKIT_PROFILE.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a profile field.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def report(run: Optional[Path], profile_name: Optional[str], overrides: tuple[str, ...], as_json: bool) -> None:
    """Summarise a run and draw its loss curves (swiftkit-loss.png in the run folder).

    \b
    Example:
      swiftkit report --profile cpu-demo
      swiftkit report output/cpu-demo/v0-20261127-185536 --json
    """
    import json as json_

    from swiftkit.cli.display import summary_text
    from swiftkit.runs import report as core

    if run is None:
        if not profile_name:
            raise click.UsageError("give a RUN folder or --profile NAME (or set SWIFTKIT_PROFILE).")
        run = core.newest_run(_load(profile_name, overrides).profile.output_dir)
    summary, png = core.build(run)
    if as_json:
        click.echo(json_.dumps(core.to_json(summary, png), indent=2))
        return
    click.echo(summary_text(summary, profile_name))
    click.echo(f"Loss plot:    {png}")


# ---------------------------------------------------------------- validate / identity
@cli.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Force a format instead of detecting it per file.",
)
@click.option(
    "--template/--no-template",
    default=None,
    help="Treat files as templates ({{NAME}} allowed). Default: files named *.template.json[l].",
)
@click.option(
    "--profile",
    "-p",
    "profile_name",
    metavar="NAME|PATH",
    help="Lint as this profile trains: identity, min_records, languages, max_length in tokens.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def validate(
    files: tuple[Path, ...], fmt: Optional[str], template: Optional[bool], profile_name: Optional[str], as_json: bool
) -> None:
    """Check dataset files before any model loads: every problem as file:record:field: message.

    Exit 0 when there are no errors (warnings are shown apart), 1 otherwise.

    \b
    Example:
      swiftkit validate datasets/identity.json
      swiftkit validate --profile cpu-demo --json my_data.jsonl
    """
    import json as json_

    from swiftkit.data import validate as core

    settings = None
    if profile_name:
        from swiftkit.jobs import train as training

        settings = training.lint_settings(_load(profile_name, ()), "identity")
    report = core.validate_paths(files, core.Options(fmt=fmt, template=template, lint=settings))
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for problem in report.errors:
            click.echo(problem.line())
        if report.warnings:
            click.echo("warnings:")
            for problem in report.warnings:
                click.echo(f"  {problem.line()}")
        records = sum(f.records for f in report.files)
        errors = sum(f.error_count for f in report.files)
        warnings = sum(f.warning_count for f in report.files)
        shown = len(report.errors)
        more = f" ({errors - shown} more not shown)" if errors > shown else ""
        click.echo(
            f"{len(report.files)} file(s), {records} record(s): {errors} error(s){more}, {warnings} warning(s)",
            err=True,
        )
    sys.exit(0 if report.ok else 1)


@cli.group(context_settings=CONTEXT)
def identity() -> None:
    """Fill {{NAME}}/{{AUTHOR}} identity templates.

    \b
    Example:
      swiftkit identity render datasets/identity.template.json --name Nova --author "Lab X" -o my_identity.jsonl
    """


@identity.command("render", context_settings=CONTEXT)
@click.argument("template", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The model's name (English form).")
@click.option("--author", required=True, help="Who made it (English form).")
@click.option("--name-zh", help="Chinese form of the name (default: --name).")
@click.option("--author-zh", help="Chinese form of the author (default: --author).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write (.json or .jsonl).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def identity_render(
    template: Path, name: str, author: str, name_zh: Optional[str], author_zh: Optional[str], output: Path, force: bool
) -> None:
    """Write TEMPLATE with the placeholders filled (atomically; never overwrites without --force).

    \b
    Example:
      swiftkit identity render datasets/identity.template.json --name Nova --author "Lab X" -o nova.json
    """
    from swiftkit.data import identity as core

    count = core.render_file(
        template, output, name=name, author=author, name_zh=name_zh, author_zh=author_zh, force=force
    )
    click.echo(f"Wrote {count} records to {output}")


def main(argv: Optional[list[str]] = None) -> None:
    cli.main(args=argv, prog_name="swiftkit")
