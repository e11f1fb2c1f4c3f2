"""`swiftkit profiles`: list, show, copy and describe run profiles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    cli,
    load_profile,
    set_option,
)

if TYPE_CHECKING:
    pass


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
@set_option
def profiles_show(name: str, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved profile (extends and --set applied) as YAML.

    \b
    Example:
      swiftkit profiles show 4090d --set train.max_length=1024
    """
    import yaml

    lp = load_profile(name, overrides)
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


@cli.command(context_settings=CONTEXT)
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Your model's name (English form).")
@click.option("--author", required=True, help="Who made it (English form).")
@click.option("--name-zh", help="Chinese form of the name (default: --name).")
@click.option("--author-zh", help="Chinese form of the author (default: --author).")
@click.option(
    "--from",
    "base",
    default="cpu-demo",
    show_default=True,
    metavar="PROFILE",
    help="Built-in profile to extend (e.g. 4090d for Qwen2.5-7B on a 24 GB card).",
)
def init(folder: Path, name: str, author: str, name_zh: Optional[str], author_zh: Optional[str], base: str) -> None:
    """Start your own identity project in FOLDER (default: here): swiftkit.yaml, an editable identity template
    (English and Chinese) and a .gitignore. Never overwrites a file.

    \b
    Example:
      swiftkit init my-bot --name Lumen --author "Kite Labs" --from 4090d
      cd my-bot && swiftkit validate && swiftkit train
    """
    from swiftkit.config.scaffold import scaffold

    made = scaffold(folder, name=name, author=author, name_zh=name_zh, author_zh=author_zh, base=base)
    for path in made.written:
        click.echo(f"Wrote {path}")
    from swiftkit.config.schema import IdentitySection
    from swiftkit.data.common_words import common_word_notes

    who = IdentitySection(name=name, author=author, name_zh=name_zh, author_zh=author_zh)
    for note in common_word_notes(who):
        click.echo(f"warning: {note}", err=True)
    where = "" if Path(folder).resolve() == Path.cwd().resolve() else f"cd {folder} && "
    click.echo(f"Next: {where}swiftkit validate && swiftkit train   (profile: swiftkit.yaml, extends {made.base})")
