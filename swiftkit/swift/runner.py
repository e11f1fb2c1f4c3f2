"""Starting ms-swift: argv lists only (no shell), its own session, output straight to a file, clean stop on
Ctrl-C/SIGTERM."""

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

INSTALL_HINT = 'install ms-swift with pip install "swiftkit[train]"'

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


def child_env(command: Command) -> dict[str, str]:
    """The child's environment: ours, the command's, unbuffered output. A PYTHONPATH the command sets (the
    remote-code guard) goes first, made absolute, and the user's own PYTHONPATH is kept after it."""
    env = {**os.environ, **command.env, "PYTHONUNBUFFERED": "1"}
    if "PYTHONPATH" in command.env:
        ours = [os.path.abspath(p) for p in command.env["PYTHONPATH"].split(os.pathsep) if p]
        theirs = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(ours + [p for p in theirs if os.path.abspath(p) not in ours])
    return env


def start(command: Command, log_path: Path, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session with its output going straight to ``log_path``.

    No pipe joins it to swiftkit, so losing swiftkit (SIGKILL, a closed terminal's SIGHUP, a dropped SSH session)
    does not kill it: it never writes to a reader that is gone, and the terminal's signals do not reach its session.
    """
    env = child_env(command)
    argv = resolved_argv(command, env)
    try:
        with open(log_path, "ab") as log:  # the child has its own copy of the descriptor
            return subprocess.Popen(
                argv,
                env=env,
                start_new_session=True,  # our own session and process group: we stop all of it, the terminal does not
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,  # e.g. the run lock: held by ms-swift as long as it runs
            )
    except OSError as exc:
        raise SwiftkitError(
            f'could not start {argv[0]}: {exc.strerror}; install ms-swift with pip install "swiftkit[train]".'
        ) from None


def wait(
    proc: subprocess.Popen[bytes],
    *,
    log_path: Optional[Path] = None,
    echo: Optional[TextIO] = None,
    grace: float = GRACE_SECONDS,
) -> int:
    """Wait for a started child and return its exit code; Ctrl-C or SIGTERM stop its whole group (130).

    With ``echo``, what the child writes to ``log_path`` is copied there as it comes."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise _Terminated()

    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, on_term)
    follower = Echo(log_path, echo) if echo is not None and log_path is not None else None
    try:
        try:
            return proc.wait()
        except (KeyboardInterrupt, _Terminated):
            stop_group(proc, grace)
            return INTERRUPTED
        except BaseException:
            stop_group(proc, 5.0)  # a crash of swiftkit itself leaves no orphan behind
            raise
    finally:
        if follower is not None:
            follower.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class Echo:
    """Copies what is appended to a file (all of it, with ``from_start``) to a stream, from a thread, until
    stopped (then the rest)."""

    def __init__(self, path: Path, out: TextIO, poll: float = 0.2, from_start: bool = False) -> None:
        self.path, self.out, self.poll = path, out, poll
        self.offset = path.stat().st_size if path.exists() and not from_start else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._copy()

    def _copy(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return
        if data:
            self.offset += len(data)
            self.out.write(data.decode("utf-8", errors="replace"))
            self.out.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._copy()


def run(
    command: Command,
    *,
    log_path: Optional[Path] = None,
    echo: Optional[TextIO] = None,
    on_start: Optional[Callable[[int], None]] = None,
    grace: float = GRACE_SECONDS,
    pass_fds: tuple[int, ...] = (),
) -> int:
    """Run ``command`` and return its exit code (130 when interrupted).

    With ``log_path`` its output goes to that file (and is copied to ``echo`` when given); without, to the terminal
    (interactive chat)."""
    if log_path is not None:
        proc = start(command, log_path, pass_fds)
    else:
        env = child_env(command)
        argv = resolved_argv(command, env)
        try:
            proc = subprocess.Popen(argv, env=env, start_new_session=True, pass_fds=pass_fds)
        except OSError as exc:
            raise SwiftkitError(
                f'could not start {argv[0]}: {exc.strerror}; install ms-swift with pip install "swiftkit[train]".'
            ) from None
    if on_start is not None:
        on_start(proc.pid)
    return wait(proc, log_path=log_path, echo=echo, grace=grace)
