"""Validation throughput and memory: swiftkit validate vs a plain jsonschema validator loop, side by side.

usage: python bench/validate_bench.py [--records N] [--format jsonl|json]
Prints records/s for both, the ratio, and peak RSS of swiftkit at N/10 and N records (flat = streaming).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RECORD = {"instruction": "Who are you? #{i}", "input": "", "output": "I am Swift-Robot, developed by ACME Lab. ({i})"}


def make(path: Path, n: int, fmt: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        if fmt == "json":
            handle.write("[\n")
        for i in range(n):
            rec = {k: v.format(i=i) for k, v in RECORD.items()}
            sep = ",\n" if fmt == "json" and i < n - 1 else "\n"
            handle.write(json.dumps(rec) + sep)
        if fmt == "json":
            handle.write("]\n")


CHILD = {
    "swiftkit": """
import sys, time, resource
from pathlib import Path
from swiftkit.data import validate
t = time.perf_counter()
report = validate.validate_paths([Path(sys.argv[1])])
dt = time.perf_counter() - t
assert report.ok, report.errors[:3]
print(dt, report.files[0].records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""",
    "jsonschema": """
import sys, time, json, resource
from jsonschema import Draft202012Validator
from swiftkit.data.validate import schema
validator = Draft202012Validator(schema("alpaca"))
t = time.perf_counter()
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    records = json.load(handle) if path.endswith(".json") else (json.loads(line) for line in handle if line.strip())
    n = errors = 0
    for record in records:
        n += 1
        errors += sum(1 for _ in validator.iter_errors(record))
dt = time.perf_counter() - t
assert errors == 0
print(dt, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""",
}


def measure(kind: str, path: Path) -> tuple[float, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD[kind], str(path)], capture_output=True, text=True, check=True)
    seconds, records, rss_kb = out.stdout.split()
    return float(seconds), int(records), int(rss_kb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["jsonl", "json"], default="jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / f"small.{args.format}", Path(tmp) / f"big.{args.format}"
        make(small, args.records // 10, args.format)
        make(big, args.records, args.format)
        mb = big.stat().st_size / 1e6
        s_time, n, s_rss = measure("swiftkit", big)
        j_time, n2, j_rss = measure("jsonschema", big)
        _, _, s_small_rss = measure("swiftkit", small)
        assert n == n2 == args.records
    print(f"validation of {n:,} Alpaca records ({args.format}, {mb:.0f} MB), same machine, same run:")
    print(f"  swiftkit validate      {s_time:7.2f} s  {n / s_time:>10,.0f} records/s  peak RSS {s_rss / 1024:6.0f} MiB")
    print(f"  plain jsonschema loop  {j_time:7.2f} s  {n / j_time:>10,.0f} records/s  peak RSS {j_rss / 1024:6.0f} MiB")
    print(f"  ratio (jsonschema time / swiftkit time): {j_time / s_time:.1f}x")
    at_small = f"{args.records // 10:,} records: {s_small_rss / 1024:.0f} MiB"
    print(f"  swiftkit peak RSS at {at_small}; at {n:,}: {s_rss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
