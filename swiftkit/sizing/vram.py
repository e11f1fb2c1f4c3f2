"""Predicted peak GPU memory of a profile's LoRA training run, from the model's shape (no torch, no GPU).

The formula, in bytes, for a decoder with ``n`` layers, hidden size ``h``, MLP size ``i`` and vocabulary ``V``,
trained on batches of ``T = batch × S`` tokens (``S``: the longest sequence; ms-swift pads each batch to its
longest record, so the worst batch holds the longest one):

    weights      P × dtype bytes                                  P: parameters, from the shape
    LoRA state   P_lora × 16                                      fp32 weight, gradient, two AdamW moments
    activations  T × n × A × (h + i) × d                          without gradient checkpointing
                 T × (n × 2 × h + A × (h + i)) × d                with it: every layer's input + one layer
    logits       T × V × L                                        bf16 logits, fp32 copy, log-softmax, gradients
    overhead     C                                                CUDA context, cuBLAS workspaces, allocator

with ``d`` = dtype bytes / 2. Liger kernels (``train.use_liger_kernel``) chunk the loss, so ``logits`` drops out,
and fuse RMSNorm/SwiGLU, which scales un-checkpointed activations by ``LIGER_ACTIVATIONS``.

Calibration (``bench/README.md`` has the tables): ``A`` and ``L`` were fitted to 20 shapes of a random-init
Qwen2.5-7B-shaped model on one H100 80GB (``bench/vram_probe.py``: batch 1-16, length 64-2048, checkpointing on
and off), whose ``torch.cuda.max_memory_reserved`` they reproduce within ±1%; ``C`` and the Liger factor were
fitted to the ``nvidia-smi`` peaks of real ``swiftkit train`` runs (``bench/gpu_bench.py``), which the estimate
reproduces within ±2% (+3.3% for a run with LoRA dropout off, which the formula does not model).

How it extrapolates: linearly in batch × length (attention through sdpa/flash holds no length² term; eager
attention is not modelled). Activations scale with ``n × (h + i)`` and logits with ``V``: other Qwen2/Llama-style
models follow from their shapes, but only the 7B shape was measured. Other dtypes scale weights and activations by
their bytes. ``C`` was measured on an H100 (CUDA 13, torch 2.11); smaller cards' contexts are smaller, so the
estimate errs high there. Sequence lengths come from the profile's local dataset files, estimated from characters
(see :func:`estimate_tokens`; deliberately high for Chinese with large-vocabulary tokenizers), capped at
``train.max_length``; with hub datasets the estimate assumes ``max_length``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from swiftkit.config.schema import Profile
from swiftkit.data.readers import records_only, walk_strings
from swiftkit.model.locate import model_path
from swiftkit.sizing.shapes import DTYPE_BYTES, KNOWN, Shape, lora_params, shape_of

GIB = 1024**3
ACTIVATION_BYTES = 13.03  # A: bytes per token, per layer, per unit of (h + i), bf16, no checkpointing
LOGIT_BYTES = 13.77  # L: bytes per token per vocabulary entry
OVERHEAD_GIB = 1.30  # C: nvidia-smi peak of a swiftkit train run minus what the terms above hold (H100)
LIGER_ACTIVATIONS = 0.87  # un-checkpointed activations with Liger's fused RMSNorm/SwiGLU
LORA_STATE_BYTES = 16
FULL_STATE_BYTES = 8  # full fine-tuning, bf16 weights: gradient + two AdamW moments in the weights' dtype (+ weight)
FULL_STATE_BYTES_DS = 14  # with DeepSpeed: fp32 master weight + two fp32 moments + a bf16 gradient
QUANT_CONSTANTS = 1.035  # 4-bit blocks of 64 with double-quantised absmax constants: ~0.13 bits a weight more
ZERO3_BUFFERS = 7.2  # fitted to one run: Qwen2.5-32B shape, ZeRO-3 over 2 H200s, 8 x 101 tokens: 67.6 GiB
FIT_FRACTION = 0.9  # an automatic batch leaves a tenth of the card free (fragmentation, estimate error)
TEMPLATE_TOKENS_PER_MESSAGE = 6  # chat markup around each message (<|im_start|>role\n … <|im_end|>\n)
DEFAULT_SYSTEM_TOKENS = 20  # a template's own system prompt when the profile sets none
MAX_RECORDS = 200_000  # records read per dataset file for the length estimate


@dataclass(frozen=True)
class Estimate:
    """A predicted peak (GiB, as nvidia-smi reports it), its parts (GiB) and what it assumed."""

    gib: float
    breakdown: dict[str, float]
    note: str


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``, estimated from characters: ASCII at 3.5 characters a token, any other character 2.

    English runs at about 3.7 characters a token with common BPE tokenizers. Chinese runs at about 1.7 tokens a
    character with small English-centred vocabularies (SmolLM2, measured) and about 0.7 with Qwen2.5's, so the
    estimate is high for Qwen: memory is over-predicted, never under.
    """
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 3.5 + 2 * (len(text) - ascii_chars))


