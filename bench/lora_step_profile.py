"""Where a LoRA step's time goes on the 7B shape (issue 25), without ms-swift: forward + backward + AdamW of batch
16 x 176 tokens (LoRA r8, all-linear, SDPA), timed over 10 steps, then torch.profiler's top ops by GPU and CPU time.
Needs a GPU, transformers, peft and a model folder (bench/gpu_bench.py builds the 7B shape):
  python3 bench/lora_step_profile.py /tmp/swiftkit-gpu-bench/qwen2.5-7b-shape
Results: bench/results/nvidia-h200-2026-12-03-issue25-final.md.

`--variants` instead times the step as the Trainer runs it (bf16 autocast around the forward, as accelerate does for
`bf16: true`) four ways, each from the same initial LoRA weights and batches, and prints the loss after 20 steps:
as PEFT does by default (each LoRA input cast to the adapters' float32, then back to bf16 by autocast), with PEFT's
input casting off (`peft.helpers.disable_input_dtype_casting`: autocast still runs the LoRA matmuls in bf16 on
float32 master weights), with bf16 adapter weights and without autocast (`--bf16 false` on a bf16 model: the
LoRA matmuls in float32, the rest in the model's bf16). `7b` as the path builds the Qwen2.5-7B shape at random
on the GPU (no folder needed):
  python3 bench/lora_step_profile.py 7b --variants            # --short: PEFT's default and casting off only
Results: bench/results/nvidia-h100-2026-12-07-issue25e.md."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

import torch
from gpu_bench import QWEN25_7B  # bench/ is sys.path[0] when this file runs; gpu_bench imports the stdlib only
from peft import LoraConfig, get_peft_model
from torch.profiler import ProfilerActivity, profile
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

BATCH, TOKENS = 16, 176
MATMUL_PARAMS = 7.07e9  # N of the MFU formula in gpu_bench.py for the 7B shape
PEAK_FLOPS = 989e12  # H100/H200 dense bf16


def load(path: str) -> PreTrainedModel:
    if path == "7b":
        config = AutoConfig.for_model("qwen2", **QWEN25_7B)
        torch.manual_seed(0)
        with torch.device("cuda"):
            return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa")
    return base.to(torch.device("cuda"))  # type: ignore[arg-type]


def timed(step: Callable[[], object], n: int = 10) -> float:
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def mfu(seconds: float) -> float:
    return BATCH * TOKENS * 4 * MATMUL_PARAMS / seconds / PEAK_FLOPS


def variants(path: str) -> None:
    import peft
    from peft.helpers import disable_input_dtype_casting

    base = load(path)
    print(f"torch {torch.__version__}, peft {peft.__version__}, {torch.cuda.get_device_name()}")
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
    model.train()
    start_state = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    gen = torch.Generator(device="cuda").manual_seed(1)
    batches = [torch.randint(0, 30000, (BATCH, TOKENS), device="cuda", generator=gen) for _ in range(20)]

    def run(
        name: str,
        context: Callable[[], contextlib.AbstractContextManager[object]],
        dtype: torch.dtype,
        amp: bool = True,
    ) -> None:
        with torch.no_grad():
            for k, v in model.named_parameters():
                if k in start_state:
                    v.data = start_state[k].to(dtype, copy=True)  # a copy: training must not change the start
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        i = iter(range(10**9))

        def step() -> float:
            ids = batches[next(i) % len(batches)]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return float(loss.detach())

        with context():
            losses = [step() for _ in range(20)]  # the same 20 batches from the same weights: loss comparable
            dt = timed(step)
        print(
            f"{name}: step {dt * 1000:.1f} ms, MFU {mfu(dt):.1%}, loss after 20 steps {losses[-1]:.5f}, "
            f"mean of 20 {sum(losses) / 20:.5f}",
            flush=True,
        )

    @contextlib.contextmanager
    def nothing() -> Iterator[None]:
        yield

    run("peft default (fp32 adapters, inputs cast)", nothing, torch.float32)
    run("input casting off (fp32 adapters)", lambda: disable_input_dtype_casting(model), torch.float32)
    if "--short" not in sys.argv:
        run("bf16 adapters", nothing, torch.bfloat16)
        run("no autocast (fp32 adapters, inputs cast; ms-swift --bf16 false)", nothing, torch.float32, amp=False)
    run("peft default again", nothing, torch.float32)


def main(path: str) -> None:
    model = get_peft_model(load(path), LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"))
    model.train()
    ids = torch.randint(0, 30000, (BATCH, TOKENS), device="cuda")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    dt = timed(step)
    print(f"train step: {dt * 1000:.1f} ms, MFU {mfu(dt):.1%}")
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
    if "--variants" in sys.argv:
        variants(sys.argv[1])
    else:
        main(sys.argv[1])
