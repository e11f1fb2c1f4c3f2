#!/usr/bin/env bash
# `swiftkit eval --endpoint` (served by `swiftkit deploy`) against local `swiftkit eval`, same adapter, same prompts
# (the shipped identity probes and general prompts), same max_new_tokens, timed back to back: local eval with the
# base model's answers cached (it then asks only the adapter, as the endpoint eval does), eval --endpoint at its
# default concurrency (2 x infer.max_batch_size), at --concurrency 16 (one batch in flight), and local eval again.
#   bash bench/eval_endpoint_bench.sh [MODEL_DIR]     # default: the tests' tiny random model, built and trained here
#   PROJECT=DIR bash bench/eval_endpoint_bench.sh MODEL_DIR   # reuse a project this script trained before
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=/work/main/.venv/bin/python
export PYTHONPATH=$ROOT SWIFTKIT_CACHE=${SWIFTKIT_CACHE:-$(mktemp -d)}
WORK=$(mktemp -d)
MODEL=${1:-}
if [ -z "$MODEL" ]; then
  MODEL=$WORK/tiny-llama
  (cd "$ROOT/tests" && "$PY" -c "from tiny_model import build_tiny_model; from pathlib import Path; build_tiny_model(Path('$MODEL'))")
fi
sk() { "$PY" -m swiftkit "$@"; }
now() { date +%s.%N; }
SET=(--set "model.model=$MODEL" --set train.num_train_epochs=1 --set train.max_length=256
     --set infer.max_new_tokens=${TOKENS:-32} --set "data.datasets=[{path: identity.template.json}]")
if [ -n "${PROJECT:-}" ]; then
  cd "$PROJECT"
else
  cd "$WORK" && sk init bot --name Zephyr --author "Orbit Works" >/dev/null && cd bot
  sk train "${SET[@]}" >/dev/null 2>&1
fi
sk eval "${SET[@]}" >/dev/null 2>&1   # the base model's answers, cached (in $SWIFTKIT_CACHE) from now on
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
sk deploy "${SET[@]}" --port "$PORT" >"$WORK/deploy.out" 2>&1 &
DEPLOY=$!
trap 'kill -TERM $DEPLOY 2>/dev/null; wait $DEPLOY 2>/dev/null || true' EXIT  # a background job ignores SIGINT
until grep -q "curl" "$WORK/deploy.out" 2>/dev/null; do sleep 1; kill -0 $DEPLOY || { cat "$WORK/deploy.out"; exit 1; }; done
URL="http://127.0.0.1:$PORT/v1"
t0=$(now); sk eval "${SET[@]}" >/dev/null 2>"$WORK/local1.err"; t1=$(now)
sk eval "${SET[@]}" --endpoint "$URL" >"$WORK/endpoint.out" 2>"$WORK/endpoint.err"; t2=$(now)
sk eval "${SET[@]}" --endpoint "$URL" --concurrency 16 >/dev/null 2>&1; t3=$(now)
sk eval "${SET[@]}" >/dev/null 2>&1; t4=$(now)
cat "$WORK/endpoint.err" "$WORK/endpoint.out"
"$PY" - "$t0" "$t1" "$t2" "$t3" "$t4" <<'PYEOF'
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:])
local = ((t1 - t0) + (t4 - t3)) / 2
print(f"local eval (base cached, adapter only): {t1 - t0:.1f} s, again {t4 - t3:.1f} s (mean {local:.1f} s)")
print(f"eval --endpoint, default concurrency (32): {t2 - t1:.1f} s = {(t2 - t1) / local:.2f}x local")
print(f"eval --endpoint --concurrency 16: {t3 - t2:.1f} s = {(t3 - t2) / local:.2f}x local")
PYEOF
