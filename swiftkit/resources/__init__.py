"""Files shipped inside the package: built-in profiles, prompt sets, the identity template, JSON Schemas.

Profiles name shipped files as ``builtin:RELATIVE/PATH`` (e.g. ``builtin:identity/identity.template.json``), so a
copied profile keeps working wherever the package is installed, upgraded or moved.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUILTIN_PREFIX = "builtin:"


def root() -> Path:
    """The folder of the shipped files (a real folder: swiftkit is never imported from a zip)."""
    return Path(str(resources.files(__name__)))


def path(relative: str) -> Path:
    """A shipped file by its path under ``swiftkit/resources/``."""
    return root() / relative


def resolve_builtin(value: str) -> str:
    """``builtin:X`` -> the shipped file's absolute path; any other value unchanged."""
    if value.startswith(BUILTIN_PREFIX):
        return str(path(value[len(BUILTIN_PREFIX) :]))
    return value
