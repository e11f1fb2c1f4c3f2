"""Where a LoRA step's time goes on the 7B shape (issue 25), without ms-swift: forward + backward + AdamW of batch
16 x 176 tokens (LoRA r8, all-linear, SDPA), timed over 10 steps, then torch.profiler's top ops by GPU and CPU time.
Needs a GPU, transformers, peft and a model folder (bench/gpu_bench.py builds the 7B shape):
  python3 bench/lora_step_profile.py /tmp/swiftkit-gpu-bench/qwen2.5-7b-shape
Results: bench/results/nvidia-h200-2026-12-03-issue25-final.md."""

from __future__ import annotations

import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModelForCausalLM

BATCH, TOKENS = 16, 176
MATMUL_PARAMS = 7.07e9  # N of the MFU formula in gpu_bench.py for the 7B shape
PEAK_FLOPS = 989e12  # H100/H200 dense bf16


def main(path: str) -> None:
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa")
    model = base.to(torch.device("cuda"))  # type: ignore[arg-type]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
    model.train()
    ids = torch.randint(0, 30000, (BATCH, TOKENS), device="cuda")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start, n = time.perf_counter(), 10
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - start) / n
    mfu = BATCH * TOKENS * 4 * MATMUL_PARAMS / dt / PEAK_FLOPS
    print(f"train step: {dt * 1000:.1f} ms, MFU {mfu:.1%}")
    with torch.no_grad():
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(5):
            model(input_ids=ids)
        torch.cuda.synchronize()
    print(f"forward without grad: {(time.perf_counter() - start) / 5 * 1000:.1f} ms")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(2):
            step()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=60))


if __name__ == "__main__":
    main(sys.argv[1])
