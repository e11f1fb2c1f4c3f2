"""Serving benchmark, side by side in one run: `swiftkit deploy` (the real `swift deploy`, transformers backend)
driven by the `openai` package at 1, 4 and 16 concurrent clients, against `swiftkit infer --prompts` batch
inference of the same prompts, same model, same max tokens.

    python bench/serve_bench.py                        # tiny random model, trained here (a few minutes, 2 cores)
    python bench/serve_bench.py --profile cpu-demo     # an already trained profile (e.g. after `make demo`)

Writes bench/results/serve-<machine>-<date>.md. Every request asks for --max-tokens tokens at temperature 0;
completion tokens are counted from the server's usage (an answer may end early at EOS).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from swiftkit.config import profiles  # noqa: E402
from swiftkit.data.prompts import load_prompts, shipped_prompts  # noqa: E402
from swiftkit.serve.plan import plan_deploy  # noqa: E402
from swiftkit.serve.server import Server  # noqa: E402
from swiftkit.swift.render import Endpoint  # noqa: E402
from swiftkit.swift.version import installed_flavor  # noqa: E402

KEY = "bench-" + os.urandom(4).hex()


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def gpu_name() -> str:
    """The first NVIDIA GPU's name, or "" on a machine without one."""
    try:
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        out = subprocess.run(query, capture_output=True, text=True)
    except OSError:
        return ""
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""


def machine_slug() -> str:
    gpu = gpu_name()
    return re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-") if gpu else f"cpu-{os.cpu_count()}-core"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_trained(folder: Path, max_tokens: int) -> Path:
    """The tiny random model, trained for one epoch by `swiftkit train` (about half a minute)."""
    from e2e.conftest import tiny_profile
    from tiny_model import build_tiny_model

    profile = tiny_profile(folder, build_tiny_model(folder / "tiny-llama"))
    text = profile.read_text(encoding="utf-8").replace("max_new_tokens: 8", f"max_new_tokens: {max_tokens}")
    profile.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "swiftkit", "train", "--profile", str(profile)], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"swiftkit train failed:\n{result.stderr[-3000:]}")
    return profile


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to tell the server's own work from waiting for a core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load_run(client, model: str, prompts: list[str], clients: int, max_tokens: int, pid: int) -> dict[str, float]:
    def one(prompt: str) -> tuple[float, int]:
        started = time.perf_counter()
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=max_tokens
        )
        return time.perf_counter() - started, reply.usage.completion_tokens

    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, prompts))
    wall = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    latencies = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    return {
        "clients": clients,
        "requests": len(prompts),
        "wall": wall,
        "rps": len(prompts) / wall,
        "tok_s": tokens / wall,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "tokens": tokens,
        "server_cpu": cpu,
        "load": os.getloadavg()[0],
    }


