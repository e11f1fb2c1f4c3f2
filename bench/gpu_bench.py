"""GPU benchmark: the article's recipe and swiftkit's GPU profiles, each run through ``swiftkit train``.

Runs on a machine with one NVIDIA GPU and no network. It builds a randomly initialised model with the exact
shapes of Qwen2.5-7B-Instruct (config only, nothing downloaded; the embedded SmolLM2 tokenizer drives the
``qwen2_5`` template), trains every run on the profiles' own identity data and records, per run:

- wall time from the command's start to its exit (the adapter is saved before exit), and where it went:
  each output line is time-stamped, so imports, model load, data + trainer setup, the first step, the other
  steps and save + exit can be told apart;
- ms-swift's ``train_runtime``, its own ``memory(GiB)`` (``torch.cuda.max_memory_reserved``) from
  ``logging.jsonl``, and the card's peak memory sampled with ``nvidia-smi -lms 200`` (this also counts the
  CUDA context);
- optimizer steps, final loss and the token lengths ms-swift reports for the data.

It writes ``<card>-<date>.md`` (a Markdown table) to ``--results`` and prints it; logs and nvidia-smi samples go
to ``--logs``. ``bench/README.md`` says how to run it on a GPU box.

    python3 bench/gpu_bench.py --tokenizer ~/.cache/swiftkit/models/SmolLM2-135M-Instruct
    python3 bench/gpu_bench.py --run 4090d --run "h100-liger=h100 train.use_liger_kernel=true"
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKENIZER = Path.home() / ".cache/swiftkit/models/SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# Qwen2.5-7B-Instruct's config.json, less what does not shape memory or speed.
QWEN25_7B: dict[str, Any] = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    vocab_size=152064,
    tie_word_embeddings=False,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
)
# Qwen2.5-32B-Instruct's config.json, likewise (32.8 B parameters, 65.5 GB in bf16).
QWEN25_32B = dict(
    QWEN25_7B,
    hidden_size=5120,
    intermediate_size=27648,
    num_hidden_layers=64,
    num_attention_heads=40,
    num_key_value_heads=8,
)
SHAPES = {"7b": QWEN25_7B, "32b": QWEN25_32B}
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0}  # dense bf16 by the vendors' datasheets (SXM)
DEFAULT_RUNS = ("4090d", "4090d-fast", "h100")
BASELINE = "4090d"  # the article's recipe: speed-ups are against this run

# Output lines that mark the phases of a run, in the order they appear.
MARKS = {
    # the swift script starts `python .../swift/cli/sft.py` (old runner), or swiftkit has started ms-swift's child
    "spawn": re.compile(r"^(run sh: |ms-swift log: )"),
    "args": re.compile(r"\[INFO:swift\] args: "),  # the child has imported ms-swift and parsed its arguments
    "main": re.compile(r"Start time of running main"),  # model and tokenizer loaded
    "train": re.compile(r"Train:\s+0%"),  # trainer built, first step starting
    "train_end": re.compile(r"'train_runtime'"),
    "saved": re.compile(r"last_model_checkpoint"),
    "end": re.compile(r"End time of running main"),  # adapter saved, trainer state written
}
STEP = re.compile(r"Train:.*?\|\s*(\d+)/(\d+) \[")
TOKENS = re.compile(r"Dataset Token Length: ([\d.]+)±[\d.]+, min=([\d.]+), max=([\d.]+), size=(\d+)")
RUN_FOLDER = re.compile(r"^v(\d+)-\d{8}-\d{6}$")
# `swiftkit train` with its runner starting `python -m swift.cli.sft` instead of the `swift` script, whose own
# process imports modelscope and torch only to start that module in a child. Everything else is swiftkit's.
# (swiftkit's runner now does this itself; the patch is kept so older checkouts can be compared.)
DIRECT = """
import sys
from swiftkit.swift import runner
from swiftkit.cli import main

def direct(command, env=None):
    argv = list(command.argv)
    return [sys.executable, "-m", "swift.cli.sft", *argv[2:]] if argv[:2] == ["swift", "sft"] else argv

