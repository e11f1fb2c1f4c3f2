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
from swiftkit.fsutil import open_nofollow
from swiftkit.installed import install_extra
from swiftkit.swift.render import Command
from swiftkit.tail import Tailer

INTERRUPTED = 130
GRACE_SECONDS = 20.0
TREE_EVERY = 2.0  # seconds between looks at the command's process tree


def swift_executable() -> str:
    """The ``swift`` script of the Python running swiftkit (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "swift"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("swift")
    if found is None:
        raise SwiftkitError(f"the 'swift' command (ms-swift) was not found; install it with {install_extra()}.")
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


Tree = dict[int, str]  # pid -> its start time (so a reused pid is never signalled)


def _stat(pid: int) -> Optional[tuple[int, str, str]]:
    """(parent pid, start time, state) of a live process from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the name in parentheses may hold spaces
    return int(fields[1]), fields[19], fields[0]


def descendants(root: int) -> Tree:
    """Every live process below ``root`` (Linux /proc; empty elsewhere).

    torchrun starts each rank in a session of its own, so the ranks are not in the process group of the command
    swiftkit starts: they are found here and signalled one by one."""
    children: dict[int, list[int]] = {}
    starts: Tree = {}
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return {}
    for entry in proc_dir.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None and found[2] != "Z":
                children.setdefault(found[0], []).append(int(entry.name))
                starts[int(entry.name)] = found[1]
    tree: Tree = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return tree


def _alive(tree: Tree) -> Tree:
    out = {}
    for pid, start in tree.items():
        found = _stat(pid)
        if found is not None and found[1] == start and found[2] != "Z":
            out[pid] = start
    return out


def _signal_all(proc: subprocess.Popen[bytes], tree: Tree, sig: int) -> None:
    """``sig`` to the command's process group and to every process of ``tree`` (never to swiftkit's own group)."""
    own = os.getpgrp()
    groups = {proc.pid}
    for pid in _alive(tree):
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    for group in groups - {own}:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in _alive(tree):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_group(
    proc: subprocess.Popen[bytes],
    grace: float = GRACE_SECONDS,
    steps: Optional[tuple[tuple[signal.Signals, float], ...]] = None,
    tree: Optional[Tree] = None,
) -> None:
    """SIGINT the whole process tree (ms-swift exits cleanly), then TERM, then KILL (or the given ``steps``): every
    rank torchrun started included, so nothing is left training after swiftkit returns.

    Another Ctrl-C or SIGTERM while waiting skips straight to the next, harder signal instead of interrupting the
    clean-up itself.
    """
    tree = {**(tree or {}), **descendants(proc.pid)}  # now, while torchrun still links its ranks to us
    hurry = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: hurry.set())
    try:
        for sig, wait in steps or ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            hurry.clear()
            tree.update(descendants(proc.pid))
            _signal_all(proc, tree, sig)
            deadline = time.monotonic() + wait
            while (proc.poll() is None or _alive(tree)) and time.monotonic() < deadline and not hurry.is_set():
                time.sleep(0.1)
            if proc.poll() is not None and not _alive(tree):
                break
        # children may outlive the leader: make sure none is left
        _signal_all(proc, tree, signal.SIGKILL)
        proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _end_leftovers(tree: Tree) -> None:
    """Processes of a finished command that are still running (ranks orphaned by a crashed launcher): TERM, KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = _alive(tree)
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5.0
        while _alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)


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
        # the child has its own copy of the descriptor; a link planted at the log is refused, never followed
        with os.fdopen(open_nofollow(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as log:
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
            f"could not start {argv[0]}: {exc.strerror}; install ms-swift with {install_extra()}."
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
    tree: Tree = {}
    try:
        try:
            while True:
                try:
                    code = proc.wait(timeout=TREE_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    tree.update(descendants(proc.pid))  # torchrun's ranks live in sessions of their own
            _end_leftovers(tree)  # ranks a crashed launcher left behind
            return code
        except (KeyboardInterrupt, _Terminated):
            stop_group(proc, grace, tree=tree)
            return INTERRUPTED
        except BaseException:
            stop_group(proc, 5.0, tree=tree)  # a crash of swiftkit itself leaves no orphan behind
            raise
    finally:
        if follower is not None:
            follower.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class Echo(Tailer):
    """Copies what is appended to a file (all of it, with ``from_start``) to a stream, line by line (tqdm redraws
    too), from a thread, until stopped (then the rest)."""

    def __init__(self, path: Path, out: TextIO, poll: float = 0.2, from_start: bool = False) -> None:
        super().__init__(path, self._write, poll=poll, cr=True, from_end=not from_start)
        self.out = out
        self.start()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


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
                f"could not start {argv[0]}: {exc.strerror}; install ms-swift with {install_extra()}."
            ) from None
    if on_start is not None:
        on_start(proc.pid)
    return wait(proc, log_path=log_path, echo=echo, grace=grace)
