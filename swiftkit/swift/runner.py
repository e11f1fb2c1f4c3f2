"""Starting ms-swift: argv lists only (no shell), its own process group, clean stop on Ctrl-C/SIGTERM."""

from __future__ import annotations

import importlib.util
import os
import select
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
TREE_EVERY = 2.0  # seconds between looks at the command's process tree


def swift_executable() -> str:
    """The ``swift`` script of the Python running swiftkit (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "swift"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("swift")
    if found is None:
        raise SwiftkitError(
            "the 'swift' command (ms-swift) was not found; run 'make install' or 'pip install ms-swift'."
        )
    return found


DIRECT = {"sft", "infer", "export"}


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


def _pump(proc: subprocess.Popen[bytes], fd: int, emit: Callable[[bytes], None], tree: Tree) -> None:
    """Pass every output line to ``emit`` until every writer has closed the pipe, keeping ``tree`` (the command's
    processes) current. The ranks torchrun starts share the pipe: if the launcher dies and leaves them running,
    they are ended here, which also ends the output."""
    pending = b""
    looked = 0.0
    ended = False
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                emit(raw + b"\n")
        if time.monotonic() - looked > TREE_EVERY:
            tree.update(descendants(proc.pid))
            looked = time.monotonic()
        if not ended and proc.poll() is not None:
            _end_leftovers(tree)
            ended = True
    if pending:
        emit(pending)


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


def _stop_group(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS, tree: Optional[Tree] = None) -> None:
    """SIGINT the whole process tree (ms-swift exits cleanly), then TERM, then KILL: every rank torchrun started
    included, so nothing is left training after swiftkit returns.

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
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
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
            raise SwiftkitError(f"could not start {argv[0]}: {exc.strerror}; run 'make install'.") from None
        if on_start is not None:
            on_start(proc.pid)
        tree: Tree = {}
        try:
            if log is not None and proc.stdout is not None:

                def emit(raw: bytes) -> None:
                    log.write(raw)
                    log.flush()
                    line = raw.decode("utf-8", errors="replace")
                    if echo is not None:
                        echo.write(line)
                        echo.flush()
                    if on_line is not None:
                        on_line(line)

                _pump(proc, proc.stdout.fileno(), emit, tree)
            while proc.poll() is None:
                tree.update(descendants(proc.pid))
                time.sleep(0.2)
            _end_leftovers(tree)
            return proc.wait()
        except (KeyboardInterrupt, _Terminated):
            _stop_group(proc, grace, tree)
            return INTERRUPTED
    finally:
        if log is not None:
            log.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
