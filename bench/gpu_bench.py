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
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKENIZER = Path.home() / ".cache/swiftkit/models/SmolLM2-135M-Instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# Qwen2.5-7B-Instruct's config.json, less what does not shape memory or speed.
QWEN25_7B = dict(
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
DEFAULT_RUNS = ("4090d", "4090d-fast", "h100")
BASELINE = "4090d"  # the article's recipe: speed-ups are against this run

# Output lines that mark the phases of a run, in the order they appear.
MARKS = {
    "spawn": re.compile(r"^run sh: "),  # the swift script starts `python .../swift/cli/sft.py`
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

    @classmethod
    def parse(cls, text: str) -> Spec:
        """``PROFILE`` or ``NAME=PROFILE KEY=VALUE ...``."""
        head, *overrides = text.split()
        name, _, profile = head.partition("=")
        return cls(name=name, profile=profile or name, overrides=overrides)


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
    settings: dict[str, object]

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


def build_model(folder: Path, tokenizer: Path) -> None:
    """A random-init bf16 model with Qwen2.5-7B-Instruct's shapes, built on the GPU and saved (about 15 GB)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    missing = [f for f in TOKENIZER_FILES if not (tokenizer / f).is_file()]
    if missing:
        wanted = " ".join(TOKENIZER_FILES)
        sys.exit(f"{tokenizer} lacks {', '.join(missing)}; give --tokenizer a folder holding {wanted}.")
    config = Qwen2Config(torch_dtype="bfloat16", bos_token_id=1, eos_token_id=2, pad_token_id=2, **QWEN25_7B)
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


def run_one(spec: Spec, model: Path, work: Path, logs: Path, timeout: float) -> Result:
    """Run ``swiftkit train`` for one spec, sampling GPU memory, and collect what it reports."""
    output_dir = work / f"out_{spec.name}"
    shutil.rmtree(output_dir, ignore_errors=True)
    sets = [
        "model.model=" + str(model),
        "model.model_type=qwen2",
        "model.template=qwen2_5",
        f"output_dir={output_dir}",
        *spec.overrides,
    ]
    train = ["train", "--profile", spec.profile, *[a for o in sets for a in ("--set", o)], *verbose_flag()]
    argv = [sys.executable, *(["-c", DIRECT] if spec.direct else ["-m", "swiftkit"]), *train]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    smi_file = logs / f"smi_{spec.name}.txt"
    log_file = logs / f"log_{spec.name}.txt"
    with open(smi_file, "w") as smi_out:
        smi = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "200", "-i", "0"],
            stdout=smi_out,
            stderr=subprocess.DEVNULL,
        )
    marks: dict[str, float] = {}
    steps: dict[int, float] = {}
    tokens = None
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)  # a hung run must not eat the whole GPU lease
    watchdog.start()
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
    rc = proc.wait()
    watchdog.cancel()
    wall = time.monotonic() - start
    smi.terminate()
    smi.wait()
    samples = [int(x) for x in smi_file.read_text().split() if x.isdigit()]
    baseline = min(samples) if samples else None

    folder = newest_run_folder(output_dir)
    rows = read_jsonl(folder / "logging.jsonl") if folder else []
    memories = [v for r in rows if (v := _float(r.get("memory(GiB)"))) is not None]
    losses = [v for r in rows if (v := _float(r.get("loss"))) is not None]
    runtime = next((_float(r["train_runtime"]) for r in rows if "train_runtime" in r), None)
    step = next((str(r["global_step/max_steps"]) for r in reversed(rows) if "global_step/max_steps" in r), None)
    last = next((r["last_model_checkpoint"] for r in reversed(rows) if r.get("last_model_checkpoint")), None)
    adapter = None
    if last and Path(last, "adapter_model.safetensors").is_file():
        adapter = str(Path(last).relative_to(output_dir)) if Path(last).is_relative_to(output_dir) else last
    settings = {}
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
            "save_only_model",
            "report_to",
        )
        settings = {k: args.get(k) for k in keys}
    return Result(
        spec=spec,
        rc=rc,
        wall=wall,
        marks=marks,
        steps=steps,
        smi_peak_mib=max(samples) - baseline if samples and baseline is not None else None,
        smi_baseline_mib=baseline,
        swift_memory_gib=max(memories) if memories else None,
        train_runtime=runtime,
        global_step=step,
        final_loss=losses[-1] if losses else None,
        tokens=tokens,
        adapter=adapter,
        settings=settings,
    )


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: list[Result], card_line: str, command: str) -> str:
    base = next((r for r in results if r.spec.name == BASELINE and r.rc == 0), None)
    lines = [
        f"# GPU benchmark: {card_line}",
        "",
        f"- date: {dt.date.today().isoformat()}; {versions()}",
        "- model: random-init, Qwen2.5-7B-Instruct's exact shapes (7.62 B parameters, bf16), SmolLM2 tokenizer;"
        " data: each profile's own `data.datasets`",
        f"- command: `{command}`",
        "- wall: `swiftkit train` start to exit (adapter saved; in runs marked *direct* swiftkit's runner starts"
        " `python -m swift.cli.sft`, without the `swift` script's process); train: ms-swift's train_runtime;"
        " smi peak: highest `nvidia-smi memory.used` sampled every 200 ms, less the card's use before the run"
        " (so: the run's own, CUDA context included);"
        " swift mem: ms-swift's max `memory(GiB)` (torch max reserved)",
        "",
        "| run | profile + overrides | batch × accum | grad ckpt | workers | liger | steps | wall s | train s "
        "| smi peak GiB | swift mem GiB | final loss | tokens mean/max | vs article | rc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r.settings
        bxa = f"{s.get('per_device_train_batch_size')} × {s.get('gradient_accumulation_steps')}" if s else "–"
        speed = f"{base.wall / r.wall:.2f}×" if base and r.rc == 0 else "–"
        profile = f"`{' '.join([r.spec.profile, *r.spec.overrides])}`" + (" *direct*" if r.spec.direct else "")
        toks = f"{r.tokens[0]:.0f}/{r.tokens[2]:.0f}" if r.tokens else "–"
        smi = None if r.smi_peak_mib is None else r.smi_peak_mib / 1024
        lines.append(
            f"| {r.spec.name} | {profile} | {bxa} | {s.get('gradient_checkpointing', '–')} "
            f"| {s.get('dataloader_num_workers', '–')} | {s.get('use_liger_kernel', '–')} | {r.global_step or '–'} "
            f"| {r.wall:.1f} | {_fmt(r.train_runtime)} | {_fmt(smi)} | {_fmt(r.swift_memory_gib, 2)} "
            f"| {_fmt(r.final_loss, 4)} | {toks} | {speed} | {r.rc} |"
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
            build_model(args.model, args.tokenizer)
        warm_up_gpu()
        return 0

    specs = [Spec.parse(text) for text in (args.runs or DEFAULT_RUNS)]
    for text in args.direct_run:
        specs.append(Spec.parse(text))
        specs[-1].direct = True
    model = args.model or args.work / "qwen2.5-7b-shape"
    logs = args.logs or args.work / "logs"
    for folder in (args.work, logs, args.results):
        folder.mkdir(parents=True, exist_ok=True)
    name, card_line = card()
    print(f"card: {card_line}; {versions()}", flush=True)
    # In a child process: a CUDA context held here would count in every run's nvidia-smi reading.
    subprocess.run(
        [sys.executable, __file__, "--prepare", "--model", str(model), "--tokenizer", str(args.tokenizer)], check=True
    )
    command = "python3 bench/gpu_bench.py " + " ".join(
        f"--{'direct-run' if s.direct else 'run'} '{' '.join([s.name + '=' + s.profile, *s.overrides])}'" for s in specs
    )
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    out = args.results / f"{slug}-{dt.date.today().isoformat()}.md"
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
        out.write_text(table(results, card_line, command), encoding="utf-8")  # after every run: partial results
    (logs / "results.json").write_text(
        json.dumps(
            [{**r.__dict__, "spec": r.spec.__dict__, "phases": r.phases()} for r in results], indent=1, default=str
        )
    )
    print(table(results, card_line, command))
    print(f"written: {out}")
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
