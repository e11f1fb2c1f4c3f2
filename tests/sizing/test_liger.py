"""``train.use_liger_kernel: auto`` (issue 25): Liger's fused kernels off where the batch fits without them, with
fake cards and a fake liger-kernel installation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import sft_command

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.jobs.train import compile_notes
from swiftkit.sizing import card, fit, vram
from swiftkit.sizing.gpus import Gpu, check_packages
from swiftkit.swift.version import flavor_for

ROOT = Path(__file__).resolve().parents[2]
V4 = flavor_for("4.6.0")
H200 = [Gpu(0, "NVIDIA H200", 143771, 9.0)]
H100 = [Gpu(0, "NVIDIA H100 80GB HBM3", 81559, 9.0)]
# the measured job: 100 identity + 500 Alpaca-like records (bench/results/nvidia-h200-2026-12-03-issue25-final.md)
MIX = "data.datasets=[{path: datasets/identity.json}, {path: bench/data/alpaca_like_zh500.jsonl, kind: general}]"
JOB = [MIX, "train.num_train_epochs=1"]


@pytest.fixture(autouse=True)
def at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the data paths above are the repository's


def _fit(name: str, sets: list[str], gpus: list[Gpu], liger: bool = True):
    fitted, choice = fit.apply(profiles.load(name, sets).profile, gpus=gpus, liger=liger)
    t = fitted.train
    return (t.use_liger_kernel, t.per_device_train_batch_size, t.gradient_accumulation_steps,
            t.gradient_checkpointing), choice  # fmt: skip


def test_the_schema_takes_auto_and_the_default_stays_off():
    assert profiles.load("4090d").profile.train.use_liger_kernel is False
    assert profiles.load("4090d", ["train.use_liger_kernel=auto"]).profile.train.use_liger_kernel == "auto"
    with pytest.raises(SwiftkitError, match="use_liger_kernel"):
        profiles.load("4090d", ["train.use_liger_kernel=sometimes"])
    for name in ("h100", "4090d-fast"):
        assert profiles.load(name).profile.train.use_liger_kernel == "auto"


def test_h200_mixed_job_runs_without_liger_one_pass_no_recomputation(monkeypatch):
    got, choice = _fit("h100", JOB, H200)  # no flash-attn-4: padded batches, where Liger measured faster
    assert got == (True, 16, 1, False)
    assert choice.line().endswith(
        "Liger kernels on (auto: padded batches: Liger measured faster there (0.78 vs 0.86 s a step)))"
    )
    monkeypatch.setattr(card, "fa4_problem", lambda: "")  # as measured: FA4, padding-free
    got, choice = _fit("h100", JOB, H200)
    assert got == (False, 16, 1, False)
    assert "Liger kernels off (auto: 16 × 1 fits without them; ~15% faster steps)" in choice.line()


def test_h200_renders_exactly_the_measured_no_liger_command(tmp_path, monkeypatch):
    """The command `h100` renders on an H200 with FA4 and liger-kernel installed is the measured no-Liger run's
    (`h100 … train.use_liger_kernel=false`: 14.7 s against 17.4 s with Liger): no --use_liger_kernel, and every
    other flag as the profile renders it."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H200, 143771, 9.0'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(card, "fa4_problem", lambda: "")
    monkeypatch.setattr(fit, "liger_installed", lambda: True)
    auto = sft_command(profiles.load("h100", JOB).profile, V4)
    measured = sft_command(profiles.load("h100", [*JOB, "train.use_liger_kernel=false"]).profile, V4)
    assert auto.argv == measured.argv and auto.env == measured.env
    flags = " ".join(auto.argv)
    assert "--use_liger_kernel" not in auto.argv
    for flag in (
        "--per_device_train_batch_size 16",
        "--gradient_accumulation_steps 1",
        "--gradient_checkpointing false",
        "--attn_impl flash_attention_4",
        "--padding_free true",
    ):
        assert flag in flags
    with_liger = sft_command(profiles.load("h100", [*JOB, "train.use_liger_kernel=true"]).profile, V4).argv
    at = with_liger.index("--use_liger_kernel")
    assert with_liger[:at] + with_liger[at + 2 :] == auto.argv  # Liger is all that differs from the profile before


def test_80_gb_h100_mixed_job_keeps_liger_where_the_batch_would_need_recomputation_without_it():
    got, choice = _fit("h100", JOB, H100)
    assert got == (True, 16, 1, True)
    assert "Liger kernels on (auto: without them 16 × 1 needs checkpointing: memory is short)" in (choice.line())
    got, choice = _fit("h100", JOB, [])  # no card visible: sized for 80 GB, the same choice
    assert got == (True, 16, 1, True)


