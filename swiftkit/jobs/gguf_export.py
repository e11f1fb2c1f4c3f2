"""`swiftkit export --format gguf`: the merged model as one GGUF file for llama.cpp, Ollama and LM Studio, with the
identity inside it (``general.name``, the chat template whose default system prompt is the trained one or none),
and an Ollama ``Modelfile`` beside it.

The merged folder is made first (or reused when up to date, see :mod:`swiftkit.jobs.export`). The GGUF is written
under a hidden temporary name, checked (every tensor's bytes are in the file), and only then renamed to
``<name>-<quant>.gguf`` next to the merged folder: a killed export leaves no ``.gguf`` that could be mistaken for a
whole one. ``q4_k_m`` is made from an ``f16`` file by llama.cpp's own quantiser (llama-cpp-python, or a
``llama-quantize`` program on PATH); swiftkit does not write K-quants itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

from swiftkit.data.resolve import ResolvedModel
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_text
from swiftkit.jobs.export import ExportDecision, ExportResult, export_log, run_export, trained_system
from swiftkit.layout import export_lock_path
from swiftkit.model import chat_template, gguf_file
from swiftkit.runs.integrity import gguf_problem
from swiftkit.swift.version import SwiftFlavor

QUANTIZE_PROGRAM = "llama-quantize"
MODELFILE = "Modelfile"
CHATML_OLLAMA = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    '{{- range .Messages }}{{- if ne .Role "system" }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n'
    "{{ end }}{{- end }}<|im_start|>assistant\n"
)


@dataclass
class GgufResult:
    merged: ExportResult
    path: Optional[Path] = None
    size: int = 0
    seconds: float = 0.0
    modelfile: Optional[Path] = None
    quantiser: str = ""  # which llama.cpp quantiser made a q4_k_m file
    notes: list[str] = field(default_factory=list)


def model_name(target: ResolvedModel) -> str:
    """The GGUF's ``general.name``: the identity's name, the profile name when it has no identity."""
    return target.profile.identity.name if target.profile.identity else target.name


def file_name(target: ResolvedModel, quant: str) -> str:
    """``<identity name>-<quant>.gguf`` (file-name safe), the profile name when it has no identity."""
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', model_name(target)).strip('-.') or 'model'}-{quant}.gguf"


def quantiser() -> Optional[str]:
    """Which llama.cpp quantiser is installed: ``llama-cpp-python`` or a ``llama-quantize`` path; None if none."""
    if importlib.util.find_spec("llama_cpp") is not None:
        return "llama-cpp-python"
    return shutil.which(QUANTIZE_PROGRAM)


def check_before_work(target: ResolvedModel, quant: str) -> None:
    """Refuse an unknown quantisation, a missing quantiser, or an architecture GGUF export does not write, before
    anything is merged (the base model's config.json where it is on disk)."""
    gguf_file.refuse_unknown_quant(quant)
    if quant not in gguf_file.WRITTEN and quantiser() is None:
        raise SwiftkitError(
            f"--quant {quant} needs llama.cpp's quantiser: install llama-cpp-python "
            "(pip install 'swiftkit[gguf-run]') or put llama.cpp's llama-quantize on PATH; "
            f"or export {', '.join(gguf_file.WRITTEN)}, which swiftkit writes itself."
        )
    base = _base_folder(target.adapter)
    if base is not None:
        gguf_file.refuse_unsupported(gguf_file.model_type(base), f"the base model {base}")


def _base_folder(checkpoint: Path) -> Optional[Path]:
    try:
        config = json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if isinstance(base, str) and (Path(base) / "config.json").is_file():
        return Path(base)
    return None


def run_gguf_export(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    quant: str,
    force: bool = False,
    on_wait: Optional[Callable[[dict[str, Any]], None]] = None,
    on_start: Optional[Callable[[ExportDecision], None]] = None,
    echo: Optional[TextIO] = None,
    progress: Optional[gguf_file.Progress] = None,
) -> GgufResult:
    """Merge (or reuse the merge), then write ``<name>-<quant>.gguf`` and its Modelfile next to the merged folder."""
    from swiftkit.runs.lock import exclusive

    check_before_work(target, quant)
    checkpoint = target.adapter
    merged = run_export(target, flavor, force, on_wait=on_wait, on_start=on_start, echo=echo)
    result = GgufResult(merged)
    if merged.exit_code != 0:
        return result
    folder = merged.decision.merged_path
    gguf_file.refuse_unsupported(gguf_file.model_type(folder), f"the merged model {folder}")
    gguf = folder.parent / file_name(target, quant)
    with exclusive(export_lock_path(checkpoint), on_wait, checkpoint=str(checkpoint), started=_now()):
        log = export_log(checkpoint)
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        system = trained_system(text, target.profile.system)
        aligned = chat_template.align(folder, system)  # a merge made before this export may still need it
        if aligned.changed or aligned.warning:
            result.notes.append(("Warning: " if aligned.warning else "") + aligned.note)
        template = chat_template.read(folder)
        started = time.monotonic()
        result.quantiser = _write_checked(folder, gguf, quant, model_name(target), template, progress)
        result.seconds = time.monotonic() - started
    result.path, result.size = gguf, gguf.stat().st_size
    result.modelfile = write_modelfile(target, gguf, template, system)
    return result


def _write_checked(
    folder: Path, target: Path, quant: str, name: str, template: Optional[str], progress: Optional[gguf_file.Progress]
) -> str:
    """Write into hidden temporary files, check, rename into ``target``; returns the quantiser used ("" if none)."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    f16 = target.with_name(f".{target.name}.f16-{os.getpid()}")
    for stale in target.parent.glob(f".{target.name}.*"):  # left by a killed export; we hold the lock
        stale.unlink(missing_ok=True)
    used = ""
    try:
        if quant in gguf_file.WRITTEN:
            written = gguf_file.write(folder, partial, quant, name, template, progress)
        else:
            written = gguf_file.write(folder, f16, "f16", name, template, progress)
            used = quantise(f16, partial, quant)
        problem = gguf_problem(partial, written.tensors)
        if problem:
            raise SwiftkitError(f"the GGUF file written for {folder} is incomplete: {problem}; nothing was replaced.")
        os.replace(partial, target)
    except OSError as exc:
        raise SwiftkitError(f"could not write {target}: {exc.strerror}. Check free space and export again.") from None
    finally:
        partial.unlink(missing_ok=True)
        f16.unlink(missing_ok=True)
    return used


def quantise(source: Path, out: Path, quant: str) -> str:
    """``source`` (f16 GGUF) quantised to ``quant`` by llama.cpp; returns which quantiser did it."""
    found = quantiser()
    if found is None:
        raise SwiftkitError(f"--quant {quant} needs llama-cpp-python or llama-quantize on PATH.")
    if found == "llama-cpp-python":
        import ctypes

        import llama_cpp  # type: ignore[import-not-found,unused-ignore]

        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params))
        version = getattr(llama_cpp, "__version__", "?")
        found = f"llama-cpp-python {version}"
    else:
        proc = subprocess.run([found, str(source), str(out), quant.upper()], capture_output=True, text=True)
        code = proc.returncode
        if code != 0:
            raise SwiftkitError(f"{found} failed ({code}): {proc.stderr.strip()[-500:]}")
    if code != 0:
        raise SwiftkitError(f"llama.cpp's quantiser failed ({code}) making {quant} from {source.name}.")
    return found


def modelfile_text(target: ResolvedModel, gguf: Path, template: Optional[str], system: Optional[str]) -> str:
    """An Ollama Modelfile for ``gguf``: its chat format, the trained system prompt, stop tokens and the profile's
    generation settings (profile ``infer``)."""
    infer = target.profile.infer
    lines = [f"# Made by swiftkit for {gguf.name}; run: ollama create NAME -f {MODELFILE}", f"FROM ./{gguf.name}"]
    if template is not None and chat_template.is_chatml(template):
        lines.append(f'TEMPLATE """{CHATML_OLLAMA}"""')
        stops = ["<|im_end|>", "<|im_start|>"]
    else:
        lines.append("# no TEMPLATE: the model's chat format is not ChatML; Ollama reads the GGUF's own template")
        stops = []
    if system is not None:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stops]
    lines.append(f"PARAMETER temperature {infer.temperature:g}")
    lines.append(f"PARAMETER num_predict {infer.max_new_tokens}")
    if infer.repetition_penalty is not None:
        lines.append(f"PARAMETER repeat_penalty {infer.repetition_penalty:g}")
    return "\n".join(lines) + "\n"


def write_modelfile(target: ResolvedModel, gguf: Path, template: Optional[str], system: Optional[str]) -> Path:
    path = gguf.parent / MODELFILE
    atomic_write_text(path, modelfile_text(target, gguf, template, system))
    return path


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
