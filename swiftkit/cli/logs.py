"""`swiftkit logs`: a run's ms-swift log, or following a run (-f) with the progress display until it ends."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import CONTEXT, cli, optional_profile, set_option
from swiftkit.cli.status import output_dir_of, output_dir_option, state_line

if TYPE_CHECKING:
    from swiftkit.runs.state import RunState

EXIT = {"ok": 0, "interrupted": 130}


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path(path_type=Path))
@optional_profile("Show the newest run of this profile. Default: $SWIFTKIT_PROFILE, else ./swiftkit.yaml.")
@output_dir_option
@set_option
@click.option("--follow", "-f", is_flag=True, help="Follow the run with the progress display until it ends.")
@click.option("--verbose", "-v", is_flag=True, help="With -f: show ms-swift's own output instead of a progress bar.")
@click.option("--lines", "-n", default=20, show_default=True, help="Lines of ms-swift's log to show (without -f).")
def logs(
    run: Optional[Path],
    profile_name: Optional[str],
    output_dir: Optional[Path],
    overrides: tuple[str, ...],
    follow: bool,
    verbose: bool,
    lines: int,
) -> None:
    """Show the end of a run's ms-swift log and its state, or follow the run (-f) as `train` shows it: the
    progress bar, then the summary. Ctrl-C stops following, not the run. Exit code: 0 when the run ended ok,
    1 when it failed, 130 when it was interrupted.

    \b
    Example:
      swiftkit logs -f --profile cpu-demo
      swiftkit logs output/cpu-demo/v0-20261127-185536 -n 50
    """
    from swiftkit.layout import TRAIN_LOG
    from swiftkit.runs import progress
    from swiftkit.runs.report import newest_run
    from swiftkit.runs.state import reconcile

    run_dir = run if run is not None else newest_run(output_dir_of(profile_name, output_dir, overrides))
    log = run_dir / TRAIN_LOG
    if not follow:
        text = progress.tail(log, lines)
        if text:
            click.echo(text)
        click.echo(state_line(reconcile(run_dir)))
        return
    try:
        final = follow_run(run_dir, verbose)
    except KeyboardInterrupt:
        click.echo("\nStopped following; the run goes on ('swiftkit status' shows it).", err=True)
        sys.exit(130)
    print_final(final)
    sys.exit(EXIT.get(final.status, 1))


def follow_run(run_dir: Path, verbose: bool, poll: float = 1.0) -> RunState:
    """The progress display (or ms-swift's own output) until the run ends; its final state."""
    from swiftkit.cli.display import TrainDisplay
    from swiftkit.layout import TRAIN_LOG
    from swiftkit.swift.runner import Echo

    if verbose:
        echo = Echo(run_dir / TRAIN_LOG, sys.stdout, from_start=True)
        try:
            return _until_done(run_dir, poll)
        finally:
            echo.stop()
    with TrainDisplay(run_dir):
        return _until_done(run_dir, poll)


def _until_done(run_dir: Path, poll: float) -> RunState:
    """Wait while a process of the run lives (or SLURM still has its job); then its reconciled state."""
    from swiftkit.runs import manifest
    from swiftkit.runs.state import RUNNING, live_pid, reconcile

    while True:
        record = manifest.read(run_dir) or {}
        if record.get("slurm_job"):  # asked of SLURM, at most every SLURM_POLL seconds
            state = reconcile(run_dir)
            if state.status != RUNNING:
                return state
            time.sleep(max(poll, SLURM_POLL))
            continue
        if record.get("status") != RUNNING or live_pid(record, run_dir) is None:
            return reconcile(run_dir)
        time.sleep(poll)


SLURM_POLL = 3.0


def print_final(final: RunState) -> None:
    """The run's summary and its state line (with SLURM's reason when SLURM ended it)."""
    from swiftkit.cli.display import summary_text
    from swiftkit.errors import SwiftkitError
    from swiftkit.runs.report import summary_of

    try:
        click.echo(summary_text(summary_of(Path(final.run_dir)), []))
    except SwiftkitError:
        pass  # nothing logged yet: the state line says what there is
    click.echo(state_line(final))