def test_80_gb_identity_job_drops_liger_with_padding_free_batches(monkeypatch):
    got, choice = _fit("h100", [], H100)  # short identity records: 16 x 1 without recomputation fits either way
    assert got == (True, 16, 1, False)  # but SDPA pads the batches
    monkeypatch.setattr(card, "fa4_problem", lambda: "")
    got, choice = _fit("h100", [], H100)
    assert got == (False, 16, 1, False)


def test_24_gb_cap_keeps_liger():
    for sets in ([], JOB):
        got, choice = _fit("4090d-fast", sets, H200)  # memory_gb 24 is a cap on the H200
        assert got == (True, 16, 1, True)
    assert "without them 2 × 8 with checkpointing, more forward passes per step than 16 × 1" in choice.line()


def test_fixed_batch_that_does_not_fit_without_liger_keeps_it():
    sets = [*JOB, "train.per_device_train_batch_size=16", "train.gradient_accumulation_steps=1"]
    got, choice = _fit("h100", [*sets, "train.gradient_checkpointing=false"], H100)
    assert got == (True, 16, 1, False)
    assert "without them even 16 × 1 is predicted over the card" in choice.line()


def test_not_installed_is_off_with_the_way_to_install_it():
    got, choice = _fit("4090d-fast", JOB, H200, liger=False)
    assert got == (False, 2, 8, True)  # without Liger 16 long records fit 24 GB only in 8 passes
    assert (
        "Liger kernels off (auto: liger-kernel is not installed: pip install 'swiftkit[gpu]' for 16 × 1 with "
        "checkpointing instead)" in choice.line()
    )
    fitted, _ = fit.apply(profiles.load("4090d-fast", JOB).profile, gpus=H200, liger=False)
    check_packages(fitted, find=lambda _module: None)  # off: nothing to refuse
    check_packages(profiles.load("h100").profile, find=lambda _module: None)  # 'auto' unresolved: never refused
    with pytest.raises(SwiftkitError, match=r"swiftkit\[gpu\].*use_liger_kernel=false"):
        check_packages(profiles.load("h100", ["train.use_liger_kernel=true"]).profile, find=lambda _module: None)


def test_off_on_the_cpu():
    for name, sets in (("cpu-demo", []), ("h100", ["swift_args.use_cpu=true"])):
        got, choice = _fit(name, [*sets, "train.use_liger_kernel=auto"], H200)
        assert got[0] is False and "Liger kernels off (auto: no GPU)" in choice.line()


def test_unknown_model_shape_keeps_liger(tmp_path):
    model = tmp_path / "m"
    model.mkdir()  # no config.json: memory unknown, the lower-memory side
    got, choice = _fit("h100", [f"model.model={model}"], H200)
    assert got[0] is True and "shape is unknown" in choice.line()


@pytest.mark.parametrize(("value", "cards"), [(True, H200), (False, H100), (False, [])])
def test_an_explicit_setting_wins(value, cards):
    got, choice = _fit("h100", [*JOB, f"train.use_liger_kernel={str(value).lower()}"], cards, liger=not value)
    assert got[0] is value and choice.liger is None and "Liger" not in choice.line()


def test_unresolved_auto_reads_as_on_before_the_fit_and_never_reaches_ms_swift():
    from swiftkit.data.resolve import assemble_run
    from swiftkit.swift.render import render_sft

    auto = profiles.load("h100", [*JOB, "train.gradient_checkpointing=true"])
    on = profiles.load("h100", [*JOB, "train.gradient_checkpointing=true", "train.use_liger_kernel=true"])
    assert vram.estimate(auto.profile) == vram.estimate(on.profile)  # the lower bound: fit drops it only if it fits
    assert auto.profile.gpu is not None
    tight = auto.profile.model_copy(update={"gpu": auto.profile.gpu.model_copy(update={"memory_gb": 10})})
    found = vram.estimate(tight)
    assert found is not None
    message = vram.warning(tight, found)
    assert message and "use_liger_kernel" not in message  # 'auto' turns it on by itself where memory is short
    assert compile_notes(auto.profile, {"TRITON_CACHE_DIR": "/nonexistent"}) == []
    fitted, choice = fit.apply(auto.profile, gpus=H200, liger=True)
    out = Path(fitted.output_dir)
    render_sft(assemble_run(auto, fitted, choice, out, out / "v0-20260101-000000"), V4)  # resolved: renders
    half = auto.profile.model_copy(
        update={"train": fitted.train.model_copy(update={"use_liger_kernel": "auto"})}
    )  # fitted but for Liger: 'auto' left in on purpose
    with pytest.raises(SwiftkitError, match="use_liger_kernel 'auto' was not resolved"):
        render_sft(assemble_run(auto, half, choice, out, out / "v0-20260101-000000"), V4)
