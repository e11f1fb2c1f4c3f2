"""Tiny randomly initialised models with the embedded model's tokenizer, for fast real ms-swift runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _build(out: Path, arch: str, tied: bool, seed: int) -> tuple[Any, Any]:
    """The model (hidden 64, 2 layers, 4 heads, 2 KV heads) and the SmolLM2 tokenizer; nothing saved yet."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from swiftkit.model import embedded

    gguf = embedded.gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = getattr(transformers, f"{arch}Config")(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return getattr(transformers, f"{arch}ForCausalLM")(config), tokenizer


def _save(out: Path, model: Any, tokenizer: Any) -> Path:
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def build_tiny_model(out: Path) -> Path:
    """A tiny ``llama`` model (tied output)."""
    return _save(out, *_build(out, "Llama", tied=True, seed=0))


def build_tiny_qwen2(out: Path) -> Path:
    """The same tiny shape as a ``qwen2`` model (q/k/v biases, untied output), with the same tokenizer."""
    import torch

    model, tokenizer = _build(out, "Qwen2", tied=False, seed=1)
    with torch.no_grad():  # random biases, so a wrong bias mapping shows in the answers
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return _save(out, model, tokenizer)
