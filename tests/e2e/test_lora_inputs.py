"""lora.cast_input_dtype: false through the real `swift sft` (tiny model, CPU): PEFT's input cast goes off under
bf16 autocast and the losses stay the same to the last digit; without autocast it stays on (turning it off there
would feed bf16 inputs to float32 adapter weights and crash); checkpoints name no plugin path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.layout import TRAIN_LOG

pytestmark = pytest.mark.e2e

OFF = "swiftkit: PEFT's LoRA input casting off for"
LEFT_ON = "swiftkit: PEFT's LoRA input casting left on for"
LAYERS = 14  # the tiny model: 2 layers x 7 linear layers (q, k, v, o, gate, up, down)


def _train(tmp_path: Path, model: Path, name: str, *sets: str) -> tuple[Path, list[float], str]:
    out = tmp_path / name
    settings = [
        f"model.model={model}",
        "data.datasets=[{path: 'builtin:identity/identity.template.json'}]",
        "train.num_train_epochs=1",
        "train.per_device_train_batch_size=8",
        "train.max_length=256",
        "train.logging_steps=1",
        "train.learning_rate=0.02",
        "train.torch_dtype=bfloat16",
        "lora.lora_dropout=0",  # dropout draws the same mask either way, but rounds its scaling in another dtype
        f"output_dir={out}",
        "swift_args={use_cpu: true}",  # transformers refuses bf16 without a GPU unless told it is the CPU
        *sets,
    ]
    result = run_cli("train", "-p", "cpu-demo", *[a for s in settings for a in ("--set", s)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run_dir = next(out.glob("v0-*"))
    logged = [json.loads(line) for line in (run_dir / "logging.jsonl").read_text(encoding="utf-8").splitlines()]
    losses = [float(r["loss"]) for r in logged if "loss" in r]
    return run_dir, losses, (run_dir / TRAIN_LOG).read_text(encoding="utf-8", errors="replace")


def _plugins(folder: Path) -> list[str]:
    return json.loads((folder / "args.json").read_text(encoding="utf-8")).get("external_plugins") or []


def test_input_cast_off_under_autocast_changes_no_loss(tmp_path: Path, tiny_model: Path):
    _, cast, cast_log = _train(tmp_path, tiny_model, "cast")
    run_dir, uncast, log = _train(tmp_path, tiny_model, "uncast", "lora.cast_input_dtype=false")

    assert OFF not in cast_log and LEFT_ON not in cast_log  # the default renders no plugin
    assert f"{OFF} {LAYERS} LoRA layers (bf16 autocast" in log, log[-3000:]
    assert len(cast) >= 10 and len(uncast) == len(cast)
    assert uncast == cast  # every logged loss, to the digit ms-swift prints
    # ms-swift saved the plugin into the run's args.json; it is gone there and from every checkpoint
    checkpoints = sorted(run_dir.glob("checkpoint-*"))
    assert checkpoints and all(_plugins(c) == [] for c in [run_dir, *checkpoints])
    assert "swiftkit_lora_inputs" in json.loads((run_dir / "args.json").read_text(encoding="utf-8"))["callbacks"]
    # rewritten with the mode ms-swift gave it (a 0600 temporary file would lock other users out of every checkpoint)
    modes = {(f / "args.json").stat().st_mode & 0o777 for f in [run_dir, *checkpoints]}
    assert modes == {
        (tmp_path / "cast" / next((tmp_path / "cast").glob("v0-*")).name / "args.json").stat().st_mode & 0o777
    }
    # ... so the checkpoint loads with plain ms-swift's reading of it, and swiftkit's pre-flight finds no code
    answered = run_cli(
        "infer", "--profile", "cpu-demo",
        "--set", f"model.model={tiny_model}", "--set", "train.torch_dtype=bfloat16",
        "--set", f"output_dir={run_dir.parent}", "--set", "infer.max_new_tokens=4",
        "--prompt", "Who are you?",
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr[-3000:]
    assert "Q: Who are you?" in answered.stdout


def test_without_autocast_the_cast_stays_on(tmp_path: Path, tiny_model: Path):
    # bf16 weights, float32 adapters, no autocast (--bf16 false): the adapters need their inputs cast. Were the
    # callback to turn the cast off here, the first LoRA matmul would fail on mixed dtypes.
    _, losses, log = _train(
        tmp_path,
        tiny_model,
        "no-amp",
        "lora.cast_input_dtype=false",
        "swift_args={use_cpu: true, bf16: false, fp16: false}",
    )
    assert f"{LEFT_ON} {LAYERS} LoRA layers (the forward runs without autocast" in log, log[-3000:]
    assert OFF not in log and losses
