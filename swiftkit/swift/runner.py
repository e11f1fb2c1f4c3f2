"""Starting ms-swift: argv lists only (no shell), its own process group, clean stop on Ctrl-C/SIGTERM."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional, TextIO

from swiftkit.errors import SwiftkitError
from swiftkit.swift.render import Command

INTERRUPTED = 130
GRACE_SECONDS = 20.0


def swift_executable() -> str:
    """The ``swift`` script of the Python running swiftkit (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "swift"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("swift")
    if found is None:
        raise SwiftkitError(
            "the 'swift' command (ms-swift) was not found; install it with pip install \"swiftkit[train]\"."
        )
    return found


DIRECT = {"sft", "infer", "export", "deploy"}


def resolved_argv(command: Command, env: Optional[dict[str, str]] = None) -> list[str]:
    """What actually starts: ``swift sft ARGS`` becomes ``python -m swift.cli.sft ARGS``.

    The ``swift`` script only re-executes ``python …/swift/cli/<cmd>.py ARGS`` in a child process after importing
    torch itself (≈6 s on a GPU box, measured in bench/); starting the module directly gives ms-swift the same
    arguments with one process and one round of imports fewer. With NPROC_PER_NODE/NNODES set (torchrun) the
    ``swift`` script is kept, since it is what launches torchrun.
    """
    argv = list(command.argv)
    if not argv or argv[0] != "swift":
        return argv
    env = env if env is not None else {**os.environ, **command.env}
    torchrun = env.get("NPROC_PER_NODE") or env.get("NNODES")
    if len(argv) > 1 and argv[1] in DIRECT and not torchrun and importlib.util.find_spec("swift") is not None:
        return [sys.executable, "-m", f"swift.cli.{argv[1]}", *argv[2:]]
    argv[0] = swift_executable()
    return argv


class _Terminated(Exception):
    pass


def stop_group(
    proc: subprocess.Popen[bytes],
    grace: float = GRACE_SECONDS,
    steps: Optional[tuple[tuple[signal.Signals, float], ...]] = None,
) -> None:
    """SIGINT the whole group (ms-swift exits cleanly), then TERM, then KILL (or the given ``steps``).

    Another Ctrl-C or SIGTERM while waiting skips straight to the next, harder signal instead of interrupting the
    clean-up itself.
    """
    hurry = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: hurry.set())
    try:
        for sig, wait in steps or ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            hurry.clear()
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while proc.poll() is None and time.monotonic() < deadline and not hurry.is_set():
                time.sleep(0.1)
            if proc.poll() is not None:
                break
        # children of the group may outlive the leader: make sure none is left
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    command: Command,
    *,
    log_path: Optional[Path] = None,
    echo: Optional[TextIO] = None,
    on_line: Optional[Callable[[str], None]] = None,
    on_start: Optional[Callable[[int], None]] = None,
    grace: float = GRACE_SECONDS,
    pass_fds: tuple[int, ...] = (),
) -> int:
    """Run ``command`` and return its exit code (130 when interrupted).

    Output goes to the terminal unless ``log_path`` is given; then it is written there, and also to ``echo``
    and ``on_line`` when given.
    """
    env = {**os.environ, **command.env, "PYTHONUNBUFFERED": "1"}
    argv = resolved_argv(command, env)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise _Terminated()

    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, on_term)
    log = open(log_path, "ab") if log_path is not None else None
    try:
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                start_new_session=True,  # our own process group: we stop all of it, the terminal does not
                stdout=subprocess.PIPE if log is not None else None,
                stderr=subprocess.STDOUT if log is not None else None,
                pass_fds=pass_fds,  # e.g. the run lock: held by ms-swift as long as it runs
            )
        except OSError as exc:
            raise SwiftkitError(
                f'could not start {argv[0]}: {exc.strerror}; install ms-swift with pip install "swiftkit[train]".'
            ) from None
        if on_start is not None:
            on_start(proc.pid)
        try:
            if log is not None and proc.stdout is not None:
                for raw in iter(proc.stdout.readline, b""):
                    log.write(raw)
                    log.flush()
                    line = raw.decode("utf-8", errors="replace")
                    if echo is not None:
                        echo.write(line)
                        echo.flush()
                    if on_line is not None:
                        on_line(line)
            return proc.wait()
        except (KeyboardInterrupt, _Terminated):
            stop_group(proc, grace)
            return INTERRUPTED
    finally:
        if log is not None:
            log.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
