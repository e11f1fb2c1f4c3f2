"""The run manifest: everything needed to know what a run was and to reproduce it.

``<run>/swiftkit-manifest.json``: the resolved profile, the exact argv and environment, versions of
swiftkit/ms-swift/torch, each dataset's source, hash and counts, start/end time and exit status.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from swiftkit import __version__
from swiftkit.data.resolve import ResolvedRun
from swiftkit.fsutil import atomic_write_text
from swiftkit.layout import MANIFEST
from swiftkit.runs.lock import start_time
from swiftkit.swift.render import Command

ENV_KEYS = (
    "CUDA_VISIBLE_DEVICES",
    "USE_HF",
    "HF_HUB_OFFLINE",
    "MODELSCOPE_CACHE",
    "NPROC_PER_NODE",
    "PYTORCH_CUDA_ALLOC_CONF",
)


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def build(run: ResolvedRun, command: Command, kind: str = "train") -> dict[str, Any]:
    """The manifest of a run about to start: the profile as loaded (where it came from, the overrides), the fitted
    profile ms-swift gets (``resolved``), the batch choice, the command, versions and datasets."""
    lp = run.loaded
    env = {k: os.environ[k] for k in ENV_KEYS if k in os.environ}
    env.update(command.env)
    return {
        "kind": kind,
        "profile": {
            "name": lp.name,
            "path": str(lp.path),
            "extends": [str(p) for p in lp.chain[1:]],
            "overrides": lp.overrides,
            "resolved": run.profile.model_dump(mode="json"),
            "batch": run.batch.line(),
        },
        "argv": command.argv,
        "command": command.display(),
        "env": env,
        "versions": {
            "swiftkit": __version__,
            "ms-swift": _version("ms-swift"),
            "torch": _version("torch"),
            "transformers": _version("transformers"),
            "peft": _version("peft"),
            "python": platform.python_version(),
        },
        "host": {"platform": platform.platform(), "python": sys.executable},
        "datasets": [d.manifest() for d in run.data],
        "started": now_iso(),
        "ended": None,
        "status": "running",
        "exit_code": None,
        "pid": os.getpid(),
        "pid_start": start_time(os.getpid()),
    }


RESERVE = 16 * 1024  # bytes of trailing spaces kept in the file, so it can still be closed on a full disk


def write(run_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest atomically, padded with spaces (valid JSON) that a full disk can later be written over."""
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    padded = text + " " * RESERVE + "\n"
    path = run_dir / MANIFEST
    try:
        return atomic_write_text(path, padded)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not _overwrite(path, text.encode("utf-8")):
            raise
        return path


def _overwrite(path: Path, data: bytes) -> bool:
    """Write ``data`` over the file's own (already allocated) bytes, padding with spaces: needs no free block."""
    try:
        with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC), "r+b") as handle:
            size = handle.seek(0, 2)
            if len(data) > size:
                return False
            handle.seek(0)
            handle.write(data + b" " * (size - len(data)))
            handle.flush()
            os.fsync(handle.fileno())
        return True
    except OSError:
        return False


def update(run_dir: Path, manifest: dict[str, Any], **fields: Any) -> dict[str, Any]:
    manifest = {**manifest, **fields}
    write(run_dir, manifest)
    return manifest


def finish(
    run_dir: Path, manifest: dict[str, Any], exit_code: Optional[int], status: str, **extra: Any
) -> dict[str, Any]:
    """Close the manifest: end time, exit code, status (ok | failed | interrupted) and what else is known."""
    return update(run_dir, manifest, **{"ended": now_iso(), "exit_code": exit_code, "status": status, **extra})


def read(run_dir: Path) -> Optional[dict[str, Any]]:
    try:
        value = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
