"""--set identity.* through a built-in profile changes what ms-swift trains on, in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.e2e


def test_set_identity_reaches_the_data_ms_swift_gets(tmp_path: Path, tiny_model: Path):
    out = tmp_path / "out"
    result = run_cli(
        "train",
        "-p",
        "cpu-demo",
        "--set", f"model.model={tiny_model}",
        "--set", "data.datasets=[{path: 'builtin:identity/identity.template.json'}]",
        "--set", "identity.name=Zephyr",
        "--set", "identity.author=Orbit Works",
        "--set", "identity.name_zh=西风",
        "--set", "train.num_train_epochs=1",
        "--set", "train.per_device_train_batch_size=8",
        "--set", "train.max_length=256",
        "--set", f"output_dir={out}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    manifest = json.loads(next(out.glob("v0-*/swiftkit-manifest.json")).read_text(encoding="utf-8"))
    argv = manifest["argv"]
    given = argv[argv.index("--dataset") + 1]  # exactly what ms-swift was told to read
    text = (Path(given) if Path(given).is_absolute() else ROOT / given).read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 100
    assert sum("Zephyr" in r["output"] for r in records) > 30
    assert sum("西风" in r["output"] for r in records) > 20  # Chinese answers use the Chinese form
    assert sum("Orbit Works" in r["output"] for r in records) > 30
    assert not re.search(r"Swift-Robot|ACME Lab|\{\{|\bNAME\b|\bAUTHOR\b", text)
