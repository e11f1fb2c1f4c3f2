"""`swiftkit export --format gguf` before any work: what it refuses, what it names, the Modelfile it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import resolved

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.jobs import gguf_export
from swiftkit.model import chat_template as ct


def _checkpoint(tmp_path: Path, model_type: str) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": model_type}))
    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    return checkpoint


@pytest.mark.parametrize("kind", ["gemma3", "mistral", "qwen3"])
def test_an_unsupported_architecture_is_refused_before_the_merge(tmp_path: Path, kind: str):
    lp = profiles.load("cpu-demo", ())
    with pytest.raises(SwiftkitError, match=f"supports the architectures llama, qwen2; .* is '{kind}'"):
        gguf_export.check_before_work(resolved(lp, _checkpoint(tmp_path, kind)), "q8_0")


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_llama_and_qwen2_pass(tmp_path: Path, kind: str):
    gguf_export.check_before_work(resolved(profiles.load("cpu-demo", ()), _checkpoint(tmp_path, kind)), "f16")


def test_q4_k_m_without_llama_cpp_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gguf_export, "quantiser", lambda: None)
    with pytest.raises(SwiftkitError, match=r"llama-cpp-python .*gguf-run.* llama-quantize on PATH"):
        gguf_export.check_before_work(resolved(profiles.load("cpu-demo", ()), _checkpoint(tmp_path, "llama")), "q4_k_m")


def test_the_file_is_named_after_the_identity():
    lp = profiles.load("cpu-demo", ("identity.name=Swift Robot/2",))
    assert gguf_export.file_name(resolved(lp), "q8_0") == "Swift-Robot-2-q8_0.gguf"


def test_the_modelfile_carries_template_system_stops_and_generation_settings(tmp_path: Path):
    lp = profiles.load("cpu-demo", ("infer.repetition_penalty=1.1",))
    template = ct.with_default_system(ct.CHATML, "You are Swift-Robot.")
    text = gguf_export.modelfile_text(
        resolved(lp), tmp_path / "Swift-Robot-q8_0.gguf", template, "You are Swift-Robot."
    )
    assert "FROM ./Swift-Robot-q8_0.gguf\n" in text
    assert 'TEMPLATE """{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>' in text
    assert 'SYSTEM """You are Swift-Robot."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "PARAMETER temperature 0\n" in text and "PARAMETER num_predict 64\n" in text
    assert "PARAMETER repeat_penalty 1.1\n" in text


def test_no_trained_system_prompt_means_no_system_line(tmp_path: Path):
    text = gguf_export.modelfile_text(resolved(profiles.load("cpu-demo", ())), tmp_path / "a.gguf", ct.CHATML, None)
    assert "SYSTEM" not in text and "TEMPLATE" in text
