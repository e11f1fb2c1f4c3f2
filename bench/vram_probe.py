"""Peak GPU memory of LoRA training steps over a grid of batch size x sequence length x gradient checkpointing.

Calibration data for ``swiftkit/vram.py``. One process loads the model once and trains a LoRA adapter set up as
ms-swift 4.6 sets it up for the swiftkit profiles (bf16 weights, peft LoRA r8/alpha 32/dropout 0.05 on every
linear layer of the blocks with float32 adapter weights, bf16 autocast, fused AdamW, sdpa attention, reentrant
gradient checkpointing with input grads), so dozens of shapes cost about a minute instead of a run each.
``bench/gpu_bench.py`` measures the real ``swiftkit train`` runs that the estimate is checked against.

    python3 bench/vram_probe.py --model MODEL_DIR --out probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BATCHES = (1, 4, 16)
LENGTHS = (64, 256, 1024, 2048)
GIB = 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rank", type=int, default=8)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    start = time.time()
    model: Any = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.bfloat16, device_map="cuda:0", attn_implementation="sdpa"
    )
    model.config.use_cache = False
    print(f"loaded in {time.time() - start:.1f} s", flush=True)
    model = get_peft_model(
        model, LoraConfig(r=args.rank, lora_alpha=32, lora_dropout=0.05, target_modules=TARGETS, task_type="CAUSAL_LM")
    )
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, fused=True)
    vocab = model.config.vocab_size
    free, total = torch.cuda.mem_get_info()
    context = (total - free) - torch.cuda.memory_reserved()
    base = {
        "weights_gib": torch.cuda.memory_allocated() / GIB,
        "context_gib": context / GIB,
        "trainable": sum(p.numel() for p in trainable),
        "trainable_dtype": str(trainable[0].dtype),
        "params": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(base), flush=True)
    rows = []
    for ckpt in (True, False):
        if ckpt:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
            model.enable_input_require_grads()
        else:
            model.gradient_checkpointing_disable()
        limit = None  # tokens at which this setting ran out of memory
        for batch, length in sorted(((b, n) for b in BATCHES for n in LENGTHS), key=lambda bn: (bn[0] * bn[1], bn)):
            tokens = batch * length
            if limit is not None and tokens >= limit:
                rows.append({"ckpt": ckpt, "batch": batch, "length": length, "oom": True, "skipped": True})
                continue
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            row: dict[str, Any] = {"ckpt": ckpt, "batch": batch, "length": length}
            try:
                t = time.time()
                for _ in range(2):
                    ids = torch.randint(0, vocab, (batch, length), device="cuda")
                    labels = ids.clone()
                    labels[:, : length // 5] = -100  # the prompt part carries no loss
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        loss = model(input_ids=ids, labels=labels).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
                row.update(
                    oom=False,
                    seconds=round((time.time() - t) / 2, 3),
                    allocated_gib=round(torch.cuda.max_memory_allocated() / GIB, 3),
                    reserved_gib=round(torch.cuda.max_memory_reserved() / GIB, 3),
                )
            except torch.OutOfMemoryError:
                limit = tokens if limit is None else min(limit, tokens)
                row["oom"] = True
            ids = labels = loss = None  # type: ignore[assignment]  # noqa: F841 - free the step's tensors before the next shape
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"base": base, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
