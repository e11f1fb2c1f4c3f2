"""`swiftkit deploy`: serve the newest adapter (or the merged model) behind an OpenAI-compatible API."""

from __future__ import annotations

import sys
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
from swiftkit.errors import SwiftkitError

if TYPE_CHECKING:  # annotations only: the fast paths import none of these at run time
    from swiftkit.data.resolve import ResolvedModel
    from swiftkit.serve.plan import DeployPlan


@cli.command(context_settings=CONTEXT)
@profile_options
@checkpoint_option("Adapter to serve.")
@click.option("--merged", is_flag=True, help="Serve the merged model made by 'swiftkit export'.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; any other than loopback needs an API key.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@api_key_options
@click.option(
    "--served-model-name", metavar="NAME", help="Model name clients send. Default: the identity's name as a slug."
)
@click.option(
    "--timeout", type=click.FloatRange(1), default=900, show_default=True, help="Seconds to wait for it to answer."
)
@click.option(
    "--max-request-mb",
    type=click.FloatRange(0.001, 1024),
    help="Largest request body the server reads, in MB (larger: 413 before it is read). Default: 4.",
)
@click.option("--verbose", is_flag=True, help="Show ms-swift's output and log every request (always in the log file).")
@click.option("--dry-run", is_flag=True, help="Print the command and stop.")
def deploy(
    profile_name: str,
    overrides: tuple[str, ...],
    checkpoint: str,
    merged: bool,
    host: str,
    port: int,
    api_key_literal: Optional[str],
    api_key_file: Optional[str],
    ask_api_key: bool,
    served_model_name: Optional[str],
    timeout: float,
    max_request_mb: Optional[float],
    verbose: bool,
    dry_run: bool,
) -> None:
    """Serve the trained model over an OpenAI-compatible API (`swift deploy`), safe by default.

    Same model, template, system prompt and generation settings as 'swiftkit infer'. Listens on 127.0.0.1 unless
    --host says otherwise (then an API key is required: clients must send 'Authorization: Bearer KEY', else 401).
    The key comes from $SWIFTKIT_API_KEY, --api-key-file FILE or --ask-api-key, never the command line.
    Waits until the server answers, prints the URL, the model name and examples; Ctrl-C stops it (exit 130).

    \b
    Example:
      swiftkit deploy --profile cpu-demo
      SWIFTKIT_API_KEY=secret swiftkit deploy --profile 4090d --host 0.0.0.0 --port 8000
    """
    from swiftkit.runs.checkpoints import resolve_model
    from swiftkit.serve.plan import plan_deploy, served_name
    from swiftkit.swift.render import Endpoint

    api_key = api_key_from(api_key_literal, api_key_file, ask_api_key)
    lp = load_profile(profile_name, overrides)
    flavor = swift_flavor()
    target = resolve_model(lp, checkpoint, merged=merged)
    limit = None if max_request_mb is None else int(max_request_mb * 1024 * 1024)
    endpoint = Endpoint(host, port, served_model_name or served_name(target), api_key or None, verbose, limit)
    plan = plan_deploy(target, flavor, endpoint, check=not dry_run)
    if dry_run:
        click.echo(plan.command.display())
        return
    require_gpu(target.loaded)
    _serve(target, plan, timeout, verbose)


def _serve(target: ResolvedModel, plan: DeployPlan, timeout: float, verbose: bool) -> None:
    from swiftkit.model.locate import ensure_model
    from swiftkit.serve.plan import examples
    from swiftkit.serve.server import Server, sigterm_as_interrupt

    ep = plan.endpoint
    click.echo(f"Serving {plan.checkpoint} as {ep.served_model_name!r}; ms-swift's log: {plan.log_path}", err=True)
    ensure_model(target.profile)

    def progress(text: str, seconds: float) -> None:
        click.echo(f"  {seconds:5.0f} s  {text}", err=True)

    with sigterm_as_interrupt():
        server = Server(plan, echo=sys.stderr if verbose else None, on_stage=None if verbose else progress)
        try:
            server.start()
            server.wait_ready(timeout)
            server.check_auth()
            click.echo(f"Ready after {server.elapsed():.0f} s: {ep.served_model_name} at {plan.url}")
            click.echo(
                "API key: required (Authorization: Bearer $SWIFTKIT_API_KEY)"
                if ep.api_key
                else "API key: none (listening on loopback only)"
            )
            click.echo(examples(plan.url, ep.served_model_name, ep.api_key))
            click.echo("Ctrl-C stops the server.")
            code = server.wait()
            raise SwiftkitError(
                f"the server stopped by itself (exit {code}):\n{server.log_tail(15)}\nFull log: {plan.log_path}"
            )
        finally:
            server.stop()
