#!/usr/bin/env bash
# Issue 25 on one H200, in back-to-back calls of the device tool on one warm machine (a call carries at most 64 MiB:
# the FlashAttention-4 CuTe DSL library wheel, 92 MB, travels cut in three parts, .gpu/p1 .gpu/p2 .gpu/p3, joined
# on the machine). Run from the checkout's root; PARTS names the part folders a call carries:
#   WHL=.gpu/whl TOK=.gpu/tok PARTS=.gpu/p1 OUT=$OUT bash bench/hopper_gpu.sh sdpa   # Liger warm-up, 4090d-fast (SDPA)
#   PARTS=.gpu/p2 OUT=$OUT bash bench/hopper_gpu.sh carry                            # the middle part only
#   PARTS=.gpu/p3 OUT=$OUT bash bench/hopper_gpu.sh fa4     # FA4 joined + installed: h100 beside the article's recipe
#   SRV=.gpu/srv OUT=$OUT bash bench/hopper_gpu.sh long     # the long job (2,000 + 100 records), packing, serving
# or, for the profiles as shipped beside the article in one call (2026-12-03, third session):
#   WHL=.gpu/whl TOK=.gpu/tok PARTS=.gpu/p1 OUT=$OUT bash bench/hopper_gpu.sh setup  # install, build the model
#   PARTS=.gpu/p2 OUT=$OUT bash bench/hopper_gpu.sh carry
#   PARTS=.gpu/p3 OUT=$OUT bash bench/hopper_gpu.sh shipped  # FA4 installed; article, h100 mixed + identity job
# and (fourth session) setup, carry, then `PARTS=.gpu/p3 OUT=$OUT bash bench/hopper_gpu.sh dtype`: the long job as
# shipped, with bf16 LoRA weights, and with no saves before the end.
# and (sixth session) setup, carry, then `PARTS=.gpu/p3 OUT=$OUT bash bench/hopper_gpu.sh cast`: the long job as
# shipped (lora.cast_input_dtype: false, PEFT's input cast off under autocast) beside PEFT's default cast, twice each,
# alternating.
# and ms-swift's Unsloth backend beside the long job (one call; UNS: unsloth, unsloth_zoo, bitsandbytes cut to its
# CUDA 13 library, cut_cross_entropy: 34 MiB, made by bench/unsloth_wheels.sh; UNS_PF=1 adds a padding-free row):
#   WHL=.gpu/whl TOK=.gpu/tok UNS=.gpu/uns OUT=$OUT bash bench/hopper_gpu.sh uns   # unsloth-import.txt + 2 rows
# The FA4 parts hold flash-attn-4 4.0.0b40, nvidia-cutlass-dsl 4.8.1 with its libs-base AND libs-core (libs-core holds
# the Python DSL, `cutlass.cute`: without it the smoke test fails "No module named 'cutlass.cute'" and every row falls
# back to SDPA, 2026-12-08), quack-kernels 0.6.5, apache-tvm-ffi 0.1.15.post2, torch-c-dlpack-ext 0.1.5, and
# nvidia-cutlass-dsl-libs-cu13 4.8.1 cut with `split -b 24M` into cu13.part-aa (p1), -ab and -ac (p2), -ad (p3).
# WHL holds all of ../shared/gpu-baseline/wheels.txt: a call with zstandard, cryptography, cffi and pycparser left
# out (to make room for the FA4 pieces) found "ms-swift does not import" (2026-12-03).
# `bash bench/hopper_gpu.sh solo` is the one-call fallback: the card-sized profiles beside the article, SDPA only.
set -uo pipefail
phase=${1:?setup, sdpa, carry, fa4, shipped, dtype, cast, cast1, long, serve, uns or solo}
out=${OUT:?folder for results}
tok=${TOK:-.gpu/tok}
export WHL=${WHL:-.gpu/whl}
SITE=${SITE:-/tmp/swiftkit-site}
FSITE=/tmp/fa4site
parts=/tmp/fa4parts
logs=/tmp/hopper-logs-$phase
mkdir -p "$out" "$logs" "$parts"
for d in ${PARTS:-}; do cp -r "$d"/. "$parts"/; done
[ "$phase" = carry ] && { ls -la "$parts"; exit 0; }
[ -f "$tok/tokenizer.json" ] || gunzip -k "$tok/tokenizer.json.gz" 2>/dev/null || true
MIX="data.datasets=[{path: datasets/identity.json}, {path: bench/data/alpaca_like_zh500.jsonl, kind: general}]"
LONG="data.datasets=[{path: datasets/identity.json}, {path: /tmp/alpaca2000.jsonl, kind: general}]"
ID60="data.datasets.0.path=bench/data/identity60.json"
S="'$MIX' train.num_train_epochs=1"
L="'$LONG' train.num_train_epochs=1"
SDPA="train.attn_impl=null train.padding_free=false"
long_data() {  # the long job's 2,000 Alpaca-like records, made once per machine
  [ -s /tmp/alpaca2000.jsonl ] || PYTHONPATH="$SITE" python3 bench/alpaca_like.py --tokenizer "$tok" --out /tmp/alpaca2000.jsonl --count 2000 --seed 1
}
bench() { timeout "${BUDGET:-540}" env WHL="$WHL" SITE="$SITE" bash bench/gpu_bench.sh --tokenizer "$tok" --logs "$logs" --results "$out" "$@"; }
export FLASH_ATTENTION_CUTE_DSL_CACHE_DIR=/tmp/fa4-cache FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED=1
if [ -d "$FSITE/nvidia_cutlass_dsl" ]; then  # a --target install: the cutlass .pth is not read, so name its path
  export PYTHONPATH="$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages${PYTHONPATH:+:$PYTHONPATH}"
