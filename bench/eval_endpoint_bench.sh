#!/usr/bin/env bash
# `swiftkit eval --endpoint` (served by `swiftkit deploy`) against local `swiftkit eval`, same adapter, same prompts
# (the shipped identity probes and general prompts), same max_new_tokens. Local eval is timed twice: the first run
# also asks the base model, the second finds the base answers cached and asks only the adapter, which is what the
# endpoint eval asks too.
#   bash bench/eval_endpoint_bench.sh [MODEL_DIR]     # default: the tests' tiny random model, built here
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
cd "$WORK" && sk init bot --name Zephyr --author "Orbit Works" >/dev/null && cd bot
SET=(--set "model.model=$MODEL" --set train.num_train_epochs=1 --set train.max_length=256
     --set infer.max_new_tokens=${TOKENS:-32} --set "data.datasets=[{path: identity.template.json}]")
sk train "${SET[@]}" >/dev/null 2>&1
t0=$(now); sk eval "${SET[@]}" >/dev/null 2>&1; t1=$(now)
sk eval "${SET[@]}" >/dev/null 2>"$WORK/local.err"; t2=$(now)
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
sk deploy "${SET[@]}" --port "$PORT" >"$WORK/deploy.out" 2>&1 &
DEPLOY=$!
trap 'kill -INT $DEPLOY 2>/dev/null; wait $DEPLOY 2>/dev/null || true' EXIT
until grep -q "curl" "$WORK/deploy.out" 2>/dev/null; do sleep 1; kill -0 $DEPLOY || { cat "$WORK/deploy.out"; exit 1; }; done
t3=$(now); sk eval "${SET[@]}" --endpoint "http://127.0.0.1:$PORT/v1" >"$WORK/endpoint.out" 2>"$WORK/endpoint.err"; t4=$(now)
cat "$WORK/endpoint.err" "$WORK/endpoint.out"
"$PY" - "$t0" "$t1" "$t2" "$t3" "$t4" <<'PYEOF'
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:])
first, local, served = t1 - t0, t2 - t1, t4 - t3
print(f"local eval (base + adapter): {first:.1f} s")
print(f"local eval (base cached, adapter only): {local:.1f} s")
print(f"eval --endpoint (served adapter): {served:.1f} s = {served / local:.2f}x local (adapter only), "
      f"{served / first:.2f}x local (first run)")
PYEOF
