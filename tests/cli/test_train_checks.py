"""`swiftkit train` checks the data first: bad data stops it before anything starts or is written."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from swiftkit import resources

ROOT = Path(__file__).resolve().parents[2]


def profile(tmp_path: Path, data: Path, extra: str = "") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\n"
        f"data:\n  datasets:\n    - path: {data}\n"
        f"output_dir: {tmp_path / 'out'}\n" + extra,
        encoding="utf-8",
    )
    return path


def test_train_refuses_bad_data_before_launching(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(
        json.dumps({"instruction": "Who are you?", "input": "", "output": "I am {{NAME}}."})
        + "\n"
        + json.dumps({"instruction": "Who made you?", "input": ""})
        + "\n",
        encoding="utf-8",
    )
    result = run_cli("train", "--profile", str(profile(tmp_path, data, "identity: null\n")))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ")
    # a template with no identity to fill it is refused even before validation
    assert "placeholders but the profile has no identity" in result.stderr
    assert not (tmp_path / "out").exists()


def test_train_lists_every_data_error(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(
        json.dumps({"instruction": "Who are you?", "input": "", "output": "  "})
        + "\n"
        + json.dumps({"instruction": "Who made you?", "input": ""})
        + "\n"
        + "{broken\n",
        encoding="utf-8",
    )
    result = run_cli("train", "--profile", str(profile(tmp_path, data)))
    assert result.returncode == 1, result.stderr
    assert f"not starting: the training data has errors ({data})" in result.stderr
    assert f"{data}:1:output: empty answer" in result.stderr
    assert f"{data}:2:output: required field is missing" in result.stderr
    assert f"{data}:3:-: not valid JSON" in result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_dataset_is_a_clear_error(tmp_path):
    result = run_cli("train", "--profile", str(profile(tmp_path, tmp_path / "nope.json")))
    assert result.returncode == 1
    assert f"Error: dataset {tmp_path / 'nope.json'} does not exist" in result.stderr


def test_dry_run_writes_nothing_and_shows_the_prepared_file(tmp_path):
    template = resources.path("identity/identity.template.json")
    result = run_cli("train", "--dry-run", "--profile", str(profile(tmp_path, template)))
    assert result.returncode == 0, result.stderr
    assert "/data/identity.jsonl" in result.stdout and "--add_version false" in result.stdout
    assert "placeholders filled from the profile's identity" in result.stderr
    assert not (tmp_path / "out").exists()
