"""The VRAM estimate: model shapes, the calibrated points, monotonicity, profile inputs and the warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swiftkit.config import profiles
from swiftkit.config.schema import Profile
from swiftkit.sizing import shapes, vram

QWEN7B = shapes.KNOWN["Qwen/Qwen2.5-7B-Instruct"]
RUN_TOLERANCE = 0.02  # the module claims ±2% on swiftkit train peaks
PROBE_TOLERANCE = 0.01  # and ±1% on the probe grid


@pytest.mark.parametrize(
    ("model", "parameters", "lora_r8_all_linear"),
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768, 4_399_104),
        ("Qwen/Qwen2.5-7B-Instruct", 7_615_616_512, 20_185_088),  # ms-swift logged 20.1851M trainable
    ],
)
def test_shapes_give_the_published_parameter_counts(model, parameters, lora_r8_all_linear):
    shape = shapes.KNOWN[model]
    assert shape.params == pytest.approx(parameters, rel=1e-4)  # shapes.py leaves the q/k/v biases out
    assert shapes.lora_params(shape, 8, ["all-linear"]) == lora_r8_all_linear
    assert shapes.lora_params(shape, 8, ["q_proj", "v_proj"]) < lora_r8_all_linear


# nvidia-smi peaks of `swiftkit train` runs (the run's own, GiB) on one H100 80GB, bench/results/*2026-11-27.md:
# (batch, longest sequence in tokens, gradient checkpointing, liger) -> measured
RUNS = [
    ((1, 101, True, False), 15.89),  # 4090d, the article's recipe
    ((16, 101, True, False), 19.68),  # 4090d-fast
    ((16, 101, False, False), 31.48),  # h100
    ((16, 101, False, True), 26.14),  # h100 + train.use_liger_kernel
    ((16, 101, True, True), 16.49),  # 4090d-fast + train.use_liger_kernel
]
# bench/vram_probe.py on the same card: torch.cuda.max_memory_reserved (GiB), no CUDA context
PROBE_OVERHEAD = 0.17
PROBE = [
    ((1, 64, True), 14.709),
    ((1, 1024, True), 17.115),
    ((1, 2048, True), 19.637),
    ((4, 2048, True), 34.33),
    ((16, 256, True), 24.707),
    ((16, 1024, True), 54.092),
    ((1, 64, False), 15.16),
    ((1, 1024, False), 24.557),
    ((1, 2048, False), 34.318),
    ((4, 1024, False), 53.979),
    ((16, 64, False), 24.559),
    ((16, 256, False), 53.98),
]


@pytest.mark.parametrize(("settings", "measured"), RUNS)
def test_measured_runs_are_predicted_as_the_module_claims(settings, measured):
    batch, length, ckpt, liger = settings
    est = vram.peak(QWEN7B, batch=batch, seq_len=length, gradient_checkpointing=ckpt, use_liger_kernel=liger)
    assert abs(est.gib / measured - 1) <= RUN_TOLERANCE, (est, measured)


@pytest.mark.parametrize(("settings", "measured"), PROBE)
def test_probe_grid_is_predicted_as_the_module_claims(settings, measured):
    batch, length, ckpt = settings
    est = vram.peak(QWEN7B, batch=batch, seq_len=length, gradient_checkpointing=ckpt, overhead_gib=PROBE_OVERHEAD)
    assert abs(est.gib / measured - 1) <= PROBE_TOLERANCE, (est, measured)


def test_breakdown_adds_up_and_names_every_part():
    est = vram.peak(QWEN7B, batch=16, seq_len=101, gradient_checkpointing=False)
    assert set(est.breakdown) == {"weights", "lora", "activations", "logits", "overhead"}
    assert est.gib == pytest.approx(sum(est.breakdown.values()), abs=0.06)
    assert est.breakdown["weights"] == pytest.approx(14.19, abs=0.01)  # 7.6 B parameters in bf16


@pytest.mark.parametrize("ckpt", [True, False])
def test_monotonic_in_batch_and_length(ckpt):
    def gib(batch: int, length: int) -> float:
        return vram.peak(QWEN7B, batch=batch, seq_len=length, gradient_checkpointing=ckpt).gib

    by_batch = [gib(b, 256) for b in (1, 2, 4, 8, 16, 32)]
    by_length = [gib(4, n) for n in (32, 128, 512, 2048, 8192)]
    assert by_batch == sorted(by_batch) and len(set(by_batch)) == len(by_batch)
    assert by_length == sorted(by_length) and len(set(by_length)) == len(by_length)


def test_checkpointing_and_liger_only_lower_the_peak():
    plain = vram.peak(QWEN7B, batch=8, seq_len=512, gradient_checkpointing=False).gib
    assert vram.peak(QWEN7B, batch=8, seq_len=512, gradient_checkpointing=True).gib < plain
    assert vram.peak(QWEN7B, batch=8, seq_len=512, gradient_checkpointing=False, use_liger_kernel=True).gib < plain


def test_float32_weights_cost_twice_bf16():
    bf16 = vram.peak(QWEN7B, batch=1, seq_len=64, gradient_checkpointing=True)
    fp32 = vram.peak(QWEN7B, batch=1, seq_len=64, gradient_checkpointing=True, torch_dtype="float32")
    assert fp32.breakdown["weights"] == pytest.approx(2 * bf16.breakdown["weights"], abs=0.02)


# ---------------------------------------------------------------- from profiles
def profile(tmp_path: Path, records: list[dict] | None = None, **sections) -> Profile:
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(records if records is not None else [{"query": "hi", "response": "hello"}]))
    base: dict[str, Any] = {
        "model": {"model": "Qwen/Qwen2.5-7B-Instruct"},
        "data": {"datasets": [{"path": str(data_file)}]},
        "gpu": {"device": 0, "memory_gb": 24},
        "system": "You are a helpful assistant.",
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return Profile.model_validate(base)


def test_cpu_profiles_and_unknown_models_have_no_estimate(tmp_path: Path):
    assert vram.estimate(profiles.load("cpu-demo").profile) is None
    assert vram.estimate(profile(tmp_path, model={"model": "someone/unknown-model"})) is None


def test_a_local_folder_is_read_from_its_config(tmp_path: Path):
    folder = tmp_path / "m"
    folder.mkdir()
    config = {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    }
    (folder / "config.json").write_text(json.dumps(config))
    est = vram.estimate(profile(tmp_path, model={"model": str(folder)}))
    assert est is not None and "config.json" in est.note
    assert est.breakdown["weights"] == pytest.approx(494_032_768 * 2 / 1024**3, abs=0.01)


def test_length_comes_from_the_longest_record_capped_at_max_length(tmp_path: Path):
    short = [{"instruction": "Who are you?", "input": "", "output": "I am Swift-Robot."}]
    long = short + [{"instruction": "x" * 3500, "input": "", "output": "y"}]
    length, note = vram.sequence_tokens(profile(tmp_path, short))
    assert 15 < length < 60 and "longest record" in note
    assert vram.sequence_tokens(profile(tmp_path, long, train={"max_length": 512}))[0] == 512


def test_hub_datasets_assume_max_length_and_given_lengths_win(tmp_path: Path):
    p = profile(tmp_path, data={"datasets": [{"hub": "swift/self-cognition"}]}, train={"max_length": 1024})
    assert vram.sequence_tokens(p) == (1024, "max_length 1024 (hub dataset swift/self-cognition: lengths unknown)")
    short, full = vram.estimate(p, seq_len=64), vram.estimate(p)
    assert short is not None and full is not None and short.gib < full.gib


def test_chinese_text_is_counted_high():
    assert vram.estimate_tokens("Who are you?") == 4
    assert vram.estimate_tokens("你是谁？") == 8


@pytest.mark.parametrize(("name", "card_gib"), [("4090d", 24), ("4090d-fast", 24), ("h100", 80)])
def test_builtin_gpu_profiles_fit_their_cards(name, card_gib):
    lp = profiles.load(name)
    est = vram.estimate(lp.profile)
    assert est is not None and est.gib <= card_gib
    assert vram.warning(lp.profile, est) is None


def test_warning_names_the_fixes_that_apply(tmp_path: Path):
    p = profile(
        tmp_path,
        train={
            "per_device_train_batch_size": 16,
            "gradient_accumulation_steps": 1,
            "gradient_checkpointing": False,
            "max_length": 2048,
        },
        data={"datasets": [{"hub": "owner/long-data"}]},
    )
    est = vram.estimate(p)
    assert est is not None
    message = vram.warning(p, est)
    assert message is not None and message.startswith(f"predicted peak GPU memory {est.gib:.1f} GiB exceeds")
    assert "train.gradient_checkpointing=true" in message
    assert "train.per_device_train_batch_size=8 --set train.gradient_accumulation_steps=2" in message
    assert "train.use_liger_kernel=true" in message


def test_no_warning_when_it_fits_or_there_is_no_gpu(tmp_path: Path):
    p = profile(tmp_path)
    est = vram.estimate(p)
    assert est is not None and vram.warning(p, est) is None
    assert vram.warning(profile(tmp_path, gpu=None), est) is None


def test_importing_vram_pulls_in_no_heavy_package():
    code = "import sys, swiftkit.sizing.vram; print(sorted({'torch', 'transformers', 'swift'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
