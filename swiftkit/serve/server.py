"""Running ``swift deploy``: start it in its own process group with its output in a log file, follow its startup,
wait (bounded) until it answers, check that it enforces the API key, and stop it and every child on Ctrl-C/SIGTERM.

The log is a file, never a pipe: an ms-swift child writing to a pipe dies of EPIPE once its reader is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional, TextIO

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import open_nofollow
from swiftkit.installed import install_extra
from swiftkit.serve.plan import DeployPlan
from swiftkit.swift.runner import child_env, resolved_argv, stop_group
from swiftkit.tail import Tailer

READY_TIMEOUT = 900.0
HEARTBEAT = 30.0
# (a line of ms-swift's output contains, what swiftkit says), in the order they appear
STAGES = (
    ("Successfully imported external_plugins", "arguments checked"),
    ("Loading model from", "loading the model"),
    ("Loading weights", "loading the weights"),
    ("model_list:", "model loaded"),
    ("Waiting for application startup", "starting the HTTP server"),
    ("Uvicorn running on", "listening, checking that it answers"),
)
# Ctrl-C: uvicorn stops listening at once and waits for requests in flight; after a few seconds they are cut off.
STOP_STEPS = ((signal.SIGINT, 8.0), (signal.SIGKILL, 5.0))
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a proxy must never see local traffic


def http_get(url: str, api_key: Optional[str], timeout: float = 3.0) -> tuple[int, Any]:
    """(status, parsed JSON body or None); status 0 when nothing answered."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with NO_PROXY.open(urllib.request.Request(url, headers=headers), timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _die_with_parent() -> None:
    """In the child: SIGTERM it when swiftkit itself dies (even by SIGKILL), so no server is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class Server:
    """One ``swift deploy`` process. ``on_stage(text, seconds)`` hears startup progress; ``echo`` gets its output."""

    def __init__(
        self,
        plan: DeployPlan,
        *,
        echo: Optional[TextIO] = None,
        on_stage: Optional[Callable[[str, float], None]] = None,
    ) -> None:
        self.plan = plan
        self.echo = echo
        self.on_stage = on_stage
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.listening = threading.Event()
        self.stage = "starting ms-swift"
        self._stages_seen = 0
        self._started = time.monotonic()
        self._follower = Tailer(plan.log_path, self._raw_line, cr=True)

    # ---- lifecycle
    def start(self) -> None:
        command = self.plan.command
        env = child_env(command)  # the guard first, the user's own PYTHONPATH kept after it, as for training
        argv = resolved_argv(command, env)
        self.plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_nofollow(self.plan.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # prompts may be logged
        os.fchmod(fd, 0o600)
        with open(fd, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped as a whole, never by the terminal
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise SwiftkitError(
                    f"could not start {argv[0]}: {exc.strerror}; install ms-swift with {install_extra()}."
                ) from None
        self._started = time.monotonic()
        self._follower.start()
        self._say(self.stage)

    def stop(self) -> Optional[int]:
        """Stop the server and every process of its group; returns its exit code (None if it never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            stop_group(self.proc, steps=STOP_STEPS)
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # a child of the group may outlive the leader
            except (ProcessLookupError, PermissionError):
                pass
        self._follower.stop()
        return self.proc.returncode

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- startup
    def _raw_line(self, raw: str) -> None:
        if raw.strip():
            self._line(raw.rstrip("\r\n"))

    def _line(self, line: str) -> None:
        if self.echo is not None:
            self.echo.write(line + "\n")
            self.echo.flush()
        for index, (marker, text) in enumerate(STAGES):
            if index >= self._stages_seen and marker in line:
                self._stages_seen = index + 1
                self.stage = text
                self._say(text)
                if marker == "Uvicorn running on":
                    self.listening.set()
                break

    def _say(self, text: str) -> None:
        if self.on_stage is not None:
            self.on_stage(text, time.monotonic() - self._started)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def wait_ready(self, timeout: float = READY_TIMEOUT, poll: float = 0.5) -> list[str]:
        """Block until ``GET /v1/models`` answers with the served name; return the names served.

        Raises SwiftkitError (with the end of the log) when the server exits or does not answer in time."""
        assert self.proc is not None, "start() first"
        url, key = self.plan.url, self.plan.endpoint.api_key
        deadline = time.monotonic() + timeout
        beat = time.monotonic() + HEARTBEAT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SwiftkitError(self._died_message())
            if self.listening.is_set():
                status, body = http_get(f"{url}/models", key)
                if status == 200 and isinstance(body, dict):
                    names = [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]
                    if self.plan.endpoint.served_model_name in names:
                        return names
            if time.monotonic() >= beat:
                self._say(f"still {self.stage}")
                beat = time.monotonic() + HEARTBEAT
            time.sleep(poll)
        raise SwiftkitError(
            f"the server did not answer within {timeout:.0f} s (last: {self.stage}); see {self.plan.log_path}, "
            "or raise --timeout."
        )

    def check_auth(self) -> None:
        """With an API key: a request without it, or with a wrong one, must get 401; else refuse to keep serving."""
        key = self.plan.endpoint.api_key
        if not key:
            return
        url = f"{self.plan.url}/chat/completions"
        for given in (None, key + "-wrong"):
            status, _ = http_get(url, given)
            if status != 401:
                raise SwiftkitError(
                    f"the server answered HTTP {status} to a request {'without' if given is None else 'with a wrong'} "
                    f"API key instead of 401; it was stopped. See {self.plan.log_path}."
                )

    def _died_message(self) -> str:
        assert self.proc is not None
        self._follower.stop()
        tail = self.log_tail(20)
        hint = ""
        if "address already in use" in tail.lower():
            port = self.plan.endpoint.port
            hint = f"\nPort {port} was taken while the model loaded; pick another with --port N."
        return f"swift deploy exited with code {self.proc.returncode} before it answered:\n{tail}{hint}"

    def log_tail(self, lines: int) -> str:
        try:
            text = self.plan.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])

    # ---- serving
    def wait(self, poll: float = 1.0) -> int:
        """Block while the server runs; returns its exit code when it stops by itself."""
        assert self.proc is not None
        while True:
            try:
                return self.proc.wait(timeout=poll)
            except subprocess.TimeoutExpired:
                continue


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM is handled like Ctrl-C (KeyboardInterrupt) while serving, so both stop the server the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
