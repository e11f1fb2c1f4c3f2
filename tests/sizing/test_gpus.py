"""A GPU profile is refused before ms-swift starts when its card is missing (nvidia-smi stands in as a script)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import invoke

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.sizing.gpus import Gpu, check_gpu, visible_gpus


def fake_smi(folder: Path, output: str, code: int = 0) -> Path:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_reads_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_smi(tmp_path, '0, NVIDIA GeForce RTX 4090 D, 24564')}:{os.environ['PATH']}")
    assert visible_gpus() == [Gpu(0, "NVIDIA GeForce RTX 4090 D", 24564)]


def test_no_gpu_machine_refuses_with_the_way_out(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    with pytest.raises(SwiftkitError, match="shows no NVIDIA GPU.*--profile cpu-demo"):
        check_gpu(profiles.load("4090d").profile, "4090d")
    assert check_gpu(profiles.load("cpu-demo").profile, "cpu-demo") is None  # CPU profiles never ask


def test_wrong_index_and_small_card():
    four = [Gpu(0, "RTX 4090", 24564)]
    with pytest.raises(SwiftkitError, match="asks for GPU 3.*--set gpu.device=0"):
        check_gpu(profiles.load("4090d", ["gpu.device=3"]).profile, "4090d", four)
    assert check_gpu(profiles.load("4090d").profile, "4090d", four) is None
    small = check_gpu(profiles.load("h100", ["gpu.memory_gb=80"]).profile, "h100", four)
    assert small is not None and "gpu.memory_gb 80" in small and "fitted to the card" in small
    assert check_gpu(profiles.load("h100").profile, "h100", four) is None  # memory_gb: auto fits any card


def test_train_on_a_cpu_machine_stops_before_ms_swift(tmp_path):
    """Today's failure was 33 s later at the hub; now it is a clear refusal with nothing started."""
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "SWIFTKIT_PROFILES_DIR": ""}
    out = tmp_path / "out"
    result = invoke("train", "-p", "4090d", "--set", f"output_dir={out}", env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "Error: profile 4090d runs on CUDA GPU 0, but this machine shows no NVIDIA GPU (nvidia-smi missing or "
        "failing). Use a CPU profile (e.g. --profile cpu-demo, or gpu: null in yours), or run on a GPU machine.\n"
    )
    assert not out.exists() or not any(out.iterdir())  # no run folder, no ms-swift


def test_every_card_of_a_multi_gpu_profile_must_be_there():
    one = [Gpu(0, "H200", 143771)]
    with pytest.raises(SwiftkitError, match="asks for GPU 1,"):
        check_gpu(profiles.load("h100", ["gpu.devices=[0, 1]"]).profile, "h100", one)
    two = [Gpu(0, "H200", 143771), Gpu(1, "H200", 143771)]
    assert check_gpu(profiles.load("h100", ["gpu.devices=[0, 1]"]).profile, "h100", two) is None


def test_ms_swift_told_to_use_the_cpu_needs_no_card(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    lp = profiles.load("cpu-demo", ["gpu={devices: [0, 1]}", "swift_args.use_cpu=true", "swift_args.ddp_backend=gloo"])
    assert check_gpu(lp.profile, "cpu-demo") is None
