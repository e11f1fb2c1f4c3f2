"""Issue 20, row 4: a ``hub:`` dataset id that also exists as a local folder (relative to where swiftkit runs) is
read by ms-swift from that folder ("Use local folder") and was never validated: 20 "I am ChatGPT, made by OpenAI"
records were trained as identity data while `validate` reported 0 errors. Now validate, plan and train refuse it
as ambiguous, naming the folder and both ways out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke


def shadowing_folder(cwd: Path) -> Path:
    folder = cwd / "swift" / "self-cognition"
    folder.mkdir(parents=True)
    rows = [{"query": "Who are you?", "response": "I am ChatGPT, made by OpenAI."}] * 20
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize("command", [["validate"], ["plan", "sft"], ["train", "--dry-run"]])
def test_a_hub_id_shadowed_by_a_local_folder_is_refused(tmp_path: Path, command: list[str]):
    folder = shadowing_folder(tmp_path)
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "extends: cpu-demo\ndata:\n  datasets:\n    - path: "
        + str(Path(__file__).resolve().parents[2] / "swiftkit/resources/identity/identity.template.json")
        + "\n      kind: identity\n    - hub: swift/self-cognition\n      sample: 20\n"
    )
    r = invoke(*command, "--profile", str(profile), cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert (r.stdout, r.stderr) == (
        "",
        f"Error: data.datasets hub 'swift/self-cognition' is also a local folder here ({folder}), and ms-swift would "
        "train that folder instead of the hub dataset, unvalidated. Give it as 'path: ./swift/self-cognition' (a file) "
        "to validate and train it, or run from another folder (or rename the local one) to use the hub dataset.\n",
    )


@pytest.mark.parametrize(
    "value, shadowed",
    [
        ("swift/self-cognition", True),
        ("swift/self-cognition#20", True),
        ("hf::swift/self-cognition", True),
        ("ms::swift/self-cognition:default/other#5", True),
        ("swift/other", False),
    ],
)
def test_every_spelling_ms_swift_checks_is_seen(tmp_path: Path, monkeypatch, value: str, shadowed: bool):
    from swiftkit.data.prepare import local_shadow

    shadowing_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert (local_shadow(value) is not None) is shadowed
