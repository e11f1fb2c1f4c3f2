#!/usr/bin/env bash
# One cpu-demo lever: train with extra --set overrides, score with `swiftkit eval --json`, print one table row.
#   bash bench/cpu_demo_levers.sh NAME [--set key=value ...]
# Env: SWIFTKIT_CACHE / MODELSCOPE_CACHE (share one so the model is converted once), OUT (default /tmp/cpu-demo-levers),
# PY (default .venv/bin/python). Results in bench/results/cpu-demo-levers-2026-11-28.md were made with this.
set -euo pipefail
name=$1
shift
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/cpu-demo-levers}
out=$OUT/$name
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s.%N)
$PY -m swiftkit train --profile cpu-demo --set "output_dir=$out/runs" "$@" >"$out/train.log" 2>&1
wall=$(echo "$(date +%s.%N) - $start" | bc)
$PY -m swiftkit eval --profile cpu-demo --set "output_dir=$out/runs" "$@" --json >"$out/eval.json" 2>"$out/eval.log"
$PY - "$out" "$name" "$wall" "$*" <<'EOF'
import glob, json, sys
out, name, wall, sets = sys.argv[1:]
lines = [json.loads(x) for x in open(glob.glob(f"{out}/runs/v*/logging.jsonl")[0])]
runtime = next(x["train_runtime"] for x in lines if "train_runtime" in x)
steps = next(x["global_step"] for x in lines if "global_step" in x)
report = json.load(open(f"{out}/eval.json"))["adapter"]
print(f"| {name} | `{sets}` | {steps} | {runtime:.1f} | {float(wall):.1f} | "
      f"{report['identity_rate']:.3f} | {report['pollution_rate']:.3f} |")
EOF
