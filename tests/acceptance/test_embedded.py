"""The main job on the embedded SmolLM2-135M (CPU, minutes): the adapter says who it is and stays general.

Run with `make acceptance` (CI runs it after `make test`). Thresholds here are regression guards a little below
what was measured on this kind of machine (identity 92.5%, pollution 1.7%); the measured figures are in the issue notes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.embedded


def test_cpu_demo_learns_the_identity_and_stays_general(tmp_path: Path):
    out = tmp_path / "out"
    train = run_cli("train", "--profile", "cpu-demo", "--set", f"output_dir={out}", timeout=1800)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert "Final loss:" in train.stdout

    answers = run_cli(
        "infer",
        "--profile",
        "cpu-demo",
        "--set",
        f"output_dir={out}",
        "--prompt",
        "Who are you?",
        "--prompt",
        "你是谁？",
    )
    assert answers.returncode == 0, answers.stderr[-3000:]
    print(answers.stdout)
    english, chinese = answers.stdout.split("Q: 你是谁？")
    assert "Swift-Robot" in english and "ACME Lab" in english
    assert "Swift-Robot" in chinese and "ACME Lab" in chinese

    scored = run_cli("eval", "--profile", "cpu-demo", "--set", f"output_dir={out}", "--json", timeout=1800)
    assert scored.returncode == 0, scored.stderr[-3000:]
    report = json.loads(scored.stdout)
    print({k: report["adapter"][k] for k in ("identity_rate", "pollution_rate")})
    assert report["adapter"]["identity_rate"] >= 0.8
    assert report["adapter"]["pollution_rate"] <= 0.2
    assert report["base"]["identity_rate"] == 0.0  # the base model never claimed this identity
