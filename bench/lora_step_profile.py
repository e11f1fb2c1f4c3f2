"""Where a LoRA step's time goes on the 7B shape (issue 25): forward+backward of batch 16 x 176 tokens, timed with
CUDA events, then torch.profiler's top ops by CUDA and by CPU time. Needs transformers + peft + a model folder.
  python3 bench/lora_step_profile.py /tmp/swiftkit-gpu-bench/qwen2.5-7b-shape"""

import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

path = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa").cuda()
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
model.train()
B, T = 16, 176
ids = torch.randint(0, 30000, (B, T), device="cuda")
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)


def step(gc: bool = False) -> None:
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


for label, setup in [("plain", lambda: None), ("no-grad-input-none", lambda: None)]:
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    n = 10
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / n
    N = 7.07e9
    print(f"{label}: {dt * 1000:.1f} ms/step, MFU {B * T * 4 * N / dt / 989e12:.1%}")
    break
# forward only and GEMM-only reference
with torch.no_grad():
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(5):
        model(input_ids=ids)
    torch.cuda.synchronize(); print(f"forward no_grad: {(time.perf_counter() - t) / 5 * 1000:.1f} ms")
from torch.profiler import ProfilerActivity, profile

with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
    for _ in range(2):
        step()
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=60))
