"""Loading profiles: built-ins, extends, --set, and every bad input giving one clear error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import invoke

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError

MINIMAL = """
model:
  model: Qwen/Qwen2.5-0.5B-Instruct
data:
  datasets:
    - path: data.json
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtins_load_and_include_4090d_and_cpu_demo():
    names = profiles.builtin_names()
    assert {"4090d", "cpu-demo"} <= set(names)
    for name in names:
        lp = profiles.load(name)
        assert lp.profile.description, f"{name} needs a one-line description"


def test_4090d_is_the_articles_recipe():
    p = profiles.load("4090d").profile
    assert p.model.model == "Qwen/Qwen2.5-7B-Instruct"
    assert (p.lora.lora_rank, p.lora.lora_alpha, p.lora.target_modules) == (8, 32, ["all-linear"])
    t = p.train
    assert (t.torch_dtype, t.num_train_epochs, t.per_device_train_batch_size, t.gradient_accumulation_steps) == (
        "bfloat16",
        10,
        1,
        16,
    )
    assert (t.learning_rate, t.warmup_ratio, t.max_length) == (1e-4, 0.05, 2048)
    assert (t.eval_steps, t.save_steps, t.save_total_limit, t.logging_steps, t.dataloader_num_workers) == (
        50,
        50,
        2,
        5,
        4,
    )
    assert p.system == "You are a helpful assistant."
    assert p.identity is not None and p.gpu is not None
    assert (p.gpu.device, p.gpu.memory_gb) == (0, 24)


def test_every_field_has_a_description():
    from pydantic import BaseModel

    from swiftkit.config.schema import Profile

    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        assert model.model_config.get("extra") == "forbid", model
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            inner = profiles._unwrap(field.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                walk(inner)

    walk(Profile)
    assert len(seen) >= 8


def test_extends_merges_and_child_wins(tmp_path: Path):
    write(tmp_path, "base.yaml", MINIMAL + "train:\n  learning_rate: 3.0e-4\n  max_length: 1024\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\ntrain:\n  max_length: 256\n")
    lp = profiles.load(str(child))
    assert lp.profile.train.max_length == 256
    assert lp.profile.train.learning_rate == 3e-4
    assert [p.name for p in lp.chain] == ["child.yaml", "base.yaml"]
    # dataset paths are relative to the file that names them
    assert lp.profile.data.datasets[0].path == str((tmp_path / "data.json").resolve())


def test_extends_a_builtin_by_name(tmp_path: Path):
    child = write(tmp_path, "mine.yaml", "extends: 4090d\ntrain:\n  num_train_epochs: 3\n")
    p = profiles.load(str(child)).profile
    assert p.train.num_train_epochs == 3 and p.model.model == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        (["train.learning_rate=2e-4"], lambda p: p.train.learning_rate == 2e-4),
        (["train.gradient_checkpointing=false"], lambda p: p.train.gradient_checkpointing is False),
        (["lora.target_modules=[q_proj, v_proj]"], lambda p: p.lora.target_modules == ["q_proj", "v_proj"]),
        (["system=no"], lambda p: p.system == "no"),  # YAML 1.1 would make this False
        (["system=a=b"], lambda p: p.system == "a=b"),  # split on the first '='
        (["gpu=null"], lambda p: p.gpu is None),
        (["data.datasets.0.sample=7"], lambda p: p.data.datasets[0].sample == 7),
        (
            ["identity.name=Nova", "identity.author=Lab X"],
            lambda p: (p.identity.name, p.identity.author) == ("Nova", "Lab X"),
        ),
    ],
)
def test_set_overrides(overrides, check):
    assert check(profiles.load("4090d", overrides).profile)


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (MINIMAL + "trian:\n  max_length: 5\n", [], ["PROFILE: trian: unknown key; did you mean 'train'?"]),
        (
            MINIMAL + "train:\n  learnin_rate: 1\n",
            [],
            ["PROFILE: train.learnin_rate: unknown key; did you mean 'learning_rate'?"],
        ),
        (MINIMAL + "train:\n  max_length: long\n", [], ["PROFILE: train.max_length: Input should be a valid integer"]),
        (
            MINIMAL,
            ["train.max_lenght=5"],
            ["--set train.max_lenght=5: train.max_lenght: unknown key; did you mean 'max_length'?"],
        ),
        (MINIMAL, ["lora.lora_rank=0"], ["--set lora.lora_rank=0: lora.lora_rank: Input should be greater than 0"]),
        ("data:\n  datasets: [{path: a.json}]\n", [], ["PROFILE: model: required key is missing"]),
        (
            MINIMAL + "train:\n  torch_dtype: fp8\n  warmup_ratio: 2\n",
            [],
            ["PROFILE: train.torch_dtype: Input should be", "PROFILE: train.warmup_ratio: Input should be less than 1"],
        ),
        (
            MINIMAL.replace("path: data.json", "hub: 'bad id with spaces'"),
            [],
            ["PROFILE: data.datasets.0.hub: 'bad id with spaces' is not a hub dataset id"],
        ),
    ],
)
def test_bad_profiles_list_every_problem(tmp_path: Path, text, overrides, expected):
    path = write(tmp_path, "p.yaml", text)
    with pytest.raises(SwiftkitError) as info:
        profiles.load(str(path), overrides)
    message = str(info.value).replace(str(path), "PROFILE")
    for line in expected:
        assert line in message, message
    assert f"{len(expected)} problem" in message


