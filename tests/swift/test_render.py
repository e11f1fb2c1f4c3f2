"""Rendered ms-swift commands: golden files for every built-in profile, and the article's settings."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from helpers import flag_values, resolved, sft_command

from swiftkit.config import profiles
from swiftkit.config.profiles import builtin_dir
from swiftkit.sizing import fit
from swiftkit.swift import render
from swiftkit.swift.version import flavor_for

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden"  # tests/golden: the argv files `make golden` writes
BUILTINS = sorted(builtin_dir().rglob("*.yaml"))  # recursive: sub-folders are never skipped
FAKE_CHECKPOINT = "output/NAME/v0-20260101-000000/checkpoint-40"
V4 = flavor_for("4.6.0")


def rendered(path: Path) -> dict[str, str]:
    """What `swiftkit train` would run for this profile in a fixed run folder, and infer/export on a checkpoint."""
    lp = profiles.load(str(path))
    ck = FAKE_CHECKPOINT.replace("NAME", lp.name)
    return {
        "sft": sft_command(lp.profile, V4).display(),
        "infer": render.render_infer(resolved(lp, ck), V4).display(),
        "export": render.render_export(resolved(lp, ck), V4).display(),
        "deploy": render.render_deploy(
            resolved(lp, ck), V4, render.Endpoint("127.0.0.1", 8000, "swift-robot")
        ).display(),
    }


@pytest.fixture(autouse=True)
def stable_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SWIFTKIT_CACHE", "/cache/swiftkit")
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)  # a user's own allocator setting is kept
    monkeypatch.setattr(fit, "liger_installed", lambda: True)  # Liger 'auto' as on a GPU machine (swiftkit[gpu])


def test_every_builtin_profile_has_golden_files():
    """The golden set follows what swiftkit itself lists as built-in, so a new profile cannot go untested."""
    assert {p.stem for p in BUILTINS} == set(profiles.builtin_names())
    assert {"4090d", "cpu-demo"} <= set(profiles.builtin_names())


@pytest.mark.parametrize("path", BUILTINS, ids=[p.stem for p in BUILTINS])
def test_golden_argv(path: Path):
    """`make golden` rewrites these files after an intended change; review the diff before committing."""
    for kind, line in rendered(path).items():
        golden = GOLDEN / f"{path.stem}.{kind}.txt"
        if os.environ.get("SWIFTKIT_REGEN_GOLDEN"):
            golden.write_text(line + "\n", encoding="utf-8")
        assert golden.exists(), f"no golden file {golden.name}; run 'make golden'"
        assert line == golden.read_text(encoding="utf-8").strip(), (
            f"{golden.name} changed; run 'make golden' if intended"
        )


ARTICLE_4X = """
CUDA_VISIBLE_DEVICES=0 swift sft --model Qwen/Qwen2.5-7B-Instruct --tuner_type lora --torch_dtype bfloat16
--num_train_epochs 10 --per_device_train_batch_size 1 --per_device_eval_batch_size 1 --learning_rate 1e-4
--lora_rank 8 --lora_alpha 32 --target_modules all-linear --gradient_accumulation_steps 16 --eval_steps 50
--save_steps 50 --save_total_limit 2 --logging_steps 5 --max_length 2048 --output_dir output
--system 'You are a helpful assistant.' --warmup_ratio 0.05 --dataloader_num_workers 4
--model_author swift --model_name swift-robot
"""


def test_4090d_reproduces_every_setting_of_the_article():
    lp = profiles.load("4090d")
    cmd = sft_command(lp.profile, V4)
    # the article's one GPU; the allocator setting changes where memory goes, not what is trained; the guard
    # keeps remote code off
    assert cmd.env["CUDA_VISIBLE_DEVICES"] == "0"
    assert cmd.env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert cmd.env["SWIFTKIT_REMOTE_CODE"] == "off"
    ours = flag_values(cmd.argv)
    article = flag_values(shlex.split(" ".join(ARTICLE_4X.split()))[1:])
    # identity and output folder are ours by design; every training setting must match exactly (as numbers)
    for flag, values in article.items():
        if flag in ("--model_author", "--model_name", "--output_dir"):
            assert flag in ours
            continue
        assert flag in ours, f"{flag} missing"
        assert [_norm(v) for v in ours[flag]] == [_norm(v) for v in values], flag


def _norm(value: str) -> object:
    try:
        return float(value)
    except ValueError:
        return value


@pytest.mark.parametrize(
    ("version", "flag", "backend"),
    [
        ("3.12.1", "--train_type", "pt"),
        ("4.0.1", "--tuner_type", "transformers"),
        ("4.6.0", "--tuner_type", "transformers"),
    ],
)
def test_flags_follow_the_installed_major_version(version, flag, backend):
    lp = profiles.load("4090d")
    flavor = flavor_for(version)
    sft = sft_command(lp.profile, flavor).argv
    assert flag in sft and ("--train_type" if flag == "--tuner_type" else "--tuner_type") not in sft
    infer = render.render_infer(resolved(lp, "ck"), flavor).argv
    assert infer[infer.index("--infer_backend") + 1] == backend


@pytest.mark.parametrize("version", ["2.6.1", "5.0.0", "garbage"])
def test_unsupported_versions_are_refused(version):
    from swiftkit.errors import SwiftkitError

    with pytest.raises(SwiftkitError, match="not supported|cannot read"):
        flavor_for(version)


def test_values_starting_with_a_dash_stay_values():
    lp = profiles.load("4090d", ["system=-be brief", "output_dir=-out"])
    argv = sft_command(lp.profile, V4).argv
    assert "--system=-be brief" in argv
    assert "--output_dir" in argv and argv[argv.index("--output_dir") + 1] == "./-out/v0-20260101-000000"


def test_cpu_profile_hides_gpus_and_skips_hub_check():
    lp = profiles.load("cpu-demo")
    cmd = sft_command(lp.profile, V4)
    assert cmd.env["CUDA_VISIBLE_DEVICES"] == ""
    assert cmd.argv[cmd.argv.index("--check_model") + 1] == "false"
    assert cmd.argv[cmd.argv.index("--model") + 1] == "/cache/swiftkit/models/SmolLM2-135M-Instruct"


def test_merged_checkpoint_infers_without_adapters():
    lp = profiles.load("cpu-demo")
    argv = render.render_infer(resolved(lp, "out/v0-20260101-000000/checkpoint-5-merged"), V4).argv
    assert "--adapters" not in argv
    assert argv[argv.index("--model") + 1] == "out/v0-20260101-000000/checkpoint-5-merged"


def test_display_is_one_pasteable_line():
    cmd = render.Command(["swift", "sft", "--system", "it's $HOME; rm -rf /"], {"CUDA_VISIBLE_DEVICES": "0"})
    line = cmd.display()
    assert "\n" not in line
    assert shlex.split(line) == ["CUDA_VISIBLE_DEVICES=0", "swift", "sft", "--system", "it's $HOME; rm -rf /"]


@pytest.mark.parametrize("trust", [False, True])
def test_remote_code_guard_is_on_unless_the_profile_opts_in(trust):
    """Every ms-swift child gets the guard first on its PYTHONPATH, switched on, unless the profile trusts code."""
    lp = profiles.load("4090d", [f"model.trust_remote_code={str(trust).lower()}"])
    for command in (
        sft_command(lp.profile, V4),
        render.render_infer(resolved(lp, "ck"), V4),
        render.render_infer(resolved(lp, "ck-merged"), V4, "p.jsonl", "r.jsonl"),
        render.render_export(resolved(lp, "ck"), V4),
    ):
        assert "--external_plugins" not in command.argv
        if trust:
            assert "SWIFTKIT_REMOTE_CODE" not in command.env and "PYTHONPATH" not in command.env
        else:
            assert command.env["SWIFTKIT_REMOTE_CODE"] == "off"
            guard = ROOT / command.env["PYTHONPATH"] / "sitecustomize.py"
            assert guard.is_file() and "resolve_trust_remote_code" in guard.read_text()
    note = render.remote_code_note(lp.profile, resolved(lp).model, [])
    assert ("ALLOWED" in note) is trust and ("enforced in every ms-swift process" in note) is not trust


def test_runner_puts_the_guard_first_and_keeps_the_users_pythonpath(monkeypatch):
    from swiftkit.swift import runner

    monkeypatch.setenv("PYTHONPATH", "/mine:/other")
    lp = profiles.load("4090d")
    env = runner.child_env(render.render_infer(resolved(lp, "ck"), V4))
    assert env["PYTHONPATH"].split(os.pathsep) == [str(render.GUARD_DIR), "/mine", "/other"]
    assert env["SWIFTKIT_REMOTE_CODE"] == "off"


@pytest.mark.parametrize(("version", "write_batch"), [("4.6.0", ["16"]), ("3.12.1", [])])
def test_batch_infer_writes_results_batch_by_batch_where_ms_swift_can(version, write_batch):
    """ms-swift 4.x appends each --write_batch_size batch to the result file: swiftkit counts them for progress."""
    lp = profiles.load("cpu-demo")
    argv = render.render_infer(resolved(lp), flavor_for(version), "p.jsonl", "r.jsonl").argv
    assert flag_values(argv).get("--write_batch_size", []) == write_batch
    assert "--write_batch_size" not in render.render_infer(resolved(lp), V4).argv  # interactive: no results file


def test_target_regex_replaces_target_modules():
    lp = profiles.load("4090d", [r"lora.target_regex=.*\.layers\.(2[0-9])\..*_proj"])
    values = flag_values(sft_command(lp.profile, V4).argv)
    assert values["--target_regex"] == [r".*\.layers\.(2[0-9])\..*_proj"]
    assert "--target_modules" not in values  # ms-swift would ignore it: one place decides


def test_a_target_regex_that_does_not_compile_is_refused():
    from swiftkit.errors import SwiftkitError

    with pytest.raises(SwiftkitError, match=r"lora\.target_regex.*not a regular expression"):
        profiles.load("4090d", ["lora.target_regex=layers.(2"])


def test_packing_with_length_grouping_is_refused_before_the_model_loads():
    """ms-swift 4.6.0 asks a packed dataset for its 'lengths' column when group_by_length is on: TypeError after the
    7B model had loaded (H200, 2026-12-03). swiftkit refuses the pair in plan, with the way out; each alone passes."""
    from conftest import invoke

    r = invoke("plan", "sft", "-p", "h100", "--set", "swift_args.packing=true")
    assert r.returncode == 1, r.stdout
    assert r.stderr.splitlines() == [
        "Error: the profile's swift_args do not fit the installed ms-swift:",
        "  swift_args.packing: ms-swift cannot group packed records by length (it fails after loading the model); "
        "add --set train.group_by_length=false (packed rows are all about max_length long anyway)",
        "Fix them in the profile (or with --set) and try again.",
    ]
    ok = invoke("plan", "sft", "-p", "h100", "--set", "swift_args.packing=true", "--set", "train.group_by_length=false")
    assert ok.returncode == 0, ok.stderr
    assert "--packing true" in ok.stdout and "--group_by_length" not in ok.stdout


def test_lora_input_cast_off_adds_swiftkits_plugin_and_callback_to_sft_only():
    """lora.cast_input_dtype: false renders swiftkit's plugin and its callback, joined with the profile's own
    callbacks in one flag; ms-swift 3.x (no plugin flag) and full fine-tuning render neither; infer/export never."""
    lp = profiles.load("4090d", ["lora.cast_input_dtype=false", "swift_args={callbacks: [early_stop]}"])
    argv = sft_command(lp.profile, V4).argv
    flags = flag_values(argv)
    assert len(flags["--external_plugins"]) == 1
    assert (ROOT / flags["--external_plugins"][0]).resolve() == render.LORA_INPUTS_PLUGIN
    assert argv.count("--callbacks") == 1 and flags["--callbacks"] == ["early_stop", "swiftkit_lora_inputs"]
    for command in (render.render_infer(resolved(lp, "ck"), V4), render.render_export(resolved(lp, "ck"), V4)):
        assert "--external_plugins" not in command.argv and "--callbacks" not in command.argv
    for sets, flavor in (
        (["lora.cast_input_dtype=true"], V4),  # PEFT's default
        (["lora.cast_input_dtype=false"], flavor_for("3.9.0")),  # no plugins on 3.x: PEFT's default
        (["lora.cast_input_dtype=false", "lora.tuner_type=full"], V4),  # no LoRA layers
    ):
        argv = sft_command(profiles.load("4090d", sets).profile, flavor).argv
        assert "--external_plugins" not in argv and "--callbacks" not in argv, sets
    kept = profiles.load("4090d", ["swift_args={callbacks: [early_stop]}"]).profile  # the profile's own, unchanged
    assert flag_values(sft_command(kept, V4).argv)["--callbacks"] == ["early_stop"]
