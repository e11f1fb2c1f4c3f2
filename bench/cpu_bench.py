"""CPU benchmark, side by side in one run (`make bench`):

1. cold start: `swiftkit --help` and `swiftkit plan sft` vs `swift sft --help`;
2. time to report a bad dataset: `swiftkit train` vs the same `swift sft` command run directly (embedded model);
3. validation throughput: `swiftkit validate` vs a plain jsonschema loop (bench/validate_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(argv: list[str], repeat: int = 5, **kwargs: object) -> tuple[float, subprocess.CompletedProcess]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
        times.append(time.perf_counter() - started)
    return statistics.median(times), result  # type: ignore[return-value]


def cold_start(repeat: int) -> list[tuple[str, float]]:
    swiftkit, swift = str(BIN / "swiftkit"), str(BIN / "swift")
    rows = [
        ("swiftkit --help", timed([swiftkit, "--help"], repeat)[0]),
        ("swiftkit plan sft --profile 4090d", timed([swiftkit, "plan", "sft", "--profile", "4090d"], repeat)[0]),
        ("swift sft --help", timed([swift, "sft", "--help"], max(1, repeat // 2))[0]),
    ]
    return rows


def bad_data(tmp: Path) -> list[tuple[str, float, str]]:
    bad = tmp / "bad.jsonl"
    good = json.loads((ROOT / "datasets" / "identity.json").read_text(encoding="utf-8"))
    lines = [json.dumps(r, ensure_ascii=False) for r in good[:20]]
    lines.insert(10, '{"instruction": "Who are you?", "input": "", "output": "I am')  # a line cut short
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profile = tmp / "bad.yaml"
    profile.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\n"
        f"data:\n  datasets:\n    - path: {bad}\noutput_dir: {tmp / 'out'}\n",
        encoding="utf-8",
    )
    swiftkit = str(BIN / "swiftkit")
    t_kit, r_kit = timed([swiftkit, "train", "--profile", str(profile)], 3)
    assert r_kit.returncode == 1, r_kit.stderr
    # the exact command swiftkit would have run, straight to ms-swift
    plan = (
        subprocess.run(
            [swiftkit, "train", "--dry-run", "--profile", str(profile)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    import shlex

    words = shlex.split(plan)
    env = dict(os.environ)
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    words[0] = str(BIN / "swift")
    t_swift, r_swift = timed(words, 1, env=env)
    swift_says = next(
        (ln for ln in reversed(r_swift.stdout.splitlines() + r_swift.stderr.splitlines()) if "Error" in ln),
        "(no error line)",
    )
    return [
        ("swiftkit train (bad data)", t_kit, r_kit.stderr.splitlines()[0][:100]),
        (f"swift sft (same command, exit {r_swift.returncode})", t_swift, swift_says[:100]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    print("== cold start (median wall seconds, same machine, same run)")
    rows = cold_start(args.repeat)
    for name, seconds in rows:
        print(f"  {name:40} {seconds:7.3f} s")
    swift_help = rows[-1][1]
    for name, seconds in rows[:-1]:
        print(f"  ratio swift sft --help / {name}: {swift_help / seconds:.1f}x")
    print("== time to report a bad dataset (embedded model, cpu-demo)")
    with tempfile.TemporaryDirectory() as tmp:
        (kit_name, kit, kit_msg), (swift_name, swift, swift_msg) = bad_data(Path(tmp))
    print(f"  {kit_name:40} {kit:7.2f} s   {kit_msg}")
    print(f"  {swift_name:40} {swift:7.2f} s   {swift_msg}")
    print(f"  ratio: {swift / kit:.1f}x sooner")
    print("== validation throughput")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "validate_bench.py"), "--records", str(args.records)], check=True
    )


if __name__ == "__main__":
    main()