@pytest.mark.parametrize(
    ("files", "arg", "expected"),
    [
        ({}, "nope.yaml", "profile file nope.yaml does not exist"),
        ({}, "4090", "unknown profile '4090'. Did you mean '4090d'?"),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"}, "a.yaml", "'extends' forms a cycle"),
        ({"a.yaml": "extends: a.yaml\n"}, "a.yaml", "'extends' forms a cycle"),
        ({"a.yaml": "- just\n- a list\n"}, "a.yaml", "a profile must be a mapping"),
        ({"a.yaml": "model: [unclosed\n"}, "a.yaml", "a.yaml:2:1:"),
        ({"a.yaml": "x: &a [1]\ny: *a\n"}, "a.yaml", "anchors and aliases (&name, *name) are not allowed"),
        ({"a.yaml": "x: 1\nx: 2\n"}, "a.yaml", "duplicate key 'x'"),
        ({"a.yaml": "x: !!python/object:os.system {}\n"}, "a.yaml", "a.yaml:1:4:"),
        ({"a.yaml": b"\xff\xfe bad"}, "a.yaml", "not UTF-8"),
        ({"a.yaml": "extends: nowhere-profile\n"}, "a.yaml", "unknown profile 'nowhere-profile'"),
    ],
)
def test_bad_files_one_clear_error(tmp_path: Path, monkeypatch, files, arg, expected):
    monkeypatch.chdir(tmp_path)
    for name, body in files.items():
        (tmp_path / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    with pytest.raises(SwiftkitError) as info:
        profiles.load(arg)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "override",
    ["no-equals-sign", "=5", "train..x=1", "data.datasets.9.path=x.json", "train.max_length.deeper=1"],
)
def test_bad_override_syntax(override):
    with pytest.raises(SwiftkitError) as info:
        profiles.load("4090d", [override])
    assert "--set" in str(info.value)


TRAIN_KEYS = (
    "num_train_epochs, per_device_train_batch_size, per_device_eval_batch_size, gradient_accumulation_steps, "
    "effective_batch_size, deepspeed, learning_rate, warmup_ratio, max_length, torch_dtype, gradient_checkpointing, "
    "attn_impl, padding_free, save_steps, eval_steps, logging_steps, save_total_limit, dataloader_num_workers, seed, "
    "data_seed, split_dataset_ratio, group_by_length, report_to, use_liger_kernel"
)


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (
            ["plan", "sft", "--profile", "nope"],
            [
                "Error: unknown profile 'nope'. Run 'swiftkit profiles list' to see the names, or give a path to a "
                ".yaml file."
            ],
            1,
        ),
        (
            ["plan", "sft", "--profile", "4090d", "--set", "train.lr=1"],
            [
                "Error: profile 4090d has 1 problem:",
                f"  --set train.lr=1: train.lr: unknown key; valid keys here: {TRAIN_KEYS}",
                "Fix them in the file (or the --set value) and try again.",
            ],
            2,
        ),
        (
            ["plan", "sft", "--profile", "4090d", "--set", "train"],
            ["Error: --set 'train': expected KEY=VALUE, e.g. --set train.learning_rate=2e-4."],
            2,
        ),
        (
            ["profiles", "show", "missing.yaml"],
            ["Error: profile file missing.yaml does not exist; check the path or run 'swiftkit profiles list'."],
            1,
        ),
    ],
)
def test_cli_reports_errors_without_traceback(args, expected, code):
    result = invoke(*args)
    assert result.returncode == code  # 2: a usage error, the --set value on the command line is wrong
    assert result.stderr.splitlines() == expected
    assert result.stdout == ""


def test_profiles_show_prints_resolved_yaml():
    import yaml

    result = invoke("profiles", "show", "cpu-demo", "--set", "train.max_length=300")
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["train"]["max_length"] == 300
    assert data["model"]["model"] == "embedded:smollm2-135m-instruct"
