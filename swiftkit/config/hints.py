"""Commands to suggest in messages, spelled so they work where the user is: ``--profile`` is left out for
./swiftkit.yaml (the default), a built-in is named, any other profile is given by its path."""

from __future__ import annotations

import shlex
from pathlib import Path

from swiftkit.config.profiles import LoadedProfile, builtin_dir
from swiftkit.config.scaffold import DEFAULT_PROFILE


def profile_ref(lp: LoadedProfile) -> str:
    """How to name this profile on a command line: "" for ./swiftkit.yaml, a built-in's name, else its path."""
    path = lp.path.resolve()
    if path == Path(DEFAULT_PROFILE).resolve():
        return ""
    return lp.name if path.parent == builtin_dir().resolve() else str(lp.path)


def command(lp: LoadedProfile, words: str) -> str:
    """``swiftkit WORDS`` with the --profile this profile needs here (none for ./swiftkit.yaml)."""
    ref = profile_ref(lp)
    return f"swiftkit {words}" + (f" --profile {shlex.quote(ref)}" if ref else "")
