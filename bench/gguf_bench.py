"""GGUF export on a trained profile: file size and export time per quantisation, then identity and pollution of
each file in llama.cpp (llama-cpp-python; its own chat template, no system message, greedy) beside the adapter's
on the same prompts (from the checkpoint's `swiftkit eval` report, which must exist: run `swiftkit eval` first).

    python bench/gguf_bench.py --profile cpu-demo --set output_dir=/tmp/out [--quant f16 --quant q8_0 ...]

Prints a markdown table; answers go to a JSON file beside the GGUF files.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from swiftkit.config import profiles
from swiftkit.eval.score import identity_pass, polluted
from swiftkit.layout import EVAL_REPORT
from swiftkit.runs.checkpoints import checkpoint_for


def export(profile: str, sets: list[str], quant: str) -> tuple[Path, float]:
    argv = [sys.executable, "-m", "swiftkit", "export", "--profile", profile, "--format", "gguf", "--quant", quant]
    for item in sets:
        argv += ["--set", item]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    found = re.search(rf"^GGUF \({quant}, .*?, ([0-9.]+) s.*\): (.*)$", proc.stdout, re.M)
    assert found, proc.stdout
    print(f"{quant}: write {found.group(1)} s, whole command {seconds:.1f} s", file=sys.stderr)
    return Path(found.group(2)), float(found.group(1))


def answers(path: Path, prompts: list[str], max_tokens: int) -> list[str]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, verbose=False, seed=0)
    out = []
    for prompt in prompts:
        reply = llm.create_chat_completion(
            [{"role": "user", "content": prompt}], temperature=0, max_tokens=max_tokens, repeat_penalty=1.0
        )
        assert isinstance(reply, dict)  # not streamed
        out.append(reply["choices"][0]["message"]["content"] or "")
    return out


def rates(rows: list[dict], said: list[str], identity) -> tuple[str, str]:
    probes = [(r, a) for r, a in zip(rows, said, strict=True) if r["set"] == "identity"]
    general = [(r, a) for r, a in zip(rows, said, strict=True) if r["set"] == "general"]
    ok = sum(identity_pass(a, r["asks"], identity) for r, a in probes)
    dirty = sum(polluted(a, identity) for _, a in general)
    return (
        f"{ok}/{len(probes)} ({100 * ok / len(probes):.1f}%)",
        f"{dirty}/{len(general)} ({100 * dirty / len(general):.1f}%)",
    )


def main() -> None:
    import llama_cpp

    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu-demo")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--quant", dest="quants", action="append")
    args = parser.parse_args()
    lp = profiles.load(args.profile, tuple(args.sets))
    assert lp.profile.identity is not None
    report = json.loads((checkpoint_for(lp, "latest") / EVAL_REPORT).read_text())
    rows = report["rows"]
    prompts = [r["prompt"] for r in rows]
    adapter = [r["adapter"] for r in rows]
    lines = [
        f"llama.cpp via llama-cpp-python {llama_cpp.__version__}; {len(prompts)} prompts, greedy, no system message",
        "",
        "| model | file size | GGUF write (s) | identity | pollution | answers equal to the adapter's |",
        "|---|---|---|---|---|---|",
    ]
    ident, pol = rates(rows, adapter, lp.profile.identity)
    lines.append(f"| adapter (ms-swift, transformers) | - | - | {ident} | {pol} | - |")
    dump = {"prompts": prompts, "adapter": adapter}
    for quant in args.quants or ["f16", "bf16", "q8_0", "q4_k_m"]:
        path, seconds = export(args.profile, args.sets, quant)
        said = answers(path, prompts, lp.profile.infer.max_new_tokens)
        dump[quant] = said
        ident, pol = rates(rows, said, lp.profile.identity)
        same = sum(a.strip() == b.strip() for a, b in zip(said, adapter, strict=True))
        size = f"{path.stat().st_size / 1e6:.1f} MB"
        lines.append(f"| {path.name} | {size} | {seconds:.1f} | {ident} | {pol} | {same}/{len(prompts)} |")
        (path.parent / "swiftkit-gguf-bench.json").write_text(json.dumps(dump, ensure_ascii=False, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
