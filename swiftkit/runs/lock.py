"""One training run per output directory: an flock on ``OUTPUT/.swiftkit-train.lock``.

The kernel drops an flock when its holders exit, so a crashed or killed run never leaves it stuck. The lock's
file descriptor is handed to the ms-swift process too, so the lock lasts as long as training does, even if
swiftkit itself is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any, Optional

from swiftkit.errors import SwiftkitError
from swiftkit.layout import LOCK_NAME


class RunLock:
    def __init__(self, output_dir: str | Path) -> None:
        self.path = Path(output_dir) / LOCK_NAME
        self.fd: Optional[int] = None

    def acquire(self, **info: Any) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            who = (
                f" (pid {holder.get('pid')}, started {holder.get('started')}, run {holder.get('run_dir')})"
                if holder
                else ""
            )
            raise SwiftkitError(
                f"another swiftkit train is using {self.path.parent}{who}; wait for it to finish or stop it "
                "(Ctrl-C in its terminal), or give this run another output_dir."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), **info}).encode(), 0)
        self.fd = fd
        return self

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
