"""What `swiftkit deploy` will run: the served name, the checks that refuse unsafe or impossible setups, the argv,
and the copy-paste examples printed once the server answers."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.data.resolve import ResolvedModel
from swiftkit.layout import DEPLOY_LOG
from swiftkit.serve.address import base_url, check_exposure, check_port
from swiftkit.swift.render import Command, Endpoint, render_deploy
from swiftkit.swift.version import SwiftFlavor

NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def served_name(target: ResolvedModel) -> str:
    """The model name clients send: the identity's name as a slug ("Swift-Robot" -> "swift-robot"), else the
    profile's name."""
    ident = target.profile.identity
    source = ident.name if ident is not None else target.name
    slug = NAME_CHARS.sub("-", source.strip().lower()).strip("-.")
    return slug or NAME_CHARS.sub("-", target.name.lower()).strip("-.") or "model"


@dataclass(frozen=True)
class DeployPlan:
    command: Command
    endpoint: Endpoint
    checkpoint: Optional[Path]
    log_path: Path

    @property
    def url(self) -> str:
        return base_url(self.endpoint.host, self.endpoint.port)


def plan_deploy(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    endpoint: Endpoint,
    log_dir: Optional[Path] = None,
    check: bool = True,
) -> DeployPlan:
    """The command for the resolved model (an adapter, a merged folder, or the base model alone).

    Refuses a non-loopback host without an API key, and (with ``check``) a port that is taken."""
    check_exposure(endpoint.host, endpoint.api_key)
    command = render_deploy(target, flavor, endpoint)
    if check:
        check_port(endpoint.host, endpoint.port)
    checkpoint = target.checkpoint
    folder = log_dir or (checkpoint.parent if checkpoint is not None else Path(target.profile.output_dir))
    return DeployPlan(command, endpoint, checkpoint, folder / DEPLOY_LOG.format(port=endpoint.port))


def examples(url: str, model: str, api_key: Optional[str]) -> str:
    """A ready-to-paste curl line and Python openai snippet (the key shown as $SWIFTKIT_API_KEY, never printed)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Who are you?"}]}, ensure_ascii=False)
    auth = ' -H "Authorization: Bearer $SWIFTKIT_API_KEY"' if api_key else ""
    key = 'os.environ["SWIFTKIT_API_KEY"]' if api_key else '"none"'
    lines = [
        "curl:",
        f"  curl -s {shlex.quote(url + '/chat/completions')} -H 'Content-Type: application/json'{auth} "
        f"-d {shlex.quote(body)}",
        "Python (openai):",
        *(["  import os"] if api_key else []),
        "  from openai import OpenAI",
        f"  client = OpenAI(base_url={url!r}, api_key={key})",
        f"  reply = client.chat.completions.create(model={model!r}, "
        'messages=[{"role": "user", "content": "Who are you?"}])',
        "  print(reply.choices[0].message.content)",
    ]
    return "\n".join(lines)
