"""Fit a GPU profile to the card that is there: its memory, and whether it runs FlashAttention-4.

Runs before the batch fit (:mod:`fit`), from ``nvidia-smi`` (no torch import), so ``plan`` and ``--dry-run`` see
the same choice ``train`` makes. On a machine without the card, ``plan`` sizes from the profile's numbers and says
so.

- ``gpu.memory_gb``: a number is a cap (a smaller visible card is fitted to its own memory); ``auto`` is the
  visible card's memory (:data:`AUTO_OFFLINE_GB` when none is visible).
- ``train.attn_impl: auto``: ``flash_attention_4`` when every training card is sm90 or newer and flash-attn-4 is
  installed, else ms-swift's default (SDPA). FA4's backward pass runs on Hopper and Blackwell only.
- ``train.padding_free: auto``: on exactly when the attention is a flash implementation (ms-swift refuses
  ``--padding_free`` with any other).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Optional

from swiftkit.config.schema import AUTO, AUTO_OFFLINE_GB, Profile
from swiftkit.errors import SwiftkitError
from swiftkit.sizing.gpus import Gpu, visible_gpus

FA4 = "flash_attention_4"
FLASH_IMPLS = ("flash_attn", "flash_attention_2", "flash_attention_3", FA4)
FA4_MIN_CAP = 9.0  # FA4 (CuTe DSL) has forward and backward kernels for sm90 (Hopper) and sm100+ only
FA4_INSTALL = "pip install 'swiftkit[hopper]' (flash-attn-4)"
FA4_CACHE_ON = "FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED"  # FA4's own switch: compiled kernels kept on disk
FA4_CACHE_DIR = "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"  # its folder; default TMPDIR/USER/flash_attention_cute_dsl_cache


def fa4_problem() -> str:
    """Why FlashAttention-4 cannot run here ('' when it can), found without importing anything: the flash-attn-4
    distribution (not FlashAttention-2's ``flash_attn``), its ``flash_attn`` package, and the CuTe DSL it compiles its
    kernels with (``cutlass/cute``, shipped by nvidia-cutlass-dsl's libs-core wheel). A partial install without the
    DSL passes the first two and fails only after the model has loaded (``No module named 'cutlass.cute'``: seen on
    an H100 with libs-core left out, bench/results/nvidia-h100-2026-12-08-issue25f-fa4-smoke.txt)."""
    try:
        importlib.metadata.distribution("flash-attn-4")
    except importlib.metadata.PackageNotFoundError:
        return f"flash-attn-4 is not installed ({FA4_INSTALL})"
    if importlib.util.find_spec("flash_attn") is None:
        return f"flash-attn-4 is not installed ({FA4_INSTALL})"
    dsl = importlib.util.find_spec("cutlass")
    places = list(dsl.submodule_search_locations or []) if dsl is not None else []
    if not any(os.path.isdir(os.path.join(place, "cute")) for place in places):
        return (
            "flash-attn-4 is installed but the CuTe DSL it compiles with is not (no cutlass.cute: nvidia-cutlass-dsl "
            f"is incomplete); reinstall it: {FA4_INSTALL}"
        )
    return ""


@dataclass
class CardFit:
    profile: Profile  # memory_gb, attn_impl and padding_free concrete
    notes: list[str] = field(default_factory=list)  # what was chosen and why, for plan and train


def _cards(profile: Profile, gpus: Optional[list[Gpu]]) -> list[Gpu]:
    assert profile.gpu is not None
    by_index = {g.index: g for g in gpus or []}
    return [by_index[i] for i in profile.gpu.indices if i in by_index]


def _memory(profile: Profile, cards: list[Gpu]) -> tuple[float, str]:
    assert profile.gpu is not None
    wanted = profile.gpu.memory_gb
    if not cards:
        if wanted == AUTO:
            return AUTO_OFFLINE_GB, f"no card visible: sized for {AUTO_OFFLINE_GB:g} GB (gpu.memory_gb: auto)"
        return float(wanted), f"no card visible: sized for the profile's gpu.memory_gb {wanted:g} GB"
    card = min(cards, key=lambda g: g.memory_gb)
    seen = f"GPU {card.index} ({card.name}, {card.memory_gb:.0f} GB)"
    if wanted == AUTO:
        return round(card.memory_gb, 1), f"sized for {seen} (gpu.memory_gb: auto)"
    cap = float(wanted)
    if card.memory_gb < cap:
        return round(card.memory_gb, 1), f"sized for {seen}, smaller than the profile's gpu.memory_gb {cap:g}"
    return cap, f"sized for the profile's gpu.memory_gb {wanted:g} GB (cap; {seen} has more)"


def _sm(g: Gpu) -> str:
    return f"sm{(g.compute_cap or 0) * 10:.0f}"


def _old_cards(cards: list[Gpu]) -> list[Gpu]:
    return [g for g in cards if g.compute_cap is not None and g.compute_cap < FA4_MIN_CAP]


def _attention(profile: Profile, cards: list[Gpu], problem: str) -> tuple[Optional[str], str]:
    """The attention for ``attn_impl: auto`` and why; ``problem``: why FA4 cannot run here ('' when it can)."""
    wanted = profile.train.attn_impl
    old = _old_cards(cards)
    if wanted == FA4 and old:
        g = old[0]
        raise SwiftkitError(
            f"train.attn_impl {FA4} needs a Hopper or newer card (sm90+) for its backward pass, but GPU {g.index} "
            f"({g.name}) is {_sm(g)}. Use --set train.attn_impl=auto (SDPA on this card) or "
            "--set train.attn_impl=sdpa, with train.padding_free: false."
        )
    if wanted != AUTO:
        return wanted, ""
    if not cards:
        return None, "attention: SDPA (ms-swift's default), padded batches: no card visible to check for sm90+"
    if old:
        g = old[0]
        return None, (
            f"attention: SDPA, padded batches: GPU {g.index} ({g.name}) is {_sm(g)}, FlashAttention-4 needs sm90+"
        )
    if any(g.compute_cap is None for g in cards):
        return None, "attention: SDPA, padded batches: nvidia-smi did not report the card's compute capability"
    if problem:
        return None, f"attention: SDPA, padded batches: {problem}"
    caps = ", ".join(sorted({_sm(g) for g in cards}))
    return FA4, f"attention: {FA4} ({caps}, flash-attn-4 installed)"


def fit_card(profile: Profile, gpus: Optional[list[Gpu]] = None, installed: Optional[bool] = None) -> CardFit:
    """The profile with the card's memory, attention and padding made concrete, and notes saying why.
    ``gpus``/``installed`` default to what this machine shows (tests pass fakes)."""
    if profile.gpu is None or profile.swift_args.get("use_cpu") in (True, "true", "True"):
        if profile.train.attn_impl == AUTO or profile.train.padding_free == AUTO:
            train = profile.train.model_copy(
                update={
                    "attn_impl": None if profile.train.attn_impl == AUTO else profile.train.attn_impl,
                    "padding_free": False if profile.train.padding_free == AUTO else profile.train.padding_free,
                }
            )
            profile = profile.model_copy(update={"train": train})
        return CardFit(profile)
    found = visible_gpus() if gpus is None else gpus
    cards = _cards(profile, found)
    memory, memory_note = _memory(profile, cards)
    if installed is None:
        problem = fa4_problem()
    else:
        problem = "" if installed else f"flash-attn-4 is not installed ({FA4_INSTALL})"
    attn, attn_note = _attention(profile, cards, problem)
    padding_free = profile.train.padding_free
    if padding_free == AUTO:
        padding_free = attn in FLASH_IMPLS
        if attn_note:
            attn_note += "; padding-free batches" if padding_free else ""
    elif padding_free and attn not in FLASH_IMPLS:
        raise SwiftkitError(
            f"train.padding_free needs a flash attention implementation ({', '.join(FLASH_IMPLS)}); "
            f"train.attn_impl is {attn or 'unset (SDPA)'}. Set train.attn_impl=auto on a Hopper card with "
            f"{FA4_INSTALL}, or train.padding_free=false."
        )
    gpu = profile.gpu.model_copy(update={"memory_gb": memory})
    train = profile.train.model_copy(update={"attn_impl": attn, "padding_free": padding_free})
    notes = [f"card: {memory_note}"] + ([attn_note] if attn_note else [])
    return CardFit(profile.model_copy(update={"gpu": gpu, "train": train}), notes)
