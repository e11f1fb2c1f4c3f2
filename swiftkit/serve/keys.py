"""API keys, never on the command line: a key in argv is visible to every local user (``ps``, /proc/PID/cmdline)
for as long as the process runs. A key comes from ``$SWIFTKIT_API_KEY``, from a key file only its owner can read,
or from a hidden prompt on a terminal; swiftkit hands it to ``swift deploy`` through the environment too."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from typing import Optional

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import file_problem, open_regular

API_KEY_ENV = "SWIFTKIT_API_KEY"
WAYS = (
    f"set {API_KEY_ENV} in the environment, give --api-key-file FILE (readable by you only: chmod 600 FILE), "
    "or --ask-api-key to type it at a hidden prompt"
)
MAX_KEY_BYTES = 4096


def refuse_literal() -> SwiftkitError:
    return SwiftkitError(
        "an API key on the command line is visible to every user of this machine (ps, /proc/PID/cmdline) for as "
        f"long as swiftkit runs; swiftkit does not take it there. Instead {WAYS}."
    )


def read_key_file(path: str) -> str:
    """The key in ``path``: a regular file, not a link, mode 0600 or 0400 (no group or other access)."""
    problem = file_problem(path)
    if problem:
        raise SwiftkitError(f"--api-key-file {path} {problem}.")
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise SwiftkitError(f"--api-key-file {path} is a symbolic link; give the key file itself.")
    if info.st_mode & 0o077:
        raise SwiftkitError(
            f"--api-key-file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):04o}); a key file must "
            f"be yours alone: run 'chmod 600 {path}' and try again."
        )
    with open_regular(path) as handle:
        raw = handle.read(MAX_KEY_BYTES + 1)
    key = raw.decode("utf-8", errors="replace").strip()
    if not key or len(raw) > MAX_KEY_BYTES or any(c.isspace() for c in key):
        raise SwiftkitError(f"--api-key-file {path} must hold one key on one line (no spaces); fix the file.")
    return key


def api_key(
    literal: Optional[str],
    key_file: Optional[str],
    ask: Optional[Callable[[], str]],
    environ: Mapping[str, str],
) -> Optional[str]:
    """The key from exactly one way: a literal (refused), the key file, the prompt (``ask``), or the environment."""
    if literal is not None:
        raise refuse_literal()
    if key_file is not None and ask is not None:
        raise SwiftkitError("give --api-key-file or --ask-api-key, not both.")
    if key_file is not None:
        return read_key_file(key_file)
    if ask is not None:
        key = ask().strip()
        if not key:
            raise SwiftkitError(f"no API key was typed; type one, or {WAYS}.")
        return key
    return environ.get(API_KEY_ENV) or None
