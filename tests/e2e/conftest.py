from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from swiftkit import resources

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = resources.path("identity/identity.template.json")
RECORDS = len(json.loads(TEMPLATE.read_text(encoding="utf-8")))  # what the tiny profile trains on


def steps(records: int, batch: int, epochs: int = 1) -> int:
    return math.ceil(records / batch) * epochs


def tiny_profile(folder: Path, model: Path, **train: object) -> Path:
    """A profile that runs the real ms-swift on the tiny random model in seconds."""
    settings = {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_length": 256,
        "save_steps": 4,
        "logging_steps": 1,
        "learning_rate": 0.02,  # high enough that the random model says words after one epoch (not only "\n")
        **train,
    }
    lines = "\n".join(f"  {k}: {v}" for k, v in settings.items())
    text = (
        textwrap.dedent(
            f"""\
        extends: cpu-demo
        model:
          model: {model}
        train:
        """
        )
        + lines
        + (f"\ndata:\n  datasets:\n    - path: {TEMPLATE}\noutput_dir: {folder / 'out'}\ninfer:\n  max_new_tokens: 8\n")
    )
    path = folder / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tiny(tmp_path: Path, tiny_model: Path) -> Path:
    return tiny_profile(tmp_path, tiny_model)
