"""`swiftkit validate` and `swiftkit identity`: datasets checked before any model loads, templates filled."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    cli,
    load_profile,
)
from swiftkit.data.formats import FORMATS

if TYPE_CHECKING:
    pass


@cli.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
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
    help="Lint as this profile trains: identity, min_records, languages, max_length in tokens. "
    "With no FILES: check the profile's own datasets (default profile: ./swiftkit.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def validate(
    files: tuple[Path, ...], fmt: Optional[str], template: Optional[bool], profile_name: Optional[str], as_json: bool
) -> None:
    """Check dataset files before any model loads: every problem as file:record:field: message.

    Exit 0 when there are no errors (warnings are shown apart), 1 otherwise.

    \b
    Example:
      swiftkit validate my_data.jsonl
      swiftkit validate --profile cpu-demo --json my_data.jsonl
      swiftkit validate                # the datasets of ./swiftkit.yaml, as training checks them
    """
    import json as json_

    from swiftkit.data import validate as core
    from swiftkit.jobs import train as training

    if not files:  # the profile's own data, exactly as `swiftkit train` checks it
        lp = load_profile(profile_name, ())
        report = training.check_profile_data(lp)
        if lp.profile.identity is not None and not as_json:
            from swiftkit.data.common_words import common_word_notes

            for note in common_word_notes(lp.profile.identity):
                click.echo(f"warning: {note}", err=True)
    else:
        settings = training.lint_settings(load_profile(profile_name, ()).profile, "identity") if profile_name else None
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
      swiftkit identity render --name Nova --author "Lab X" -o my_identity.jsonl
    """


@identity.command("render", context_settings=CONTEXT)
@click.argument("template", required=False, type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The model's name (English form).")
@click.option("--author", required=True, help="Who made it (English form).")
@click.option("--name-zh", help="Chinese form of the name (default: --name).")
@click.option("--author-zh", help="Chinese form of the author (default: --author).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write (.json or .jsonl).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def identity_render(
    template: Optional[Path],
    name: str,
    author: str,
    name_zh: Optional[str],
    author_zh: Optional[str],
    output: Path,
    force: bool,
) -> None:
    """Write TEMPLATE (default: swiftkit's own English + Chinese template) with the placeholders filled
    (atomically; never overwrites without --force).

    \b
    Example:
      swiftkit identity render --name Nova --author "Lab X" -o nova.json
      swiftkit identity render my.template.jsonl --name Nova --author "Lab X" -o nova.jsonl
    """
    from swiftkit.data import identity as core

    if template is None:
        from swiftkit import resources

        template = resources.path("identity/identity.template.json")
    count = core.render_file(
        template, output, name=name, author=author, name_zh=name_zh, author_zh=author_zh, force=force
    )
    click.echo(f"Wrote {count} records to {output}")
