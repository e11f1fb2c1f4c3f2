"""A model folder whose shipped Python writes a marker file when imported: no marker after train, infer, export,
replay and eval, both through the pre-flight refusal and, bypassing it, through the guard in the real ms-swift.
A control run that trusts remote code does write the marker, so the attack is real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from helpers import resolved, safetensors_bytes

from swiftkit.config import profiles
from swiftkit.data.resolve import write_data
from swiftkit.jobs import infer, train
from swiftkit.runs import checkpoints
from swiftkit.swift import render, runner
from swiftkit.swift.version import installed_flavor

pytestmark = pytest.mark.e2e

BEACON = """import os as _os
with open(_os.environ["EVIL_MARKER"], "a") as _f:
    _f.write(__name__ + "\\n")
"""
SHIPPED = {
    "configuration_evil.py": BEACON + "from transformers import LlamaConfig\n\n\nclass EvilConfig(LlamaConfig):\n"
    '    model_type = "llama"\n',
    "modeling_evil.py": BEACON
    + "from transformers import LlamaForCausalLM\n\n\nclass EvilForCausalLM(LlamaForCausalLM):\n"
    "    pass\n",
    "tokenization_evil.py": BEACON + "from transformers import PreTrainedTokenizerFast\n\n\n"
    "class EvilTokenizerFast(PreTrainedTokenizerFast):\n    pass\n",
    "custom_generate/generate.py": BEACON + "\n\ndef generate(model, **kwargs):\n"
    "    from transformers import GenerationMixin\n    return GenerationMixin.generate(model, **kwargs)\n",
}


@pytest.fixture(scope="module")
def evil_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evil") / "evil-llama"
    shutil.copytree(tiny_model, folder)
    for name, text in SHIPPED.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    for name, auto_map in (
        (
            "config.json",
            {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"},
        ),
        ("tokenizer_config.json", {"AutoTokenizer": [None, "tokenization_evil.EvilTokenizerFast"]}),
    ):
        data = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({**data, "auto_map": auto_map}, indent=2))
    return folder


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "MARKER"
    monkeypatch.setenv("EVIL_MARKER", str(path))  # inherited by swiftkit and every ms-swift process
    return path


def evil_profile(folder: Path, model: Path) -> Path:
    from e2e.conftest import tiny_profile

    return tiny_profile(folder, model, num_train_epochs=1, save_steps=100)


def test_preflight_refuses_every_command_and_names_the_files(tmp_path: Path, evil_model: Path, marker: Path):
    profile = evil_profile(tmp_path, evil_model)
    ck = tmp_path / "out" / "v0-20260101-000000" / "checkpoint-1"  # infer/export need an adapter to aim at
    ck.mkdir(parents=True)
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    for args in (
        ["train"],
        ["infer", "--prompt", "Who are you?"],
        ["infer"],
        ["export"],
        ["replay"],
        ["eval"],
    ):
        result = run_cli(*args, "--profile", str(profile), timeout=300)
        assert result.returncode == 1, (args, result.stdout[-1000:], result.stderr[-2000:])
        first = result.stderr.strip().splitlines()[-1]
        assert first.startswith(f"Error: {evil_model} ships code that ms-swift would import (config.json auto_map, "), (
            args,
            result.stderr[-2000:],
        )
        assert (
            "modeling_evil.py" in first and "custom_generate/generate.py" in first and "Traceback" not in result.stderr
        )
    assert not marker.exists(), marker.read_text()


def test_the_guard_itself_keeps_shipped_code_out_of_ms_swift(tmp_path: Path, evil_model: Path, marker: Path):
    """The pre-flight bypassed: swiftkit's own argv and environment, run by its runner, on the real ms-swift."""
    lp = profiles.load(str(evil_profile(tmp_path, evil_model)))
    flavor = installed_flavor()
    plan = train.plan_train(lp, flavor)
    plan.run_dir.mkdir(parents=True)
    write_data(plan.run)
    assert runner.run(plan.command, log_path=plan.log) == 0, plan.log.read_text()[-3000:]
    ck = checkpoints.pick(tmp_path / "out", "latest")

    for adapter in (ck, None):  # infer on the adapter; the base model's answers (replay, eval) the same way
        work = tmp_path / f"infer-{adapter is None}"
        work.mkdir()
        command, results = infer.batch_command(resolved(lp, adapter), flavor, ["Who are you?"], work)
        assert runner.run(command, log_path=work / "log") == 0, (work / "log").read_text()[-3000:]
        assert len(results.read_text().splitlines()) == 1

    export = render.render_export(resolved(lp, ck), flavor)
    assert runner.run(export, log_path=tmp_path / "export.log") == 0, (tmp_path / "export.log").read_text()[-3000:]
    merged = ck.with_name(f".{ck.name}-merged.partial")
    assert checkpoints.merged_problem(merged) == "" and not list(merged.rglob("*.py"))
    assert not marker.exists(), marker.read_text()

    # control: the same run with remote code trusted imports the shipped code
    trusting = profiles.load(str(tmp_path / "tiny.yaml"), ["model.trust_remote_code=true"])
    command, _ = infer.batch_command(resolved(trusting), flavor, ["Who are you?"], tmp_path / "infer-True")
    runner.run(command, log_path=tmp_path / "control.log")
    assert marker.exists() and "modeling_evil" in marker.read_text()
