"""Per-GPU batch × gradient accumulation for a profile's effective batch, fitted to its card and data.

A profile may state the effective batch (sequences per optimizer step over every GPU and node) and leave
``per_device_train_batch_size`` and/or ``gradient_accumulation_steps`` as ``auto``. The effective batch fixes the
number of optimizer steps and so the learning-rate schedule; only how each step is cut into forward passes
changes. The per-GPU batch is the largest divisor of the per-GPU share whose predicted peak (:mod:`vram`, for the
longest record of the data: ms-swift pads a batch to its longest record) fits ``FIT_FRACTION`` of the card.
Nothing is dropped: ``max_length`` is not touched, so a record longer than it is still refused by the data check.

``gradient_checkpointing: auto`` is decided with the batch: off when the batch fitted without it needs no more
forward passes per step than the batch fitted with it, else on. A LoRA step on a GPU is bound by kernel launches
more than by arithmetic, so one pass of 16 with recomputation beats two passes of 8 without it (measured on an
H200: 27.9 s vs 31.7 s for the mixed identity + Alpaca job, bench/results/), and memory drops by 2.4x.

``use_liger_kernel: auto`` is decided with both: the batch and checkpointing are fitted without Liger and with it,
and Liger stays off when the batches are padding-free and the fit without it fits the card, needs no more forward
passes per step and no recomputation; else on. Liger's fused kernels save memory (no logits held) but cost time
when memory is not short: on an H200 (FlashAttention-4, padding-free) the mixed job ran 0.357 s/step without them
against 0.406 with (train time -15%, same loss; bench/results/nvidia-h200-2026-12-03-issue25-final.md). Where the
fit without Liger needs checkpointing, memory is short and Liger stays on (no measurement says dropping it then
wins); with padded batches (SDPA) Liger was the faster one (0.78 vs 0.86 s a step at 8 x 2,
bench/results/nvidia-h200-2026-11-28-issue16.md), so it stays on there too. Off on the CPU and when liger-kernel is
not installed (found without importing it); an explicit true/false always wins.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import Optional, Union

from swiftkit.config.schema import AUTO, Profile
from swiftkit.data.resolve import BatchChoice
from swiftkit.errors import SwiftkitError
from swiftkit.sizing import vram
from swiftkit.sizing.card import fit_card
from swiftkit.sizing.gpus import Gpu
from swiftkit.sizing.shapes import shape_of

CPU_MAX_BATCH = 8  # no card to fit: the largest per-process batch chosen on the CPU
LIGER_INSTALL = "pip install 'swiftkit[gpu]'"
# measured with padding-free batches (FA4) on an H200: bench/results/nvidia-h200-2026-12-03-issue25-final.md
LIGER_GAIN = "~15% faster steps"
# with padded batches (SDPA, 8 x 2) Liger was the faster one: bench/results/nvidia-h200-2026-11-28-issue16.md
LIGER_PADDED = "Liger measured faster there (0.78 vs 0.86 s a step)"


def liger_installed() -> bool:
    """liger-kernel is importable here, found without importing it (no torch/triton on the plan path)."""
    return importlib.util.find_spec("liger_kernel") is not None


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
    budget = profile.gpu.memory * vram.FIT_FRACTION
    for batch in candidates:
        found = vram.estimate(profile, seq_len=seq_len, batch=batch)
        assert found is not None
        if found.gib <= budget:
            return batch, f"auto: predicted {found.gib:.1f} GiB of {profile.gpu.memory:g} GB for {length_note}"
    return candidates[-1], f"auto: even batch {candidates[-1]} is predicted over the card for {length_note}"


def _with_train(profile: Profile, **values: Union[bool, str]) -> Profile:
    return profile.model_copy(update={"train": profile.train.model_copy(update=values)})


def _with_checkpointing(profile: Profile, value: bool) -> Profile:
    return _with_train(profile, gradient_checkpointing=value)


def _fits(profile: Profile, batch: int) -> bool:
    assert profile.gpu is not None
    found = vram.estimate(profile, batch=batch)
    return found is not None and found.gib <= profile.gpu.memory * vram.FIT_FRACTION


def _on_cpu(profile: Profile) -> bool:
    return profile.gpu is None or profile.swift_args.get("use_cpu") in (True, "true", "True")


def _recomputes(profile: Profile, choice: BatchChoice) -> bool:
    """Whether the fitted run recomputes activations ('auto' decided by the choice, else the profile's value)."""
    return bool(choice.checkpointing if choice.checkpointing is not None else profile.train.gradient_checkpointing)


def _shown(profile: Profile, choice: BatchChoice) -> str:
    return f"{choice.per_device} × {choice.accumulation}{' with checkpointing' if _recomputes(profile, choice) else ''}"


def choose(profile: Profile, liger: Optional[bool] = None) -> BatchChoice:
    """The per-GPU batch and accumulation ms-swift gets (and checkpointing and Liger, when 'auto'); explicit values
    in the profile always win. ``liger``: whether liger-kernel is installed (default: found here; tests pass it)."""
    if profile.train.use_liger_kernel != AUTO:
        return _choose_checkpointing(profile)
    off, on = _with_train(profile, use_liger_kernel=False), _with_train(profile, use_liger_kernel=True)
    if _on_cpu(profile):
        return replace(_choose_checkpointing(off), liger=False, liger_why="no GPU")
    without = _choose_checkpointing(off)
    if not (liger_installed() if liger is None else liger):
        why = f"liger-kernel is not installed: {LIGER_INSTALL}"
        if shape_of(profile) is not None:
            with_ = _choose_checkpointing(on)
            if (with_.accumulation, _recomputes(on, with_)) < (without.accumulation, _recomputes(off, without)):
                why += f" for {_shown(on, with_)} instead"
        return replace(without, liger=False, liger_why=why)
    with_ = _choose_checkpointing(on)
    if shape_of(profile) is None:  # memory unknown: the safe side
        return replace(with_, liger=True, liger_why="the model's shape is unknown offline, so the lower-memory side")
    recomputes = _recomputes(off, without)
    fitted_off = _with_checkpointing(off, recomputes)
    if not _fits(fitted_off, without.per_device):
        why = f"without them even {_shown(off, without)} is predicted over the card"
    elif without.accumulation > with_.accumulation:
        why = f"without them {_shown(off, without)}, more forward passes per step than {_shown(on, with_)}"
    elif recomputes:
        why = f"without them {without.per_device} × {without.accumulation} needs checkpointing: memory is short"
    elif profile.train.padding_free is not True:
        why = f"padded batches: {LIGER_PADDED}"
    else:
        return replace(without, liger=False, liger_why=f"{_shown(off, without)} fits without them; {LIGER_GAIN}")
    return replace(with_, liger=True, liger_why=why)


def _choose_checkpointing(profile: Profile) -> BatchChoice:
    """The batch, and checkpointing when 'auto' (``profile``'s Liger setting is concrete)."""
    if profile.train.gradient_checkpointing != AUTO:
        return _choose_batch(profile)
    if profile.gpu is None:  # nothing to fit on the CPU: recomputation would only cost time
        return replace(_choose_batch(_with_checkpointing(profile, False)), checkpointing=False)
    if shape_of(profile) is None:  # memory unknown: the safe side
        return replace(_choose_batch(_with_checkpointing(profile, True)), checkpointing=True)
    without = _choose_batch(_with_checkpointing(profile, False))
    with_ = _choose_batch(_with_checkpointing(profile, True))
    if _fits(_with_checkpointing(profile, False), without.per_device) and without.accumulation <= with_.accumulation:
        return replace(without, checkpointing=False)
    return replace(with_, checkpointing=True)


def _choose_batch(profile: Profile) -> BatchChoice:
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


def apply(
    profile: Profile,
    choice: Optional[BatchChoice] = None,
    gpus: Optional[list[Gpu]] = None,
    liger: Optional[bool] = None,
) -> tuple[Profile, BatchChoice]:
    """The profile fitted to the visible card (:mod:`card`: memory, attention, padding) with concrete batch numbers,
    checkpointing and Liger (a copy when anything was 'auto'), and the choice. ``gpus``: what nvidia-smi shows;
    ``liger``: whether liger-kernel is installed (tests pass fakes)."""
    carded = fit_card(profile, gpus)
    profile = carded.profile
    choice = replace(choice or choose(profile, liger), card=tuple(carded.notes))
    t = profile.train
    update: dict[str, object] = {}
    if t.per_device_train_batch_size == AUTO or t.gradient_accumulation_steps == AUTO:
        update.update(per_device_train_batch_size=choice.per_device, gradient_accumulation_steps=choice.accumulation)
    if t.gradient_checkpointing == AUTO:
        assert choice.checkpointing is not None
        update["gradient_checkpointing"] = choice.checkpointing
    if t.use_liger_kernel == AUTO:
        assert choice.liger is not None
        update["use_liger_kernel"] = choice.liger
    if not update:
        return profile, choice
    return profile.model_copy(update={"train": t.model_copy(update=update)}), choice
