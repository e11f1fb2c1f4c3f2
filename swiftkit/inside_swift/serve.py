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
- batching: a request that cannot be encoded fails alone instead of failing every request batched with it;
- request bounds, checked before the body reaches ms-swift: a body over ``$SWIFTKIT_MAX_REQUEST_BYTES`` (default
  4 MiB) gets **413** as soon as its Content-Length (or its bytes so far) says so, instead of being read whole into
  memory (a 50 MB body took 120 s and 0.7 -> 4.3 GB); a number that is not finite or out of range (``max_tokens``
  above the model's context or not a positive integer, ``1e400``, ``NaN``) gets **400** instead of a 500 or a
  generation that runs for minutes.

It fails at import (ms-swift then exits before loading the model) when ms-swift's internals are not what it expects.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Optional

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from swift.arguments import deploy_args
from swift.pipelines.infer.deploy import SwiftDeploy

API_KEY_ENV = "SWIFTKIT_API_KEY"
MAX_BODY_ENV = "SWIFTKIT_MAX_REQUEST_BYTES"
DEFAULT_MAX_BODY = 4 * 1024 * 1024
INT_FIELDS = {  # name: (lowest, highest); None: the model's context
    "max_tokens": (1, None),
    "max_completion_tokens": (1, None),
    "n": (1, 16),
    "top_k": (-1, 1_000_000),
    "seed": (-(2**63), 2**63 - 1),
    "top_logprobs": (0, 20),
}
FLOAT_FIELDS = {
    "temperature": (0.0, 100.0),
    "top_p": (0.0, 1.0),
    "repetition_penalty": (0.0, 100.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
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


def _error(status: int, message: str) -> tuple[int, bytes]:
    kind = "invalid_request_error"
    return status, json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def number_problem(body: bytes, context: int) -> str:
    """Why a request's numbers are out of range (empty when they are fine, or when it is not a JSON object: then
    ms-swift's own validation answers)."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        return str(exc) if "JSON allows" in str(exc) else ""
    if not isinstance(data, dict):
        return ""
    for name, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} must be a finite number, not {value}"
    for name, (low, high) in INT_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        top = context if high is None else high
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            what = f"the model's context, {context} tokens" if high is None else str(top)
            return f"{name} must be an integer from {low} to {what}; got {value!r}"
    for name, (lo, hi) in FLOAT_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            return f"{name} must be a number from {lo} to {hi}; got {value!r}"
    return ""


class RequestBounds:
    """Pure ASGI middleware: bounds a POST body's size, then its numbers, before the app (and ms-swift) sees it."""

    def __init__(self, app: Any, limit: int, context: int) -> None:
        self.app, self.limit, self.context = app, limit, context

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is larger than {self.limit} bytes (the server's limit)"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._reply(send, *_error(413, too_large))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reply(send, *_error(413, too_large))
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        problem = number_problem(body, self.context)
        if problem:
            await self._reply(send, *_error(400, problem))
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)

    @staticmethod
    async def _reply(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _max_body() -> int:
    try:
        return max(1, int(os.environ.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY))
    except ValueError:
        return DEFAULT_MAX_BODY


def key_matches(authorization: Optional[str], key: str) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return secrets.compare_digest(authorization[7:].encode(), key.encode())


def _install_auth_middleware(self: Any) -> None:
    """Replaces SwiftDeploy's own: its last step in ``__init__`` (which is already running when this plugin is
    imported, so ``__init__`` itself cannot be wrapped)."""
    if type(self.infer_engine).__name__ == "TransformersEngine":
        self.infer_engine.strict = False  # one bad request fails alone, not its whole batch
    context = int(getattr(self.infer_engine, "max_model_len", None) or 8192)  # ms-swift's own default
    self.app.add_middleware(RequestBounds, limit=_max_body(), context=context)  # added first: runs after auth
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
