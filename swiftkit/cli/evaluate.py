"""`swiftkit replay` and `swiftkit eval`: the base model's own answers, and scoring an adapter against it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from swiftkit.cli.app import (
    CONTEXT,
    api_key_from,
    api_key_options,
    checkpoint_option,
    cli,
    load_profile,
    profile_options,
    require_gpu,
    swift_flavor,
)
from swiftkit.layout import EVAL_REPORT

if TYPE_CHECKING:
    from swiftkit.config.profiles import LoadedProfile


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

    lp = load_profile(profile_name, overrides)
    if prompts_file is None:
        entry = next((d for d in lp.profile.data.datasets if d.replay), None)
        prompts_file = Path(entry.replay) if entry and entry.replay else shipped_prompts("replay.jsonl")
    require_gpu(lp)
    path, made = ensure_replay(
        lp,
        swift_flavor(),
        prompts_file,
        force=force,
        on_progress=lambda done, total: click.echo(f"> self-replay: {done}/{total} answers", err=True),
    )
    click.echo(f"{'Wrote' if made else 'Cached'}: {path}")


@cli.command("eval", context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to score (with --endpoint: whose local report to compare with).")
@click.option("--probes", type=click.Path(path_type=Path), help="Identity probes (.jsonl with prompt/asks).")
@click.option("--general", type=click.Path(path_type=Path), help="General prompts (.jsonl with prompt).")
@click.option(
    "--endpoint", metavar="URL", help="Score a served model through its OpenAI API, e.g. http://127.0.0.1:8000/v1."
)
@api_key_options
@click.option("--model", metavar="NAME", help="The served model to ask (default: the first one it lists).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report (it is always saved in the checkpoint).")
def eval_(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    probes: Optional[Path],
    general: Optional[Path],
    endpoint: Optional[str],
    api_key_literal: Optional[str],
    api_key_file: Optional[str],
    ask_api_key: bool,
    model: Optional[str],
    as_json: bool,
) -> None:
    """Did it work? Identity pass rate, pollution rate, degenerate answers and changed answers, base vs adapter.

    With --endpoint the same prompts go to a served model ('swiftkit deploy', or any OpenAI-compatible server),
    scored the same way and compared answer by answer with the local report, when the checkpoint has one.

    \b
    Example:
      swiftkit eval --profile cpu-demo
      swiftkit eval --profile cpu-demo --checkpoint best --json
      swiftkit eval --profile cpu-demo --endpoint http://127.0.0.1:8000/v1
    """
    import json as json_

    from swiftkit.data.prompts import shipped_prompts

    lp = load_profile(profile_name, overrides)
    probes = probes or shipped_prompts("identity_probes.jsonl")
    general = general or shipped_prompts("general.jsonl")
    if endpoint is not None or api_key_literal is not None:  # a key in argv is refused, endpoint or not
        api_key = api_key_from(api_key_literal, api_key_file, ask_api_key)
    if endpoint is not None:
        _eval_endpoint(lp, checkpoint, probes, general, endpoint, api_key, model, as_json)
        return
    from swiftkit.eval import score
    from swiftkit.eval.local import run_eval
    from swiftkit.runs.checkpoints import checkpoint_for

    ck = checkpoint_for(lp, checkpoint)
    require_gpu(lp)
    report = run_eval(
        lp,
        swift_flavor(),
        ck,
        probes,
        general,
        on_progress=lambda who, done, total: click.echo(f"> eval: {who} {done}/{total} answers", err=True),
    )
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"checkpoint: {ck}")
    click.echo(score.table(report))
    click.echo(f"report: {ck / EVAL_REPORT}")


def _eval_endpoint(
    lp: LoadedProfile,
    checkpoint: str,
    probes: Path,
    general: Path,
    endpoint: str,
    api_key: Optional[str],
    model: Optional[str],
    as_json: bool,
) -> None:
    import json as json_

    from swiftkit.errors import SwiftkitError
    from swiftkit.eval.endpoint import run_endpoint_eval, table
    from swiftkit.runs import checkpoints

    try:
        local: Optional[Path] = checkpoints.pick(lp.profile.output_dir, checkpoint) / EVAL_REPORT
    except SwiftkitError:
        local = None  # no trained checkpoint here (the model may be served from another host)
    report = run_endpoint_eval(lp, endpoint, api_key, model, probes, general, local)
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"endpoint: {report.url}  model: {report.model}")
    click.echo(table(report))
    if report.local is None:
        click.echo(f"(no local report to compare with; 'swiftkit eval --profile {lp.name}' makes one)")