fi
nofa4() {  # FA4 does not run here: measure the rest on SDPA
  echo "$1: the shipped profiles are measured on SDPA"
  export PYTHONPATH="${PYTHONPATH#$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages}"; rm -rf "$FSITE"
}
nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version --format=csv,noheader
if [ "$phase" = sdpa ]; then
  BUDGET=${BUDGET1:-400} bench --tag hopper-sdpa --timeout 200 \
    --run "liger-warm-up=h100 $ID60 swift_args.max_steps=2" \
    --run "4090d-fast-mixed-sdpa=4090d-fast $S" \
    --run "h100-mixed-sdpa=h100 $S"
elif [ "$phase" = solo ]; then
  # One call only (no FlashAttention-4: its library needs three calls to travel): the card-sized profiles, SDPA.
  BUDGET=560 bench --tag hopper-solo --timeout 320 \
    --run "liger-warm-up=h100 $ID60 swift_args.max_steps=2" \
    --run "h100-mixed=h100 $S" \
    --run "h100-identity=h100 $ID60" \
    --run "4090d-mixed=4090d $S" \
    --run "4090d-fast-mixed=4090d-fast $S"
elif [ "$phase" = cast1 ]; then
  # One call, nothing but WHL and TOK carried (no FA4: SDPA, padded): the long job with PEFT's LoRA input cast off,
  # as the fast profiles ship, then on, then off again. (Not run yet: written 2026-12-08 for a session that gets one
  # call; that session got no machine for it.)
  if [ ! -f "$SITE/.swiftkit-installed" ]; then  # what gpu_bench.sh does, early: long_data needs its tokenizer code
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl \
      && touch "$SITE/.swiftkit-installed"
  fi
  long_data
  C="lora.cast_input_dtype=true"
  BUDGET=$((${BUDGET1:-480} - SECONDS)) bench --tag hopper-cast1 --timeout 150 \
    --run "h100-long=h100 $L $SDPA" \
    --run "h100-long-cast=h100 $L $SDPA $C" \
    --run "h100-long-2=h100 $L $SDPA"
elif [ "$phase" = setup ]; then
  # The base wheels installed and the 7B-shape model built, nothing measured: the next calls have the most time.
  BUDGET=200 bench --tag hopper-setup --timeout 190 --run "warm-up=h100 $ID60 swift_args.max_steps=2"
