"""Small helpers shared by tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.data.resolve import resolve_run
from swiftkit.sizing import fit
from swiftkit.swift.render import Command, render_sft
from swiftkit.swift.version import SwiftFlavor

RUN_NAME = "v0-20260101-000000"


def sft_command(profile: Profile, flavor: SwiftFlavor, run_dir: Optional[Path] = None) -> Command:
    """`swift sft` as `swiftkit train` renders it, in a fixed run folder."""
    fitted, _ = fit.apply(profile)  # 'auto' batch numbers fitted to the card, as `swiftkit train` does
    return render_sft(resolve_run(fitted, run_dir or Path(profile.output_dir) / RUN_NAME), flavor)


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
