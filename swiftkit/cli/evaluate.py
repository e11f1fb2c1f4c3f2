"""`swiftkit replay` and `swiftkit eval`: the base model's own answers, and scoring an adapter against it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

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
    from swiftkit.config.schema import Profile
    from swiftkit.data.resolve import ResolvedModel
    from swiftkit.eval.report import Answers
    from swiftkit.eval.score import EvalReport, Side


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
    from swiftkit.data.resolve import assemble_model
    from swiftkit.jobs.replay import ensure_replay

    lp = load_profile(profile_name, overrides)
    if prompts_file is None:
        entry = next((d for d in lp.profile.data.datasets if d.replay), None)
        prompts_file = Path(entry.replay) if entry and entry.replay else shipped_prompts("replay.jsonl")
    base = assemble_model(lp, None)  # the base model alone: resolved once, here
    require_gpu(base.loaded)
    path, made = ensure_replay(
        base,
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
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    metavar="N",
    help="With --endpoint: requests in flight at a time. Default: twice the profile's infer.max_batch_size, so "
    "'swiftkit deploy' (which answers up to that many as one batch) always has a full batch waiting.",
)
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
    concurrency: Optional[int],
    as_json: bool,
) -> None:
    """Did it work? Identity pass rate, pollution rate, degenerate answers and changed answers, base vs adapter,
    against the profile's eval targets; the answers with a problem are listed. The report is saved as JSON and
    Markdown (every prompt, answer and verdict) in the checkpoint.

    With --endpoint the same prompts go to a served model ('swiftkit deploy', or any OpenAI-compatible server),
    several at a time, scored the same way and compared answer by answer with the local report, when the
    checkpoint has one; its report is saved as swiftkit-eval-endpoint.json/.md (in the checkpoint, else in the
    profile's output_dir).

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
        jobs = concurrency or 2 * lp.profile.infer.max_batch_size
        _eval_endpoint(lp, checkpoint, probes, general, endpoint, api_key, model, jobs, as_json)
        return
    from swiftkit.runs.checkpoints import resolve_model

    target = resolve_model(lp, checkpoint)
    require_gpu(target.loaded)
    report = local_eval(target, probes, general)
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"checkpoint: {target.checkpoint}")
    show_local(target, report)


def local_eval(target: ResolvedModel, probes: Path, general: Path) -> EvalReport:
    """The local eval with its progress lines on stderr."""
    from swiftkit.eval.local import run_eval

    click.echo(
        f"> eval: the base model (its answers cached after the first time) and {target.adapter.name} answer the "
        "identity probes and general prompts; ms-swift loads each model first",
        err=True,
    )
    return run_eval(
        target,
        swift_flavor(),
        probes,
        general,
        on_progress=lambda who, done, total: click.echo(f"> eval: {who} {done}/{total} answers", err=True),
    )


def show_local(target: ResolvedModel, report: EvalReport) -> bool:
    """The score table, the answers with a problem, the verdict against the profile's targets and where the
    report is; True when every target is met."""
    from swiftkit.eval import report as verdicts
    from swiftkit.eval import score

    ck = target.adapter
    click.echo(score.table(report))
    ok = _problems_and_verdict(target.profile, report.rows, verdicts.LOCAL, report.adapter)
    click.echo(f"report: {ck / EVAL_REPORT} (and {(ck / EVAL_REPORT).with_suffix('.md').name})")
    return ok


def _problems_and_verdict(profile: Profile, rows: list[dict[str, Any]], keys: Answers, side: Side) -> bool:
    from swiftkit.eval import report as verdicts

    lines = verdicts.worst_lines(rows, keys)
    if lines:
        click.echo(f"answers with a problem ({len(verdicts.worst(rows, keys))}):")
        for line in lines:
            click.echo(line)
    checks = verdicts.targets(side, profile.eval)
    ok = all(t.ok for t in checks)
    click.echo("verdict against the profile's eval targets:")
    for t in checks:
        click.echo(f"  {t.line()}")
    if ok:
        click.echo("  => PASS: the identity took")
    else:
        click.echo(
            "  => FAIL: see the answers above and the report. A low identity rate wants more training "
            "(train.num_train_epochs); a high pollution rate more general data (a replay entry's ratio); "
            "the targets are the profile's eval: section."
        )
    return ok


def _eval_endpoint(
    lp: LoadedProfile,
    checkpoint: str,
    probes: Path,
    general: Path,
    endpoint: str,
    api_key: Optional[str],
    model: Optional[str],
    concurrency: int,
    as_json: bool,
) -> None:
    import json as json_

    from swiftkit.config.hints import command
    from swiftkit.errors import SwiftkitError
    from swiftkit.eval import endpoint as served
    from swiftkit.eval import report as verdicts
    from swiftkit.runs import checkpoints

    try:
        ck: Optional[Path] = checkpoints.pick(lp.profile.output_dir, checkpoint)
    except SwiftkitError:
        ck = None  # no trained checkpoint here (the model may be served from another host)
    report = served.run_endpoint_eval(
        lp,
        endpoint,
        api_key,
        model,
        probes,
        general,
        ck / EVAL_REPORT if ck is not None else None,
        concurrency=concurrency,
        on_progress=_every(
            concurrency, lambda done, total: click.echo(f"> eval: served model {done}/{total} answers", err=True)
        ),
        report_dir=ck if ck is not None else Path(lp.profile.output_dir),
    )
    if as_json:
        click.echo(json_.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"endpoint: {report.url}  model: {report.model}  ({report.seconds:.1f} s, {concurrency} at a time)")
    click.echo(served.table(report))
    _problems_and_verdict(lp.profile, report.rows, verdicts.SERVED, report.served)
    if report.saved is not None:
        click.echo(f"report: {report.saved} (and {report.saved.with_suffix('.md').name})")
    if report.local is None:
        click.echo(f"(no local report to compare with; '{command(lp, 'eval')}' makes one)")


def _every(step: int, hear: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """Pass on every ``step``-th count (and the last), so a long list does not print a line per answer."""

    def on_progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            hear(done, total)

    return on_progress
