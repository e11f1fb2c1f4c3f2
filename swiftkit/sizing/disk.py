"""Will the run fit on disk? What training writes (checkpoints x save_total_limit) and what export writes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.sizing.shapes import DTYPE_BYTES, Shape, lora_params, shape_of

CHECKPOINT_OVERHEAD = 2 * 1024 * 1024  # trainer state, scheduler, rng, args, tokenizer copies
MARGIN = 1.1


@dataclass
class DiskEstimate:
    checkpoint_bytes: int
    checkpoints_kept: int
    merged_bytes: int
    total_bytes: int
    free_bytes: int
    folder: str

    @property
    def fits(self) -> bool:
        return self.free_bytes >= self.total_bytes * MARGIN


def free_bytes(path: Path) -> tuple[Path, int]:
    """Free space on the file system of ``path`` (its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free


def checkpoint_bytes(profile: Profile, shape: Shape) -> int:
    """One checkpoint on this node.

    LoRA: the fp32 adapter and AdamW's two fp32 moments (12 B a trainable parameter). Full fine-tuning: the
    weights in their dtype and two moments in it. DeepSpeed writes its optimizer state as one shard a rank
    (``global_stepN/*zero_pp_rank_R*``: fp32 master weight + two moments, 12 B a trainable parameter, plus the
    16-bit trainable weights), so a node holds its own ranks' shares; the adapter (or, for full fine-tuning, the
    gathered 16-bit model) is written by rank 0 only."""
    size = DTYPE_BYTES[profile.train.torch_dtype]
    full = profile.lora.tuner_type == "full"
    trainable = shape.params if full else lora_params(shape, profile.lora.lora_rank, profile.lora.target_modules)
    weights = shape.params * size if full else trainable * 4
    rank0 = weights if profile.launch.node_rank == 0 else 0
    if profile.train.deepspeed is None:
        optimizer = trainable * (2 * size if full else 8)
        return rank0 + (optimizer if profile.launch.node_rank == 0 else 0) + CHECKPOINT_OVERHEAD
    share = profile.gpus_per_node / profile.world_size
    shards = int(trainable * (12 + size) * share)
    return rank0 + shards + CHECKPOINT_OVERHEAD


def estimate(profile: Profile, free: Optional[int] = None) -> Optional[DiskEstimate]:
    """None when the model's shape is unknown (nothing to estimate from)."""
    shape = shape_of(profile)
    if shape is None:
        return None
    checkpoint = checkpoint_bytes(profile, shape)
    kept = profile.train.save_total_limit + 1  # a new checkpoint is written before the oldest is deleted
    merged = 0
    if profile.export.merge_lora and profile.lora.tuner_type == "lora" and profile.launch.node_rank == 0:
        merged = shape.params * DTYPE_BYTES[profile.train.torch_dtype]
    folder, available = free_bytes(Path(profile.output_dir))
    total = checkpoint * kept + merged
    return DiskEstimate(checkpoint, kept, merged, total, available if free is None else free, str(folder))


def size(n: float) -> str:
    """Bytes in the unit that shows the difference: GiB, MiB or KiB, with enough digits."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n / 1024:.1f} KiB"


def refusal(e: DiskEstimate) -> str:
    return (
        f"not enough disk space in {e.folder}: the run needs about {size(e.total_bytes)} "
        f"({e.checkpoints_kept} checkpoints x {size(e.checkpoint_bytes)} + merged model {size(e.merged_bytes)}; "
        f"{size(e.total_bytes * MARGIN)} with a {round((MARGIN - 1) * 100)}% margin) and {size(e.free_bytes)} is free. "
        "Free some space, lower train.save_total_limit, or change output_dir."
    )