NOT_TEXT = frozenset({"role", "from", "loss"})  # message keys whose values are markup, not text


def record_tokens(record: Any, system_tokens: int, count: Callable[[str], int] = estimate_tokens) -> int:
    """Tokens of one training record as a chat: its texts, the system prompt and the markup."""
    texts = [text for _, text in walk_strings(record, skip_keys=NOT_TEXT) if text]
    return system_tokens + sum(count(t) for t in texts) + TEMPLATE_TOKENS_PER_MESSAGE * (len(texts) + 1)


def token_counter(profile: Profile) -> tuple[Callable[[str], int], str]:
    """The model's own tokenizer when its folder has one (exact), else the estimate from characters."""
    tokenizer_file = Path(model_path(profile)) / "tokenizer.json"
    if tokenizer_file.is_file():
        try:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception:  # an unreadable tokenizer: fall back to the estimate
            return estimate_tokens, "estimated from characters"
        return (lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)), "the model's tokenizer"
    return estimate_tokens, "estimated from characters"


def sequence_tokens(profile: Profile) -> tuple[int, str]:
    """The longest sequence a batch will hold, and how it was found."""
    max_length = profile.train.max_length
    count, how = token_counter(profile)
    system = count(profile.system) if profile.system else DEFAULT_SYSTEM_TOKENS
    longest, files = 0, []
    for entry in profile.data.datasets:
        if entry.path is None:
            return max_length, f"max_length {max_length} (hub dataset {entry.hub}: lengths unknown)"
        path = Path(entry.path)
        if not path.is_file():
            return max_length, f"max_length {max_length} ({path} not found)"
        for seen, (_, value) in enumerate(records_only(path)):
            if seen >= MAX_RECORDS:
                break
            longest = max(longest, record_tokens(value, system, count))
        files.append(path.name)
    if longest == 0:
        return max_length, f"max_length {max_length} (no records read)"
    if longest >= max_length:
        return max_length, f"max_length {max_length} (longest record of {', '.join(files)} is ~{longest} tokens)"
    return longest, f"~{longest} tokens, the longest record of {', '.join(files)} ({how})"


def weight_split(shape: Shape) -> tuple[int, int]:
    """(parameters in the decoder's linear layers, the rest: embeddings, LM head, norms)."""
    rest = shape.vocab * shape.hidden * (1 if shape.tie_embeddings else 2) + shape.hidden * (2 * shape.layers + 1)
    return shape.params - rest, rest


def zero3_working_set(shape: Shape, size: int) -> float:
    """Bytes ZeRO-3 holds beyond its shard: gathered layers, prefetch and communication buffers, scaled from the
    working set (the layer being computed and the one prefetched, or the embeddings) by ``ZERO3_BUFFERS``."""
    linear, _ = weight_split(shape)
    return ZERO3_BUFFERS * max(2 * linear / shape.layers, shape.vocab * shape.hidden) * size


def _activation_bytes(
    shape: Shape, tokens: int, size: int, gradient_checkpointing: bool, use_liger_kernel: bool
) -> tuple[float, float]:
    """Activations kept for the backward pass, and the logits (none with Liger's fused loss)."""
    scale = size / 2
    n, h, i = shape.layers, shape.hidden, shape.intermediate
    layer = ACTIVATION_BYTES * (h + i) * scale * (LIGER_ACTIVATIONS if use_liger_kernel else 1.0)
    if gradient_checkpointing:
        activations = tokens * (n * 2 * h * scale + layer)
    else:
        activations = tokens * n * layer
    logits = 0.0 if use_liger_kernel else tokens * shape.vocab * LOGIT_BYTES
    return activations, logits


def _per_gpu(
    shape: Shape, size: int, weights: float, state: float, deepspeed: Optional[str], world: int
) -> tuple[float, float, dict[str, float]]:
    """Weights and optimizer state one GPU holds under ZeRO (split over ``world``, or offloaded), and ZeRO-3's
    working set."""
    extra: dict[str, float] = {}
    shards = max(world, 1)
    if deepspeed in ("zero2", "zero3"):
        state /= shards
    elif deepspeed == "zero3_offload":
        state = 0.0
    if deepspeed in ("zero3", "zero3_offload"):
        weights = weights / shards if deepspeed == "zero3" else 0.0
        extra["zero3 buffers"] = zero3_working_set(shape, size) / GIB
    return weights, state, extra


