"""Locks: one training run per output directory, one export per checkpoint; and whether a process still lives.

An flock on ``OUTPUT/.swiftkit-train.lock``: the kernel drops it when its holders exit, so a crashed or killed run
never leaves it stuck. The lock's file descriptor is handed to the ms-swift process too, so the lock lasts as long
as training does, even when swiftkit itself is gone; the file names the run and its processes, and a refusal
names only those still alive.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import open_nofollow
from swiftkit.layout import LOCK_NAME


def start_time(pid: int) -> Optional[int]:
    """When a process started (clock ticks since boot, from /proc), None when it is gone, a zombie, or unknown.
    Together with the pid it names one process: a reused pid has another start time."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: Any, started: Any = None) -> bool:
    """The process ``pid`` (that started at ``started``, when known) still runs."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if Path("/proc").is_dir():
        now = start_time(pid)
        return now is not None and (not isinstance(started, int) or now == started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_text(info: dict[str, Any], output_dir: Path) -> str:
    """Who holds a run lock, naming only processes that still exist, and how to reach them."""
    run = f"run {info.get('run_dir')}" if info.get("run_dir") else "a run"
    swift_pid = info.get("swift_pid")
    since = f", started {info['started']}" if info.get("started") else ""
    if alive(info.get("pid"), info.get("pid_start")):
        return (
            f"{run} (swiftkit pid {info.get('pid')}{since}); wait for it, press Ctrl-C in its "
            "terminal, or give this run another output_dir"
        )
    if alive(swift_pid, info.get("swift_start")):
        return (
            f"{run} (ms-swift pid {swift_pid}{since}, its swiftkit is gone); follow it with "
            f"'swiftkit logs -f --output-dir {output_dir}', stop it with 'kill -INT -- -{swift_pid}', or give this "
            "run another output_dir"
        )
    return f"{run} (its processes are ending); try again in a moment, or give this run another output_dir"


class RunLock:
    def __init__(self, output_dir: str | Path) -> None:
        self.path = Path(output_dir) / LOCK_NAME
        self.fd: Optional[int] = None
        self.info: dict[str, Any] = {}

    def acquire(self, **info: Any) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise SwiftkitError(
                f"another swiftkit train is using {self.path.parent}: {holder_text(holder, self.path.parent)}."
            ) from None
        self.fd = fd
        self.note(pid=os.getpid(), pid_start=start_time(os.getpid()), host=socket.gethostname(), **info)
        return self

    def note(self, **info: Any) -> None:
        """Add to what the lock file says about its holders (e.g. the ms-swift pid once it runs)."""
        if self.fd is None:
            return
        self.info.update(info)
        data = json.dumps(self.info).encode()
        try:
            os.pwrite(self.fd, data, 0)
            os.ftruncate(self.fd, len(data))
        except OSError:
            pass  # a full disk: the refusal then names fewer details, the lock itself still holds

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        value = json.loads(data or b"{}")
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def lock_info(path: Path) -> dict[str, Any]:
    """What a lock file says about its holder ({} when there is none or it cannot be read)."""
    try:
        value = json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_locked(path: Path) -> bool:
    """Some live process holds the flock on ``path`` (probed without waiting; False when there is no file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextmanager
def exclusive(path: Path, on_wait: Optional[Callable[[dict[str, Any]], None]] = None, **info: Any) -> Iterator[int]:
    """An exclusive flock on ``path``, waiting for the holder (``on_wait`` is told who it is first). Yields the
    descriptor, so a child process can hold the lock too.

    The file is removed when the block ends (while the lock is still held, so nothing is left behind); a waiter
    that then gets the lock of the removed file sees that ``path`` no longer names it, and locks ``path`` anew."""
    path.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None and not told:
                on_wait(_read(fd))
                told = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_named(fd, path):
            break
        os.close(fd)  # the holder removed this file as it finished: lock the one at ``path`` now
    try:
        data = json.dumps({"pid": os.getpid(), "pid_start": start_time(os.getpid()), **info}).encode()
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError:
            pass
        yield fd
    finally:
        try:
            path.unlink()
        except OSError:
            pass
        os.close(fd)


def _still_named(fd: int, path: Path) -> bool:
    """``path`` is still the file ``fd`` has open."""
    try:
        mine, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)
