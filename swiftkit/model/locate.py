"""Where a profile's model lives: an embedded model's cache folder, a local folder, or a hub id."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.model import embedded


def model_path(profile: Profile) -> str:
    """The value of ``--model``: the embedded model's converted folder, else the profile's model as written."""
    model = profile.model.model
    if embedded.is_embedded(model):
        return str(embedded.model_dir(model))
    return model


def is_local_path(model: str) -> bool:
    """A model given as a folder on this machine (not a hub id)."""
    return model.startswith(("/", ".", "~")) or os.path.isdir(model)


def is_local_model(profile: Profile) -> bool:
    model = profile.model.model
    return embedded.is_embedded(model) or is_local_path(model)


def model_key(profile: Profile) -> str:
    """A short, file-name-safe key for caches kept per model."""
    model = profile.model.model
    if embedded.is_embedded(model):
        return embedded.embedded_name(model)
    if Path(model).expanduser().exists():
        resolved = str(Path(model).expanduser().resolve())
        return f"{Path(resolved).name}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"
    return re.sub(r"[^A-Za-z0-9._-]+", "--", model)


def ensure_model(profile: Profile) -> Optional[Path]:
    """Convert the embedded model on first use; None for hub and local models (nothing to prepare)."""
    model = profile.model.model
    return embedded.ensure(model) if embedded.is_embedded(model) else None


def needs_conversion(profile: Profile) -> bool:
    """True when :func:`ensure_model` would convert the embedded model now (the first run on this machine)."""
    model = profile.model.model
    return embedded.is_embedded(model) and not embedded.is_ready(embedded.model_dir(model))
