"""The remote-code pre-flight and the completeness of merged folders, without ms-swift (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import invoke
from helpers import resolved, safetensors_bytes, write_merged

from swiftkit.cli import cli
from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.model.remote_code import refuse_shipped_code, shipped_code
from swiftkit.runs.checkpoints import merged_problem

ROOT = Path(__file__).resolve().parents[2]


def model_folder(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    for name, text in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


AUTO = json.dumps({"model_type": "llama", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}})
CASES = {
    "clean": ({}, []),
    "config auto_map": (
        {"config.json": AUTO, "configuration_evil.py": "x = 1"},
        ["config.json auto_map", "configuration_evil.py"],
    ),
    "tokenizer auto_map": (
        {"tokenizer_config.json": json.dumps({"auto_map": {"AutoTokenizer": [None, "tok.T"]}})},
        ["tokenizer_config.json auto_map"],
    ),
    "custom_generate": ({"custom_generate__generate.py": "x = 1"}, ["custom_generate/generate.py"]),
    "plugin in args.json": (
        {"args.json": json.dumps({"external_plugins": ["/x/evil.py"]})},
        ["args.json external_plugins"],
    ),
    "swiftkit's own plugin": (
        {"args.json": json.dumps({"external_plugins": ["swiftkit/plugins/no_remote_code.py"]})},
        [],
    ),
    "swiftkit's LoRA input plugin": (
        {"args.json": json.dumps({"external_plugins": [str(ROOT / "swiftkit/inside_swift/lora_inputs.py")]})},
        [],
    ),
    "a file named like swiftkit's elsewhere": (
        {"args.json": json.dumps({"external_plugins": ["/x/inside_swift/lora_inputs.py"]})},
        ["args.json external_plugins"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shipped_code_is_found(tmp_path: Path, name: str):
    files, expected = CASES[name]
    assert shipped_code(model_folder(tmp_path / "m", **files)) == expected


def evil_profile(tmp_path: Path, trust: bool = False) -> Path:
    model = model_folder(tmp_path / "evil", **{"config.json": AUTO, "modeling_evil.py": "x = 1"})
    path = tmp_path / "p.yaml"
    path.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\n"
        f"model:\n  model: {model}\n  trust_remote_code: {str(trust).lower()}\n"
        f"data:\n  datasets:\n    - path: {ROOT / 'datasets' / 'identity.json'}\noutput_dir: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    return path


def test_refusal_names_the_files_unless_the_profile_opts_in(tmp_path: Path):
    lp = profiles.load(str(evil_profile(tmp_path)))
    with pytest.raises(SwiftkitError) as info:
        refuse_shipped_code(lp.profile, resolved(lp).model)
    assert str(info.value).startswith(
        f"{tmp_path / 'evil'} ships code that ms-swift would import (config.json auto_map, modeling_evil.py); "
    )
    trusting = resolved(profiles.load(str(evil_profile(tmp_path, trust=True))))
    refuse_shipped_code(trusting.profile, trusting.model)  # opted in: no refusal


def test_an_adapter_folder_carrying_a_plugin_is_refused(tmp_path: Path):
    lp = profiles.load("cpu-demo")
    adapter = tmp_path / "checkpoint-4"
    adapter.mkdir()
    (adapter / "args.json").write_text(json.dumps({"external_plugins": [str(adapter / "evil.py")]}))
    with pytest.raises(SwiftkitError, match="checkpoint-4 ships code .*args.json external_plugins"):
        refuse_shipped_code(lp.profile, resolved(lp).model, adapter)


def test_plan_says_what_is_enforced_and_what_the_preflight_found(tmp_path: Path):
    result = CliRunner().invoke(cli, ["plan", "sft", "-p", str(evil_profile(tmp_path))], catch_exceptions=False)
    assert result.exit_code == 0
    assert "# remote code: off - enforced in every ms-swift process by swiftkit's import guard" in result.stderr
    assert "the model folder ships code (config.json auto_map, modeling_evil.py): train, infer and export refuse" in (
        result.stderr
    )
    trusted = CliRunner().invoke(cli, ["plan", "sft", "-p", str(evil_profile(tmp_path, trust=True))])
    assert "# remote code: ALLOWED" in trusted.stderr and "SWIFTKIT_REMOTE_CODE" not in trusted.stdout


def test_train_refuses_before_anything_runs(tmp_path: Path):
    result = invoke("train", "--profile", str(evil_profile(tmp_path)))
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {tmp_path / 'evil'} ships code that ms-swift would import (config.json auto_map, modeling_evil.py); "
        "swiftkit refuses it while model.trust_remote_code is false. Set it to true "
        "(--set model.trust_remote_code=true) only if you trust that code, or use a folder without it.\n"
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ merged folders
MERGED = {
    "complete": (lambda m: None, ""),
    "no tokenizer config": (lambda m: (m / "tokenizer_config.json").unlink(), "tokenizer_config.json is missing"),
    "no generation config": (lambda m: (m / "generation_config.json").unlink(), "generation_config.json is missing"),
    "no tokenizer": (lambda m: (m / "tokenizer.json").unlink(), "no tokenizer"),
    "cut tokenizer": (lambda m: (m / "tokenizer.json").write_text('{"model": {"vocab": {"a'), "is cut short"),
    "cut weights": (
        lambda m: (m / "model.safetensors").write_bytes(safetensors_bytes({"w": [4, 4]})[:-3]),
        "model.safetensors is cut short",
    ),
    "no weights": (lambda m: (m / "model.safetensors").unlink(), "no model weights"),
    "missing shard": (
        lambda m: (m / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"w": "model.safetensors", "v": "model-00002-of-00002.safetensors"}})
        ),
        "model-00002-of-00002.safetensors is missing",
    ),
}


@pytest.mark.parametrize("name", sorted(MERGED))
def test_merged_folder_completeness(tmp_path: Path, name: str):
    damage, reason = MERGED[name]
    merged = write_merged(tmp_path / "checkpoint-4-merged")
    damage(merged)
    problem = merged_problem(merged)
    assert (reason in problem) if reason else problem == "", problem
