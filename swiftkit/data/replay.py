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
from swiftkit.data.loops import degenerate, echoes
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


# What `to_alpaca` leaves out is part of the replay file's name: files made before the filter (no suffix) are not
# reused, and a new one is made from the cached answers (no model run).
FILTER = "f1"


def replay_path(profile: Profile, prompts_file: Path) -> Path:
    prompts = [p.prompt for p in load_prompts(prompts_file)]
    key = cache_key(profile, prompts)
    return cache_dir() / "replay" / model_key(profile) / f"{prompts_file.stem}-{key}-{FILTER}.json"


def usable(prompt: str, answer: str) -> bool:
    """An answer worth training on: not empty (it would teach the model to say nothing), not a loop and not the
    prompt said back (they would teach it to loop and echo, the small models' failures on identity probes)."""
    return bool(answer.strip()) and not degenerate(answer) and not echoes(prompt, answer)


def to_alpaca(prompts: list[str], answers: list[str]) -> list[dict[str, str]]:
    """Alpaca records of the usable answers (see ``usable``)."""
    pairs = zip(prompts, answers, strict=True)
    return [{"instruction": p, "input": "", "output": a.strip()} for p, a in pairs if usable(p, a)]


def save(path: Path, records: list[dict[str, str]]) -> Path:
    return atomic_write_json(path, records)
