"""Beyond one card: several GPUs and nodes, DeepSpeed, QLoRA/DoRA/full, swift_args, and the batch fitted to the card.

Rendering is checked as exact argv/env; ms-swift's own parser must accept what is rendered (test_swift_accepts has
the built-in profiles); the estimates are checked against the H200 runs in bench/results/*2026-11-28-scale.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import flag_values, resolved, sft_command

from swiftkit.cli import cli
from swiftkit.config import profiles
from swiftkit.config.schema import Profile
from swiftkit.errors import SwiftkitError
from swiftkit.jobs import train as training
from swiftkit.runs.lock import RunLock
from swiftkit.sizing import disk, fit, shapes, vram
from swiftkit.swift import flags, render
from swiftkit.swift.version import flavor_for

V4 = flavor_for("4.6.0")
QWEN7B = shapes.KNOWN["Qwen/Qwen2.5-7B-Instruct"]
QWEN32B = shapes.Shape(5120, 27648, 64, 40, 8, 152064, False)


def load(name: str, *sets: str) -> Profile:
    return profiles.load(name, list(sets)).profile


# ---------------------------------------------------------------- the profile's new fields
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["gpu.devices=[0, 0]"], "names a card twice"),
        (["launch.nnodes=2", "launch.node_rank=2", "launch.master_addr=10.0.0.1"], "must be below nnodes 2"),
        (["launch.nnodes=2"], "need master_addr"),
        (["launch.nnodes=2", "launch.master_addr=a b"], "not a host name"),
        (["quant={quant_bits: 4}", "lora.tuner_type=full"], "cannot be used with lora.tuner_type: full"),
        (["quant={quant_bits: 4}", "train.deepspeed=zero3"], "with ZeRO-3 is not supported"),
        (["quant={quant_bits: 3}"], "quant.quant_bits"),
        (["train.deepspeed=zero9"], "train.deepspeed"),
        (["train.per_device_train_batch_size=auto", "train.effective_batch_size=null"], "needs train.effective"),
        (["swift_args={--lr: 1}"], "without dashes"),
    ],
)
def test_profile_rules_name_the_field_and_the_fix(sets, message):
    with pytest.raises(SwiftkitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        profiles.load("4090d", sets)


def test_gpu_only_settings_are_refused_on_the_cpu():
    with pytest.raises(SwiftkitError, match=r"quant, train.deepspeed need\(s\) a GPU"):
        profiles.load("cpu-demo", ["quant={quant_bits: 4}", "train.deepspeed=zero2"])


# ---------------------------------------------------------------- environment and argv
@pytest.mark.parametrize(
    ("sets", "env"),
    [
        ([], {"CUDA_VISIBLE_DEVICES": "0"}),
        (["gpu.devices=[2, 3]"], {"CUDA_VISIBLE_DEVICES": "2,3", "NPROC_PER_NODE": "2"}),
        (
            ["gpu.devices=[0, 1]", "launch.master_port=29600"],
            {"CUDA_VISIBLE_DEVICES": "0,1", "NPROC_PER_NODE": "2", "MASTER_PORT": "29600"},
        ),
        (
            ["launch.nnodes=2", "launch.node_rank=1", "launch.master_addr=10.1.2.3", "launch.master_port=29500"],
            {
                "CUDA_VISIBLE_DEVICES": "0",
                "NPROC_PER_NODE": "1",
                "NNODES": "2",
                "NODE_RANK": "1",
                "MASTER_ADDR": "10.1.2.3",
                "MASTER_PORT": "29500",
            },
        ),
    ],
)
def test_launch_environment(sets, env, monkeypatch):
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    command = sft_command(load("4090d", *sets), V4)
    guard = {"SWIFTKIT_REMOTE_CODE": "off", "PYTHONPATH": "swiftkit/inside_swift/guard"}
    assert command.env == {**env, **guard, "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    assert command.argv[:2] == ["swift", "sft"]


def test_a_users_allocator_setting_wins(monkeypatch):
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128")
    assert "PYTORCH_CUDA_ALLOC_CONF" not in sft_command(load("4090d"), V4).env
    assert "PYTORCH_CUDA_ALLOC_CONF" not in sft_command(load("cpu-demo"), V4).env


def test_infer_and_export_see_the_cards_but_never_start_torchrun():
    profile = load("4090d", "gpu.devices=[0, 1]")
    for command in (
        render.render_infer(resolved(profile), V4),
        render.render_export(resolved(profile, "o/v0/checkpoint-1"), V4),
    ):
        assert command.env["CUDA_VISIBLE_DEVICES"] == "0,1"
        assert not {"NPROC_PER_NODE", "NNODES"} & set(command.env)


def test_deepspeed_quant_dora_and_full_render_as_ms_swift_spells_them():
    qlora = flag_values(sft_command(load("qlora-12gb", "lora.use_dora=true", "train.deepspeed=zero2"), V4).argv)
    assert qlora["--quant_method"] == ["bnb"] and qlora["--quant_bits"] == ["4"]
    assert qlora["--bnb_4bit_compute_dtype"] == ["bfloat16"] and qlora["--bnb_4bit_quant_type"] == ["nf4"]
    assert qlora["--bnb_4bit_use_double_quant"] == ["true"]
    assert qlora["--use_dora"] == ["true"] and qlora["--deepspeed"] == ["zero2"]
    full = flag_values(sft_command(load("4090d", "lora.tuner_type=full", "train.deepspeed=zero3_offload"), V4).argv)
    assert full["--tuner_type"] == ["full"] and full["--deepspeed"] == ["zero3_offload"]
    assert not {"--lora_rank", "--lora_alpha", "--lora_dropout", "--target_modules", "--use_dora"} & set(full)
    plain = flag_values(sft_command(load("4090d"), V4).argv)
    assert not {"--deepspeed", "--quant_method", "--use_dora"} & set(plain)


def test_every_flag_swiftkit_renders_is_owned_by_a_field():
    """swift_args may not set what a profile field sets; the table must cover every flag render_sft can emit."""
    rich = [
        load(
            "qlora-12gb",
            "lora.use_dora=true",
            "train.deepspeed=zero2",
            "train.use_liger_kernel=true",
            "train.split_dataset_ratio=0.1",
            "train.group_by_length=true",
            "train.attn_impl=sdpa",
        ),
        load("4090d", "lora.tuner_type=full", "model.model_type=qwen2", "model.template=qwen2_5"),
    ]
    for profile in rich:
        for flag in flag_values(sft_command(profile, V4).argv):
            assert flag[2:] in render.OWNED, flag


# ---------------------------------------------------------------- swift_args
def test_swift_args_pass_through_after_the_profiles_flags():
    pytest.importorskip("swift")
    argv = sft_command(
        load("4090d", "swift_args={lr_scheduler_type: cosine, max_grad_norm: 0.5, freeze_vit: true}"), V4
    ).argv
    assert argv[-6:] == ["--freeze_vit", "true", "--lr_scheduler_type", "cosine", "--max_grad_norm", "0.5"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "{lora_rnk: 4}",
            "swift_args.lora_rnk: ms-swift 4.6.0 `swift sft` has no flag --lora_rnk; did you mean 'lora_rank'?",
        ),
        ("{lora_rank: 4}", "swift_args.lora_rank: set by the profile field lora.lora_rank; set that instead"),
        ("{deepspeed: zero3}", "swift_args.deepspeed: set by the profile field train.deepspeed; set that instead"),
        ("{use_cpu: maybe}", "swift_args.use_cpu: --use_cpu takes true or false, not 'maybe'"),
        ("{lr_scheduler_type: [a, b]}", "swift_args.lr_scheduler_type: --lr_scheduler_type takes one value"),
        ("{zzz_not_a_flag: 1}", "swift_args.zzz_not_a_flag: ms-swift 4.6.0 `swift sft` has no flag --zzz_not_a_flag"),
    ],
)
def test_swift_args_are_checked_against_ms_swifts_own_flags(args, expected):
    pytest.importorskip("swift")
    with pytest.raises(SwiftkitError) as err:
        sft_command(load("4090d", f"swift_args={args}"), V4)
    assert expected in str(err.value)


def test_all_swift_args_problems_at_once():
    pytest.importorskip("swift")
    with pytest.raises(SwiftkitError) as err:
        sft_command(load("4090d", "swift_args={lora_rnk: 4, seed: 1, use_cpu: x}"), V4)
    assert str(err.value).count("\n  swift_args.") == 3


def test_flag_tables_are_read_once_per_version_and_cached(tmp_path, monkeypatch):
    pytest.importorskip("swift")
    from swiftkit.swift import argdefs

    monkeypatch.setenv("SWIFTKIT_CACHE", str(tmp_path))
    flags.tables.cache_clear()
    first = flags.flag_info("sft")
    cached = list(tmp_path.glob("swift-flags-*ms_swift4.6.0-*.json"))
    assert len(cached) == 1 and "lora_rank" in first and first["use_dora"]["kind"] == "bool"

    def fail(*_args: object) -> None:
        raise AssertionError("the flag tables were read from source again")

    monkeypatch.setattr(argdefs, "compute", fail)
    flags.tables.cache_clear()
    assert flags.flag_info("sft") == first  # from the JSON file
    cached[0].write_text("{not json")
    flags.tables.cache_clear()
    with pytest.raises(AssertionError, match="read from source again"):
        flags.flag_info("sft")  # a damaged cache is rebuilt, never trusted
    flags.tables.cache_clear()


def test_flag_tables_agree_with_ms_swifts_parser():
    """The ast reading of ms-swift's argument classes gives HfArgumentParser's own names, spellings and kinds."""
    pytest.importorskip("swift")
    import argparse

    from swift_parser import parser_for

    parser = parser_for("sft")
    theirs: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        theirs.setdefault(action.dest, []).extend(action.option_strings)
        if action.dest not in kinds:
            is_bool = getattr(action.type, "__name__", "") == "string_to_bool" and action.choices is None
            kinds[action.dest] = "list" if action.nargs == "+" else "bool" if is_bool else "other"
    ours = flags.flag_info("sft")
    assert set(ours) == set(theirs)
    for name, info in ours.items():
        assert sorted(info["options"]) == sorted(theirs[name]), name
        if kinds[name] != "other":
            assert info["kind"] == kinds[name], name


# ---------------------------------------------------------------- the batch fitted to the card
def long_records(tmp_path: Path, tokens: int, count: int = 4) -> Path:
    path = tmp_path / "long.jsonl"
    text = "word " * int(tokens * 3.5 / 5)  # ASCII: 3.5 characters a token in the estimate
    path.write_text("".join(json.dumps({"query": "q", "response": text}) + "\n" for _ in range(count)))
    return path


@pytest.mark.parametrize(
    ("name", "tokens", "sets", "expected"),
    [
        ("h100", None, [], (16, 1)),  # the identity data: short records, as before
        ("4090d-fast", None, [], (16, 1)),
        ("h100", 660, [], (16, 1)),  # long general records (the mixed job): Liger + checkpointing 'auto' -> on
        ("4090d-fast", 660, [], (16, 1)),
        ("h100", 660, ["train.use_liger_kernel=false", "train.gradient_checkpointing=false"], (8, 2)),
        ("4090d-fast", 660, ["train.use_liger_kernel=false", "train.gradient_checkpointing=true"], (2, 8)),
        ("h100", 660, ["gpu.devices=[0, 1]"], (8, 1)),  # 8 per GPU on 2 GPUs: still 16 a step
        ("h100", 660, ["train.per_device_train_batch_size=4"], (4, 4)),  # an explicit batch wins
        ("h100", 660, ["train.gradient_accumulation_steps=8"], (2, 8)),
        ("qlora-12gb", None, [], (8, 2)),
    ],
)
def test_auto_batch_keeps_sixteen_a_step_and_fits_the_card(tmp_path, monkeypatch, name, tokens, sets, expected):
    monkeypatch.setattr(fit, "liger_installed", lambda: True)  # Liger 'auto' as on a GPU machine (swiftkit[gpu])
    extra = [f"data.datasets=[{{path: {long_records(tmp_path, tokens)}}}]"] if tokens else []
    profile = load(name, *extra, *sets)
    choice = fit.choose(profile)
    assert (choice.per_device, choice.accumulation) == expected
    assert choice.effective == 16
    fitted, _ = fit.apply(profile)
    found = vram.estimate(fitted)
    assert found is not None and profile.gpu is not None
    assert found.gib <= profile.gpu.memory * vram.FIT_FRACTION or choice.per_device == 1


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["gpu.devices=[0, 1, 2]"], "does not split over 3 training processes"),
        (["train.per_device_train_batch_size=3"], "does not divide the 16 sequences"),
        (["train.per_device_train_batch_size=4", "train.gradient_accumulation_steps=2"], "disagrees"),
    ],
)
def test_a_batch_that_cannot_keep_the_effective_batch_is_refused(sets, message):
    with pytest.raises(SwiftkitError, match=message):
        fit.choose(load("h100", *sets))


def test_plan_shows_the_choice():
    result = CliRunner().invoke(cli, ["plan", "sft", "-p", "h100"], catch_exceptions=False)
    assert "# batch: 16 per forward pass × 1 accumulation = 16 sequences per optimizer step (auto: predicted" in (
        result.stderr
    )


# ---------------------------------------------------------------- several nodes
NODES = ["launch.nnodes=2", "launch.master_addr=10.0.0.1", "launch.master_port=29500", "gpu.devices=[0, 1]"]


def test_plan_prints_the_command_of_every_node(monkeypatch):
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    args = ["plan", "sft", "-p", "h100", *[a for s in NODES for a in ("--set", s)]]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# node 0: swiftkit train --profile h100 --set launch.node_rank=0"
    assert lines[1].startswith("CUDA_VISIBLE_DEVICES=0,1 SWIFTKIT_REMOTE_CODE=off PYTHONPATH=")
    assert (
        " PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True NPROC_PER_NODE=2 NNODES=2 "
        "NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 swift sft "
    ) in lines[1]
    assert lines[2] == "# node 1: swiftkit train --profile h100 --set launch.node_rank=1"
    assert " NODE_RANK=1 " in lines[3] and "/node-1/v0-" in lines[3]
    assert "× 4 processes = 16 sequences" in result.stderr  # 2 nodes x 2 GPUs: 4 per pass x 1


def test_each_node_has_its_own_output_folder_and_lock(tmp_path):
    node0 = profiles.load("h100", [*NODES, f"output_dir={tmp_path}"])
    node1 = profiles.load("h100", [*NODES, f"output_dir={tmp_path}", "launch.node_rank=1"])
    p0, p1 = training.plan_train(node0, V4), training.plan_train(node1, V4)
    assert p0.output_root == tmp_path and p1.output_root == tmp_path / "node-1"
    assert p0.run_dir.parent == tmp_path and p1.run_dir.parent == tmp_path / "node-1"
    with RunLock(p0.output_root).acquire(), RunLock(p1.output_root).acquire():
        pass  # two nodes sharing a file system never wait for each other's lock
    with pytest.raises(SwiftkitError, match="--resume is not supported for runs over several nodes"):
        training.plan_train(node1, V4, resume=True)


# ---------------------------------------------------------------- estimates against the H200 runs
def test_measured_h200_peaks_are_predicted():
    """bench/results/nvidia-h200-x2-2026-11-28-scale.md (smi peaks with expandable_segments, as swiftkit runs)."""
    mixed = vram.peak(QWEN7B, batch=8, seq_len=672, gradient_checkpointing=False).gib
    assert abs(mixed / 68.0 - 1) <= 0.02
    zero3 = vram.peak(QWEN32B, batch=8, seq_len=101, gradient_checkpointing=False, deepspeed="zero3", world=2).gib
    assert abs(zero3 / 67.6 - 1) <= 0.02  # the point the ZeRO-3 term was fitted to
    qlora = vram.peak(QWEN7B, batch=16, seq_len=101, gradient_checkpointing=True, quant_bits=4).gib
    assert 9.3 <= qlora <= 9.3 * 1.2  # errs high, never low


def test_sharding_lowers_the_per_gpu_estimate_in_the_expected_order():
    def full(**kw: Any) -> float:
        return vram.peak(QWEN7B, batch=1, seq_len=512, gradient_checkpointing=True, tuner_type="full", **kw).gib

    ddp = full(world=4)
    z2, z3, off = (full(deepspeed=name, world=4) for name in ("zero2", "zero3", "zero3_offload"))
    assert ddp > z2 > z3 > off
    assert full(deepspeed="zero3", world=8) < z3
    lora = vram.peak(QWEN7B, batch=1, seq_len=512, gradient_checkpointing=True)
    assert "ddp buckets" in vram.peak(QWEN7B, batch=1, seq_len=512, gradient_checkpointing=True, world=2).breakdown
    assert vram.peak(QWEN7B, batch=1, seq_len=512, gradient_checkpointing=True, quant_bits=4).gib < lora.gib - 8


def test_disk_estimate_counts_each_nodes_zero_shards():
    one = disk.estimate(load("h100", "train.deepspeed=zero3", "gpu.devices=[0, 1]"), free=10**15)
    node1 = disk.estimate(
        load("h100", "train.deepspeed=zero3", "gpu.devices=[0, 1]", *NODES[:3], "launch.node_rank=1"), free=10**15
    )
    full = disk.estimate(
        load("h100", "lora.tuner_type=full", "train.deepspeed=zero3", "gpu.devices=[0, 1]"), free=10**15
    )
    assert one and node1 and full
    assert node1.merged_bytes == 0 and node1.checkpoint_bytes < one.checkpoint_bytes
    assert full.checkpoint_bytes > 7.6e9 * 14  # 16-bit weights + fp32 master and moments over the shards
    assert full.merged_bytes == 0  # nothing to merge after full fine-tuning
