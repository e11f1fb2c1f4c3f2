"""`swiftkit train` checks the data first: bad data stops it before anything starts or is written (in-process: the
messages are what matters here, word for word)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import invoke

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


def jsonl(path: Path, *lines: dict[str, str] | str) -> Path:
    """A JSONL file of these records (a string is written as it is: a broken line)."""
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines), encoding="utf-8")
    return path


NO_ANSWER = {"instruction": "Who made you?", "input": ""}


def test_train_refuses_bad_data_before_launching(tmp_path):
    template = {"instruction": "Who are you?", "input": "", "output": "I am {{NAME}}."}
    data = jsonl(tmp_path / "bad.jsonl", template, NO_ANSWER)
    result = invoke("train", "--profile", str(profile(tmp_path, data, "identity: null\n")))
    assert result.returncode == 1
    # a template with no identity to fill it is refused even before validation
    assert result.stderr.splitlines() == [
        f"Error: {data} has {{{{NAME}}}}/{{{{AUTHOR}}}} placeholders but the profile has no identity: section; add "
        "identity: {name: ..., author: ...} or render it with 'swiftkit identity render'."
    ]
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_train_lists_every_data_error(tmp_path):
    blank = {"instruction": "Who are you?", "input": "", "output": "  "}
    data = jsonl(tmp_path / "bad.jsonl", blank, NO_ANSWER, "{broken")
    result = invoke("train", "--profile", str(profile(tmp_path, data)))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"Error: not starting: the training data has errors ({data}):",
        f"  {data}:1:output: empty answer: the model would learn to say nothing",
        f"  {data}:2:output: required field is missing (a record without an answer trains nothing)",
        f"  {data}:3:-: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        "Fix them (run 'swiftkit validate FILE' to list every problem) and try again.",
    ]
    assert not (tmp_path / "out").exists()


def test_missing_dataset_is_a_clear_error(tmp_path):
    result = invoke("train", "--profile", str(profile(tmp_path, tmp_path / "nope.json")))
    assert result.returncode == 1
    assert (
        result.stderr == f"Error: dataset {tmp_path / 'nope.json'} does not exist; fix data.datasets in the profile.\n"
    )


def test_dry_run_writes_nothing_and_shows_the_prepared_file(tmp_path):
    template = resources.path("identity/identity.template.json")
    result = invoke("train", "--dry-run", "--profile", str(profile(tmp_path, template)))
    assert result.returncode == 0, result.stderr
    run_dir = result.stdout.split(" --output_dir ")[1].split()[0]
    assert result.stdout.endswith(f" --output_dir {run_dir} --add_version false\n")
    assert f" --dataset {run_dir}/data/identity.jsonl " in result.stdout
    assert result.stderr.splitlines() == [
        "# batch: 4 per forward pass × 1 accumulation = 4 sequences per optimizer step",
        f"# writes {run_dir}/data/identity.jsonl from {template}: placeholders filled from the profile's identity",
    ]
    assert not (tmp_path / "out").exists()
