"""GGUF export on the tiny llama and qwen2 models: every tensor and the identity's metadata are in the file, read
back with gguf's own reader, and transformers' GGUF loader answers exactly as the merged model does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftkit.errors import SwiftkitError
from swiftkit.model import chat_template as ct
from swiftkit.model import gguf_file

gguf = pytest.importorskip("gguf")
PROMPTS = ["Who are you?", "你是谁？", "What is the capital of France?"]
SYSTEM_TEMPLATE = ct.with_default_system(ct.CHATML, "You are Swift-Robot, made by ACME Lab.")


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_model, build_tiny_qwen2

    build = build_tiny_model if request.param == "llama" else build_tiny_qwen2
    return build(tmp_path_factory.mktemp(request.param) / f"tiny-{request.param}")


def _safetensors(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118


@pytest.mark.parametrize("quant", ["f16", "bf16", "q8_0"])
def test_every_tensor_and_the_identity_metadata_are_in_the_file(model: Path, quant: str, tmp_path: Path):
    seen: list[tuple[int, int, str]] = []
    out = tmp_path / f"x-{quant}.gguf"
    written = gguf_file.write(model, out, quant, "Swift-Robot", SYSTEM_TEMPLATE, lambda *a: seen.append(a))
    reader = gguf.GGUFReader(str(out))
    config = json.loads((model / "config.json").read_text())
    arch = config["model_type"]
    fields = {k: f.contents() for k, f in reader.fields.items() if k not in {"tokenizer.ggml.tokens"}}
    assert fields["general.architecture"] == arch and fields["general.name"] == "Swift-Robot"
    assert fields["tokenizer.chat_template"] == SYSTEM_TEMPLATE
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    assert fields["tokenizer.ggml.eos_token_id"] == config["eos_token_id"]
    assert fields["tokenizer.ggml.padding_token_id"] == config["pad_token_id"]
    assert fields["tokenizer.ggml.add_bos_token"] is False  # as the tokenizer (and ms-swift's chatml) does
    assert (
        len(fields["tokenizer.ggml.merges"]) > 40000
        and "<|im_end|>" in reader.fields["tokenizer.ggml.tokens"].contents()
    )
    assert fields[f"{arch}.block_count"] == 2 and fields[f"{arch}.attention.head_count_kv"] == 2

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA if arch == "llama" else gguf.MODEL_ARCH.QWEN2, 2)
    hf = _safetensors(model)
    expected = {
        names.get_name(k, try_suffixes=(".weight", ".bias")): shape
        for k, shape in hf.items()
        if not (k == "lm_head.weight" and config["tie_word_embeddings"])
    }
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == set(expected) and written.tensors == len(expected) == len(seen)
    assert ("output.weight" in tensors) == (arch == "qwen2")  # llama's output is tied to token_embd
    assert (arch == "qwen2") == ("blk.0.attn_q.bias" in tensors)
    matrix = {"f16": "F16", "bf16": "BF16", "q8_0": "Q8_0"}[quant]
    for name, shape in expected.items():
        tensor = tensors[name]
        assert tuple(int(d) for d in reversed(tensor.shape)) == shape, name
        assert tensor.tensor_type.name == ("F32" if len(shape) == 1 else matrix), name
    assert seen[-1][:2] == (len(expected), len(expected))


def _greedy(model, tokenizer, template: str) -> list[list[int]]:
    import torch

    answers = []
    for prompt in PROMPTS:
        text = ct.render(template, [{"role": "user", "content": prompt}])
        ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])
        out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)
        answers.append(out[0, ids.shape[1] :].tolist())
    return answers


def test_transformers_gguf_loader_answers_as_the_merged_model(model: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file.write(model, model / "x-f16.gguf", "f16", "Swift-Robot", SYSTEM_TEMPLATE)
    merged = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(str(model), gguf_file="x-f16.gguf", dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    from_gguf = AutoTokenizer.from_pretrained(str(model), gguf_file="x-f16.gguf")
    text = ct.render(SYSTEM_TEMPLATE, [{"role": "user", "content": "你是谁？ 12345"}])
    assert from_gguf(text, add_special_tokens=False).input_ids == tokenizer(text, add_special_tokens=False).input_ids
    assert _greedy(loaded, tokenizer, SYSTEM_TEMPLATE) == _greedy(merged, tokenizer, SYSTEM_TEMPLATE)
    # a random tiny model may answer every prompt alike, so the next-token scores are compared too: a tensor
    # mapped, permuted or biased wrongly moves them by far more than f16 rounding (measured 3e-4 of 1.0)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, merged(ids).logits, atol=5e-3)


def _pre(*steps: dict) -> dict:
    return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": list(steps)}}


@pytest.mark.parametrize(
    ("tokenizer", "name"),
    [
        ({"pre_tokenizer": {"type": "ByteLevel", "use_regex": True}}, "gpt-2"),
        (_pre({"type": "Digits", "individual_digits": True}, {"type": "ByteLevel"}), "smollm"),
        (_pre({"type": "Split", "pattern": {"Regex": gguf_file.QWEN2_SPLIT}}, {"type": "ByteLevel"}), "qwen2"),
        (_pre({"type": "Split", "pattern": {"Regex": gguf_file.LLAMA3_SPLIT}}, {"type": "ByteLevel"}), "llama-bpe"),
    ],
)
def test_the_pre_tokenizer_is_named_as_llama_cpp_names_it(tokenizer: dict, name: str):
    assert gguf_file.pre_tokenizer(tokenizer) == name


def test_an_unknown_pre_tokenizer_is_refused():
    with pytest.raises(SwiftkitError, match="convert_hf_to_gguf"):
        gguf_file.pre_tokenizer(_pre({"type": "Metaspace"}))


def test_a_killed_write_leaves_no_gguf(model: Path, tmp_path: Path):
    from swiftkit.jobs.gguf_export import _write_checked

    def stop(done: int, total: int, name: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    target = tmp_path / "Swift-Robot-q8_0.gguf"
    with pytest.raises(KeyboardInterrupt):
        _write_checked(model, target, "q8_0", "Swift-Robot", ct.CHATML, stop)
    assert list(tmp_path.iterdir()) == []


def test_a_cut_gguf_is_not_whole(model: Path, tmp_path: Path):
    from swiftkit.runs.integrity import gguf_problem

    out = tmp_path / "x.gguf"
    written = gguf_file.write(model, out, "q8_0", "Swift-Robot", ct.CHATML)
    assert gguf_problem(out, written.tensors) == ""
    with open(out, "r+b") as handle:
        handle.truncate(out.stat().st_size - 4096)
    assert gguf_problem(out, written.tensors) != ""