def peak(
    shape: Shape,
    *,
    batch: int,
    seq_len: int,
    gradient_checkpointing: bool,
    lora_rank: int = 8,
    target_modules: Optional[list[str]] = None,
    torch_dtype: str = "bfloat16",
    use_liger_kernel: bool = False,
    overhead_gib: float = OVERHEAD_GIB,
    tuner_type: str = "lora",
    quant_bits: Optional[int] = None,
    deepspeed: Optional[str] = None,
    world: int = 1,
) -> Estimate:
    """The formula of this module for explicit settings (``estimate`` fills them from a profile).

    Per GPU, for ``world`` training processes: DDP holds everything on every GPU (plus its gradient buckets);
    ZeRO-2 splits gradients and optimizer state over the GPUs, ZeRO-3 the weights too (plus the working set it
    gathers); ``*_offload`` moves optimizer state (and for zero3 the weights) to CPU memory. QLoRA holds the
    decoder's linear layers in ``quant_bits`` (plus double-quantised constants), the rest in ``torch_dtype``.
    """
    size = DTYPE_BYTES[torch_dtype]
    tokens = batch * seq_len
    activations, logits = _activation_bytes(shape, tokens, size, gradient_checkpointing, use_liger_kernel)
    linear, rest = weight_split(shape)
    if quant_bits is not None:
        weights = linear * quant_bits / 8 * QUANT_CONSTANTS + rest * size
    else:
        weights = float(shape.params * size)
    full = tuner_type == "full"
    trainable = shape.params if full else lora_params(shape, lora_rank, target_modules or ["all-linear"])
    state_bytes = (FULL_STATE_BYTES_DS if deepspeed else FULL_STATE_BYTES) if full else LORA_STATE_BYTES
    weights, state, extra = _per_gpu(shape, size, weights, float(trainable * state_bytes), deepspeed, world)
    if world > 1 and deepspeed is None:
        extra["ddp buckets"] = trainable * (4 if not full else size) / GIB
    parts = {
        "weights": weights / GIB,
        "full" if full else "lora": state / GIB,
        "activations": activations / GIB,
        "logits": logits / GIB,
        **extra,
        "overhead": overhead_gib,
    }
    parts = {k: round(v, 2) for k, v in parts.items()}
    return Estimate(gib=round(sum(parts.values()), 1), breakdown=parts, note=f"batch {batch} × {seq_len} tokens")


def estimate(profile: Profile, seq_len: Optional[int] = None, batch: Optional[int] = None) -> Optional[Estimate]:
    """Predicted peak GPU memory of ``swiftkit train`` for a GPU profile; None for CPU profiles or unknown models.

    ``seq_len`` overrides the sequence length found from the data (e.g. ms-swift's reported maximum).
    """
    if profile.gpu is None:
        return None
    shape = shape_of(profile)
    if shape is None:
        return None
    model = profile.model.model
    shape_note = f"shape of {model} (built-in table)" if model in KNOWN else f"shape from {model}/config.json"
    if seq_len is None:
        seq_len, length_note = sequence_tokens(profile)
    else:
        length_note = f"{seq_len} tokens (given)"
    t = profile.train
    if batch is None:
        batch = t.per_device_train_batch_size if isinstance(t.per_device_train_batch_size, int) else 1
    result = peak(
        shape,
        batch=batch,
        seq_len=seq_len,
        gradient_checkpointing=t.gradient_checkpointing is not False,  # 'auto' unresolved: as if on
        lora_rank=profile.lora.lora_rank,
        target_modules=profile.lora.target_modules,
        torch_dtype=t.torch_dtype,
        # 'auto' unresolved (fit.apply makes it a bool before plan and train estimate): as if on, the lower bound.
        # fit turns Liger off only where the estimate without it fits the card too, so a warning from this
        # estimate is one the fitted run would get as well.
        use_liger_kernel=t.use_liger_kernel is not False,
        tuner_type=profile.lora.tuner_type,
        quant_bits=profile.quant.quant_bits if profile.quant else None,
        deepspeed=t.deepspeed,
        world=profile.world_size,
    )
    per_gpu = f" per GPU of {profile.world_size}" if profile.world_size > 1 else ""
    notes = [f"batch {batch}{per_gpu} × {length_note}", shape_note]
    if t.attn_impl == "eager":
        notes.append("eager attention adds memory growing with length² that this estimate leaves out")
    return Estimate(gib=result.gib, breakdown=result.breakdown, note="; ".join(notes))


def warning(profile: Profile, estimate: Estimate) -> Optional[str]:
    """A message with the next step when the predicted peak exceeds the profile's card, else None."""
    if profile.gpu is None or estimate.gib <= profile.gpu.memory:
        return None
    t = profile.train
    fixes = []
    if t.gradient_checkpointing is False:
        fixes.append("--set train.gradient_checkpointing=true")
    batch, accumulation = t.per_device_train_batch_size, t.gradient_accumulation_steps
    if isinstance(batch, int) and isinstance(accumulation, int) and batch > 1:
        fixes.append(
            f"--set train.per_device_train_batch_size={batch // 2} "
            f"--set train.gradient_accumulation_steps={accumulation * 2} (same effective batch)"
        )
    if t.use_liger_kernel is False:  # 'auto' turns it on where memory is short
        fixes.append("--set train.use_liger_kernel=true (needs 'pip install liger-kernel')")
    fixes.append("a lower train.max_length (longer records are dropped)")
    return (
        f"predicted peak GPU memory {estimate.gib:.1f} GiB exceeds this profile's {profile.gpu.memory:g} GB card "
        f"({estimate.note}). To fit, try: " + "; or ".join(fixes) + "."
    )
