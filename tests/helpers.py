"""Small helpers shared by tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional
from unittest.mock import patch

from swiftkit.config.profiles import LoadedProfile
from swiftkit.config.schema import Profile
from swiftkit.data.resolve import ResolvedModel, assemble_model
from swiftkit.jobs import train as training
from swiftkit.swift.render import Command
from swiftkit.swift.version import SwiftFlavor

RUN_NAME = "v0-20260101-000000"


def sft_command(profile: Profile | LoadedProfile, flavor: SwiftFlavor) -> Command:
    """`swift sft` exactly as `swiftkit plan sft` / `swiftkit train` get it: through ``plan_train`` itself (batch
    fitting, resolve, render). Only the run folder's name is pinned, so runs already in output_dir don't matter."""
    lp = loaded(profile)
    with patch.object(training, "next_run_dir", lambda root, now=None: Path(root) / RUN_NAME):
        return training.plan_train(lp, flavor).command


def loaded(profile: Profile | LoadedProfile) -> LoadedProfile:
    return profile if isinstance(profile, LoadedProfile) else LoadedProfile("test", Path("test.yaml"), profile)


def resolved(profile: Profile | LoadedProfile, checkpoint: str | Path | None = None) -> ResolvedModel:
    """What infer / export / deploy / eval get from resolve (``runs.checkpoints.resolve_model``): the model path
    decided once, on ``checkpoint`` as given (an adapter, a merged folder, None for the base model)."""
    return assemble_model(loaded(profile), Path(checkpoint) if checkpoint is not None else None)


def safetensors_bytes(tensors: Optional[dict[str, list[int]]] = None) -> bytes:
    """A valid safetensors file of float32 zeros (written by hand: no torch needed)."""
    import json
    import math

    header, offset = {}, 0
    for name, shape in (tensors or {"lora_A.weight": [2, 4], "lora_B.weight": [4, 2]}).items():
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + b"\0" * offset


def write_merged(folder: Path) -> Path:
    """A merged model folder that passes every completeness check."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json", "tokenizer_config.json", "tokenizer.json"):
        (folder / name).write_text('{"x": 1}')
    (folder / "model.safetensors").write_bytes(safetensors_bytes({"w": [4, 4]}))
    return folder


def flag_values(argv: list[str]) -> dict[str, list[str]]:
    """``swift sub --a 1 2 --b=x`` -> {"--a": ["1", "2"], "--b": ["x"]} (argv after the subcommand)."""
    out: dict[str, list[str]] = {}
    key = None
    for token in argv[2:]:
        if token.startswith("--"):
            key, _, inline = token.partition("=")
            out[key] = [inline] if inline else []
        else:
            assert key is not None
            out[key].append(token)
    return out


def trained_profile(tmp_path: Path, extra: str = "") -> Path:
    """A profile whose output folder holds one complete (fake) checkpoint; ``extra``: more YAML lines."""
    ck = tmp_path / "out" / "v0-20260101-000000" / "checkpoint-5"
    ck.mkdir(parents=True)
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    profile = tmp_path / "p.yaml"
    profile.write_text(f"extends: cpu-demo\nmodel:\n  model: /models/tiny\n{extra}output_dir: {tmp_path / 'out'}\n")
    return profile


def llama_cpp_model(path: Path | str, **kwargs: Any) -> Any:
    """``llama_cpp.Llama`` for ``path``, loaded without llama.cpp's extra CPU buffer types (AMX, weight repacking).
    llama.cpp's AMX matmul segfaults on some Sapphire Rapids VMs (ggml-org/llama.cpp#20824): on this project's CI-like
    VM (AMX_INT8 in /proc/cpuinfo) the first decode of any q8_0 or q4_1 file crashed the whole pytest process. The
    tests check the GGUF file (tokens, template, answers), not llama.cpp's AMX kernels."""
    import llama_cpp
    from llama_cpp import llama as high_level

    defaults = high_level.llama_cpp.llama_model_default_params

    def params() -> Any:
        p = defaults()
        p.use_extra_bufts = False
        return p

    with patch.object(high_level.llama_cpp, "llama_model_default_params", params):
        return llama_cpp.Llama(model_path=str(path), **kwargs)
