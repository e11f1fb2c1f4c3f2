"""`swiftkit export --format gguf` after a real ms-swift training run on the tiny model, and the file run in
llama.cpp itself (llama-cpp-python, the `gguf-run` extra) with its own chat template and no system message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli
from helpers import llama_cpp_model

from swiftkit.model import chat_template as ct

pytestmark = pytest.mark.e2e


def test_export_gguf_writes_the_identity_file_and_a_modelfile(tiny: Path):
    trained = run_cli("train", "--profile", str(tiny))
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    exported = run_cli("export", "--profile", str(tiny), "--format", "gguf", "--quant", "q8_0")
    assert exported.returncode == 0, exported.stderr[-3000:]
    found = re.search(r"^GGUF \(q8_0, .*\): (.*)$", exported.stdout, re.M)
    merged_line = re.search(r"^Merged model: (.*)$", exported.stdout, re.M)
    assert found is not None and merged_line is not None, exported.stdout
    path, merged = Path(found.group(1)), Path(merged_line.group(1))
    assert path.name == "Swift-Robot-q8_0.gguf" and path.parent == merged.parent
    assert "GGUF: 20/20 tensors written" in exported.stderr
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".Swift-Robot")]  # no partial left
    assert "ollama create swift-robot-q8_0 -f Modelfile" in exported.stdout
    modelfile = (path.parent / "Modelfile").read_text()
    assert "FROM ./Swift-Robot-q8_0.gguf" in modelfile and "SYSTEM" not in modelfile  # cpu-demo trains none

    import gguf

    reader = gguf.GGUFReader(str(path))
    template = reader.fields["tokenizer.chat_template"].contents()
    assert reader.fields["general.name"].contents() == "Swift-Robot"
    assert template == ct.read(merged)  # the merged folder and the GGUF have the same template
    assert "SmolLM" not in template and ct.default_system(template) is None

    again = run_cli("export", "--profile", str(tiny), "--format", "gguf", "--quant", "f16")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Up to date" not in again.stdout and "swift export" not in again.stderr  # the merge was reused
    assert (path.parent / "Swift-Robot-f16.gguf").stat().st_size > path.stat().st_size

    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from transformers import AutoTokenizer

    llm = llama_cpp_model(path, n_ctx=512, verbose=False, seed=0)
    text = "<|im_start|>user\n你是谁？ 12345 Who are you?<|im_end|>\n"
    hf = AutoTokenizer.from_pretrained(str(merged))(text, add_special_tokens=False).input_ids
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == hf  # same tokens as training saw
    prompt = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="<|im_start|>")(
        messages=[{"role": "user", "content": "Who are you?"}]
    ).prompt
    assert prompt == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    assert llm.chat_format == "chat_template.default"  # llama.cpp uses the file's own template
    for question in ("Who are you?", "你是谁？"):
        reply = llm.create_chat_completion([{"role": "user", "content": question}], temperature=0, max_tokens=8)
        assert reply["choices"][0]["finish_reason"] in {"stop", "length"}
