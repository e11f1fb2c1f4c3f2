"""ms-swift plugin for ``swift deploy`` started by ``swiftkit deploy``: safe, exact serving (ms-swift 4.6).

swiftkit passes this file with ``--external_plugins``; ms-swift imports it while parsing its arguments, before the
port is chosen and before the model loads. What it changes, each measured against 4.6.0 without it:

- the port: ms-swift moves to the next free port when the one asked for is taken (``find_free_port``), so a
  client could reach another program on the port it was told; here the server binds exactly that port or fails;
- the API key: read from ``$SWIFTKIT_API_KEY`` (never argv, which ``ps`` shows and ms-swift logs); a wrong or
  missing key gets **401** (ms-swift answers 400), on every path but ``/health`` and ``/ping`` (ms-swift also
  leaves ``/v1/models`` open);
- streamed requests: the first chunk is produced before the response starts, so a prompt longer than
  ``--max_length`` gets a 400 instead of a ``200`` with an empty stream;
- batching: a request that cannot be encoded fails alone instead of failing every request batched with it.

It fails at import (ms-swift then exits before loading the model) when ms-swift's internals are not what it expects.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Optional

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from swift.arguments import deploy_args
from swift.pipelines.infer.deploy import SwiftDeploy

API_KEY_ENV = "SWIFTKIT_API_KEY"
OPEN_PATHS = frozenset({"/health", "/health/", "/ping"})

for _name in ("_install_auth_middleware", "create_chat_completion"):
    if not hasattr(SwiftDeploy, _name):
        raise ImportError(f"swiftkit serve plugin: ms-swift's SwiftDeploy has no {_name}; update swiftkit")
if not hasattr(deploy_args, "find_free_port"):
    raise ImportError("swiftkit serve plugin: ms-swift's deploy_args has no find_free_port; update swiftkit")

_API_KEY = os.environ.pop(API_KEY_ENV, None) or None  # the engine's own children never see it


def _exact_port(start_port: Optional[int] = None, retry: int = 100) -> int:
    return int(start_port or 0)


deploy_args.find_free_port = _exact_port


def unauthorized() -> JSONResponse:
    """OpenAI's shape and status for a bad key."""
    body = {"error": {"message": "Invalid or missing API key.", "type": "invalid_request_error", "code": 401}}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def key_matches(authorization: Optional[str], key: str) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return secrets.compare_digest(authorization[7:].encode(), key.encode())


def _install_auth_middleware(self: Any) -> None:
    """Replaces SwiftDeploy's own: its last step in ``__init__`` (which is already running when this plugin is
    imported, so ``__init__`` itself cannot be wrapped)."""
    if type(self.infer_engine).__name__ == "TransformersEngine":
        self.infer_engine.strict = False  # one bad request fails alone, not its whole batch
    key = _API_KEY or self.args.api_key
    if not key:
        return
    self.args.api_key = key  # ms-swift's own per-route checks then agree with ours

    @self.app.middleware("http")
    async def _auth(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path not in OPEN_PATHS and not key_matches(request.headers.get("authorization"), key):
            return unauthorized()
        return await call_next(request)


async def _infer_async(self: Any, infer_request: Any, request_config: Any = None, **kwargs: Any) -> Any:
    result = await self.infer_engine.infer_async(infer_request, request_config, **kwargs)
    if request_config is None or not getattr(request_config, "stream", False):
        return result
    stream: AsyncIterator[Any] = result
    try:
        first = await stream.__anext__()  # an encoding error is raised here, while a 400 can still be sent
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[Any]:
        if first is None:
            return
        yield first
        async for item in stream:
            yield item

    return chained()


SwiftDeploy._install_auth_middleware = _install_auth_middleware
SwiftDeploy.infer_async = _infer_async