runner.resolved_argv = direct
print("run sh: direct", flush=True)
main(sys.argv[1:])
"""


@dataclass
class Spec:
    """One benchmark run: a name, a profile and extra ``--set`` overrides."""

    name: str
    profile: str
    overrides: list[str] = field(default_factory=list)
    direct: bool = False  # ms-swift started as `python -m swift.cli.sft` (no `swift` script process)
    nodes: int = 1  # >1: that many `swiftkit train` processes on this host as nodes, one GPU each
    env: dict[str, str] = field(default_factory=dict)  # 'env:KEY=VALUE' tokens: set for that run only

    @classmethod
    def parse(cls, text: str) -> Spec:
        """``PROFILE`` or ``NAME=PROFILE KEY=VALUE ...`` (shell quoting: a value may hold spaces)."""
        head, *tokens = shlex.split(text)
        name, _, profile = head.partition("=")
        env = dict(t[4:].split("=", 1) for t in tokens if t.startswith("env:"))
        overrides = [t for t in tokens if not t.startswith("env:")]
        return cls(name=name, profile=profile or name, overrides=overrides, env=env)


@dataclass
class Result:
    spec: Spec
    rc: int
    wall: float
    marks: dict[str, float]
    steps: dict[int, float]
    smi_peak_mib: Optional[int]  # the run's own: highest sample less the card's use before the run started
    smi_baseline_mib: Optional[int]
    swift_memory_gib: Optional[float]
    train_runtime: Optional[float]
    global_step: Optional[str]
    final_loss: Optional[float]
    tokens: Optional[tuple[float, float, float, int]]
    adapter: Optional[str]
    settings: dict[str, Any]
    gpu_peaks_mib: list[int] = field(default_factory=list)  # the run's own peak on each GPU
    tokens_seen: Optional[int] = None  # HF's num_input_tokens_seen: every input token, padding included
    losses: list[float] = field(default_factory=list)
    world: int = 1
    params: Optional[int] = None  # the model's parameters (for MFU)

    def physics(self, peak_tflops: Optional[float]) -> dict[str, Optional[float]]:
        """Real tokens/s, padding share and MFU over ms-swift's train_runtime.

        real tokens = ms-swift's Dataset Token Length mean × records × epochs (no padding); a run stopped early
        by max_steps counts steps × sequences per step × the mean length instead. padding = 1 − real / HF's
        num_input_tokens_seen (every input token, padding included, summed over ranks).
        MFU = real tokens × 4·N / (train_runtime × GPUs × peak bf16 FLOP/s): N the parameters of the matmuls
        (the embedding table left out), 2N forward + 2N backward through the frozen weights (activation gradients
        only); LoRA's own FLOPs and attention's (~0.3% at these lengths) left out; recomputation by gradient
        checkpointing is not useful work and not counted."""
        out: dict[str, Optional[float]] = {"tokens/s": None, "padding": None, "mfu": None}
        epochs = _float(self.settings.get("num_train_epochs"))
        if not self.tokens or not self.train_runtime or not epochs or not self.global_step:
            return out
        done, _, planned = self.global_step.partition("/")
        mean, size = self.tokens[0], self.tokens[3]
        real = mean * size * epochs
        if done.isdigit() and planned.isdigit() and int(done) < math.ceil(size * epochs / self.effective_batch()):
            real = int(done) * self.effective_batch() * mean
        out["tokens/s"] = real / self.train_runtime
        if self.tokens_seen:
            out["padding"] = max(0.0, 1 - real / self.tokens_seen)
        if self.params and peak_tflops:
            matmul = self.params - int(QWEN25_7B["vocab_size"]) * int(self.settings.get("hidden_size") or 3584)
            out["mfu"] = real * 4 * matmul / (self.train_runtime * self.world * peak_tflops * 1e12)
        return out

    def effective_batch(self) -> int:
        s = self.settings
        return (
            int(s.get("per_device_train_batch_size") or 1) * int(s.get("gradient_accumulation_steps") or 1) * self.world
        )

    def phases(self) -> dict[str, Optional[float]]:
        """Seconds spent in each phase, from the time-stamped output (None where a mark is missing)."""
        m, s = self.marks, self.steps

        def span(a: Optional[float], b: Optional[float]) -> Optional[float]:
            return None if a is None or b is None else b - a

        first = s.get(1)
        last_step = s.get(max(s)) if s else None
        return {
            "swiftkit + swift script": m.get("spawn"),
            "child imports": span(m.get("spawn"), m.get("args")),
            "model load": span(m.get("args"), m.get("main")),
            "data + trainer": span(m.get("main"), m.get("train")),
            "first step": span(m.get("train"), first),
            "other steps": span(first, last_step),
            "save": span(last_step, m.get("end")),
            "exit": span(m.get("end"), self.wall),
        }


def card() -> tuple[str, str]:
    """(name, 'name, memory, driver') of GPU 0."""
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader", "-i", "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out.split(",")[0].strip(), out


def versions() -> str:
    names = ("ms-swift", "torch", "transformers", "peft", "liger-kernel")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def build_model(folder: Path, tokenizer: Path, shape: Optional[dict] = None) -> None:
    """A random-init bf16 model with Qwen2.5-7B-Instruct's (or 32B's) shapes, built on the GPU and saved
    (about 15 GB; 65 GB for 32B)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    missing = [f for f in TOKENIZER_FILES if not (tokenizer / f).is_file()]
    if missing:
        wanted = " ".join(TOKENIZER_FILES)
        sys.exit(f"{tokenizer} lacks {', '.join(missing)}; give --tokenizer a folder holding {wanted}.")
    settings: dict[str, Any] = {"torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
    config = Qwen2Config(**settings, **(shape or QWEN25_7B))
    start = time.time()
    torch.manual_seed(0)  # the same random model on every box: final losses compare across calls
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, max_shard_size="5GB")
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer / name, partial / name)
    partial.rename(folder)
    del model
    torch.cuda.empty_cache()
    print(f"built {folder}: {params / 1e9:.3f} B parameters in {time.time() - start:.1f} s", flush=True)


