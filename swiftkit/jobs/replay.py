"""The base model's own answers: cached per model and settings, and saved as self-replay data for mixing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from swiftkit.cache import cache_dir
from swiftkit.data.prompts import load_prompts
from swiftkit.data.replay import cache_key, replay_path, save, to_alpaca
from swiftkit.data.resolve import ResolvedModel
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_json
from swiftkit.jobs.infer import Progress, answer_prompts
from swiftkit.model.locate import ensure_model, model_key
from swiftkit.swift.version import SwiftFlavor


def base_answers(
    model: ResolvedModel,
    flavor: SwiftFlavor,
    prompts: list[str],
    name: str,
    force: bool = False,
    on_progress: Optional[Progress] = None,
) -> list[str]:
    """The base model's answers to ``prompts`` (``model`` without its checkpoint), cached per model and settings
    (they never change); ``on_progress(answered, total)`` hears how far ms-swift is when they are made now."""
    base = model.base
    path = cache_dir() / "answers" / model_key(base.profile) / f"{name}-{cache_key(base.profile, prompts)}.json"
    if path.is_file() and not force:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("prompts") == prompts:
                return list(data["answers"])
        except (OSError, ValueError, AttributeError):
            pass  # a damaged cache entry is made again
    ensure_model(base.profile)
    answers = answer_prompts(base, flavor, prompts, on_progress=on_progress)
    atomic_write_json(path, {"prompts": prompts, "answers": answers})
    return answers


def ensure_replay(
    base: ResolvedModel,
    flavor: SwiftFlavor,
    prompts_file: Path,
    force: bool = False,
    on_progress: Optional[Progress] = None,
) -> tuple[Path, bool]:
    """The self-replay file for ``prompts_file`` (made now if missing); returns (path, made_now)."""
    path = replay_path(base.profile, prompts_file)
    if path.is_file() and not force:
        return path, False
    prompts = [p.prompt for p in load_prompts(prompts_file)]
    answers = base_answers(base, flavor, prompts, prompts_file.stem, force=force, on_progress=on_progress)
    records = to_alpaca(prompts, answers)
    if not records:
        raise SwiftkitError(f"the base model gave no usable answers to {prompts_file}; check the model and template.")
    save(path, records)
    return path, True
