"""Merges on the real ms-swift: an export killed mid-way is redone and `infer --merged` then works; `--force`
merges again; two concurrent exports of one checkpoint leave one merged folder, byte-identical to a single
export, and no traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from helpers import safetensors_bytes

from swiftkit.layout import merged_path, partial_merged_path
from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from e2e.conftest import tiny_profile

    folder = tmp_path_factory.mktemp("merge")
    profile = tiny_profile(folder, tiny_model, save_steps=100)
    result = run_cli("train", "--profile", str(profile))
    assert result.returncode == 0, result.stderr[-3000:]
    return profile, checkpoints.pick(folder / "out", "latest")


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def merged_listed(profile: Path) -> bool:
    rows = json.loads(run_cli("checkpoints", "--profile", str(profile), "--json").stdout)
    return any(r["merged"] for r in rows)


def test_export_killed_midway_is_redone(trained: tuple[Path, Path]):
    profile, ck = trained
    merged, partial = merged_path(ck), partial_merged_path(ck)
    merged.mkdir()  # what an older export left after it was killed: config and weights, no tokenizer
    (merged / "config.json").write_text('{"model_type": "llama"}')
    (merged / "model.safetensors").write_bytes(safetensors_bytes())
    assert not merged_listed(profile)

    export = subprocess.Popen(
        [sys.executable, "-m", "swiftkit", "export", "--profile", str(profile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not (partial / "model.safetensors").exists():  # ms-swift has begun writing the merged weights
        assert export.poll() is None and time.monotonic() < deadline, "the export ended before it could be killed"
        time.sleep(0.01)
    for pid in children_of(export.pid):  # the machine went down: swiftkit and ms-swift die at once
        subprocess.run(["kill", "-KILL", str(pid)], check=False)
    export.send_signal(signal.SIGKILL)
    export.wait()
    time.sleep(0.5)
    assert not merged_listed(profile)
    assert checkpoints.merged_problem(merged) != ""  # the old incomplete folder was not taken for a merge

    again = run_cli("export", "--profile", str(profile))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Merged model: {merged}" in again.stdout and "Up to date" not in again.stdout
    assert checkpoints.merged_problem(merged) == "" and not partial.exists()
    assert merged_listed(profile)
    answered = run_cli("infer", "--profile", str(profile), "--merged", "--prompt", "Who are you?")
    assert answered.returncode == 0, answered.stderr[-3000:]
    assert answered.stdout.startswith("Q: Who are you?\nA:")


def test_force_merges_again(trained: tuple[Path, Path]):
    profile, ck = trained
    merged = merged_path(ck)
    if checkpoints.merged_problem(merged):
        assert run_cli("export", "--profile", str(profile)).returncode == 0
    before = (merged / "model.safetensors").stat().st_ino, digest(merged)
    same = run_cli("export", "--profile", str(profile))
    assert same.returncode == 0 and "Up to date" in same.stdout
    forced = run_cli("export", "--profile", str(profile), "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert f"Merged model: {merged}" in forced.stdout
    after = (merged / "model.safetensors").stat().st_ino, digest(merged)
    assert after[0] != before[0]  # a new file: merged again, not "exists, skipping"
    assert after[1] == before[1]


def test_two_concurrent_exports_leave_one_merge(trained: tuple[Path, Path]):
    profile, ck = trained
    merged = merged_path(ck)
    if checkpoints.merged_problem(merged):
        assert run_cli("export", "--profile", str(profile)).returncode == 0
    single = digest(merged)
    shutil.rmtree(merged)
    exports = [
        subprocess.Popen(
            [sys.executable, "-m", "swiftkit", "export", "--profile", str(profile)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [e.communicate(timeout=400) for e in exports]
    for export, (_, stderr) in zip(exports, results, strict=True):
        assert export.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr and "FileExistsError" not in stderr
    outcomes = sorted("Merged model" if "Merged model:" in out else "Up to date" for out, _ in results)
    assert outcomes == ["Merged model", "Up to date"], results
    assert digest(merged) == single
    leftovers = [p.name for p in ck.parent.iterdir() if p.name.startswith(f".{ck.name}-merged.") and p.is_dir()]
    assert leftovers == []