def warm_up_gpu() -> None:
    """Page the CUDA libraries in (cuBLAS, attention, loss kernels) so the first run is not charged for it."""
    import torch

    if not torch.cuda.is_available():
        return
    x = torch.randn(16, 128, 3584, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(3584, 3584, device="cuda", dtype=torch.bfloat16)
    q = (x @ w).view(16, 128, 28, 128).transpose(1, 2)
    out = torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    loss = torch.nn.functional.cross_entropy(
        out.flatten(0, 2).float(), torch.zeros(16 * 28 * 128, dtype=torch.long, device="cuda")
    )
    loss.backward()
    torch.cuda.synchronize()
    del x, w, q, out, loss
    torch.cuda.empty_cache()


def newest_run_folder(output_dir: Path) -> Optional[Path]:
    runs = [(int(m.group(1)), p) for p in output_dir.glob("v*") if (m := RUN_FOLDER.match(p.name)) and p.is_dir()]
    return max(runs)[1] if runs else None


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def _float(value: object) -> Optional[float]:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def verbose_flag() -> list[str]:
    """``--verbose`` where `swiftkit train` has it (it then shows ms-swift's output, which the phases are read from)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "swiftkit", "train", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return ["--verbose"] if "--verbose" in help_text else []


def _read_output(proc: subprocess.Popen[bytes], log_file: Path, start: float, argv: list[str]) -> tuple:
    """Time-stamp every output line of ``proc`` into ``log_file``; return (marks, steps, tokens)."""
    marks: dict[str, float] = {}
    steps: dict[int, float] = {}
    tokens = None
    assert proc.stdout is not None
    pending = b""
    with open(log_file, "w", encoding="utf-8") as log:
        log.write(f"# {' '.join(argv)}\n")
        while True:
            chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            now = time.monotonic() - start
            if not chunk:
                break
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            for raw in lines:
                line = raw.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                log.write(f"[{now:8.2f}] {line}\n")
                for name, pattern in MARKS.items():
                    if name not in marks and pattern.search(line):
                        marks[name] = now
                if (m := STEP.search(line)) and int(m.group(1)) not in steps:
                    steps[int(m.group(1))] = now
                if (m := TOKENS.search(line)) and tokens is None:
                    tokens = (float(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4)))
    return marks, steps, tokens


def gpu_count() -> int:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return max(1, sum(1 for line in out.splitlines() if line.startswith("GPU ")))


def run_one(spec: Spec, model: Path, work: Path, logs: Path, timeout: float) -> Result:
    """Run ``swiftkit train`` for one spec (or one per node), sampling every GPU's memory, and collect the results."""
    output_dir = work / f"out_{spec.name}"
    shutil.rmtree(output_dir, ignore_errors=True)
    sets = [
        "model.model=" + str(model),
        "model.model_type=qwen2",
        "model.template=qwen2_5",
        f"output_dir={output_dir}",
        "swift_args.include_num_input_tokens_seen=true",  # padded tokens, for the padding share
        *spec.overrides,
    ]
    node_sets = (
        [[]]
        if spec.nodes == 1
        else [
            [
                f"launch.nnodes={spec.nodes}",
                f"launch.node_rank={r}",
                "launch.master_addr=127.0.0.1",
                "launch.master_port=29561",
                f"gpu.device={r}",
            ]
            for r in range(spec.nodes)
        ]
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **spec.env}
    smi_file = logs / f"smi_{spec.name}.txt"
    with open(smi_file, "w") as smi_out:
        smi = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits", "-lms", "200"],
            stdout=smi_out,
            stderr=subprocess.DEVNULL,
        )
    start = time.monotonic()
    procs, argvs = [], []
    for extra in node_sets:
        train = ["train", "--profile", spec.profile, *[a for o in [*sets, *extra] for a in ("--set", o)]]
        argv = [sys.executable, *(["-c", DIRECT] if spec.direct else ["-m", "swiftkit"]), *train, *verbose_flag()]
        argvs.append(argv)
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    watchdogs = [threading.Timer(timeout, p.kill) for p in procs]  # a hung run must not eat the whole GPU lease
    for w in watchdogs:
        w.start()
    readers = []
    outputs: list[tuple] = [({}, {}, None)] * len(procs)

    def read(i: int) -> None:
        outputs[i] = _read_output(
            procs[i], logs / f"log_{spec.name}{'' if i == 0 else f'_node{i}'}.txt", start, argvs[i]
        )

    for i in range(len(procs)):
        readers.append(threading.Thread(target=read, args=(i,)))
        readers[-1].start()
    for t in readers:
        t.join()
    rcs = [p.wait() for p in procs]
    for w in watchdogs:
        w.cancel()
    wall = time.monotonic() - start
    smi.terminate()
    smi.wait()
    per_gpu: dict[int, list[int]] = {}
    for line in smi_file.read_text().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            per_gpu.setdefault(int(parts[0]), []).append(int(parts[1]))
    peaks = [max(v) - min(v) for _, v in sorted(per_gpu.items())]
    marks, steps, tokens = outputs[0]

    folder = newest_run_folder(output_dir)
    rows = read_jsonl(folder / "logging.jsonl") if folder else []
    memories = [v for r in rows if (v := _float(r.get("memory(GiB)"))) is not None]
    losses = [v for r in rows if (v := _float(r.get("loss"))) is not None]
    seen = [int(v) for r in rows if (v := _float(r.get("num_input_tokens_seen"))) is not None]
    runtime = next((_float(r["train_runtime"]) for r in rows if "train_runtime" in r), None)
    step = next((str(r["global_step/max_steps"]) for r in reversed(rows) if "global_step/max_steps" in r), None)
    last = next((r["last_model_checkpoint"] for r in reversed(rows) if r.get("last_model_checkpoint")), None)
    adapter = None
    if last and Path(last, "adapter_model.safetensors").is_file():
        adapter = str(Path(last).relative_to(output_dir)) if Path(last).is_relative_to(output_dir) else last
    settings: dict[str, object] = {}
    world = 1
    if folder and (folder / "args.json").is_file():
        args = json.loads((folder / "args.json").read_text(encoding="utf-8"))
        keys = (
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "gradient_checkpointing",
            "max_length",
            "dataloader_num_workers",
            "use_liger_kernel",
            "attn_impl",
            "report_to",
            "num_train_epochs",
            "max_steps",
            "deepspeed",
            "quant_bits",
            "group_by_length",
        )
        settings = {k: args.get(k) for k in keys}
        settings["deepspeed"] = "yes" if args.get("deepspeed") else None
        world = int(args.get("global_world_size") or 1)
    config = json.loads((model / "config.json").read_text()) if (model / "config.json").is_file() else {}
    settings["hidden_size"] = config.get("hidden_size")
    params = None
    if config:
        h, i, n, v = (
            config["hidden_size"],
            config["intermediate_size"],
            config["num_hidden_layers"],
            config["vocab_size"],
        )
        kv = config["num_key_value_heads"] * h // config["num_attention_heads"]
        params = n * (2 * h * h + 2 * h * kv + 3 * h * i) + 2 * v * h
    return Result(
        spec=spec,
        rc=max(rcs, key=abs),
        wall=wall,
        marks=marks,
        steps=steps,
        smi_peak_mib=max(peaks) if peaks else None,
        smi_baseline_mib=None,
        swift_memory_gib=max(memories) if memories else None,
        train_runtime=runtime,
        global_step=step,
        final_loss=losses[-1] if losses else None,
        tokens=tokens,
        adapter=adapter,
        settings=settings,
        gpu_peaks_mib=peaks,
        tokens_seen=seen[-1] if seen else None,
        losses=losses,
        world=world,
        params=params,
    )


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: list[Result], card_line: str, command: str, shape: str = "7b", peak: Optional[float] = None) -> str:
    base = next((r for r in results if r.spec.name == BASELINE and r.rc == 0), None)
    lines = [
        f"# GPU benchmark: {card_line}",
        "",
        f"- date: {dt.date.today().isoformat()}; {versions()}",
        f"- model: random-init, Qwen2.5-{shape.upper()}-Instruct's exact shapes (bf16), SmolLM2 tokenizer;"
        " data: each profile's own `data.datasets` unless overridden",
        f"- command: `{command}`",
        "- wall: `swiftkit train` start to exit (adapter saved; for runs over several nodes, the slowest node);"
        " train: ms-swift's train_runtime; smi peak: highest `nvidia-smi memory.used` of each GPU sampled every"
        " 200 ms, less that GPU's lowest sample (so: the run's own, CUDA context included), per GPU;"
        " swift mem: ms-swift's max `memory(GiB)` (rank 0's torch max reserved)",
        f"- tokens/s: real (unpadded) tokens / train_runtime; padding: 1 − real / HF num_input_tokens_seen;"
        f" MFU: real tokens × 4·N / (train_runtime × GPUs × {peak or '?'} TFLOP/s), N = matmul parameters"
        " (2N forward + 2N backward through frozen weights; see `Result.physics`)",
        "",
        "| run | profile + overrides | GPUs | batch × accum | grad ckpt | steps | wall s | train s "
        "| smi peak GiB per GPU | swift mem GiB | final loss | tokens mean/max | tokens/s | padding | MFU "
        "| vs article | rc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.settings
        bxa = f"{s.get('per_device_train_batch_size')} × {s.get('gradient_accumulation_steps')}" if s else "–"
        speed = f"{base.wall / r.wall:.2f}×" if base and r.rc == 0 else "–"
        profile = f"`{' '.join([r.spec.profile, *r.spec.overrides])}`" + (" *direct*" if r.spec.direct else "")
        if r.spec.env:
            profile = " ".join(f"`{k}={v}`" for k, v in r.spec.env.items()) + " " + profile
        if r.spec.nodes > 1:
            profile += f" as {r.spec.nodes} nodes"
        toks = f"{r.tokens[0]:.0f}/{r.tokens[2]:.0f}" if r.tokens else "–"
        smi = " / ".join(f"{p / 1024:.1f}" for p in r.gpu_peaks_mib if p > 512) or "–"
        ph = r.physics(peak)
        pad = "–" if ph["padding"] is None else f"{ph['padding']:.1%}"
        mfu = "–" if ph["mfu"] is None else f"{ph['mfu']:.1%}"
        lines.append(
            f"| {r.spec.name} | {profile} | {r.world} | {bxa} | {s.get('gradient_checkpointing', '–')} "
            f"| {r.global_step or '–'} | {r.wall:.1f} | {_fmt(r.train_runtime)} | {smi} "
            f"| {_fmt(r.swift_memory_gib, 2)} | {_fmt(r.final_loss, 4)} | {toks} | {_fmt(ph['tokens/s'], 0)} "
            f"| {pad} | {mfu} | {speed} | {r.rc} |"
        )
    lines += ["", "Where the wall time goes (seconds, from time-stamped output):", ""]
    names = list(results[0].phases()) if results else []
    lines.append("| run | " + " | ".join(names) + " | s/step after the first |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    for r in results:
        ph = r.phases()
        per = ph["other steps"] / (max(r.steps) - 1) if ph["other steps"] and r.steps and max(r.steps) > 1 else None
        lines.append(f"| {r.spec.name} | " + " | ".join(_fmt(ph[n]) for n in names) + f" | {_fmt(per, 3)} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        action="append",
        dest="runs",
        metavar="SPEC",
        help=f"PROFILE or 'NAME=PROFILE KEY=VALUE ...' (repeatable; default: {' '.join(DEFAULT_RUNS)})",
    )
    parser.add_argument(
        "--direct-run",
        action="append",
        default=[],
        metavar="SPEC",
        help="like --run, with ms-swift started as `python -m swift.cli.sft` (no `swift` script)",
    )
    parser.add_argument(
        "--nodes-run",
        action="append",
        default=[],
        metavar="SPEC",
        help="like --run, as two `swiftkit train` processes on this host acting as nodes 0 and 1 (one GPU each)",
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b", help="the random model's shape")
    parser.add_argument("--tag", default="", help="added to the results file name")
    parser.add_argument("--model", type=Path, help="model folder (built here when missing)")
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="folder with the tokenizer files")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "swiftkit-gpu-bench")
    parser.add_argument("--logs", type=Path, help="logs and nvidia-smi samples (default: WORK/logs)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--timeout", type=float, default=480, help="seconds before a run is killed")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # build + warm up, then exit
    args = parser.parse_args(argv)
    if args.prepare:
        if not (args.model / "config.json").is_file():
            build_model(args.model, args.tokenizer, SHAPES[args.shape])
        warm_up_gpu()
        return 0

    specs = [Spec.parse(text) for text in (args.runs or DEFAULT_RUNS)]
    for text in args.direct_run:
        specs.append(Spec.parse(text))
        specs[-1].direct = True
    for text in args.nodes_run:
        specs.append(Spec.parse(text))
        specs[-1].nodes = 2
    if args.runs is None and (args.direct_run or args.nodes_run):
        specs = specs[len(DEFAULT_RUNS) :]
    model = args.model or args.work / f"qwen2.5-{args.shape}-shape"
    logs = args.logs or args.work / "logs"
    for folder in (args.work, logs, args.results):
        folder.mkdir(parents=True, exist_ok=True)
    name, card_line = card()
    print(f"card: {card_line}; {versions()}", flush=True)
    # In a child process: a CUDA context held here would count in every run's nvidia-smi reading.
    subprocess.run(
        [sys.executable, __file__, "--prepare", "--model", str(model), "--tokenizer", str(args.tokenizer)]
        + ["--shape", args.shape],
        check=True,
    )

    def flag(s: Spec) -> str:
        return "direct-run" if s.direct else "nodes-run" if s.nodes > 1 else "run"

    command = f"python3 bench/gpu_bench.py --shape {args.shape} " + " ".join(
        f"--{flag(s)} '{' '.join([s.name + '=' + s.profile, *s.overrides])}'" for s in specs
    )
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + f"-x{gpu_count()}"
    out = args.results / f"{slug}-{dt.date.today().isoformat()}{'-' + args.tag if args.tag else ''}.md"
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    results: list[Result] = []
    for spec in specs:
        print(f"== {spec.name}: swiftkit train --profile {spec.profile} {' '.join(spec.overrides)}", flush=True)
        result = run_one(spec, model, args.work, logs, args.timeout)
        results.append(result)
        print(
            f"RESULT {spec.name} rc={result.rc} wall={result.wall:.1f} train={_fmt(result.train_runtime)} "
            f"smi_peak_MiB={result.smi_peak_mib} swift_mem={result.swift_memory_gib} steps={result.global_step} "
            f"loss={result.final_loss} tokens={result.tokens} phases="
            + json.dumps({k: None if v is None else round(v, 1) for k, v in result.phases().items()}),
            flush=True,
        )
        out.write_text(table(results, card_line, command, args.shape, peak), encoding="utf-8")  # partial results
        (logs / "results.json").write_text(
            json.dumps([{**r.__dict__, "spec": r.spec.__dict__, "phases": r.phases()} for r in results], default=str)
        )
    (logs / "results.json").write_text(
        json.dumps(
            [{**r.__dict__, "spec": r.spec.__dict__, "phases": r.phases()} for r in results], indent=1, default=str
        )
    )
    print(table(results, card_line, command, args.shape, peak))
    print(f"written: {out}")
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
