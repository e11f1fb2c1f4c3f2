#!/usr/bin/env bash
# Issue 25 on one H200, in three back-to-back calls of the device tool on one warm machine (the FlashAttention-4
# CuTe DSL library wheel, 92 MB, travels split over calls 1 and 2). Run from a copy of the checkout with wheels:
#   WHL=../whl TOK=../tok FA4=../fa4a OUT=$OUT bash bench/hopper_gpu.sh 1   # SDPA rows, start-up, Liger warm-up
#   FA4B=../fa4b OUT=$OUT bash bench/hopper_gpu.sh 2                        # FA4 installed: shipped rows + article
#   OUT=$OUT bash bench/hopper_gpu.sh 3                                     # the long job (2,000 + 100 records)
# WHL holds all of ../shared/gpu-baseline/wheels.txt: a call with zstandard, cryptography, cffi and pycparser left
# out (to make room for the FA4 pieces) found "ms-swift does not import" (2026-12-03).
set -uo pipefail
phase=${1:?1, 2 or 3}
out=${OUT:?folder for results}
tok=${TOK:-../tok}
SITE=${SITE:-/tmp/swiftkit-site}
FSITE=/tmp/fa4site
parts=/tmp/fa4parts
logs=/tmp/hopper-logs-$phase
mkdir -p "$out" "$logs" "$parts"
[ -f "$tok/tokenizer.json" ] || gunzip -k "$tok/tokenizer.json.gz" 2>/dev/null || true
MIX="data.datasets=[{path: datasets/identity.json}, {path: bench/data/alpaca_like_zh500.jsonl, kind: general}]"
LONG="data.datasets=[{path: datasets/identity.json}, {path: /tmp/alpaca2000.jsonl, kind: general}]"
ID60="data.datasets.0.path=bench/data/identity60.json"
S="'$MIX' train.num_train_epochs=1"
L="'$LONG' train.num_train_epochs=1"
SDPA="train.attn_impl=null train.padding_free=false"
bench() { timeout "${BUDGET:-540}" env WHL="${WHL:-../whl}" SITE="$SITE" bash bench/gpu_bench.sh --tokenizer "$tok" --logs "$logs" --results "$out" "$@"; }
if [ -d "$FSITE/nvidia_cutlass_dsl" ]; then  # a --target install: the cutlass .pth is not read, so name its path
  export PYTHONPATH="$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version --format=csv,noheader
