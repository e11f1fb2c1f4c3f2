"""A merged Hugging Face folder written as one self-contained GGUF file (llama.cpp, Ollama, LM Studio).

Written with the ``gguf`` package: the model's hyper-parameters, its BPE tokenizer (tokens, merges, special ids)
and chat template go in as metadata, every weight as a tensor under llama.cpp's name for it. Norms and biases stay
float32; matrices become ``f16``, ``bf16`` or ``q8_0`` (``gguf``'s own numpy quantisers, which match llama.cpp's).
llama.cpp computes llama's rotary embedding on interleaved pairs where Hugging Face rotates halves, so the q and k
projections of a ``llama`` model are permuted on the way (as llama.cpp's converter does); ``qwen2`` needs none.

Tensors are converted and written one at a time, so a model needs memory for one tensor, not for the whole file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from swiftkit.errors import SwiftkitError

ARCHITECTURES = ("llama", "qwen2")  # config.json model_type, which is also the GGUF architecture name
WRITTEN = ("f16", "bf16", "q8_0")  # written here; q4_k_m is made from f16 by llama.cpp's quantiser
QUANTS = (*WRITTEN, "q4_k_m")
# pre-tokenizer names llama.cpp knows (src/llama-vocab.cpp), told apart by the tokenizer.json pre_tokenizer
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)
Progress = Callable[[int, int, str], None]  # (tensors written, tensors in all, the tensor's GGUF name)


def model_type(folder: Path) -> str:
    """The folder's ``config.json`` model_type (no heavy imports)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SwiftkitError(f"{folder}/config.json cannot be read; is {folder} a Hugging Face model folder?") from None
    value = config.get("model_type") if isinstance(config, dict) else None
    return value if isinstance(value, str) else "unknown"


def refuse_unsupported(kind: str, where: str) -> None:
    if kind not in ARCHITECTURES:
        raise SwiftkitError(
            f"GGUF export supports the architectures {', '.join(ARCHITECTURES)}; {where} is {kind!r}. "
            "Use the merged folder ('swiftkit export' without --format) with llama.cpp's convert_hf_to_gguf.py."
        )


def refuse_unknown_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise SwiftkitError(f"unknown GGUF quantisation {quant!r}; choose one of {', '.join(QUANTS)}.")


@dataclass(frozen=True)
class Written:
    path: Path
    tensors: int
    architecture: str


