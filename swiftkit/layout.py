"""Names on disk, defined once: run folders, checkpoints, merged exports and the files swiftkit and ms-swift write.

``OUTPUT/vN-YYYYMMDD-HHMMSS/checkpoint-STEP`` is ms-swift's own layout; ``checkpoint-STEP-merged`` is what
``swift export --merge_lora`` writes next to a checkpoint.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Optional

RUN_RE = re.compile(r"^v(\d+)-(\d{8}-\d{6})$")
RUN_VERSION_RE = re.compile(r"^v(\d+)")  # any folder ms-swift would count when choosing the next version
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
MERGED_SUFFIX = "-merged"

LOGGING_JSONL = "logging.jsonl"  # ms-swift's per-step log
TRAIN_LOG = "swiftkit-train.log"  # ms-swift's console output, kept by swiftkit
EXPORT_LOG = "swiftkit-export.log"  # `swift export`'s output (RUN/)
DEPLOY_LOG = "swiftkit-deploy-{port}.log"  # `swift deploy`'s output (RUN/), one per port
MANIFEST = "swiftkit-manifest.json"
SBATCH_SCRIPT = "swiftkit-sbatch.sh"  # the job script of a run submitted with 'train --slurm'
LOCK_NAME = ".swiftkit-train.lock"
EVAL_REPORT = "swiftkit-eval.json"  # and its Markdown copy, swiftkit-eval.md
EVAL_ENDPOINT_REPORT = "swiftkit-eval-endpoint.json"  # `eval --endpoint` (and swiftkit-eval-endpoint.md)
LOSS_PLOT = "swiftkit-loss.png"
RUN_DATA = "data"  # RUN/data: the files swiftkit prepared for this run


def node_folder(node_rank: int) -> str:
    """Where node ``node_rank`` > 0 of a multi-node run keeps its own run folders, inside ``output_dir``."""
    return f"node-{node_rank}"


def merged_path(checkpoint: Path) -> Path:
    """Where ``swift export --merge_lora`` puts the merged model of ``checkpoint``."""
    return checkpoint.with_name(checkpoint.name + MERGED_SUFFIX)


def partial_merged_path(checkpoint: Path) -> Path:
    """Where export writes a merge until it is complete: a hidden sibling, renamed to ``merged_path`` at the end
    (never taken for a checkpoint or a merged model)."""
    return checkpoint.with_name(f".{checkpoint.name}{MERGED_SUFFIX}.partial")


def export_lock_path(checkpoint: Path) -> Path:
    """The lock that lets one export of ``checkpoint`` run at a time."""
    return checkpoint.with_name(f".{checkpoint.name}{MERGED_SUFFIX}.lock")


def is_merged(path: str | Path) -> bool:
    return str(path).rstrip("/").endswith(MERGED_SUFFIX)


def next_run_dir(output_dir: str | Path, now: Optional[datetime] = None) -> Path:
    """``OUTPUT/vN-YYYYMMDD-HHMMSS`` with N one above any existing version (ms-swift's own rule)."""
    root = Path(output_dir)
    versions = [-1]
    if root.is_dir():
        for child in root.iterdir():
            match = RUN_VERSION_RE.match(child.name)
            if match:
                versions.append(int(match.group(1)))
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return root / f"v{max(versions) + 1}-{stamp}"
