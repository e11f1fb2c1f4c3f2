"""Where swiftkit keeps what it makes once and reuses: converted models, self-replay answers, base answers."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SWIFTKIT_CACHE``, else ``$XDG_CACHE_HOME/swiftkit``, else ``~/.cache/swiftkit``."""
    if os.environ.get("SWIFTKIT_CACHE"):
        return Path(os.environ["SWIFTKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swiftkit"
