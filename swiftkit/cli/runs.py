"""`swiftkit checkpoints` and `swiftkit report`: what a training output folder holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    cli,
    load_profile,
    optional_profile,
    set_option,
)
from swiftkit.errors import SwiftkitError

if TYPE_CHECKING:
    pass


@cli.command(context_settings=CONTEXT)
@click.argument("which", required=False, type=click.Choice(["latest", "best"]))
@optional_profile("Look in this profile's output_dir. Default: $SWIFTKIT_PROFILE.")
@click.option("--output-dir", type=click.Path(path_type=Path), help="Look in this folder instead of a profile's.")
@set_option
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
        output_dir = Path(load_profile(profile_name, overrides).profile.output_dir)
    if which:
        path = core.pick(output_dir, which)
        click.echo(json_.dumps({which: str(path)}) if as_json else str(path))
        return
    from swiftkit.runs.state import reconcile

    runs = core.scan(output_dir)
    rows = core.table(runs, {str(r.path): reconcile(r.path).status for r in runs})
    if not rows:
        raise SwiftkitError(
            f"no runs in {output_dir}; "
            "train first with 'swiftkit train' (-p P for another profile than ./swiftkit.yaml)."
        )
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
        if row["run_status"] == "running" and row["step"] is not None:
            marks = f"{marks} (run still training)".strip()
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


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path(path_type=Path))
@optional_profile("Report the newest run of this profile. Default: $SWIFTKIT_PROFILE.")
@set_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def report(run: Optional[Path], profile_name: Optional[str], overrides: tuple[str, ...], as_json: bool) -> None:
    """Summarise a run and draw its loss curves (swiftkit-loss.png in the run folder).

    \b
    Example:
      swiftkit report --profile cpu-demo
      swiftkit report output/cpu-demo/v0-20261127-185536 --json
    """
    import json as json_

    from swiftkit.cli.display import next_commands, summary_text
    from swiftkit.runs import report as core

    if run is None:
        run = core.newest_run(load_profile(profile_name, overrides).profile.output_dir)
    summary, png = core.build(run)
    if as_json:
        click.echo(json_.dumps(core.to_json(summary, png), indent=2))
        return
    click.echo(summary_text(summary, next_commands(profile_name, in_checkout=False)))
    click.echo(f"Loss plot:    {png}")
