"""`swiftkit report`: a finished (or running) run's summary and its loss curves as a PNG next to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import replacing
from swiftkit.layout import LOGGING_JSONL, LOSS_PLOT
from swiftkit.runs import checkpoints, manifest
from swiftkit.runs.progress import RunSummary, read_events, summarise
from swiftkit.runs.state import reconcile


def newest_run(output_dir: str | Path) -> Path:
    runs = checkpoints.scan(output_dir)
    if not runs:
        raise SwiftkitError(
            f"no runs in {output_dir}; "
            "train first with 'swiftkit train' (-p P for another profile than ./swiftkit.yaml)."
        )
    return runs[-1].path


def summary_of(run_dir: Path) -> RunSummary:
    if not (run_dir / LOGGING_JSONL).is_file():
        raise SwiftkitError(f"{run_dir} has no logging.jsonl; give a run folder (OUTPUT/vN-YYYYMMDD-HHMMSS).")
    status = reconcile(run_dir).status  # a run whose swiftkit is gone is not "running" forever
    record = manifest.read(run_dir) or {}
    summary = summarise(run_dir, read_events(run_dir), status, record.get("exit_code"), record.get("wall_seconds"))
    return checkpoints.settle(summary)


def plot(summary: RunSummary, out: Path) -> Path:
    """Loss (and eval loss) against the optimizer step; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not summary.losses and not summary.eval_losses:
        raise SwiftkitError(f"{summary.run_dir} logged no loss yet; nothing to plot.")
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if summary.losses:
        steps, losses = zip(*summary.losses, strict=True)
        ax.plot(steps, losses, marker="o", markersize=3, label="train loss")
    if summary.eval_losses:
        steps, losses = zip(*summary.eval_losses, strict=True)
        ax.plot(steps, losses, marker="s", markersize=4, label="eval loss")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(Path(summary.run_dir).name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with replacing(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out


def build(run_dir: Path) -> tuple[RunSummary, Path]:
    summary = summary_of(run_dir)
    return summary, plot(summary, run_dir / LOSS_PLOT)


def to_json(summary: RunSummary, png: Path) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(summary), "plot": str(png)}
