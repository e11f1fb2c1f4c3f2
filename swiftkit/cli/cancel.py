"""`swiftkit cancel`: stop a run submitted with `train --slurm` (scancel), and record it as interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from swiftkit.cli.app import CONTEXT, cli, optional_profile, set_option
from swiftkit.cli.status import output_dir_of, output_dir_option, state_line


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path(path_type=Path))
@optional_profile("Cancel the running SLURM job of this profile's output_dir. Default: $SWIFTKIT_PROFILE.")
@output_dir_option
@set_option
def cancel(
    run: Optional[Path], profile_name: Optional[str], output_dir: Optional[Path], overrides: tuple[str, ...]
) -> None:
    """Cancel a run's SLURM job (scancel) and wait until SLURM has let it go; the run ends 'interrupted' with its
    last complete checkpoint kept (continue with 'swiftkit train --slurm --resume').

    \b
    Example:
      swiftkit cancel --profile my-cluster.yaml
      swiftkit cancel output/h100/v3-20261203-101500
    """
    from swiftkit.errors import SwiftkitError
    from swiftkit.jobs import slurm
    from swiftkit.runs.state import RUNNING, reconcile, states

    if run is None:
        folder = output_dir_of(profile_name, output_dir, overrides)
        running = [s for s in states(folder) if s.status == RUNNING and s.slurm_job]
        if not running:
            raise SwiftkitError(f"no SLURM run is running in {folder} ('swiftkit status' lists its runs).")
        run = Path(running[-1].run_dir)
    job = slurm.cancel(run)
    click.echo(f"Cancelled SLURM job {job}.", err=True)
    click.echo(state_line(reconcile(run)))
