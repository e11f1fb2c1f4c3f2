"""ms-swift's own argument parser accepts every argv swiftkit renders, and reads back the same values."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import resolved, sft_command

from swiftkit.config import profiles
from swiftkit.config.profiles import builtin_dir
from swiftkit.jobs.train import resolve_train_run
from swiftkit.sizing import fit
from swiftkit.swift import render
from swiftkit.swift.version import installed_flavor

pytest.importorskip("swift")
from swift_parser import parse  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = sorted(builtin_dir().rglob("*.yaml"))


def commands(path: Path) -> dict[str, render.Command]:
    lp = profiles.load(str(path))
    flavor = installed_flavor()
    ck = f"output/{lp.name}/v0-20260101-000000/checkpoint-40"
    return {
        "sft": sft_command(lp.profile, flavor),
        "infer": render.render_infer(resolved(lp, ck), flavor),
        "batch-infer": render.render_infer(resolved(lp, ck), flavor, "prompts.jsonl", "results.jsonl"),
        "export": render.render_export(resolved(lp, ck), flavor),
        "deploy": render.render_deploy(resolved(lp, ck), flavor, render.Endpoint("127.0.0.1", 8000, "m", "key")),
        "deploy-merged": render.render_deploy(resolved(lp, ck + "-merged"), flavor, render.Endpoint("::1", 1, "m")),
    }


@pytest.mark.parametrize("path", BUILTINS, ids=[p.stem for p in BUILTINS])
def test_every_rendered_argv_parses_with_no_unknown_flags(path: Path):
    for name, command in commands(path).items():
        kind = command.argv[1]
        namespace, remaining = parse(kind, command.argv[2:])
        assert remaining == [], f"{path.stem} {name}: ms-swift does not know {remaining}"


@pytest.mark.parametrize("path", BUILTINS, ids=[p.stem for p in BUILTINS])
def test_values_round_trip_through_ms_swift(path: Path):
    lp = profiles.load(str(path))
    p = fit.apply(lp.profile)[0]  # 'auto' batch numbers as `swiftkit train` fits them
    ns, _ = parse("sft", sft_command(lp, installed_flavor()).argv[2:])
    t = p.train
    assert ns.num_train_epochs == t.num_train_epochs
    assert ns.per_device_train_batch_size == t.per_device_train_batch_size
    assert ns.gradient_accumulation_steps == t.gradient_accumulation_steps
    assert ns.learning_rate == t.learning_rate
    assert ns.warmup_ratio == t.warmup_ratio
    assert ns.max_length == t.max_length
    assert ns.torch_dtype == t.torch_dtype
    assert ns.gradient_checkpointing is t.gradient_checkpointing
    assert ns.lora_rank == p.lora.lora_rank and ns.lora_alpha == p.lora.lora_alpha
    assert ns.target_modules == p.lora.target_modules
    assert ns.system == p.system
    assert ns.tuner_type == "lora"
    assert ns.dataset == [d.argv_value for d in resolve_train_run(lp, Path(p.output_dir) / "v0-20260101-000000").data]
    if p.identity:
        assert ns.model_name[-1] == p.identity.name and ns.model_author[-1] == p.identity.author
    if p.quant:
        assert (ns.quant_method, ns.quant_bits, ns.bnb_4bit_quant_type) == ("bnb", p.quant.quant_bits, "nf4")
        assert ns.bnb_4bit_compute_dtype == t.torch_dtype and ns.bnb_4bit_use_double_quant is True
    else:
        assert ns.quant_method is None


def test_deploy_values_round_trip_through_ms_swift():
    lp = profiles.load("4090d", ["infer.repetition_penalty=1.1", "infer.infer_backend=vllm"])
    endpoint = render.Endpoint("0.0.0.0", 8123, "swift-robot", "key", verbose=True)
    ns, remaining = parse("deploy", render.render_deploy(resolved(lp, "ck"), installed_flavor(), endpoint).argv[2:])
    assert remaining == []
    assert (ns.host, ns.port, ns.served_model_name, ns.verbose) == ("0.0.0.0", 8123, "swift-robot", True)
    assert ns.api_key is None  # the key travels in the environment, read by swiftkit's serve plugin
    assert (ns.infer_backend, ns.repetition_penalty, ns.temperature) == ("vllm", 1.1, 0.0)
    assert ns.system == lp.profile.system and ns.adapters == ["ck"]
    assert ns.external_plugins[-1].endswith("inside_swift/serve.py")


def test_fa4_padding_free_round_trips_through_ms_swift():
    """On a Hopper card with flash-attn-4 the fast profiles render FA4 with padding-free batches, and ms-swift 4.6
    accepts both (its _check_padding_free allows padding_free only with a flash implementation)."""
    from swiftkit.sizing.card import fit_card
    from swiftkit.sizing.gpus import Gpu

    for name in ("h100", "4090d-fast"):
        p = fit_card(profiles.load(name).profile, [Gpu(0, "NVIDIA H200", 143771, 9.0)], installed=True).profile
        ns, remaining = parse("sft", sft_command(p, installed_flavor()).argv[2:])
        assert remaining == []
        assert (ns.attn_impl, ns.padding_free) == ("flash_attention_4", True)


def test_lora_input_plugin_and_callbacks_round_trip_through_ms_swift():
    """The fast profiles' sft argv names swiftkit's plugin and its callback as ms-swift's parser reads them."""
    for name in ("h100", "4090d-fast"):
        lp = profiles.load(name, ["swift_args={callbacks: [early_stop]}"])
        ns, remaining = parse("sft", sft_command(lp.profile, installed_flavor()).argv[2:])
        assert remaining == []
        assert len(ns.external_plugins) == 1 and ns.external_plugins[0].endswith("inside_swift/lora_inputs.py")
        assert ns.callbacks == ["early_stop", "swiftkit_lora_inputs"]
