"""`swiftkit eval`: the base model and the adapter answer the identity probes and general prompts; scored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

from swiftkit.data.prompts import load_prompts
from swiftkit.data.resolve import ResolvedModel
from swiftkit.errors import SwiftkitError
from swiftkit.eval import report as verdicts
from swiftkit.eval.score import EvalReport, score, table
from swiftkit.fsutil import atomic_write_json, atomic_write_text
from swiftkit.jobs.infer import answer_prompts
from swiftkit.jobs.replay import base_answers
from swiftkit.layout import EVAL_REPORT
from swiftkit.model.locate import ensure_model
from swiftkit.swift.version import SwiftFlavor

EvalProgress = Callable[[str, int, int], None]  # (who answers: "base model" | "adapter", answered, in all)


def run_eval(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    probes_file: Path,
    general_file: Path,
    on_progress: Optional[EvalProgress] = None,
) -> EvalReport:
    """Base model and the resolved adapter on the identity probes and general prompts; scores written to the
    checkpoint.

    ``on_progress(who, answered, total)`` hears each batch of answers ms-swift writes (the base model's only when
    they are not cached yet)."""

    def part(who: str) -> Optional[Callable[[int, int], None]]:
        return None if on_progress is None else (lambda done, total: on_progress(who, done, total))

    identity, checkpoint = target.profile.identity, target.adapter
    if identity is None:
        raise SwiftkitError(
            f"profile {target.name} has no identity: section; eval needs the name and author to look for."
        )
    probes, general = load_prompts(probes_file), load_prompts(general_file)
    questions = [p.prompt for p in probes] + [p.prompt for p in general]
    base = base_answers(target.base, flavor, questions, "eval", on_progress=part("base model"))
    ensure_model(target.profile)
    tuned = answer_prompts(target, flavor, questions, on_progress=part("adapter"))
    n = len(probes)
    report = score(
        identity,
        probes,
        general,
        {"probes": base[:n], "general": base[n:]},
        {"probes": tuned[:n], "general": tuned[n:]},
    )
    report.checkpoint = str(checkpoint)
    path = Path(checkpoint) / EVAL_REPORT
    atomic_write_json(path, {**report.to_json(), "probes_file": str(probes_file), "general_file": str(general_file)})
    notes = [f"Checkpoint: {checkpoint}", "", f"Probes: {probes_file}; general prompts: {general_file}"]
    text = verdicts.markdown("swiftkit eval", table(report), report.rows, verdicts.LOCAL, notes)
    atomic_write_text(path.with_suffix(".md"), text)
    return report
