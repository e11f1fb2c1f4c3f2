"""The resolved runs: the one object that travels from resolve through checks, writes, render and start.

The second stage of the pipeline (profile -> resolved run -> checks -> argv -> process). A :class:`ResolvedRun`
carries the profile as loaded (name, source, overrides: for the manifest), the fitted profile (batch numbers
concrete), the model path, the batch choice, the output root, the run folder and every dataset entry as a concrete
file or hub spec. Assembling it reads local files (to count and hash them) and writes nothing; every later stage
takes it alone and never looks back at the loaded profile.

The batch is fitted in ``sizing`` (a layer above this one), so :func:`assemble_run` takes the fitted profile and
the choice; ``jobs.train.resolve_train_run`` is the one place that fits and assembles.

infer, export, deploy and eval load a trained model instead: a :class:`ResolvedModel` carries the profile as loaded,
the base model's path and the checkpoint chosen (an adapter, a merged folder, or none: the base model), decided once
by ``runs.checkpoints.resolve_model``; render and the jobs take it alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from swiftkit.config.profiles import LoadedProfile
from swiftkit.config.schema import Profile
from swiftkit.data import identity as ident
from swiftkit.data.prepare import PreparedEntry, entry_records, plan_data
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_text
from swiftkit.layout import TRAIN_LOG, is_merged
from swiftkit.model.locate import is_local_model, model_path


@dataclass(frozen=True)
class BatchChoice:
    """How the effective batch is cut: per-GPU batch x accumulation x processes (chosen by ``sizing.fit``)."""

    per_device: int
    accumulation: int
    world: int
    auto: bool
    note: str = ""
    checkpointing: Optional[bool] = None  # set when train.gradient_checkpointing was 'auto'
    card: tuple[str, ...] = ()  # what the visible card decided (memory, attention) and why
    liger: Optional[bool] = None  # set when train.use_liger_kernel was 'auto'
    liger_why: str = ""  # why, for plan and train

    @property
    def effective(self) -> int:
        return self.per_device * self.accumulation * self.world

    def line(self) -> str:
        gpus = f" × {self.world} processes" if self.world > 1 else ""
        notes = [self.note] if self.note else []
        if self.checkpointing is not None:
            notes.append(f"gradient checkpointing {'on' if self.checkpointing else 'off'} (auto)")
        if self.liger is not None:
            notes.append(f"Liger kernels {'on' if self.liger else 'off'} (auto: {self.liger_why})")
        how = f" ({'; '.join(notes)})" if notes else ""
        return (
            f"batch: {self.per_device} per forward pass × {self.accumulation} accumulation{gpus} = "
            f"{self.effective} sequences per optimizer step{how}"
        )


@dataclass
class ResolvedRun:
    loaded: LoadedProfile  # the profile as loaded (name, file, extends, overrides): only the manifest reads it
    profile: Profile  # the fitted profile: what checks, render and the manifest's "resolved" use
    batch: BatchChoice
    model: str  # --model: the embedded model's folder, a local folder or a hub id
    local_model: bool
    output_root: Path  # the output folder this node locks and numbers its run folders in
    run_dir: Path
    data: list[PreparedEntry]
    resume_from: Optional[Path] = None

    @property
    def log(self) -> Path:
        return self.run_dir / TRAIN_LOG

    @property
    def base(self) -> ResolvedModel:
        """The base model as this run resolved it (what self-replay asks before training)."""
        return self.trained(None)

    def trained(self, checkpoint: Optional[Path]) -> ResolvedModel:
        """A checkpoint this run wrote, on the base model as the run resolved it (what `train --check` scores)."""
        return ResolvedModel(self.loaded, self.model, self.local_model, checkpoint)

    @property
    def replays_missing(self) -> list[PreparedEntry]:
        """Self-replay entries whose cached answers do not exist yet (made before training)."""
        return [d for d in self.data if d.replay_prompts is not None and not Path(d.source).is_file()]


def assemble_run(
    loaded: LoadedProfile,
    fitted: Profile,
    batch: BatchChoice,
    output_root: Path,
    run_dir: Path,
    resume_from: Optional[Path] = None,
) -> ResolvedRun:
    """The resolved run from an already fitted profile: model path and dataset plan decided once, here."""
    return ResolvedRun(
        loaded=loaded,
        profile=fitted,
        batch=batch,
        model=model_path(fitted),
        local_model=is_local_model(fitted),
        output_root=output_root,
        run_dir=run_dir,
        data=plan_data(fitted, run_dir),
        resume_from=resume_from,
    )


@dataclass(frozen=True)
class ResolvedModel:
    """What infer, export, deploy and eval load: the base model (path decided once) and the checkpoint on it."""

    loaded: LoadedProfile  # the profile as loaded; its name goes into messages, file and served names
    model: str  # --model of the base: the embedded model's folder, a local folder or a hub id
    local_model: bool
    checkpoint: Optional[Path]  # an adapter folder, a merged folder (``…-merged``) or None: the base model alone

    @property
    def profile(self) -> Profile:
        return self.loaded.profile

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def merged(self) -> bool:
        """The checkpoint is a merged model folder: ms-swift loads it as the model, with no adapter."""
        return self.checkpoint is not None and is_merged(str(self.checkpoint))

    @property
    def adapter(self) -> Path:
        """The checkpoint export merges and eval scores (both resolve one, never the base model alone)."""
        if self.checkpoint is None:
            raise SwiftkitError("no checkpoint was resolved for an export or eval; this is a swiftkit bug.")
        return self.checkpoint

    @property
    def base(self) -> ResolvedModel:
        """The same base model without the checkpoint (what eval compares the adapter with)."""
        return replace(self, checkpoint=None)


def assemble_model(loaded: LoadedProfile, checkpoint: Optional[Path]) -> ResolvedModel:
    """The resolved model for ``checkpoint`` (already chosen): the base model's path decided once, here."""
    return ResolvedModel(loaded, model_path(loaded.profile), is_local_model(loaded.profile), checkpoint)


def write_data(run: ResolvedRun) -> None:
    """Write the files :func:`plan_data` planned for the run (filled templates, samples), each atomically, as JSONL."""
    identity = run.profile.identity
    for p in run.data:
        if p.write_to is None:
            continue
        records = entry_records(p)
        if identity is not None and p.role == "identity":
            records = [ident.fill_record(r, identity) for r in records]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        atomic_write_text(Path(p.write_to), text)
        p.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
