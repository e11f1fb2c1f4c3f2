"""The Click group, its error boundary and the options every command shares."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from swiftkit import __version__
from swiftkit.errors import SwiftkitError, UsageError

if TYPE_CHECKING:  # annotations only: the fast paths import none of these at run time
    from swiftkit.config.profiles import LoadedProfile
    from swiftkit.swift.version import SwiftFlavor

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SwiftkitGroup(click.Group):
    """Turns expected errors into 'Error: …' + exit 1 (usage errors: exit 2), and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
        except SwiftkitError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def set_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--set KEY=VALUE, repeatable."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a profile field (dotted key), e.g. --set train.learning_rate=2e-4. Repeatable.",
    )(func)


def profile_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = set_option(func)
    func = click.option(
        "--profile",
        "-p",
        "profile_name",
        envvar="SWIFTKIT_PROFILE",
        metavar="NAME|PATH",
        help="Built-in profile name (see 'swiftkit profiles list') or a .yaml file. "
        "Default: $SWIFTKIT_PROFILE, else ./swiftkit.yaml (made by 'swiftkit init').",
    )(func)
    return func


def api_key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--api-key-file FILE and --ask-api-key (default $SWIFTKIT_API_KEY); --api-key KEY is refused with the ways."""
    func = click.option("--ask-api-key", is_flag=True, help="Type the API key at a hidden prompt (on a terminal).")(
        func
    )
    func = click.option(
        "--api-key-file",
        metavar="FILE",
        help="Read the API key from FILE (mode 0600 or 0400). Default: $SWIFTKIT_API_KEY. Never give a key in argv.",
    )(func)
    return click.option("--api-key", "api_key_literal", metavar="KEY", hidden=True)(func)  # refused: ps shows argv


def api_key_from(literal: Optional[str], key_file: Optional[str], ask: bool) -> Optional[str]:
    """The API key from the file, the hidden prompt or $SWIFTKIT_API_KEY; a key on the command line is refused."""
    import os

    from swiftkit.serve.keys import WAYS, api_key

    prompt = None
    if ask and literal is None:
        if not sys.stdin.isatty():
            raise SwiftkitError(f"--ask-api-key needs a terminal to ask on; {WAYS.split(', or')[0]} instead.")

        def prompt() -> str:
            return str(click.prompt("API key", hide_input=True, err=True))

    return api_key(literal, key_file, prompt, os.environ)


def checkpoint_option(
    help_text: str, default: Optional[str] = "latest"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--checkpoint latest|best|PATH."""
    return click.option(
        "--checkpoint", default=default, show_default=default is not None, metavar="latest|best|PATH", help=help_text
    )


def optional_profile(help_text: str) -> Decorator:
    """--profile for commands that can also work without one (they take a folder instead)."""
    return click.option(
        "--profile", "-p", "profile_name", envvar="SWIFTKIT_PROFILE", metavar="NAME|PATH", help=help_text
    )


def profile_or_default(profile_name: Optional[str]) -> str:
    """The profile named, else ./swiftkit.yaml; a usage error naming both ways when there is neither."""
    if profile_name:
        return profile_name
    from swiftkit.config.scaffold import DEFAULT_PROFILE

    if Path(DEFAULT_PROFILE).is_file():
        return str(Path(DEFAULT_PROFILE))
    raise click.UsageError(
        "no profile: pass --profile NAME|PATH (or set SWIFTKIT_PROFILE), or run 'swiftkit init' to make "
        f"{DEFAULT_PROFILE} in this folder."
    )


def require_gpu(lp: LoadedProfile) -> None:
    """Before a GPU profile starts ms-swift: refuse when its card is missing, warn when it is smaller."""
    from swiftkit.sizing.gpus import check_gpu

    note = check_gpu(lp.profile, lp.name)
    if note:
        click.echo(f"warning: {note}", err=True)


def load_profile(profile_name: Optional[str], overrides: tuple[str, ...]) -> LoadedProfile:
    from swiftkit.config import profiles

    return profiles.load(profile_or_default(profile_name), overrides)


def swift_flavor(planning: bool = False) -> SwiftFlavor:
    """The installed ms-swift's flag spellings. ``planning`` (plan, --dry-run): without ms-swift, render for the
    newest supported version and say so on stderr."""
    from swiftkit.swift.version import assumed_note, installed_flavor, planning_flavor

    if not planning:
        return installed_flavor()
    flavor = planning_flavor()
    note = assumed_note(flavor)
    if note:
        click.echo(f"# {note}", err=True)
    return flavor


@click.group(cls=SwiftkitGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="swiftkit")
def cli() -> None:
    """Identity fine-tuning with ms-swift, made reliable.

    \b
    Example:
      swiftkit init my-bot --name Lumen --author "Kite Labs" && cd my-bot
      swiftkit validate && swiftkit train && swiftkit infer --prompt "Who are you?"
      swiftkit plan sft --profile 4090d
    """


def main(argv: Optional[list[str]] = None) -> None:
    cli.main(args=argv, prog_name="swiftkit")
