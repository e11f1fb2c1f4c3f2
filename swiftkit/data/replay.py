"""Self-replay: the base model's own answers to general prompts, saved as Alpaca data and cached per model.

Mixed into identity training, they keep the model's general behaviour without downloading anything.
Cache: ``$SWIFTKIT_CACHE/replay/<model>/<key>.json`` where the key covers everything that shapes the answers
(prompts, model, template, system prompt, generation settings).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from swiftkit.cache import cache_dir
from swiftkit.config.schema import Profile
from swiftkit.data.prompts import load_prompts
from swiftkit.fsutil import atomic_write_json
from swiftkit.model.locate import model_key, model_path


def cache_key(profile: Profile, prompts: list[str]) -> str:
    settings: dict[str, object] = {
        "model": model_path(profile),
        "model_type": profile.model.model_type,
        "template": profile.model.template,
        "system": profile.system,
        "temperature": profile.infer.temperature,
        "max_new_tokens": profile.infer.max_new_tokens,
        "dtype": profile.train.torch_dtype,
        "prompts": prompts,
    }
    if profile.infer.repetition_penalty is not None:  # only when set: keys made before it counted stay valid
        settings["repetition_penalty"] = profile.infer.repetition_penalty
    return hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def replay_path(profile: Profile, prompts_file: Path) -> Path:
    prompts = [p.prompt for p in load_prompts(prompts_file)]
    return cache_dir() / "replay" / model_key(profile) / f"{prompts_file.stem}-{cache_key(profile, prompts)}.json"


def to_alpaca(prompts: list[str], answers: list[str]) -> list[dict[str, str]]:
    """Alpaca records; empty answers are left out (they would teach the model to say nothing)."""
    pairs = zip(prompts, answers, strict=True)
    return [{"instruction": p, "input": "", "output": a.strip()} for p, a in pairs if a.strip()]


def save(path: Path, records: list[dict[str, str]]) -> Path:
    return atomic_write_json(path, records)
