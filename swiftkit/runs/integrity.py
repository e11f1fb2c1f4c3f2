"""Is a file that ms-swift wrote whole? Checks that read headers only, so they cost milliseconds even for a 15 GB
model: JSON files parse, a safetensors file's header parses and the file holds every byte its tensors claim, a
torch zip file (optimizer.pt, adapter_model.bin) has its central directory. Each returns "" when the file is whole,
else the reason, in words that follow the file's name.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit
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
