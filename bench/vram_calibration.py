"""How well ``swiftkit/sizing/vram.py`` reproduces measured peaks: one row per measurement, predicted vs measured.

Reads ``bench/results/data/*-vram-probe-*.json`` (``bench/vram_probe.py``: torch's max reserved memory over a
grid of shapes; compared with the formula less its CUDA-context overhead) and ``*-runs-*.json``
(``bench/gpu_bench.py``: nvidia-smi peaks of ``swiftkit train`` runs, at the longest sequence ms-swift reported).

    python3 bench/vram_calibration.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from swiftkit.sizing import shapes, vram  # noqa: E402

DATA = Path(__file__).resolve().parent / "results" / "data"
QWEN7B = shapes.KNOWN["Qwen/Qwen2.5-7B-Instruct"]
PROBE_OVERHEAD_GIB = 0.17  # allocator slack the probe fit left; the probe's peaks exclude the CUDA context


def probe_rows() -> list[tuple[str, float, float]]:
    rows = []
    for path in sorted(DATA.glob("*-vram-probe-*.json")):
        for r in json.loads(path.read_text())["rows"]:
            if r.get("oom"):
                continue
            est = vram.peak(
                QWEN7B,
                batch=r["batch"],
                seq_len=r["length"],
                gradient_checkpointing=r["ckpt"],
                overhead_gib=PROBE_OVERHEAD_GIB,
            )
            label = f"probe bs{r['batch']} × {r['length']} ckpt={'on' if r['ckpt'] else 'off'}"
            rows.append((label, r["reserved_gib"], est.gib))
    return rows


def run_rows() -> list[tuple[str, float, float]]:
    rows = []
    for path in sorted(DATA.glob("*-runs-*.json")):
        for r in json.loads(path.read_text()):
            s = r["settings"]
            if r["rc"] != 0 or not r["tokens"] or not r["smi_peak_mib"]:
                continue
            est = vram.peak(
                QWEN7B,
                batch=s["per_device_train_batch_size"],
                seq_len=int(r["tokens"][2]),
                gradient_checkpointing=s["gradient_checkpointing"],
                use_liger_kernel=bool(s.get("use_liger_kernel")),
            )
            rows.append((f"run {r['spec']['name']} ({path.stem})", r["smi_peak_mib"] / 1024, est.gib))
    return rows


def main() -> None:
    print("| measurement | measured GiB | predicted GiB | error |\n|---|---|---|---|")
    worst = 0.0
    for label, measured, predicted in run_rows() + probe_rows():
        error = predicted / measured - 1
        worst = max(worst, abs(error))
        print(f"| {label} | {measured:.2f} | {predicted:.2f} | {error:+.1%} |")
    print(f"\nlargest error: {worst:.1%}")


if __name__ == "__main__":
    main()
