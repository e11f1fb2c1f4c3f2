"""A stand-in for `swift sft` in fast tests: writes logging.jsonl and checkpoints the way ms-swift 4.6 does.

    python fake_swift.py --output_dir RUN --steps 6 --save_steps 2 --sleep 0.2 [--fail_at 4] [--ignore_sigint]

Each step logs a train line; every ``save_steps`` a complete checkpoint (adapter config, safetensors weights,
trainer state); at the end a ``train_runtime`` line and the final line naming the last checkpoint. ``--fail_at``
exits 1 at that step, after writing an "[Errno 28] No space left on device" traceback line to its output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import safetensors_bytes  # noqa: E402


def checkpoint(run: Path, step: int) -> Path:
    path = run / f"checkpoint-{step}"
    path.mkdir()
    (path / "adapter_config.json").write_text('{"r": 8, "peft_type": "LORA"}')
    (path / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--save_steps", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--fail_at", type=int, default=0)
    args, _ = parser.parse_known_args()
    run = args.output_dir
    run.mkdir(parents=True, exist_ok=True)
    log = run / "logging.jsonl"
    last = None
    for step in range(1, args.steps + 1):
        time.sleep(args.sleep)
        if step == args.fail_at:
            print("OSError: [Errno 28] No space left on device", flush=True)
            return 1
        with open(log, "a") as handle:
            entry = {"loss": 2.0 / step, "learning_rate": 1e-4, "global_step/max_steps": f"{step}/{args.steps}"}
            handle.write(json.dumps(entry) + "\n")
        print(f"step {step}", flush=True)
        if step % args.save_steps == 0 or step == args.steps:
            last = checkpoint(run, step)
    with open(log, "a") as handle:
        handle.write(json.dumps({"train_runtime": 1.0, "global_step/max_steps": f"{args.steps}/{args.steps}"}) + "\n")
        handle.write(json.dumps({"last_model_checkpoint": str(last), "best_model_checkpoint": None}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
