"""The disk fills up mid-run (a real small tmpfs; skipped where it cannot be mounted — the injected write failures
of tests/faults/test_runs_survive.py cover swiftkit's side everywhere): one clear `Error:` line and no traceback,
the manifest closed `failed` with the reason, no incomplete checkpoint chosen, no process left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swiftkit.runs import checkpoints

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path):
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Write zeros until the disk is full, then give back ``leave`` bytes."""
    path = folder / "filler"
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    with open(path, "r+b") as handle:
        handle.truncate(max(0, path.stat().st_size - leave))


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_disk_fills_mid_run(tmp_path: Path, tiny_model: Path, small_disk: Path):
    from e2e.conftest import tiny_profile

    profile = tiny_profile(tmp_path, tiny_model, num_train_epochs=4, save_steps=2, save_total_limit=10)
    out = small_disk / "out"
    train = subprocess.Popen(
        [sys.executable, "-m", "swiftkit", "train", "--profile", str(profile), "--set", f"output_dir={out}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not any(not checkpoints.check_checkpoint(c) for c in out.glob("v*/checkpoint-*")):
        assert train.poll() is None and time.monotonic() < deadline, train.communicate()[1][-2000:]
        time.sleep(0.2)
    fill(small_disk, leave=96 * 1024)  # another program fills the disk; the next checkpoint does not fit
    stdout, stderr = train.communicate(timeout=300)

    assert train.returncode == 1, stdout[-2000:] + stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"the disk holding {out}" in errors[0] and "is full" in errors[0], stderr[-3000:]
    assert "--resume" in errors[0] and "Traceback" not in stderr + stdout
    [run] = checkpoints.scan(out)
    record = json.loads((run.path / "swiftkit-manifest.json").read_text())
    assert record["status"] == "failed" and "is full" in record["reason"]
    latest = checkpoints.latest([run])
    assert latest is not None and latest.complete and record["last_checkpoint"] == str(latest.path)
    assert all(c.complete or c.step > latest.step for c in run.checkpoints)
    assert f"Checkpoint:   {latest.path}" in stdout
    assert processes_mentioning(str(out)) == []
