"""Inference around ms-swift: which checkpoint, batch answers to prompts, export decisions, self-replay, eval.

Functions return data; ms-swift runs through the runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from . import checkpoints
from .errors import SwiftkitError
from .fsutil import atomic_write_text
from .profiles import LoadedProfile
from .render import Command, render_export, render_infer
from .swift_version import SwiftFlavor
from .training import ensure_model

if TYPE_CHECKING:
    from .evaluate import EvalReport


def checkpoint_for(lp: LoadedProfile, which: str, merged: bool = False) -> Path:
    """The adapter (or its merged folder) that infer/export should use."""
    path = checkpoints.resolve(lp.profile.output_dir, which)
    if merged:
        merged_path = path.with_name(path.name + "-merged")
        if not checkpoints.merged_complete(merged_path):
            raise SwiftkitError(f"{path} has no merged model yet; run 'swiftkit export --profile {lp.name}' first.")
        return merged_path
    return path


def read_prompts_file(path: Path) -> list[str]:
    """The prompts of a text file (one per line) or a JSONL file (see evaluate.load_prompts)."""
    from .evaluate import load_prompts

    return [p.prompt for p in load_prompts(path)]


def write_prompts(prompts: list[str], folder: Path) -> Path:
    """A JSONL file of one-turn conversations, the shape `swift infer --val_dataset` answers."""
    lines = [json.dumps({"messages": [{"role": "user", "content": p}]}, ensure_ascii=False) for p in prompts]
    return atomic_write_text(folder / "prompts.jsonl", "\n".join(lines) + "\n")


def batch_command(
    lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Optional[Path], prompts: list[str], folder: Path
) -> tuple[Command, Path]:
    """The `swift infer` batch command for ``prompts`` (writes the prompts file) and where results will be."""
    prompts_file = write_prompts(prompts, folder)
    result_file = folder / "results.jsonl"
    ck = str(checkpoint) if checkpoint is not None else None
    return render_infer(lp.profile, flavor, ck, str(prompts_file), str(result_file)), result_file


def read_answers(result_file: Path, prompts: list[str]) -> list[str]:
    """Answers in the order of ``prompts`` (matched by the question ms-swift echoes back)."""
    try:
        rows = [json.loads(ln) for ln in result_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, ValueError):
        raise SwiftkitError(f"ms-swift wrote no readable results to {result_file}; see its log.") from None
    if len(rows) != len(prompts):
        raise SwiftkitError(f"ms-swift answered {len(rows)} of {len(prompts)} prompts; see its log.")
    answers: dict[str, list[str]] = {}
    for row in rows:
        asked = next((m["content"] for m in row.get("messages", []) if m.get("role") == "user"), None)
        answers.setdefault(str(asked), []).append(str(row.get("response", "")))
    if set(answers) != set(prompts):
        return [str(row.get("response", "")) for row in rows]  # trust the order
    return [answers[p].pop(0) for p in prompts]


def answer_prompts(
    lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Optional[Path], prompts: list[str], **run_options: object
) -> list[str]:
    """Run ms-swift batch inference (base model when ``checkpoint`` is None) and return the answers."""
    import tempfile

    from . import runner

    with tempfile.TemporaryDirectory(prefix="swiftkit-infer-") as tmp:
        command, result_file = batch_command(lp, flavor, checkpoint, prompts, Path(tmp))
        log = Path(tmp) / "swift.log"
        code = runner.run(command, log_path=log, **run_options)  # type: ignore[arg-type]
        if code == runner.INTERRUPTED:
            raise KeyboardInterrupt
        if code != 0:
            from .progress import tail as log_tail

            tail = log_tail(log, 15)
            raise SwiftkitError(f"swift infer failed (exit {code}):\n{tail}")
        return read_answers(result_file, prompts)


@dataclass
class ExportDecision:
    checkpoint: Path
    merged_path: Path
    command: Optional[Command]  # None: nothing to do
    reason: str


def plan_export(lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Path, force: bool = False) -> ExportDecision:
    """Skip when the merged folder is complete and newer than the adapter, unless ``force``."""
    merged = checkpoint.with_name(checkpoint.name + "-merged")
    if not lp.profile.export.merge_lora:
        raise SwiftkitError(f"profile {lp.name} has export.merge_lora: false; nothing to export.")
    if merged.exists() and not force:
        if checkpoints.merged_complete(merged) and _newer(merged, checkpoint):
            return ExportDecision(checkpoint, merged, None, "already merged and newer than the adapter")
    overwrite = merged.exists()
    return ExportDecision(checkpoint, merged, render_export(lp.profile, flavor, str(checkpoint), overwrite), "")


def _newer(merged: Path, checkpoint: Path) -> bool:
    adapter = [checkpoint / w for w in checkpoints.ADAPTER_WEIGHTS if (checkpoint / w).exists()]
    newest_input = max((p.stat().st_mtime for p in adapter), default=0.0)
    weights = list(merged.glob("*.safetensors")) + list(merged.glob("*.bin"))
    oldest_output = min((p.stat().st_mtime for p in weights), default=0.0)
    return oldest_output >= newest_input


def base_answers(
    lp: LoadedProfile, flavor: SwiftFlavor, prompts: list[str], name: str, force: bool = False
) -> list[str]:
    """The base model's answers to ``prompts``, cached per model and settings (they never change)."""
    from .embedded import cache_dir
    from .fsutil import atomic_write_json
    from .replay import cache_key, model_key

    path = cache_dir() / "answers" / model_key(lp.profile) / f"{name}-{cache_key(lp.profile, prompts)}.json"
    if path.is_file() and not force:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("prompts") == prompts:
                return list(data["answers"])
        except (OSError, ValueError, AttributeError):
            pass  # a damaged cache entry is made again
    ensure_model(lp)
    answers = answer_prompts(lp, flavor, None, prompts)
    atomic_write_json(path, {"prompts": prompts, "answers": answers})
    return answers


