"""A GPU profile is fitted to the card that is there (memory, FlashAttention-4, padding-free), with fake cards."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from conftest import invoke

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.jobs.train import compile_notes
from swiftkit.sizing import fit
from swiftkit.sizing.card import FA4, fit_card
from swiftkit.sizing.gpus import Gpu, check_packages, parse_gpus
from swiftkit.swift.render import FA4_CACHE_ON, launch_environment

H200 = [Gpu(0, "NVIDIA H200", 143771, 9.0)]
A100 = [Gpu(0, "NVIDIA A100-SXM4-80GB", 81920, 8.0)]
RTX4090 = [Gpu(0, "NVIDIA GeForce RTX 4090", 24564, 8.9)]
SMALL = [Gpu(0, "NVIDIA RTX A4000", 16376, 8.6)]
MIX = ["data.datasets=[{path: datasets/identity.json}, {path: bench/data/alpaca_like_zh500.jsonl, kind: general}]"]


def test_nvidia_smi_lines_with_and_without_compute_capability():
    assert parse_gpus("0, NVIDIA H200, 143771, 9.0\n1, NVIDIA H200, 143771, 9.0") == H200 + [
        Gpu(1, "NVIDIA H200", 143771, 9.0)
    ]
    assert parse_gpus("0, NVIDIA GeForce RTX 4090 D, 24564") == [Gpu(0, "NVIDIA GeForce RTX 4090 D", 24564)]
    assert parse_gpus("0, Old card, 8000, [N/A]") == [Gpu(0, "Old card", 8000, None)]


@pytest.mark.parametrize(
    "cards, expected, said",
    [
        (H200, 150.8, "sized for GPU 0 (NVIDIA H200, 151 GB) (gpu.memory_gb: auto)"),
        (A100, 85.9, "sized for GPU 0 (NVIDIA A100-SXM4-80GB, 86 GB)"),
        ([], 80.0, "no card visible: sized for 80 GB (gpu.memory_gb: auto)"),
    ],
)
def test_auto_memory_is_the_visible_card(cards, expected, said):
    fitted = fit_card(profiles.load("h100").profile, cards, installed=False)
    assert fitted.profile.gpu is not None and fitted.profile.gpu.memory_gb == expected
    assert said in fitted.notes[0]


def test_a_number_is_a_cap_never_more_than_the_card():
    p = profiles.load("4090d-fast").profile  # memory_gb 24
    on_h200 = fit_card(p, H200, installed=False)
    assert on_h200.profile.gpu is not None and on_h200.profile.gpu.memory_gb == 24
    assert "cap" in on_h200.notes[0]
    on_small = fit_card(p, SMALL, installed=False)
    assert on_small.profile.gpu is not None and on_small.profile.gpu.memory_gb == 17.2
    assert "smaller than the profile's gpu.memory_gb 24" in on_small.notes[0]
    offline = fit_card(p, [], installed=False)
    assert "no card visible: sized for the profile's gpu.memory_gb 24 GB" in offline.notes[0]


def test_h100_takes_the_no_recomputation_path_on_a_141_gb_card_for_the_mixed_job():
    """Issue 25: on an H200 the shipped h100 profile assumed 80 GB and recomputed activations (62.4 s wall);
    fitted to the card it needs no checkpointing for 16 long records (45.7 s, bench/results)."""
    p = profiles.load("h100", MIX).profile
    _, on_80 = fit.apply(p, gpus=[])
    _, on_h200 = fit.apply(p, gpus=H200)
    assert (on_80.per_device, on_80.checkpointing) == (16, True)
    assert (on_h200.per_device, on_h200.accumulation, on_h200.checkpointing) == (16, 1, False)
    assert any("NVIDIA H200" in line for line in on_h200.card)


def test_auto_attention_is_fa4_with_padding_free_only_on_hopper_with_flash_attn_4():
    p = profiles.load("h100").profile
    hopper = fit_card(p, H200, installed=True)
    assert (hopper.profile.train.attn_impl, hopper.profile.train.padding_free) == (FA4, True)
    assert "flash_attention_4 (sm90, flash-attn-4 installed); padding-free batches" in hopper.notes[1]
    for cards, installed, why in [
        (H200, False, "flash-attn-4 is not installed (pip install 'swiftkit[hopper]'"),
        (RTX4090, True, "GPU 0 (NVIDIA GeForce RTX 4090) is sm89, FlashAttention-4 needs sm90+"),
        ([], True, "no card visible"),
        ([Gpu(0, "NVIDIA H200", 143771)], True, "did not report the card's compute capability"),
    ]:
        other = fit_card(p, cards, installed=installed)
        assert (other.profile.train.attn_impl, other.profile.train.padding_free) == (None, False)
        assert other.notes[1].startswith("attention: SDPA") and why in other.notes[1], other.notes


def test_fa4_asked_for_on_an_older_card_is_refused_with_the_way_out():
    p = profiles.load("h100", ["train.attn_impl=flash_attention_4"]).profile
    with pytest.raises(SwiftkitError, match=r"sm90\+.*GPU 0 \(NVIDIA GeForce RTX 4090\) is sm89.*attn_impl=auto"):
        fit_card(p, RTX4090, installed=True)
    assert fit_card(p, H200, installed=True).profile.train.padding_free is True


def test_padding_free_without_flash_attention_is_refused():
    p = profiles.load("4090d", ["train.padding_free=true"]).profile
    with pytest.raises(SwiftkitError, match="padding_free needs a flash attention.*padding_free=false"):
        fit_card(p, H200, installed=True)


def test_fa4_renders_padding_free_and_its_compile_cache(monkeypatch):
    monkeypatch.delenv(FA4_CACHE_ON, raising=False)
    fitted, _ = fit.apply(profiles.load("h100").profile, gpus=H200)
    fitted = fit_card(profiles.load("h100").profile, H200, installed=True).profile
    assert launch_environment(fitted)[FA4_CACHE_ON] == "1"
    assert FA4_CACHE_ON not in launch_environment(fit_card(profiles.load("h100").profile, H200, False).profile)


def test_missing_flash_attn_4_is_refused_before_any_model_loads():
    p = profiles.load("h100", ["train.attn_impl=flash_attention_4", "train.use_liger_kernel=false"]).profile
    with pytest.raises(SwiftkitError, match=r"swiftkit\[hopper\].*--set train.attn_impl=auto"):
        check_packages(p, find=lambda name: None)


def test_first_liger_and_fa4_runs_announce_their_compilation(tmp_path):
    p = fit_card(profiles.load("h100", ["train.use_liger_kernel=true"]).profile, H200, installed=True).profile
    env = {"TRITON_CACHE_DIR": str(tmp_path / "triton"), "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR": str(tmp_path / "fa4")}
    notes = compile_notes(p, env)
    assert len(notes) == 2 and "Triton compiles" in notes[0] and "FlashAttention-4" in notes[1]
    for folder in ("triton", "fa4"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "kernel").write_text("x")
    assert compile_notes(p, env) == []
    assert compile_notes(profiles.load("cpu-demo").profile, env) == []


def test_plan_names_the_card_and_the_attention(tmp_path, monkeypatch):
    """`plan` on a machine with an H200 (nvidia-smi stands in as a script) fits h100 to it and says why."""
    monkeypatch.setattr(fit, "liger_installed", lambda: True)  # as on the GPU machine (swiftkit[gpu])
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H200, 143771, 9.0'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    result = invoke("plan", "sft", "-p", "h100", *["--set", MIX[0]], env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    card, attention, batch = result.stderr.splitlines()[:3]
    assert card == "# card: sized for GPU 0 (NVIDIA H200, 151 GB) (gpu.memory_gb: auto)"
    assert attention.startswith("# attention: SDPA, padded batches: ")  # flash-attn-4 is not installed here
    assert batch == (
        "# batch: 16 per forward pass × 1 accumulation = 16 sequences per optimizer step (auto: predicted 97.4 GiB of "
        "150.8 GB for ~766 tokens, the longest record of identity.json, alpaca_like_zh500.jsonl (estimated from "
        "characters); gradient checkpointing off (auto); Liger kernels on (auto: padded batches: Liger measured "
        "faster there (0.78 vs 0.86 s a step)))"
    )


def _site(root: Path, *files: str) -> Path:
    """A site-packages folder holding ``files`` (empty), as pip lays the FA4 wheels out."""
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(
            "Metadata-Version: 2.1\nName: flash-attn-4\nVersion: 4.0.0b40\n" if "METADATA" in name else ""
        )
    return root


FA4_WHEEL = ("flash_attn_4-4.0.0b40.dist-info/METADATA", "flash_attn/__init__.py", "flash_attn/cute/__init__.py")
LIBS_BASE = ("cutlass/_mlir/ir.py", "cutlass/_mlir_helpers/__init__.py")  # nvidia-cutlass-dsl-libs-base 4.8.1
LIBS_CORE = ("cutlass/__init__.py", "cutlass/cute/__init__.py")  # nvidia-cutlass-dsl-libs-core 4.8.1


@pytest.mark.parametrize(
    "files, expected",
    [
        ((), "flash-attn-4 is not installed"),
        (FA4_WHEEL, "the CuTe DSL it compiles with is not (no cutlass.cute"),  # the DSL left out entirely
        (FA4_WHEEL + LIBS_BASE, "the CuTe DSL it compiles with is not (no cutlass.cute"),  # the H100 of 2026-12-08
        (FA4_WHEEL + LIBS_BASE + LIBS_CORE, ""),
    ],
    ids=["nothing", "no DSL", "libs-core left out", "complete"],
)
def test_fa4_counts_as_installed_only_with_the_cute_dsl(tmp_path, monkeypatch, files, expected):
    """A flash-attn-4 whose CuTe DSL is incomplete fails `No module named 'cutlass.cute'` after the model has
    loaded; `auto` must take SDPA instead and `plan` must say why."""
    import importlib

    from swiftkit.sizing import card

    monkeypatch.setattr(sys, "path", [str(_site(tmp_path / "site", *files)), *sys.path])
    for name in [m for m in sys.modules if m.split(".")[0] in ("flash_attn", "cutlass")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.invalidate_caches()
    blocked = [p for p in sys.path[1:] if (Path(p) / "flash_attn").exists() or (Path(p) / "cutlass").exists()]
    if blocked:
        pytest.skip(f"this interpreter has a flash_attn or cutlass of its own: {blocked}")
    problem = card.fa4_problem()
    assert (expected in problem) if expected else problem == "", problem
    fitted = fit_card(profiles.load("h100").profile, H200)
    assert fitted.profile.train.attn_impl == (None if expected else FA4)
    assert (expected or "flash-attn-4 installed") in fitted.notes[1]
