"""Is the profile's GPU there? Read from ``nvidia-smi`` (no torch import), before ms-swift starts.

A GPU profile on a machine without that CUDA device would otherwise start ms-swift, load for half a minute and
fail at the hub or on the first CUDA call.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from swiftkit.config.schema import AUTO, Profile
from swiftkit.errors import SwiftkitError


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_mib: int
    compute_cap: Optional[float] = None  # e.g. 9.0 for Hopper; None when nvidia-smi does not report it

    @property
    def memory_gb(self) -> float:
        return self.memory_mib * 1024**2 / 1000**3


def visible_gpus() -> Optional[list[Gpu]]:
    """The machine's NVIDIA GPUs by physical index; None when nvidia-smi is missing or fails (no driver)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    out = None
    for fields in ("index,name,memory.total,compute_cap", "index,name,memory.total"):  # old drivers lack compute_cap
        try:
            out = subprocess.run(
                [smi, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout
            break
        except (OSError, subprocess.SubprocessError):
            continue
    if out is None:
        return None
    return parse_gpus(out)


def parse_gpus(out: str) -> list[Gpu]:
    """``nvidia-smi --query-gpu=index,name,memory.total[,compute_cap]`` CSV lines."""
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) in (3, 4) and parts[0].isdigit() and parts[2].isdigit():
            cap = None
            if len(parts) == 4:
                try:
                    cap = float(parts[3])
                except ValueError:
                    cap = None
            gpus.append(Gpu(int(parts[0]), parts[1], int(parts[2]), cap))
    return gpus


def check_gpu(profile: Profile, profile_ref: str, gpus: Optional[list[Gpu]] = None) -> Optional[str]:
    """Refuse a GPU profile whose card is missing; return a warning when the card is smaller than the profile says."""
    if profile.gpu is None or profile.swift_args.get("use_cpu") in (True, "true", "True"):
        return None  # a CPU profile, or ms-swift told to use the CPU (e.g. several ranks on gloo)
    found = visible_gpus() if gpus is None else gpus
    wanted = profile.gpu.indices
    shown = ", ".join(map(str, wanted))
    if not found:
        raise SwiftkitError(
            f"profile {profile_ref} runs on CUDA GPU {shown}, but this machine shows no NVIDIA GPU "
            "(nvidia-smi missing or failing). Use a CPU profile (e.g. --profile cpu-demo, or gpu: null in yours), "
            "or run on a GPU machine."
        )
    by_index = {g.index: g for g in found}
    missing = [i for i in wanted if i not in by_index]
    if missing:
        have = ", ".join(f"{g.index} ({g.name})" for g in found)
        raise SwiftkitError(
            f"profile {profile_ref} asks for GPU {', '.join(map(str, missing))}, but this machine has GPU(s) {have}; "
            f"set gpu.device or gpu.devices (e.g. --set gpu.device={found[0].index})."
        )
    small = [by_index[i] for i in wanted if by_index[i].memory_gb + 0.5 < profile.gpu.memory]
    if small and profile.gpu.memory_gb != AUTO:
        card = small[0]
        return (
            f"GPU {card.index} ({card.name}) has {card.memory_gb:.0f} GB, less than the profile's "
            f"gpu.memory_gb {profile.gpu.memory:g}: 'auto' batches are fitted to the card; fixed ones may run out "
            "of memory ('swiftkit plan sft' shows the estimate)."
        )
    return None


# (profile setting, module ms-swift imports for it, what to install)
OPTIONAL_PACKAGES = (
    ("train.use_liger_kernel", "liger_kernel", "pip install 'swiftkit[gpu]' (or liger-kernel)"),
    ("train.deepspeed", "deepspeed", "pip install deepspeed"),
    ("quant", "bitsandbytes", "pip install bitsandbytes"),
    ("train.attn_impl", "flash_attn", "pip install 'swiftkit[hopper]' (flash-attn-4)"),
)


OFF = {"train.use_liger_kernel": "false", "train.attn_impl": "auto"}


def check_packages(profile: Profile, find: Callable[[str], object] = importlib.util.find_spec) -> None:
    """Refuse, before any model loads, a profile whose settings need a package this Python lacks (ms-swift would
    fail minutes later, after loading the model). ``find_spec`` locates a package without importing it."""
    t = profile.train
    wanted = {
        "train.use_liger_kernel": t.use_liger_kernel is True,  # 'auto' is off where liger-kernel is missing
        "train.deepspeed": t.deepspeed,
        "quant": profile.quant,
        "train.attn_impl": t.attn_impl == "flash_attention_4",
    }
    missing = [(setting, module, how) for setting, module, how in OPTIONAL_PACKAGES if wanted[setting]]
    missing = [m for m in missing if find(m[1]) is None]
    if missing:
        parts = [f"{setting} needs the '{module}' package: {how}" for setting, module, how in missing]
        off = " ".join(f"--set {s}={OFF.get(s, 'null')}" for s, _, _ in missing)
        raise SwiftkitError(f"{'; '.join(parts)}. Or turn it off: {off}.")