def ensure_replay(lp: LoadedProfile, flavor: SwiftFlavor, prompts_file: Path, force: bool = False) -> tuple[Path, bool]:
    """The self-replay file for ``prompts_file`` (made now if missing); returns (path, made_now)."""
    from .evaluate import load_prompts
    from .replay import replay_path, save, to_alpaca

    path = replay_path(lp.profile, prompts_file)
    if path.is_file() and not force:
        return path, False
    prompts = [p.prompt for p in load_prompts(prompts_file)]
    answers = base_answers(lp, flavor, prompts, prompts_file.stem, force=force)
    records = to_alpaca(prompts, answers)
    if not records:
        raise SwiftkitError(f"the base model gave no usable answers to {prompts_file}; check the model and template.")
    save(path, records)
    return path, True


def ensure_replays(lp: LoadedProfile, flavor: SwiftFlavor) -> list[Path]:
    """Make every self-replay file the profile mixes in; returns the files made now."""
    made = []
    for entry in lp.profile.data.datasets:
        if entry.replay is not None:
            path, now = ensure_replay(lp, flavor, Path(entry.replay))
            if now:
                made.append(path)
    return made


def default_prompts(name: str) -> Path:
    """A prompt set shipped in the repository's datasets/prompts/."""
    from .profiles import builtin_dir

    return builtin_dir().parent / "datasets" / "prompts" / name


def run_eval(
    lp: LoadedProfile, flavor: SwiftFlavor, checkpoint: Path, probes_file: Path, general_file: Path
) -> EvalReport:
    """Base model and adapter on the identity probes and general prompts; scores written to the checkpoint."""
    from .evaluate import load_prompts, score
    from .fsutil import atomic_write_json

    if lp.profile.identity is None:
        raise SwiftkitError(f"profile {lp.name} has no identity: section; eval needs the name and author to look for.")
    probes, general = load_prompts(probes_file), load_prompts(general_file)
    questions = [p.prompt for p in probes] + [p.prompt for p in general]
    base = base_answers(lp, flavor, questions, "eval")
    ensure_model(lp)
    tuned = answer_prompts(lp, flavor, checkpoint, questions)
    n = len(probes)
    report = score(
        lp.profile.identity,
        probes,
        general,
        {"probes": base[:n], "general": base[n:]},
        {"probes": tuned[:n], "general": tuned[n:]},
    )
    report.checkpoint = str(checkpoint)
    atomic_write_json(
        Path(checkpoint) / "swiftkit-eval.json",
        {**report.to_json(), "probes_file": str(probes_file), "general_file": str(general_file)},
    )
    return report
