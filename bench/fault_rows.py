"""Measure the rows of issue 13 ("Trust under real faults") against one swiftkit source tree, on the real ms-swift
and the tiny random model. Run it for the tree before and after a change and compare the JSON lines it prints:

    git archive BASE | tar -x -C /tmp/before
    python bench/fault_rows.py --tree /tmp/before --work /tmp/rows-before
    python bench/fault_rows.py --tree .            --work /tmp/rows-after

Rows: 1 remote code, 2 terminal loss (SIGKILL, SIGHUP), 3 broken checkpoints, 4 full disk (needs root for a
tmpfs), 5 merges, 6 bad paths and a 50 MB record, 7 whitespace-only fields. ``--rows 1,6`` picks some. Minutes of
CPU; nothing outside ``--work`` is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
PY = sys.executable


class Bench:
    def __init__(self, tree: Path, work: Path) -> None:
        self.tree, self.work = tree.resolve(), work.resolve()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(self.tree),
            "SWIFTKIT_CACHE": str(self.work / "cache"),
            "MODELSCOPE_CACHE": str(self.work / "modelscope"),
            "HF_HUB_OFFLINE": "1",
        }
        self.model = self.work / "tiny-llama"

    def cli(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> dict[str, Any]:
        started = time.monotonic()
        try:
            done = subprocess.run(
                [PY, "-m", "swiftkit", *args],
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.work,
            )
        except subprocess.TimeoutExpired:
            return {"rc": "timeout", "s": round(time.monotonic() - started, 1), "out": "", "err": ""}
        return {
            "rc": done.returncode,
            "s": round(time.monotonic() - started, 1),
            "out": done.stdout,
            "err": done.stderr,
        }

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([PY, "-m", "swiftkit", *args], env=self.env, cwd=self.work, text=True, **kw)

    def profile(self, name: str, model: Path | None = None, out: Path | None = None, **train: Any) -> Path:
        folder = self.work / name
        folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "max_length": 256,
            "save_steps": 4,
            "logging_steps": 1,
            **train,
        }
        lines = "\n".join(f"  {k}: {v}" for k, v in settings.items())
        path = folder / "tiny.yaml"
        path.write_text(
            f"extends: {self.tree / 'profiles' / 'cpu-demo.yaml'}\nmodel:\n  model: {model or self.model}\ntrain:\n"
            f"{lines}\ndata:\n  datasets:\n    - path: {self.tree / 'datasets' / 'identity.template.json'}\n"
            f"output_dir: {out or folder / 'out'}\ninfer:\n  max_new_tokens: 8\n"
        )
        return path


def first(text: str, prefix: str = "") -> str:
    return next((ln for ln in text.splitlines() if ln.startswith(prefix)), "")[:300]


def tracebacks(result: dict[str, Any]) -> int:
    return (result["out"] + result["err"]).count("Traceback")


def run_dirs(out: Path) -> list[Path]:
    return sorted((p for p in out.glob("v*-*") if p.is_dir()), key=lambda p: int(p.name[1:].split("-")[0]))


def swift_pids(path: Path, work: Path) -> list[int]:
    """ms-swift processes whose command line names ``path`` (argv holds it relative to the folder swiftkit ran in
    when it is inside it)."""
    names = {str(path), os.path.relpath(path, work)}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "swift.cli" in cmd and any(name in cmd for name in names):
                found.append(int(entry.name))
    return found


def wait_steps(out: Path, n: int, seconds: float = 300) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = run_dirs(out) if out.exists() else []
        log = runs[-1] / "logging.jsonl" if runs else None
        if log is not None and log.exists() and len(log.read_text().splitlines()) >= n:
            return runs[-1]
        time.sleep(0.3)
    raise RuntimeError("training did not start")


def manifest(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "swiftkit-manifest.json").read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------ row 1: remote code
BEACON = 'import os as _o\nwith open(_o.environ["EVIL_MARKER"], "a") as _f:\n    _f.write(__name__ + "\\n")\n'


def evil_model(b: Bench) -> Path:
    folder = b.work / "evil-llama"
    if folder.exists():
        return folder
    shutil.copytree(b.model, folder)
    (folder / "configuration_evil.py").write_text(
        BEACON + "from transformers import LlamaConfig\nclass EvilConfig(LlamaConfig):\n    model_type = 'llama'\n"
    )
    (folder / "modeling_evil.py").write_text(
        BEACON + "from transformers import LlamaForCausalLM\nclass EvilForCausalLM(LlamaForCausalLM):\n    pass\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def row1(b: Bench) -> dict[str, Any]:
    p = b.profile("row1", model=evil_model(b), save_steps=100)
    marker = b.work / "row1" / "MARKER"
    res: dict[str, Any] = {}
    plan = b.cli("plan", "sft", "--profile", str(p))
    res["plan_note"] = first(plan["err"], "# remote code")
    for cmd in ("train", "replay"):
        marker.unlink(missing_ok=True)
        r = b.cli(cmd, "--profile", str(p), env={"EVIL_MARKER": str(marker)})
        res[cmd] = {
            "rc": r["rc"],
            "s": r["s"],
            "shipped_code_imported": marker.exists(),
            "error": first(r["err"], "Error:"),
        }
    return res


# ------------------------------------------------------------------ row 2: losing the terminal
def row2(b: Bench) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for how in ("SIGKILL", "SIGHUP"):
        p = b.profile(f"row2-{how}", num_train_epochs=3)
        out = p.parent / "out"
        if how == "SIGKILL":
            proc = b.popen("train", "--profile", str(p), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            run = wait_steps(out, 2)
            proc.kill()
            proc.wait()
            killed_pid = proc.pid
        else:
            pid, fd = pty.fork()
            if pid == 0:
                os.chdir(b.work)
                signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a login shell, even when run under nohup
                os.execve(PY, [PY, "-m", "swiftkit", "train", "--profile", str(p)], b.env)
            deadline = time.monotonic() + 300
            while True:
                logs = list(out.glob("v*/logging.jsonl"))
                if logs and len(logs[0].read_text().splitlines()) >= 2:
                    break
                if select.select([fd], [], [], 0.2)[0]:
                    os.read(fd, 65536)  # drain the terminal
                assert time.monotonic() < deadline
            run = logs[0].parent
            os.close(fd)  # the terminal hangs up
            _, code = os.waitpid(pid, 0)
            killed_pid = pid
            hup = os.WIFSIGNALED(code) and os.WTERMSIG(code) == signal.SIGHUP
        t0 = time.monotonic()
        probe = "import sys\nfrom swiftkit.runs.lock import RunLock\nRunLock(sys.argv[1]).acquire().release()"
        lock = subprocess.run([PY, "-c", probe, str(out)], env=b.env, capture_output=True, text=True)
        while swift_pids(run, b.work) and time.monotonic() - t0 < 300:
            time.sleep(0.5)
        lines = (run / "logging.jsonl").read_text().splitlines()
        steps = [json.loads(x).get("global_step/max_steps") for x in lines if "global_step/max_steps" in x]
        report = b.cli("report", "--profile", str(p), "--json")
        try:
            rstatus = json.loads(report["out"])["status"]
        except ValueError:
            rstatus = first(report["err"])
        res[how] = {
            "swiftkit_died": "yes (SIGKILL)" if how == "SIGKILL" else f"{'yes' if hup else 'NO'} (SIGHUP)",
            "ms_swift_lived_s_after": round(time.monotonic() - t0, 1),
            "training_completed": any("train_runtime" in x for x in lines),
            "last_step": steps[-1] if steps else None,
            "lock_refusal": lock.stderr.strip().splitlines()[-1][:300] if lock.returncode else "lock free",
            "lock_names_dead_pid": f"pid {killed_pid}" in lock.stderr,
            "report_status": rstatus,
            "manifest_status": manifest(run).get("status"),
            "latest": b.cli("checkpoints", "latest", "--profile", str(p))["out"].strip().rsplit("/", 1)[-1],
        }
    return res


# ------------------------------------------------------------------ row 3: broken checkpoints
def resume_from(b: Bench, profile: Path) -> str:
    """The checkpoint `train --resume` would continue from (its dry run), or its error."""
    r = b.cli("train", "--profile", str(profile), "--resume", "--dry-run")
    found = re.search(r"--resume_from_checkpoint (\S+)", r["out"])
    return found.group(1).rsplit("/", 1)[-1] if found else first(r["err"], "Error:")


def row3(b: Bench) -> dict[str, Any]:
    p = b.profile("row3", save_total_limit=5)
    r = b.cli("train", "--profile", str(p))
    assert r["rc"] == 0, r["err"][-2000:]
    run = run_dirs(p.parent / "out")[-1]
    newest = run / "checkpoint-13"
    weights = newest / "adapter_model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    res: dict[str, Any] = {"truncated_weights": {}}
    t = res["truncated_weights"]
    t["latest"] = b.cli("checkpoints", "latest", "--profile", str(p))["out"].strip().rsplit("/", 1)[-1]
    t["resume_from"] = resume_from(b, p)
    for cmd in (["infer", "--prompt", "hi"], ["export"]):
        x = b.cli(*cmd, "--profile", str(p))
        t[cmd[0]] = {
            "rc": x["rc"],
            "s": x["s"],
            "tracebacks": tracebacks(x),
            "error": first(x["err"], "Error:") or (x["err"].strip()[-160:] if x["rc"] else ""),
        }
    direct = b.cli("infer", "--checkpoint", str(newest), "--prompt", "hi", "--profile", str(p))
    t["infer --checkpoint <it>"] = {
        "rc": direct["rc"],
        "s": direct["s"],
        "tracebacks": tracebacks(direct),
        "error": first(direct["err"], "Error:") or direct["err"].strip()[-160:],
    }
    weights.write_bytes(original)
    (newest / "trainer_state.json").unlink()  # a full disk: no trainer state, args.json cut
    args = (newest / "args.json").read_text()
    (newest / "args.json").write_text(args[: len(args) // 2])
    res["no_trainer_state_cut_args"] = {
        "latest": b.cli("checkpoints", "latest", "--profile", str(p))["out"].strip().rsplit("/", 1)[-1],
        "resume_from": resume_from(b, p),
    }
    return res


# ------------------------------------------------------------------ row 4: full disk
def mount(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]).returncode == 0


def row4(b: Bench) -> dict[str, Any]:
    disk = b.work / "row4-disk"
    if not mount(disk, "48m"):
        return {"skipped": "cannot mount a tmpfs"}
    try:
        out = disk / "out"
        p = b.profile("row4", out=out, num_train_epochs=4, save_steps=2, save_total_limit=10)
        proc = b.popen("train", "--profile", str(p), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not list(out.glob("v*/checkpoint-*/trainer_state.json")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.5)
        filler = disk / "filler"
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * (1 << 20))
                    handle.flush()
            except OSError:
                pass
        with open(filler, "r+b") as handle:
            handle.truncate(max(0, filler.stat().st_size - 96 * 1024))
        stdout, stderr = proc.communicate(timeout=300)
        time.sleep(1)
        run = run_dirs(out)[-1]
        record = manifest(run)
        named = record.get("last_checkpoint")
        res: dict[str, Any] = {
            "rc": proc.returncode,
            "tracebacks_printed": (stdout + stderr).count("Traceback"),
            "error_lines": [ln[:300] for ln in stderr.splitlines() if ln.startswith("Error:")],
            "manifest": {k: record.get(k) for k in ("status", "reason")},
            "manifest_checkpoint_files": sorted(p.name for p in Path(named).iterdir()) if named else None,
            "processes_left": len(swift_pids(out, b.work)),
        }
        filler.unlink()
    finally:
        subprocess.run(["umount", "-l", str(disk)])
    small = b.work / "row4-small"
    if mount(small, "1m"):
        try:
            p = b.profile("row4-small", out=small / "out")
            r = b.cli("train", "--profile", str(p))
            res["preflight_refusal"] = first(r["err"], "Error:")
            res["preflight_mentions_log"] = "swiftkit-train.log" in r["err"]
        finally:
            subprocess.run(["umount", "-l", str(small)])
    return res


# ------------------------------------------------------------------ row 5: merges
def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def row5(b: Bench) -> dict[str, Any]:
    p = b.profile("row5", save_steps=100)
    assert b.cli("train", "--profile", str(p))["rc"] == 0
    ck = run_dirs(p.parent / "out")[-1] / "checkpoint-13"
    merged = ck.with_name("checkpoint-13-merged")
    res: dict[str, Any] = {}
    proc = b.popen("export", "--profile", str(p), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    weights = [merged / "model.safetensors", ck.with_name(".checkpoint-13-merged.partial") / "model.safetensors"]
    while not any(w.exists() for w in weights):  # ms-swift has begun writing the merged weights
        assert proc.poll() is None
        time.sleep(0.01)
    for pid in swift_pids(ck, b.work):
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    rows = json.loads(b.cli("checkpoints", "--profile", str(p), "--json")["out"])
    res["killed_after_weights"] = {
        "merged_folder_files": sorted(x.name for x in merged.iterdir()) if merged.exists() else None,
        "checkpoints_says_merged": any(r["merged"] for r in rows),
    }
    again = b.cli("export", "--profile", str(p))
    res["killed_after_weights"]["export_again"] = first(again["out"]) or first(again["err"], "Error")
    # the exact state (killed between the weights and the tokenizer; too quick to hit with the tiny model)
    if not (merged / "model.safetensors").exists():
        b.cli("export", "--profile", str(p))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (merged / name).unlink(missing_ok=True)
    rows = json.loads(b.cli("checkpoints", "--profile", str(p), "--json")["out"])
    planted: dict[str, Any] = {"checkpoints_says_merged": any(r["merged"] for r in rows)}
    planted["export"] = first(b.cli("export", "--profile", str(p))["out"])
    before = (merged / "model.safetensors").stat().st_ino
    forced = b.cli("export", "--profile", str(p), "--force")
    planted["export --force"] = {
        "rc": forced["rc"],
        "said": first(forced["out"]),
        "remerged": (merged / "model.safetensors").stat().st_ino != before,
        "tokenizer_present": (merged / "tokenizer_config.json").exists(),
    }
    res["weights_without_tokenizer"] = planted
    answered = b.cli("infer", "--profile", str(p), "--merged", "--prompt", "Who are you?")
    res["infer_merged"] = {"rc": answered["rc"], "error": first(answered["err"], "Error:")}
    single = digest(merged)
    shutil.rmtree(merged)
    procs = [b.popen("export", "--profile", str(p), stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    time.sleep(3)  # "a few seconds apart"
    procs.append(b.popen("export", "--profile", str(p), stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outs = [x.communicate(timeout=400) for x in procs]
    res["two_exports"] = {
        "rcs": [x.returncode for x in procs],
        "traceback_lines": [len(e.split("Traceback", 1)[1].splitlines()) if "Traceback" in e else 0 for _, e in outs],
        "second_says": first(outs[1][0]) or first(outs[1][1], "Error") or outs[1][1].strip().splitlines()[-1][:200],
        "byte_identical_to_single": merged.exists() and digest(merged) == single,
    }
    return res


# ------------------------------------------------------------------ row 6: inputs
def row6(b: Bench) -> dict[str, Any]:
    folder = b.work / "row6"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.jsonl")
    os.mkfifo(folder / "fifo.yaml")
    (folder / "loop.jsonl").symlink_to("loop.jsonl")
    (folder / "loop.yaml").symlink_to("loop.yaml")
    (folder / "zero.jsonl").symlink_to("/dev/zero")
    res: dict[str, Any] = {}
    for name in ("/dev/zero", "zero.jsonl", "fifo.jsonl", "loop.jsonl"):
        r = b.cli("validate", str(folder / name) if not name.startswith("/") else name, timeout=20)
        res[f"validate {name}"] = r["rc"] if r["rc"] == "timeout" else first(r["out"]).split(":-:-: ")[-1]
    for name in ("/dev/zero", "fifo.yaml", "loop.yaml"):
        r = b.cli("profiles", "show", str(folder / name) if not name.startswith("/") else name, timeout=20)
        res[f"profile {name}"] = r["rc"] if r["rc"] == "timeout" else first(r["err"], "Error:")
    text = "I am Swift-Robot, an assistant made by ACME Lab. I answer questions about many things. " * 600_000
    huge = folder / "huge.jsonl"
    huge.write_text(json.dumps({"instruction": "Who are you?", "input": "", "output": text[:50_000_000]}) + "\n")
    p = b.profile("row6p")
    base = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%e %M",
            PY,
            "-m",
            "swiftkit",
            "validate",
            "--profile",
            str(p),
            str(b.tree / "datasets" / "identity.json"),
        ],
        env=b.env,
        capture_output=True,
        text=True,
    )
    big = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", PY, "-m", "swiftkit", "validate", "--profile", str(p), str(huge)],
        env=b.env,
        capture_output=True,
        text=True,
    )
    (s0, m0), (s1, m1) = (x.stderr.strip().splitlines()[-1].split() for x in (base, big))
    res["50MB record"] = {
        "wall_s": float(s1),
        "extra_rss_mib": round((int(m1) - int(m0)) / 1024),
        "error": first(big.stdout, str(huge) + ":1")[len(str(huge)) :][:160],
    }
    return res


def row7(b: Bench) -> dict[str, Any]:
    """Row 6, continued: whitespace-only questions and answers, one file per format."""
    folder = b.work / "row7"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict[str, Any]]] = {
        "alpaca": [{"instruction": "  ", "input": "", "output": "I am X."}, {"instruction": "Who?", "output": " \n"}],
        "messages": [{"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "I am X."}]}],
        "query-response": [{"query": "\t", "response": "I am X."}],
    }
    res: dict[str, Any] = {}
    for name, records in files.items():
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        r = b.cli("validate", str(path))
        flagged = [ln.split(":", 1)[1][:70] for ln in r["out"].splitlines() if ln.startswith(str(path))]
        res[name] = {"records": len(records), "flagged": flagged}
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=HERE)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rows", default="1,2,3,4,5,6,7")
    args = parser.parse_args()
    b = Bench(args.tree, args.work)
    b.work.mkdir(parents=True, exist_ok=True)
    if not b.model.exists():
        sys.path.insert(0, str(HERE / "tests"))
        sys.path.insert(0, str(HERE))
        from tiny_model import build_tiny_model

        build_tiny_model(b.model)
    for row in args.rows.split(","):
        started = time.monotonic()
        result = globals()[f"row{row}"](b)
        print(
            json.dumps({"row": int(row), "s": round(time.monotonic() - started), **result}, ensure_ascii=False),
            flush=True,
        )


if __name__ == "__main__":
    main()