if [ "$phase" = 1 ]; then
  cp -r "${FA4:?}"/* "$parts"/ && ls -la "$parts"
  BUDGET=420 bench --tag hopper1-sdpa --timeout 200 \
    --run "liger-warm-up=h100 $ID60 swift_args.max_steps=2" \
    --run "4090d-fast-mixed-sdpa=4090d-fast $S" \
    --run "h100-mixed-sdpa=h100 $S"
  PYTHONPATH="$SITE" timeout 60 python3 -X importtime -c "from swift.cli.utils import try_use_single_device_mode; from swift.ray_utils import try_init_ray; from swift.pipelines import sft_main" 2> "$logs/importtime-sft-child.txt" || true
  PYTHONPATH="$SITE" timeout 60 python3 -X importtime -c "from swift.pipelines import sft_main; import swift.pipelines.train.sft" 2> "$logs/importtime-sft-main.txt" || true
  PYTHONPATH="$PWD:$SITE" python3 -m swiftkit plan sft --profile h100 > "$out/plan-h100.txt" 2>&1
elif [ "$phase" = solo ]; then
  # One call only (no FlashAttention-4: its library needs two calls to travel): the card-sized profiles, SDPA.
  BUDGET=560 bench --tag hopper-solo --timeout 320 \
    --run "liger-warm-up=h100 $ID60 swift_args.max_steps=2" \
    --run "h100-mixed=h100 $S" \
    --run "h100-identity=h100 $ID60" \
    --run "4090d-mixed=4090d $S" \
    --run "4090d-fast-mixed=4090d-fast $S"
elif [ "$phase" = 2 ]; then
  cp -r "${FA4B:?}"/* "$parts"/ && ls -la "$parts"
  cat "$parts"/cu13.part-* > "$parts/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl" && rm -f "$parts"/cu13.part-*
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$FSITE" "$parts"/*.whl || exit 1
  export PYTHONPATH="$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages${PYTHONPATH:+:$PYTHONPATH}"
  export FLASH_ATTENTION_CUTE_DSL_CACHE_DIR=/tmp/fa4-cache FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED=1
  PYTHONPATH="$PYTHONPATH:$SITE" timeout 90 python3 bench/fa4_smoke.py 2>&1 | tail -15 | tee "$out/fa4-smoke.txt"
  if ! grep -q "FA4 SMOKE OK" "$out/fa4-smoke.txt"; then
    echo "FA4 does not run here: the shipped profiles are measured on SDPA"; export PYTHONPATH="${PYTHONPATH#$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages}"; rm -rf "$FSITE"
  fi
  PYTHONPATH="$PWD:$PYTHONPATH:$SITE" python3 -m swiftkit plan sft --profile h100 > "$out/plan-h100-fa4.txt" 2>&1
  BUDGET=120 bench --tag hopper2-warm-up --timeout 110 --run "fa4-warm-up=h100 $ID60 swift_args.max_steps=2" \
    2>&1 | tee "$logs/warm-up.txt" | grep -v "^\s*$" | tail -25
  if [ -d "$FSITE" ] && ! grep -q "RESULT fa4-warm-up rc=0" "$logs/warm-up.txt"; then
    echo "FA4 training failed: the shipped profiles are measured on SDPA"; tail -40 "$logs"/*fa4-warm-up*.log 2>/dev/null
    export PYTHONPATH="${PYTHONPATH#$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages}"; rm -rf "$FSITE"
  fi
  BUDGET=380 bench --tag hopper2-final --timeout 330 \
    --run "h100-mixed=h100 $S" \
    --run "4090d-mixed=4090d $S" \
    --run "h100-identity=h100 $ID60" \
    --run "h100-mixed-packing=h100 $S swift_args.packing=true train.gradient_checkpointing=true"
elif [ "$phase" = 3 ]; then
  export FLASH_ATTENTION_CUTE_DSL_CACHE_DIR=/tmp/fa4-cache
  PYTHONPATH="$SITE" python3 bench/alpaca_like.py --tokenizer "$tok" --out /tmp/alpaca2000.jsonl --count 2000 --seed 1
  BUDGET=${BUDGET3:-170} bench --tag hopper3-long --timeout 160 --run "h100-long=h100 $L"
  # Serving: the 7B shape + the identity adapter trained in call 2, `swiftkit deploy` vs `swiftkit infer --prompts`
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/srvsite ../srv/*.whl
  w=/tmp/swiftkit-gpu-bench
  printf 'extends: h100\nmodel:\n  model: %s\n  model_type: qwen2\n  template: qwen2_5\noutput_dir: %s\n' \
    "$w/qwen2.5-7b-shape" "$w/out_h100-identity" > /tmp/serve7b.yaml
  PYTHONPATH="$PWD:$SITE:/tmp/srvsite:$PYTHONPATH" HF_HUB_OFFLINE=1 timeout ${SERVE_S:-240} python3 bench/serve_bench.py \
    --profile /tmp/serve7b.yaml --max-tokens 64 --clients 1 8 32 --requests 32 --rounds 1 --no-cold --out "$out" 2>&1 | tail -30
  BUDGET=${BUDGET3B:-170} bench --tag hopper3-more --timeout 160 \
    --run "4090d-fast-mixed=4090d-fast $S" --run "h100-long-sdpa=h100 $L $SDPA"
fi
tar czf "$out/logs-hopper$phase.tgz" -C "$logs" . 2>/dev/null
ls -la "$out"
