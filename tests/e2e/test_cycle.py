"""The real thing: swiftkit train -> infer -> export through the real `swift` on CPU, tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


def test_train_infer_export_cycle(tiny: Path):
    out = tiny.parent / "out"
    trained = run_cli("train", "--profile", str(tiny))
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    runs = checkpoints.scan(out)
    assert len(runs) == 1
    latest = checkpoints.latest(runs)
    from e2e.conftest import RECORDS, steps

    expected_steps = steps(RECORDS, 8)
    assert latest is not None and latest.step == expected_steps
    assert (latest.path / "adapter_model.safetensors").stat().st_size > 0
    # the template was filled into the run's own folder; the user's template is untouched
    rendered = (runs[0].path / "data" / "identity.jsonl").read_text(encoding="utf-8")
    assert "{{" not in rendered and "Swift-Robot" in rendered and "ACME Lab" in rendered
    record = json.loads((runs[0].path / "swiftkit-manifest.json").read_text(encoding="utf-8"))
    assert (record["status"], record["exit_code"]) == ("ok", 0)
    assert str(runs[0].path / "data" / "identity.jsonl") in record["argv"]
    assert record["datasets"][0]["write_to"] == str(runs[0].path / "data" / "identity.jsonl")

    # the run's summary and loss curve (a real PNG drawn from the real logging.jsonl)
    assert "make infer PROFILE=" in trained.stdout
    reported = run_cli("report", "--profile", str(tiny), "--json")
    assert reported.returncode == 0, reported.stderr
    summary = json.loads(reported.stdout)
    png = Path(summary["plot"])
    assert png == runs[0].path / "swiftkit-loss.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["steps"] == expected_steps and len(summary["losses"]) == expected_steps
    assert summary["status"] == "ok"
    shown = re.search(r"Final loss:\s+([0-9.]+)", trained.stdout)
    assert shown and float(shown.group(1)) == pytest.approx(summary["final_loss"], abs=1e-3), trained.stdout

    answered = run_cli("infer", "--profile", str(tiny), "--prompt", "Who are you?", "--prompt", "你是谁？")
    assert answered.returncode == 0, answered.stderr[-3000:]
    # a real answer follows each question (an empty one would be "A: " and a blank line)
    assert re.search(r"^Q: Who are you\?\nA: \S", answered.stdout, re.M), answered.stdout
    assert re.search(r"^Q: 你是谁？\nA: \S", answered.stdout, re.M), answered.stdout

    exported = run_cli("export", "--profile", str(tiny))
    assert exported.returncode == 0, exported.stderr[-3000:]
    merged = latest.path.with_name(latest.path.name + "-merged")
    assert f"Merged model: {merged}" in exported.stdout
    assert checkpoints.merged_complete(merged)
    before = {p.name: p.stat().st_mtime_ns for p in merged.iterdir()}

    again = run_cli("export", "--profile", str(tiny))
    assert again.returncode == 0, again.stderr
    assert "Up to date" in again.stdout and str(merged) in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in merged.iterdir()} == before

    # the merged model answers too, and the newest-checkpoint lookup never returns the -merged folder
    newest = checkpoints.latest(checkpoints.scan(out))
    assert newest is not None and newest.path == latest.path
    merged_answer = run_cli("infer", "--profile", str(tiny), "--merged", "--prompt", "Who are you?")
    assert merged_answer.returncode == 0, merged_answer.stderr[-3000:]
    assert re.search(r"^Q: Who are you\?\nA: \S", merged_answer.stdout, re.M), merged_answer.stdout