elif [ "$phase" = fa4 ] || [ "$phase" = shipped ] || [ "$phase" = dtype ] || [ "$phase" = cast ]; then
  cat "$parts"/cu13.part-* > "$parts/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl" && rm -f "$parts"/cu13.part-*
  sha256sum "$parts"/nvidia_cutlass_dsl_libs_cu13-*.whl
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$FSITE" "$parts"/*.whl || exit 1
  export PYTHONPATH="$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages${PYTHONPATH:+:$PYTHONPATH}"
  PYTHONPATH="$PYTHONPATH:$SITE" timeout 120 python3 bench/fa4_smoke.py 2>&1 | tail -15 | tee "$out/fa4-smoke.txt"
  grep -q "FA4 SMOKE OK" "$out/fa4-smoke.txt" || nofa4 "FA4 does not run here"
  PYTHONPATH="$PWD:$PYTHONPATH:$SITE" python3 -m swiftkit plan sft --profile h100 > "$out/plan-h100-fa4.txt" 2>&1
  BUDGET=170 bench --tag hopper-fa4-warm-up --timeout 160 --run "fa4-warm-up=h100 $ID60 swift_args.max_steps=2" \
    2>&1 | tee "$logs/warm-up.txt" | grep -v "^\s*$" | tail -25
  if [ -d "$FSITE" ] && ! grep -q "RESULT fa4-warm-up rc=0" "$logs/warm-up.txt"; then
    tail -40 "$logs"/*fa4-warm-up*.log 2>/dev/null; nofa4 "FA4 training failed"
  fi
  if [ "$phase" = cast ]; then
    # Sixth session: PEFT's LoRA input cast (float32 copy of each LoRA input, thrown back to bf16 by autocast) on,
    # as PEFT has it, beside off, as the fast profiles now ship; alternating, so drift on the machine hits both.
    long_data
    C="lora.cast_input_dtype=true"
    BUDGET=$((${BUDGET2:-575} - SECONDS)) bench --tag hopper-cast --timeout 150 \
      --run "h100-long-cast=h100 $L $C" \
      --run "h100-long=h100 $L" \
      --run "h100-long-cast-2=h100 $L $C" \
      --run "h100-long-2=h100 $L"
  elif [ "$phase" = dtype ]; then
    # Fourth session: the long job as shipped beside LoRA weights kept in bf16 (PEFT upcasts them to fp32 by default:
    # two casts of every LoRA input a pass) and beside no checkpoint before the end (saves at steps 50 and 100).
    long_data
    BUDGET=$((${BUDGET2:-560} - SECONDS)) bench --tag hopper-dtype --timeout 150 \
      --run "h100-long=h100 $L" \
      --run "h100-long-bf16lora=h100 $L swift_args.lora_dtype=bfloat16" \
      --run "h100-long-nosave=h100 $L train.save_steps=1000"
  elif [ "$phase" = shipped ]; then
    # The profiles as shipped (no overrides but the data) beside the article's recipe, in one call.
    BUDGET=${BUDGET2:-430} bench --tag hopper-shipped --timeout 330 \
      --run "4090d-mixed=4090d $S" \
      --run "h100-mixed=h100 $S" \
      --run "h100-identity=h100 $ID60"
  else
    BUDGET=${BUDGET2:-260} bench --tag hopper-fa4 --timeout 120 \
      --run "h100-mixed=h100 $S" \
      --run "h100-identity=h100 $ID60"
  fi
elif [ "$phase" = long ]; then
  long_data
  BUDGET=${BUDGET3:-560} bench --tag hopper-long --timeout 360 \
    --run "h100-mixed=h100 $S" \
    --run "4090d-mixed=4090d $S" \
    --run "h100-long=h100 $L"
elif [ "$phase" = serve ]; then
  # Serving: the 7B shape + the identity adapter trained in the fa4 call, `swiftkit deploy` vs `swiftkit infer`
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/srvsite "${SRV:-.gpu/srv}"/*.whl
  w=/tmp/swiftkit-gpu-bench
  printf 'extends: h100\nmodel:\n  model: %s\n  model_type: qwen2\n  template: qwen2_5\noutput_dir: %s\n' \
    "$w/qwen2.5-7b-shape" "$w/out_h100-identity" > /tmp/serve7b.yaml
  PYTHONPATH="$PWD:$SITE:/tmp/srvsite:$PYTHONPATH" HF_HUB_OFFLINE=1 timeout ${SERVE_S:-300} python3 bench/serve_bench.py \
    --profile /tmp/serve7b.yaml --max-tokens 64 --clients 1 8 32 --requests 32 --rounds 1 --no-cold --out "$out" 2>&1 | tail -30
  BUDGET=${BUDGET4:-200} bench --tag hopper-long-sdpa --timeout 190 --run "h100-long-sdpa=h100 $L $SDPA"
elif [ "$phase" = again ]; then
  # Right after `shipped` and `uns` on the same warm machine: the shipped rows once more (run-to-run spread) and
  # the long job with twice the batch (fewer, larger steps: MFU, not equal loss).
  BUDGET=${BUDGET5:-400} bench --tag hopper-again --timeout 150 \
    --run "h100-identity-2=h100 $ID60" \
    --run "h100-mixed-2=h100 $S" \
    --run "h100-identity-3=h100 $ID60" \
    --run "h100-long-b32=h100 $L train.per_device_train_batch_size=32"
elif [ "$phase" = pair ]; then
  # The headline pair once more on a warm machine (imports cached): the article's recipe, then h100 as shipped twice.
  BUDGET=${BUDGET6:-500} bench --tag hopper-pair --timeout 330 \
    --run "4090d-mixed=4090d $S" \
    --run "h100-mixed=h100 $S" \
    --run "h100-identity=h100 $ID60" \
    --run "h100-mixed-b=h100 $S"
elif [ "$phase" = uns ]; then
  # ms-swift's --tuner_backend unsloth (Unsloth's fused LoRA kernels) beside h100 as shipped, long job, one call.
  # ms-swift hands Unsloth neither attn_impl (load_by_unsloth passes none: Unsloth picks SDPA here) nor the
  # checkpointing choice (get_peft_model gets use_gradient_checkpointing='unsloth' always); liger would re-patch
  # Unsloth's model, so off. attn_impl only passes ms-swift's padding-free check: the Unsloth row is SDPA, padded,
  # unless UNS_PF=1 adds one where Unsloth's own packed attention reads the reset position_ids.
  usite=/tmp/unssite ucache=/tmp/unsloth_compiled_cache
  if [ ! -f "$SITE/.swiftkit-installed" ]; then  # what gpu_bench.sh does, early: the import check needs ms-swift's deps
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl \
      && touch "$SITE/.swiftkit-installed"
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$usite" \
    "${UNS:-.gpu/uns}"/*.whl || echo "the unsloth wheels do not install"
  long_data
  base=${PYTHONPATH:-} && base=${base#"$FSITE:$FSITE/nvidia_cutlass_dsl/dsl_packages"} && base=${base#:}
  upath="$usite:$PWD:$SITE${base:+:$base}"  # the Unsloth rows' only, without FA4's site: h100-long runs as shipped
  t0=$SECONDS
  PYTHONPATH="$upath" HF_HUB_OFFLINE=1 UNSLOTH_COMPILE_LOCATION="$ucache" timeout 240 python3 -c '
import importlib.metadata as m, unsloth, unsloth_zoo
for d in ("unsloth", "unsloth_zoo", "bitsandbytes", "cut_cross_entropy", "torch", "triton", "transformers", "peft",
          "trl", "accelerate", "datasets", "ms_swift", "xformers", "torchao", "flash_attn"):
    try:
        print(d, m.version(d))
    except m.PackageNotFoundError:
        print(d, "not installed")' > "$logs/unsloth-import.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then said=OK; else said="FAILED rc=$rc"; fi
  { echo "import unsloth: $said in $((SECONDS - t0)) s"; tail -60 "$logs/unsloth-import.log"; } > "$out/unsloth-import.txt"
  cat "$out/unsloth-import.txt"
  U="swift_args.tuner_backend=unsloth train.use_liger_kernel=false 'model.allow_code_from=[$ucache]'"
  U="$U env:PYTHONPATH=$upath env:UNSLOTH_COMPILE_LOCATION=$ucache"
  rows=()
  [ $rc = 0 ] && rows+=(--run "h100-long-unsloth=h100 $L $U $SDPA")
  rows+=(--run "h100-long=h100 $L")
  [ $rc = 0 ] && [ "${UNS_PF:-0}" = 1 ] &&
    rows+=(--run "h100-long-unsloth-pf=h100 $L $U train.attn_impl=flash_attn train.padding_free=true")
  BUDGET=$((${BUDGETU:-555} - SECONDS)) bench --tag hopper-uns --timeout 260 "${rows[@]}"
fi
tar czf "$out/logs-hopper-$phase.tgz" -C "$logs" . 2>/dev/null
ls -la "$out"
