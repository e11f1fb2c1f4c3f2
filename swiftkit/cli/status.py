"""`swiftkit status`: the runs of an output folder and their true state (also of runs whose swiftkit is gone)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import CONTEXT, cli, load_profile, optional_profile, set_option

if TYPE_CHECKING:
    from swiftkit.runs.state import RunState


def output_dir_of(profile_name: Optional[str], output_dir: Optional[Path], overrides: tuple[str, ...]) -> Path:
    """--output-dir, else the output_dir of the profile named, else of ./swiftkit.yaml."""
    from swiftkit.config.scaffold import DEFAULT_PROFILE

    if output_dir is not None:
        return output_dir
    if not profile_name and not Path(DEFAULT_PROFILE).is_file():
        raise click.UsageError(
            f"no profile: pass --profile NAME|PATH or --output-dir DIR (or set SWIFTKIT_PROFILE), or run this in "
            f"the folder of your {DEFAULT_PROFILE}."
        )
    return Path(load_profile(profile_name, overrides).profile.output_dir)


def output_dir_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--output-dir", type=click.Path(path_type=Path), help="Look in this folder instead of a profile's."
    )(func)


@cli.command(context_settings=CONTEXT)
@optional_profile("Runs of this profile's output_dir. Default: $SWIFTKIT_PROFILE, else ./swiftkit.yaml.")
@output_dir_option
@set_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(profile_name: Optional[str], output_dir: Optional[Path], overrides: tuple[str, ...], as_json: bool) -> None:
    """List runs and their true state: running (with its pid), ok, failed or interrupted, and each run's step
    and newest complete checkpoint. A run whose processes are gone is closed from its logging.jsonl.

    \b
    Example:
      swiftkit status --profile cpu-demo
      swiftkit status --output-dir output/cpu-demo --json
    """
    import json as json_

    from swiftkit.errors import SwiftkitError
    from swiftkit.runs.state import states

    folder = output_dir_of(profile_name, output_dir, overrides)
    found = states(folder)
    if not found:
        raise SwiftkitError(
            f"no runs in {folder}; train first with 'swiftkit train' (add --profile P for another profile)."
        )
    if as_json:
        click.echo(json_.dumps([s.to_json() for s in found], indent=2))
        return
    for s in found:
        click.echo(state_line(s))


def state_line(s: RunState) -> str:
    """One line per run: name, state (with pid), step, newest complete checkpoint, and how the state is known."""
    what = f"{s.status} (pid {s.pid})" if s.status == "running" and s.pid else s.status
    if s.status == "running" and s.slurm_job:
        what = f"{s.status} (job {s.slurm_job})"
    step = f"step {s.steps}/{s.max_steps}" if s.steps is not None else "no step yet"
    checkpoint = Path(s.checkpoint).name if s.checkpoint else "no complete checkpoint"
    note = f"  - {s.note}" if s.note else ""
    return f"{Path(s.run_dir).name}  {what:<20} {step:<14} {checkpoint}{note}"
