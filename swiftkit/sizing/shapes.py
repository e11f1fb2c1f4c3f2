"""Model shapes without loading a model: a local config.json, or a table of well-known hub models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.model.locate import model_path

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}  # bytes per weight of each --torch_dtype


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tie_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def params(self) -> int:
        h, i, kv = self.hidden, self.intermediate, self.kv_heads * self.head_dim
        per_layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h  # q,o + k,v (+ biases ignored) + mlp + norms
        embeddings = self.vocab * h * (1 if self.tie_embeddings else 2)
        return self.layers * per_layer + embeddings + h


KNOWN: dict[str, Shape] = {
    "Qwen/Qwen2.5-7B-Instruct": Shape(3584, 18944, 28, 28, 4, 152064, False),
    "Qwen/Qwen2.5-3B-Instruct": Shape(2048, 11008, 36, 16, 2, 151936, True),
    "Qwen/Qwen2.5-1.5B-Instruct": Shape(1536, 8960, 28, 12, 2, 151936, True),
    "Qwen/Qwen2.5-0.5B-Instruct": Shape(896, 4864, 24, 14, 2, 151936, True),
}


def from_config(config: dict) -> Optional[Shape]:
    try:
        return Shape(
            hidden=int(config["hidden_size"]),
            intermediate=int(config["intermediate_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            kv_heads=int(config.get("num_key_value_heads") or config["num_attention_heads"]),
            vocab=int(config["vocab_size"]),
            tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def shape_of(profile: Profile) -> Optional[Shape]:
    """The profile model's shape, or None when it cannot be known without downloading."""
    model = profile.model.model
    if model in KNOWN:
        return KNOWN[model]
    config = Path(model_path(profile)) / "config.json"
    if config.is_file():
        try:
            return from_config(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
    return None


LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_params(shape: Shape, rank: int, targets: list[str]) -> int:
    """Trainable LoRA parameters: r x (in + out) for every targeted linear layer."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
    dims = {
        "q_proj": (h, h),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (h, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }
    names = LINEAR if "all-linear" in targets else [t for t in targets if t in dims]
    return shape.layers * sum(rank * (dims[n][0] + dims[n][1]) for n in names)
