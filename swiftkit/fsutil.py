"""Atomic file writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import errno
import json
import os
import shlex
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from swiftkit.errors import SwiftkitError


def link_problem(path: str | os.PathLike[str]) -> str:
    """The refusal for a symbolic link where swiftkit writes (empty when ``path`` is not a link). A link planted in a
    shared output or run folder would make swiftkit truncate, chmod or replace the file it points to."""
    try:
        target = os.readlink(path)
    except OSError:
        return ""
    return (
        f"{path} is a symbolic link (to {target}); swiftkit never writes through a link. Remove the link "
        f"(rm {shlex.quote(str(path))}) and try again; if someone else planted it, check who can write to that folder."
    )


def refuse_link(path: str | os.PathLike[str]) -> None:
    """Raise :class:`SwiftkitError` when ``path`` is a symbolic link (dangling or not)."""
    problem = link_problem(path)
    if problem:
        raise SwiftkitError(problem)


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """``os.open`` for writing that never follows a link at ``path`` (O_NOFOLLOW): a link is refused, naming it."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise SwiftkitError(link_problem(path) or f"{path} is a symbolic link; remove it and try again.") from None
        raise


def umask() -> int:
    """The process's umask (read from /proc where there is one, so nothing is changed even for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(target: Path) -> int:
    """The mode a plain ``open(target, "w")`` would give: the replaced file's own mode, else 0666 less the umask
    (a temporary file from mkstemp is 0600, which would make e.g. swiftkit.yaml private by accident)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; with ``force=False`` refuse to replace an existing file. A link at
    ``path`` is refused, never replaced or followed."""
    target = Path(path)
    refuse_link(target)
    if not force and target.exists():
        raise SwiftkitError(f"{target} already exists; pass --force to overwrite it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, new_file_mode(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if not force:
            # link() fails if the target appeared meanwhile, so a concurrent writer is never clobbered.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise SwiftkitError(f"{target} already exists; pass --force to overwrite it.") from None
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that needs a file name (e.g. matplotlib); it replaces
    ``path`` only when the block ends without an error, and never lingers."""
    target = Path(path)
    refuse_link(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix or ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, force: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, force: bool = True) -> Path:
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    return atomic_write_text(path, text, force=force)


def shown_path(path: str) -> str:
    """A local path as it goes into argv: relative to the current folder when inside it, never starting with '-'."""
    p = Path(path)
    if p.is_absolute():
        try:
            text = str(p.relative_to(Path.cwd()))
        except ValueError:
            text = str(p)
    else:
        text = path
    return text if not text.startswith("-") else os.path.join(".", text)


def file_problem(path: str | os.PathLike[str]) -> str:
    """Empty when ``path`` is a regular file swiftkit can read; else what it is instead, in words that follow
    the path ("… is a named pipe (FIFO), not a regular file"). Never opens the file, so a FIFO or a device
    cannot block or flood the caller."""
    target = Path(path)
    try:
        info = target.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (it points back to itself); point it at a real file"
        if target.is_symlink():
            return f"is a broken symbolic link (to {os.readlink(target)}); point it at an existing file"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "does not exist; check the path"
        return f"cannot be read ({exc.strerror}); check its permissions"
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file; save the data to a file first"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file; give a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file; give a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file; give a file"
    if not os.access(target, os.R_OK):
        return "cannot be read (permission denied); check its permissions"
    return ""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for reading; anything else (a FIFO or device swapped in after a check, which would
    block or never end) raises :class:`SwiftkitError` naming what it is. Opening never blocks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise SwiftkitError(f"{path} {file_problem(path) or 'cannot be opened'}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SwiftkitError(f"{path} {file_problem(path) or 'is not a regular file'}.")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
