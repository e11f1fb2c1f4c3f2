"""Profile -> ResolvedRun: the model path, every dataset entry as a concrete file or hub spec, the run folder.

The second stage of the pipeline (profile -> resolved run -> checks -> argv -> process). It reads local files
(to count and hash them) and writes nothing; rendering and checks take its result and never look back at the
profile's dataset entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.data.prepare import PreparedEntry, plan_data
from swiftkit.model.locate import is_local_model, model_path


@dataclass
class ResolvedRun:
    profile: Profile
    model: str  # --model: the embedded model's folder, a local folder or a hub id
    local_model: bool
    run_dir: Path
    data: list[PreparedEntry]
    resume_from: Optional[Path] = None

    @property
    def replays_missing(self) -> list[PreparedEntry]:
        """Self-replay entries whose cached answers do not exist yet (made before training)."""
        return [d for d in self.data if d.replay_prompts is not None and not Path(d.source).is_file()]


def resolve_run(profile: Profile, run_dir: Path, resume_from: Optional[Path] = None) -> ResolvedRun:
    return ResolvedRun(
        profile=profile,
        model=model_path(profile),
        local_model=is_local_model(profile),
        run_dir=run_dir,
        data=plan_data(profile, run_dir),
        resume_from=resume_from,
    )