def pre_tokenizer(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenization (how text is split before BPE)."""
    pre = tokenizer.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if isinstance(pre, dict) else []
    types = [s.get("type") for s in steps if isinstance(s, dict)]
    splits = [s.get("pattern", {}).get("Regex") for s in steps if isinstance(s, dict) and s.get("type") == "Split"]
    if types == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"  # GPT-2's byte-level split (what transformers makes of the embedded SmolLM2's GGUF)
    if types == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"  # SmolLM/SmolLM2: every digit alone, then GPT-2's byte-level split
    if splits == [QWEN2_SPLIT]:
        return "qwen2"
    if splits == [LLAMA3_SPLIT]:
        return "llama-bpe"
    raise SwiftkitError(
        "GGUF export knows the byte-level BPE tokenizers of SmolLM2, Qwen2/2.5 and Llama 3; this model's "
        f"pre-tokenizer ({types}) is none of them. Use llama.cpp's convert_hf_to_gguf.py on the merged folder."
    )


def vocabulary(folder: Path, vocab_size: int) -> tuple[list[str], list[int], str]:
    """Tokens by id, their GGUF token types, and the pre-tokenizer name, from ``tokenizer.json``."""
    import gguf

    path = folder / "tokenizer.json"
    try:
        tokenizer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SwiftkitError(f"{path} is missing or damaged; run 'swiftkit export --force' to merge again.") from None
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE":
        raise SwiftkitError(f"GGUF export needs a BPE tokenizer; {path} has {model.get('type')!r}.")
    by_id: dict[int, tuple[str, int]] = {i: (t, int(gguf.TokenType.NORMAL)) for t, i in model["vocab"].items()}
    for added in tokenizer.get("added_tokens", []):
        kind = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        by_id[added["id"]] = (added["content"], int(kind))
    size = max(vocab_size, max(by_id) + 1)
    tokens, types = [], []
    for i in range(size):
        text, token_type = by_id.get(i, (f"[PAD{i}]", int(gguf.TokenType.UNUSED)))
        tokens.append(text)
        types.append(token_type)
    return tokens, types, pre_tokenizer(tokenizer)


def adds_bos(folder: Path) -> bool:
    """Whether the Hugging Face tokenizer puts a special token before the text (Llama 3's begin_of_text does;
    SmolLM2's and Qwen2's add nothing)."""
    try:
        post = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")).get("post_processor") or {}
    except (OSError, ValueError):
        return False
    single = post.get("single") if isinstance(post, dict) else None
    return isinstance(single, list) and bool(single) and "SpecialToken" in json.dumps(single[0])


def _permute(weight: Any, heads: int) -> Any:
    """Hugging Face's rotate-half q/k rows reordered into llama.cpp's interleaved pairs (per head)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _weights(folder: Path) -> Iterator[tuple[str, Any]]:
    """Every tensor of the folder's safetensors files as float32 numpy, one at a time."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise SwiftkitError(f"{folder} has no .safetensors weights; run 'swiftkit export --force' to merge again.")
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                yield name, handle.get_tensor(name).float().numpy()


def _plan(folder: Path, config: dict[str, Any], arch: Any) -> list[tuple[str, str]]:
    """(Hugging Face name, GGUF name) for each tensor that goes in, in file order."""
    import gguf

    names = gguf.get_tensor_name_map(arch, int(config["num_hidden_layers"]))
    out = []
    for name in _tensor_names(folder):
        if name.endswith(".rotary_emb.inv_freq"):
            continue
        if name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue  # llama.cpp reads a tied output from token_embd
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise SwiftkitError(f"GGUF export does not know the tensor {name!r} of {folder}.")
        out.append((name, new))
    return out


def _tensor_names(folder: Path) -> list[str]:
    from safetensors import safe_open

    names: list[str] = []
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            names.extend(handle.keys())
    return names


def _target(quant: str, gguf_name: str, shape: tuple[int, ...]) -> Any:
    import gguf

    Q = gguf.GGMLQuantizationType
    if len(shape) == 1:
        return Q.F32  # norms and biases, as llama.cpp keeps them
    if quant == "bf16":
        return Q.BF16
    if quant == "q8_0" and shape[-1] % gguf.GGML_QUANT_SIZES[Q.Q8_0][0] == 0:
        return Q.Q8_0
    return Q.F16


def _convert(data: Any, qtype: Any) -> Any:
    import gguf
    import numpy as np

    if qtype == gguf.GGMLQuantizationType.F32:
        return data.astype(np.float32)
    if qtype == gguf.GGMLQuantizationType.F16:
        return data.astype(np.float16)
    return gguf.quants.quantize(data.astype(np.float32), qtype)


FILE_TYPES = {"f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0"}


def _add_model(writer: Any, config: dict[str, Any], name: str, quant: str) -> tuple[int, int]:
    """The model's name, file type and shape (from config.json); returns (attention heads, key/value heads)."""
    import gguf

    heads, kv_heads = int(config["num_attention_heads"]), int(config.get("num_key_value_heads") or 0)
    kv_heads = kv_heads or heads
    hidden = int(config["hidden_size"])
    writer.add_type("model")
    writer.add_name(name)
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[quant]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(int(config.get("head_dim") or hidden // heads))
    writer.add_rope_freq_base(float(config.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    return heads, kv_heads


def _add_tokenizer(writer: Any, folder: Path, vocab_size: int, chat_template: Optional[str]) -> None:
    """The vocabulary, merges, special tokens and the chat template."""
    import gguf

    tokens, types, pre = vocabulary(folder, vocab_size)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
    special.chat_template = chat_template
    if "bos" not in special.add_special_token:  # as the tokenizer's post-processor does (llama.cpp guesses otherwise)
        special.add_special_token["bos"] = adds_bos(folder)
    special.add_to_gguf(writer, quiet=True)


def _add_tensor_infos(writer: Any, folder: Path, plan: list[tuple[str, str]], quant: str) -> None:
    """Each tensor's name, shape and type, read from the safetensors headers (no weights loaded)."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for hf_name in handle.keys():  # noqa: SIM118
                shapes[hf_name] = tuple(handle.get_slice(hf_name).get_shape())
    for hf_name, new in plan:
        shape = shapes[hf_name]
        qtype = _target(quant, new, shape)
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            dtype = np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            writer.add_tensor_info(new, shape, np.dtype(dtype), nbytes)
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(shape, qtype)
            writer.add_tensor_info(new, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=qtype)


def _write_tensors(
    writer: Any,
    folder: Path,
    plan: list[tuple[str, str]],
    quant: str,
    permute: Optional[tuple[int, int]],
    progress: Optional[Progress],
) -> None:
    """The weights, one tensor at a time, in the order of the plan; ``permute``: a llama's (heads, kv heads), whose
    q/k projections llama.cpp expects permuted."""
    wanted = dict(plan)
    done = 0
    for hf_name, data in _weights(folder):
        gguf_name = wanted.get(hf_name)
        if gguf_name is None:
            continue
        if permute is not None and hf_name.endswith("self_attn.q_proj.weight"):
            data = _permute(data, permute[0])
        elif permute is not None and hf_name.endswith("self_attn.k_proj.weight"):
            data = _permute(data, permute[1])
        writer.write_tensor_data(_convert(data, _target(quant, gguf_name, tuple(data.shape))))
        done += 1
        if progress is not None:
            progress(done, len(plan), gguf_name)


def write(
    folder: Path,
    out: Path,
    quant: str,
    name: str,
    chat_template: Optional[str],
    progress: Optional[Progress] = None,
) -> Written:
    """Write ``folder`` (a merged model) to ``out`` as GGUF in ``quant`` (one of :data:`WRITTEN`).

    ``out`` is written in place: the caller gives a temporary name and renames it when this returns."""
    import gguf

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    kind = config.get("model_type", "unknown")
    refuse_unsupported(kind, str(folder))
    arch = gguf.MODEL_ARCH.LLAMA if kind == "llama" else gguf.MODEL_ARCH.QWEN2
    plan = _plan(folder, config, arch)
    writer = gguf.GGUFWriter(str(out), kind)
    heads = _add_model(writer, config, name, quant)
    _add_tokenizer(writer, folder, int(config["vocab_size"]), chat_template)
    _add_tensor_infos(writer, folder, plan, quant)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    _write_tensors(writer, folder, plan, quant, heads if kind == "llama" else None, progress)
    writer.close()
    return Written(out, len(plan), kind)
