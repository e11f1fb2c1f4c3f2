"""How this swiftkit was installed, so that an "install X" hint is a command that works for the user: pip into a
virtual environment or the system, pipx, ``uv tool``, or an editable checkout (where ``make install`` exists).

Read from the package's own metadata (PEP 610 ``direct_url.json`` says where it came from) and ``sys.prefix``;
swiftkit is not on the public package index, so a hint naming ``swiftkit[train]`` from there would fail.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional


def tool() -> str:
    """ "pipx", "uv" (``uv tool install``), "checkout" (an editable install) or "pip"."""
    prefix = Path(sys.prefix)
    if (prefix / "pipx_metadata.json").is_file() or "/pipx/venvs/" in prefix.as_posix():
        return "pipx"
    if (prefix / "uv-receipt.toml").is_file() or "/uv/tools/" in prefix.as_posix():
        return "uv"
    if source() is None and _editable():
        return "checkout"
    return "pip"


def _direct_url() -> dict[str, object]:
    try:
        text = metadata.distribution("swiftkit").read_text("direct_url.json")
        data = json.loads(text) if text else {}
    except (metadata.PackageNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _editable() -> bool:
    info = _direct_url().get("dir_info")
    return isinstance(info, dict) and bool(info.get("editable"))


def source() -> Optional[str]:
    """The local folder or wheel file swiftkit was installed from (not an editable one), if known."""
    url = _direct_url().get("url")
    if _editable() or not isinstance(url, str) or not url.startswith("file://"):
        return None
    return url[len("file://") :]


def extra_requirements(extra: str) -> list[str]:
    """The requirements an extra of swiftkit adds (e.g. "train": ms-swift, torch, …), as pip spells them."""
    try:
        required = metadata.requires("swiftkit") or []
    except metadata.PackageNotFoundError:
        return []
    marker = re.compile(rf"""^\s*(.*?)\s*;\s*extra\s*==\s*["']{re.escape(extra)}["']\s*$""")
    return [m.group(1) for r in required if (m := marker.match(r))]


def install_extra(extra: str = "train") -> str:
    """A command that adds swiftkit's ``extra`` to the environment swiftkit runs in, for how it was installed."""
    wants = extra_requirements(extra) or (["ms-swift>=4.6,<5", "torch"] if extra == "train" else [])
    packages = " ".join(w if re.fullmatch(r"[A-Za-z0-9._-]+", w) else f'"{w}"' for w in wants)
    how = tool()
    if how == "checkout":
        return "'make install' in the swiftkit checkout"
    if how == "pipx":
        return f"'pipx inject swiftkit {packages}'"
    where = source()
    if how == "uv":
        spec = f'"{where}[{extra}]"' if where else f'"<swiftkit folder or wheel>[{extra}]"'
        return f"'uv tool install --force {spec}'"
    return f"'{sys.executable} -m pip install {packages}'"
