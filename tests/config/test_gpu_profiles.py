"""The measured GPU profiles keep the article's optimisation, and the Liger switch renders only when on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import sft_command

from swiftkit.config import profiles
from swiftkit.config.profiles import builtin_dir
from swiftkit.data.resolve import BatchChoice, assemble_run
from swiftkit.sizing import fit
from swiftkit.swift.render import render_sft
from swiftkit.swift.version import flavor_for

ROOT = Path(__file__).resolve().parents[2]
V4 = flavor_for("4.6.0")


@pytest.fixture(autouse=True)
def liger_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fits below are the GPU machine's, where liger-kernel is installed (swiftkit[gpu]), not this one's."""
    monkeypatch.setattr(fit, "liger_installed", lambda: True)


@pytest.mark.parametrize("name", ["4090d-fast", "h100"])
def test_same_optimizer_steps_and_schedule_as_the_article(name):
    article, fast = profiles.load("4090d").profile, profiles.load(name).profile
    a, f = article.train, fit.apply(fast)[0].train  # the batch swiftkit picks for the identity data
    for t in (a, f):
        assert isinstance(t.per_device_train_batch_size, int) and isinstance(t.gradient_accumulation_steps, int)
        assert t.per_device_train_batch_size * t.gradient_accumulation_steps == 16
    assert (f.num_train_epochs, f.learning_rate, f.warmup_ratio, f.seed) == (
        a.num_train_epochs,
        a.learning_rate,
        a.warmup_ratio,
        a.seed,
    )
    # LoRA as the article's but for dropout 0 (measured: final loss within 0.5% on the mixed job, bench/results/)
    # and PEFT's input cast off under autocast (the same loss: tests/e2e/test_lora_inputs.py)
    assert fast.lora.lora_dropout == 0 and article.lora.lora_dropout == 0.05
    assert not fast.lora.cast_input_dtype and article.lora.cast_input_dtype
    assert fast.lora.model_copy(update={"lora_dropout": 0.05, "cast_input_dtype": True}) == article.lora
    assert fast.model == article.model and fast.data == article.data
    assert fast.system == article.system and fast.identity == article.identity


@pytest.mark.parametrize("name", ["4090d-fast", "h100"])
def test_profile_files_extend_the_article_and_show_their_command(name):
    text = (builtin_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith(f"# swiftkit train --profile {name}")
    assert "extends: 4090d\n" in text
    description = profiles.load(name).profile.description
    assert description and "\n" not in description


def test_liger_renders_only_when_on():
    off = sft_command(profiles.load("h100", ["train.use_liger_kernel=false"]).profile, V4).argv
    on = sft_command(profiles.load("h100", ["train.use_liger_kernel=true"]).profile, V4).argv
    assert "--use_liger_kernel" not in off
    assert on[on.index("--use_liger_kernel") + 1] == "true"


MIXED = f"data.datasets=[{{path: {ROOT}/datasets/identity.json}}, {{path: {ROOT}/bench/data/alpaca_like_zh500.jsonl}}]"


def _fitted(name: str, *sets: str):
    p = profiles.load(name, list(sets)).profile
    fitted, choice = fit.apply(p)
    t = fitted.train
    return (t.per_device_train_batch_size, t.gradient_accumulation_steps, t.gradient_checkpointing), choice


@pytest.mark.parametrize(
    ("name", "sets", "expected"),
    [
        ("h100", [], (16, 1, False)),  # short identity records: one pass fits 80 GB without recomputation
        ("h100", [MIXED], (16, 1, True)),  # long general records: one pass with it beats 8 x 2 without
        ("h100", [MIXED, "train.use_liger_kernel=false"], (16, 1, True)),  # logits held: 16 fit only with it
        ("4090d-fast", [], (16, 1, True)),
        ("4090d-fast", [MIXED], (16, 1, True)),
        ("4090d-fast", [MIXED, "train.use_liger_kernel=false"], (2, 8, True)),
        ("h100", ["train.per_device_train_batch_size=4", "train.gradient_accumulation_steps=4"], (4, 4, False)),
        ("4090d-fast", ["train.per_device_train_batch_size=16", "train.gradient_accumulation_steps=1"], (16, 1, True)),
    ],
)
def test_checkpointing_auto_takes_the_fewest_passes_then_no_recomputation(name, sets, expected):
    got, choice = _fitted(name, *sets)
    assert got == expected
    assert f"gradient checkpointing {'on' if expected[2] else 'off'} (auto)" in choice.line()


def test_checkpointing_auto_is_off_on_the_cpu_and_on_for_an_unknown_model(tmp_path):
    got, _ = _fitted("cpu-demo", "train.gradient_checkpointing=auto")
    assert got[2] is False
    model = tmp_path / "m"
    model.mkdir()  # no config.json: the shape, so the memory, is unknown
    got, choice = _fitted("h100", f"model.model={model}")
    assert got == (1, 16, True) and "unknown" in choice.line()


def test_an_explicit_checkpointing_setting_wins():
    assert _fitted("h100", "train.gradient_checkpointing=true")[0] == (16, 1, True)
    assert _fitted("4090d-fast", MIXED, "train.gradient_checkpointing=false")[0][2] is False


def test_a_profile_whose_settings_need_a_missing_package_is_refused_before_any_model_loads():
    from swiftkit.errors import SwiftkitError
    from swiftkit.sizing.gpus import check_packages

    h100 = profiles.load("h100", ["train.use_liger_kernel=true"]).profile
    with pytest.raises(SwiftkitError) as refused:
        check_packages(h100, find=lambda _module: None)
    message = str(refused.value)
    assert "liger_kernel" in message and "swiftkit[gpu]" in message and "train.use_liger_kernel=false" in message
    check_packages(h100, find=lambda module: object())  # installed: no complaint
    both = profiles.load("qlora-12gb", ["train.deepspeed=zero2"]).profile
    with pytest.raises(SwiftkitError, match=r"deepspeed.*bitsandbytes.*--set train.deepspeed=null --set quant=null"):
        check_packages(both, find=lambda module: None if module != "liger_kernel" else object())
    check_packages(profiles.load("4090d").profile, find=lambda _module: None)  # needs none of them


def test_unresolved_auto_checkpointing_never_reaches_ms_swift():
    from swiftkit.errors import SwiftkitError

    with pytest.raises(SwiftkitError, match="not resolved"):
        lp = profiles.load("h100")
        out = Path(lp.profile.output_dir)  # assembled unfitted: 'auto' left in on purpose
        render_sft(assemble_run(lp, lp.profile, BatchChoice(1, 1, 1, False), out, out / "v0-20260101-000000"), V4)