def infer_batch(profile: str, set_args: list[str], prompts: list[str], folder: Path) -> float:
    """Wall seconds of `swiftkit infer --prompts FILE` (process start, model load and batch generation)."""
    file = folder / f"prompts-{len(prompts)}.txt"
    file.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "swiftkit", "infer", "--profile", profile, *set_args, "--prompts", str(file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"swiftkit infer failed:\n{result.stderr[-3000:]}")
    assert len(re.findall(r"^A: ", result.stdout, re.M)) == len(prompts)
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="a trained profile to serve (default: the tiny model, trained here)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the levels (the machine may be shared)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="skip the first, one-client warm pass")
    args = parser.parse_args()

    import openai

    from swiftkit.model.locate import ensure_model
    from swiftkit.runs.checkpoints import resolve_model

    tmp = Path(tempfile.mkdtemp(prefix="swiftkit-serve-bench-"))
    overrides = [f"infer.max_new_tokens={args.max_tokens}", "infer.max_batch_size=16"]
    if args.profile is None:
        profile, label = str(tiny_trained(tmp, args.max_tokens)), "tiny random Llama (hidden 64, 2 layers, 3.2 M)"
    else:
        profile, label = args.profile, f"profile {args.profile}"
    lp = profiles.load(profile, overrides)
    label += f" ({lp.profile.model.model}) + its newest LoRA adapter"
    ensure_model(lp.profile)
    target = resolve_model(lp, "latest")
    general = [p.prompt for p in load_prompts(shipped_prompts("general.jsonl"))]
    prompts = (general * (args.requests // len(general) + 1))[: args.requests]

    port = free_port()
    endpoint = Endpoint("127.0.0.1", port, "bench", KEY)
    plan = plan_deploy(target, installed_flavor(), endpoint, log_dir=tmp)
    rows = []
    with Server(plan) as server:
        server.wait_ready(600)
        ready_s = server.elapsed()
        client = openai.OpenAI(base_url=plan.url, api_key=KEY, max_retries=0, timeout=600)
        assert server.proc is not None
        pid = server.proc.pid
        # the first pass is slow (new input shapes for torch's CPU kernels): reported apart, as "cold"
        if args.cold:
            rows.append({"round": "cold", **load_run(client, "bench", prompts, 1, args.max_tokens, pid)})
        else:  # one request compiles and warms the kernels, unreported
            load_run(client, "bench", prompts[:1], 1, args.max_tokens, pid)
        print(rows[-1:], flush=True)
        for round_ in range(args.rounds):
            for clients in args.clients if round_ % 2 == 0 else list(reversed(args.clients)):
                rows.append({"round": round_ + 1, **load_run(client, "bench", prompts, clients, args.max_tokens, pid)})
                print(rows[-1], flush=True)
    set_args = [a for o in overrides for a in ("--set", o)]
    batch = infer_batch(profile, set_args, prompts, tmp)
    more = prompts * 4
    batch4 = infer_batch(profile, set_args, more, tmp)
    extra = len(more) - len(prompts)
    marginal = batch4 - batch  # the same start-up and model load in both: what is left is the extra answers
    rows.sort(key=lambda r: (r["clients"], -1 if r["round"] == "cold" else r["round"]))

    today = date.today().isoformat()
    lines = [
        f"# Serving benchmark ({today})",
        "",
        f"Machine: {machine()}. ms-swift {installed_flavor().version}, transformers backend, {gpu_name() or 'CPU'}.",
        f"Model: {label}. {args.requests} requests per row, max_tokens {args.max_tokens}, temperature 0, "
        "profile infer.max_batch_size 16.",
        f"Command: `python bench/serve_bench.py {'--profile ' + args.profile + ' ' if args.profile else ''}"
        f"--max-tokens {args.max_tokens} --requests {args.requests} --rounds {args.rounds} "
        f"--clients {' '.join(map(str, args.clients))}{'' if args.cold else ' --no-cold'}`",
        "",
        f"`swiftkit deploy` start to ready: {ready_s:.1f} s.",
        "",
        "| way | clients | round | requests | wall s | req/s | completion tok/s | p50 latency s | p95 latency s "
        "| server CPU s | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| served (openai client) | {r['clients']} | {r['round']} | {r['requests']} | {r['wall']:.2f} | "
            f"{r['rps']:.2f} | "
            f"{r['tok_s']:.1f} | {r['p50']:.3f} | {r['p95']:.3f} | {r['server_cpu']:.1f} | {r['load']:.1f} |"
        )
    lines += [
        f"| `swiftkit infer --prompts` (whole command) | batch 16 | - | {len(prompts)} | {batch:.2f} | "
        f"{len(prompts) / batch:.2f} | - | - | - | - | - |",
        f"| `swiftkit infer --prompts` (whole command) | batch 16 | - | {len(more)} | {batch4:.2f} | "
        f"{len(more) / batch4:.2f} | - | - | - | - | - |",
        f"| `swiftkit infer --prompts`, {len(more)} less {len(prompts)} prompts (start-up and load cancel out) | "
        f"batch 16 | - | {extra} | {marginal:.2f} | "
        + (f"{extra / marginal:.2f}" if marginal > 0 else "n/a (start-up noise exceeds the work)")
        + " | - | - | - | - | - |",
        "",
        "Compare rows of one run only. On a shared VM the same row varies up to 10x between passes; when the "
        "server's CPU seconds are close to its wall seconds it was busy (torch's OpenMP threads spin while a core is "
        "taken by another job), not idle. Served rows exclude start-up; infer rows include it (the last row "
        "subtracts it).",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    name = Path(args.profile).stem if args.profile else "tiny"
    path = args.out / f"serve-{name}-{machine_slug()}-{today}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
