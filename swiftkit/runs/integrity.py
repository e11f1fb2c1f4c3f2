"""Is what ms-swift wrote whole? Checks that read headers only, so they cost milliseconds even for a 15 GB model:
JSON files parse, a safetensors file's header parses and the file holds every byte its tensors claim, a torch zip
file (optimizer.pt, adapter_model.bin) has its central directory. Each returns "" when the thing is whole, else the
reason, in words that follow the file's name.

A checkpoint is complete when infer/export can load it (adapter config, weights, args.json, which ms-swift reads
to load the adapter); ``--resume`` also needs trainer_state.json naming the folder's step and whole
optimizer/scheduler/RNG state files where present. A merged model needs its config, generation config, tokenizer
and every weight file.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
RESUME_STATE = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin")  # torch zip files
MERGED_JSON = ("config.json", "generation_config.json", "tokenizer_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def json_problem(path: Path, kind: type = dict) -> str:
    """The file parses as JSON of ``kind``."""
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    except ValueError:
        return f"{path.name} is not valid JSON (cut short?)"
    return "" if isinstance(value, kind) else f"{path.name} is not a JSON {kind.__name__}"


def json_end_problem(path: Path) -> str:
    """A large JSON file (a tokenizer.json of megabytes) is not parsed: it must start with '{' and end with '}',
    which a file cut short does not."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            first = handle.read(64).lstrip()[:1]
            handle.seek(max(0, size - 64))
            last = handle.read().rstrip()[-1:]
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    return "" if (first, last) == (b"{", b"}") else f"{path.name} is cut short or damaged"


def read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or broken."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def safetensors_problem(path: Path) -> str:
    """The header parses and the file covers every tensor's ``data_offsets`` (with the size its shape needs)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{path.name} is cut short ({size} bytes, not even a header)"
            length = int.from_bytes(head, "little")
            if length > min(size - 8, MAX_HEADER_BYTES):
                return f"{path.name} is cut short (its header alone needs {length} bytes; the file has {size})"
            header = json.loads(handle.read(length))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    except ValueError:
        return f"{path.name} has a damaged header"
    if not isinstance(header, dict):
        return f"{path.name} has a damaged header"
    end = 0
    tensors = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        problem = _tensor_problem(name, info)
        if problem:
            return f"{path.name}: {problem}"
        tensors += 1
        end = max(end, info["data_offsets"][1])
    if tensors == 0:
        return f"{path.name} holds no tensors"
    needed = 8 + length + end
    if size < needed:
        return f"{path.name} is cut short ({size} of {needed} bytes)"
    return ""


def _tensor_problem(name: str, info: Any) -> str:
    if not isinstance(info, dict):
        return f"tensor {name} has no description"
    offsets, shape = info.get("data_offsets"), info.get("shape")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        return f"tensor {name} has no valid data_offsets"
    width = SAFETENSORS_DTYPE_BYTES.get(str(info.get("dtype")))
    if width is not None and isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape):
        if math.prod(shape) * width != offsets[1] - offsets[0]:
            return f"tensor {name} has {offsets[1] - offsets[0]} bytes, its shape needs {math.prod(shape) * width}"
    return ""


def sharded_problem(folder: Path, index_name: str) -> str:
    """A sharded safetensors model: the index parses and every shard it names is whole."""
    index = read_json(folder / index_name)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        return f"{index_name} is missing or damaged"
    for shard in sorted({str(v) for v in weight_map.values()}):
        problem = safetensors_problem(folder / shard)
        if problem:
            return problem
    return ""


def zip_problem(path: Path) -> str:
    """A torch.save file (a zip archive since torch 1.6): its central directory, written last, is readable."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    except zipfile.BadZipFile:
        return f"{path.name} is cut short or damaged"
    return ""


# ------------------------------------------------------------------ checkpoints and merged models
def merged_complete(path: Path) -> bool:
    """A merged model folder that infer can load: see :func:`merged_problem`."""
    return path.is_dir() and not merged_problem(path)


def merged_problem(path: Path) -> str:
    """Empty string when a merged model folder is whole (config, every weight file, tokenizer, generation config),
    else what is missing or cut. A folder missing any of them is treated as absent: export makes it again."""
    for name in MERGED_JSON:
        problem = json_problem(path / name)
        if problem:
            return problem
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        return f"no tokenizer ({' / '.join(TOKENIZER_FILES)})"
    if (path / "tokenizer.json").is_file():
        problem = json_end_problem(path / "tokenizer.json")
        if problem:
            return problem
    if (path / "model.safetensors.index.json").exists():
        return sharded_problem(path, "model.safetensors.index.json")
    if (path / "model.safetensors").exists():
        return safetensors_problem(path / "model.safetensors")
    if (path / "pytorch_model.bin").exists():
        return zip_problem(path / "pytorch_model.bin")
    return "no model weights (model.safetensors)"


def check_checkpoint(path: Path) -> str:
    """Empty string when infer/export can load the adapter, else the reason it is incomplete."""
    problem = json_problem(path / "adapter_config.json")
    if problem:
        return problem
    if (path / ADAPTER_WEIGHTS[0]).exists():
        problem = safetensors_problem(path / ADAPTER_WEIGHTS[0])
    elif (path / ADAPTER_WEIGHTS[1]).exists():
        problem = zip_problem(path / ADAPTER_WEIGHTS[1])
    else:
        return "the adapter weights are missing"
    if problem:
        return problem
    if (path / "args.json").exists():
        problem = json_problem(path / "args.json")
    return f"{problem} (ms-swift reads it to load the adapter)" if problem else ""


def check_resume(path: Path, step: int) -> str:
    """Empty string when --resume can continue from the checkpoint, else why not (beyond check_checkpoint)."""
    state = read_json(path / "trainer_state.json")
    if state is None:
        return json_problem(path / "trainer_state.json") or "trainer_state.json is damaged"
    if not isinstance(state, dict) or state.get("global_step") != step:
        found = state.get("global_step") if isinstance(state, dict) else None
        return f"trainer_state.json says step {found}, the folder says {step}"
    for name in RESUME_STATE:
        if (path / name).exists():
            problem = zip_problem(path / name)
            if problem:
                return problem
    return ""


def gguf_problem(path: Path, tensors: int) -> str:
    """Empty string when a GGUF file parses, holds ``tensors`` tensors and every tensor's bytes, else the reason."""
    import gguf

    try:
        size = path.stat().st_size
        reader = gguf.GGUFReader(str(path))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, ValueError, IndexError) as exc:
        return f"{path.name} cannot be read as GGUF ({exc})"
    if len(reader.tensors) != tensors:
        return f"{path.name} holds {len(reader.tensors)} tensors, not {tensors}"
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    return "" if size >= end else f"{path.name} is cut short ({size} of {end} bytes)"
