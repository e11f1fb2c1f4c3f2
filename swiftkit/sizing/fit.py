"""Per-GPU batch × gradient accumulation for a profile's effective batch, fitted to its card and data.

A profile may state the effective batch (sequences per optimizer step over every GPU and node) and leave
``per_device_train_batch_size`` and/or ``gradient_accumulation_steps`` as ``auto``. The effective batch fixes the
number of optimizer steps and so the learning-rate schedule; only how each step is cut into forward passes
changes. The per-GPU batch is the largest divisor of the per-GPU share whose predicted peak (:mod:`vram`, for the
longest record of the data: ms-swift pads a batch to its longest record) fits ``FIT_FRACTION`` of the card.
Nothing is dropped: ``max_length`` is not touched, so a record longer than it is still refused by the data check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftkit.config.schema import AUTO, Profile
from swiftkit.errors import SwiftkitError
from swiftkit.sizing import vram
from swiftkit.sizing.shapes import shape_of

CPU_MAX_BATCH = 8  # no card to fit: the largest per-process batch chosen on the CPU


@dataclass(frozen=True)
class BatchChoice:
    per_device: int
    accumulation: int
    world: int
    auto: bool
    note: str = ""

    @property
    def effective(self) -> int:
        return self.per_device * self.accumulation * self.world

    def line(self) -> str:
        gpus = f" × {self.world} processes" if self.world > 1 else ""
        how = f" ({self.note})" if self.note else ""
        return (
            f"batch: {self.per_device} per forward pass × {self.accumulation} accumulation{gpus} = "
            f"{self.effective} sequences per optimizer step{how}"
        )


def _divisors(n: int) -> list[int]:
    return sorted((d for d in range(1, n + 1) if n % d == 0), reverse=True)


def _share(effective: int, world: int) -> int:
    if effective % world:
        raise SwiftkitError(
            f"train.effective_batch_size {effective} does not split over {world} training processes; "
            f"use a multiple of {world}."
        )
    return effective // world


def _largest_fitting(profile: Profile, candidates: list[int]) -> tuple[int, str]:
    if profile.gpu is None:
        return next(b for b in candidates if b <= CPU_MAX_BATCH), f"CPU: at most {CPU_MAX_BATCH} per pass"
    if shape_of(profile) is None:
        return 1, "the model's shape is unknown offline, so the smallest batch"
    seq_len, length_note = vram.sequence_tokens(profile)
    budget = profile.gpu.memory_gb * vram.FIT_FRACTION
    for batch in candidates:
        found = vram.estimate(profile, seq_len=seq_len, batch=batch)
        assert found is not None
        if found.gib <= budget:
            return batch, f"auto: predicted {found.gib:.1f} GiB of {profile.gpu.memory_gb:g} GB for {length_note}"
    return candidates[-1], f"auto: even batch {candidates[-1]} is predicted over the card for {length_note}"


def choose(profile: Profile) -> BatchChoice:
    """The per-GPU batch and accumulation ms-swift gets; explicit numbers in the profile always win."""
    t = profile.train
    world = profile.world_size
    batch, accumulation, effective = (
        t.per_device_train_batch_size,
        t.gradient_accumulation_steps,
        t.effective_batch_size,
    )
    if isinstance(batch, int) and isinstance(accumulation, int):
        choice = BatchChoice(batch, accumulation, world, auto=False)
        if effective is not None and choice.effective != effective:
            raise SwiftkitError(
                f"train.effective_batch_size {effective} disagrees with per_device_train_batch_size {batch} × "
                f"gradient_accumulation_steps {accumulation} × {world} processes = {choice.effective}; "
                "set one of them to 'auto' or make them agree."
            )
        return choice
    assert effective is not None  # the schema requires it with 'auto'
    share = _share(effective, world)
    if isinstance(batch, int):
        if share % batch:
            raise SwiftkitError(
                f"per_device_train_batch_size {batch} does not divide the {share} sequences each process gets "
                f"per step (effective_batch_size {effective} / {world}); pick a divisor of {share} or 'auto'."
            )
        return BatchChoice(batch, share // batch, world, auto=True, note="accumulation from effective_batch_size")
    if isinstance(accumulation, int):
        if share % accumulation:
            raise SwiftkitError(
                f"gradient_accumulation_steps {accumulation} does not divide the {share} sequences each process "
                f"gets per step (effective_batch_size {effective} / {world}); pick a divisor of {share} or 'auto'."
            )
        return BatchChoice(share // accumulation, accumulation, world, auto=True, note="batch = share / accumulation")
    chosen, note = _largest_fitting(profile, _divisors(share))
    return BatchChoice(chosen, share // chosen, world, auto=True, note=note)


def apply(profile: Profile, choice: Optional[BatchChoice] = None) -> tuple[Profile, BatchChoice]:
    """The profile with concrete batch numbers (a copy when anything was 'auto'), and the choice."""
    choice = choice or choose(profile)
    t = profile.train
    if t.per_device_train_batch_size != AUTO and t.gradient_accumulation_steps != AUTO:
        return profile, choice
    train = t.model_copy(
        update={"per_device_train_batch_size": choice.per_device, "gradient_accumulation_steps": choice.accumulation}
    )
    return profile.model_copy(update={"train": train}), choice
