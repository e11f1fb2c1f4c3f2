#!/usr/bin/env bash
# The GPU runs of issues 15 and 16 (several GPUs, nodes, ZeRO-3, QLoRA, the mixed identity + Alpaca-like job),
# each through `swiftkit train` via bench/gpu_bench.py. Run from the checkout root on a GPU box with wheels in $WHL:
#   WHL=.whl OUT=/tmp/out bash bench/scale_gpu.sh 7b      # one H200 x2 call: 1 vs 2 GPUs, 2 nodes, QLoRA
#   WHL=.whl OUT=/tmp/out bash bench/scale_gpu.sh 32b     # ZeRO-3 32B over 2 cards, then the article vs fast profiles
set -uo pipefail
phase=${1:?7b or 32b}
out=${OUT:?folder for results}
tok=${TOK:-../tok}
logs=${TMPDIR:-/tmp}/scale-logs-$phase
mkdir -p "$out" "$logs"
MIX="data.datasets=[{path: datasets/identity.json}, {path: bench/data/alpaca_like_zh500.jsonl, kind: general}]"
ID60="data.datasets.0.path=bench/data/identity60.json"
bench() { timeout "${BUDGET:-540}" env WHL="$WHL" bash bench/gpu_bench.sh --tokenizer "$tok" --logs "$logs" --results "$out" "$@"; }
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
EXP="env:PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"
df -h /tmp /dev/shm 2>/dev/null
if [ "$phase" = 7b ]; then
  bench --tag scale-7b --timeout 170 \
    --run "h100-mixed=h100 '$MIX' train.num_train_epochs=1" \
    --run "h100-mixed-2gpu=h100 '$MIX' train.num_train_epochs=1 gpu.devices=[0,1]" \
    --nodes-run "h100-mixed-2nodes=h100 '$MIX' train.num_train_epochs=1" \
    --run "qlora=qlora-12gb $ID60" \
    --run "qlora-as-lora=qlora-12gb $ID60 quant=null" \
    --run "4090d-fast-mixed=4090d-fast '$MIX' train.num_train_epochs=1"
elif [ "$phase" = qlora ]; then
  bench --tag qlora-7b --timeout 85 \
    --run "qlora=qlora-12gb $ID60" \
    --run "lora-16x1=qlora-12gb $ID60 quant=null train.per_device_train_batch_size=16 train.gradient_accumulation_steps=1"
elif [ "$phase" = 32b ] || [ "$phase" = final ]; then
  # 65 GB of weights: written to and read from memory (/dev/shm) when it has room, else /tmp. No merged export
  # in the disk check (export.merge_lora=false): the run itself writes only the adapter and ZeRO shards.
  work32=${TMPDIR:-/tmp}/swiftkit-gpu-bench
  if [ "$(df --output=avail -k /dev/shm 2>/dev/null | tail -1)" -gt 90000000 ] 2>/dev/null; then work32=/dev/shm/swiftkit-gpu-bench; fi
  BUDGET=${BUDGET32:-330} bench --tag scale-32b --shape 32b --work "$work32" --timeout 250 \
    --run "zero3-32b=h100 $ID60 gpu.devices=[0,1] gpu.memory_gb=141 train.deepspeed=zero3 export.merge_lora=false swift_args.max_steps=10"
  rm -rf "$work32"
  if [ "$phase" = 32b ]; then
    BUDGET=${BUDGET7:-200} bench --tag nodes-7b --timeout 170 \
      --nodes-run "h100-mixed-2nodes=h100 '$MIX' train.num_train_epochs=1"
  else
    BUDGET=${BUDGET7:-245} bench --tag levers-7b --timeout 110 \
      --run "h100-mixed-exp-gbl=h100 '$MIX' train.num_train_epochs=1 train.group_by_length=true $EXP" \
      --run "4090d-fast-mixed-exp-gbl=4090d-fast '$MIX' train.num_train_epochs=1 train.group_by_length=true $EXP" \
      --run "lora-16x1=qlora-12gb $ID60 quant=null train.per_device_train_batch_size=16 train.gradient_accumulation_steps=1"
  fi
elif [ "$phase" = levers16 ]; then
  # Issue 16 levers on the mixed job (1 epoch, 38 optimizer steps of 16): Liger (no logits held: the batch fit
  # allows more per pass), checkpointing, LoRA dropout 0, torch.compile; then where start-up goes.
  S="'$MIX' train.num_train_epochs=1"
  BUDGET=${BUDGET16:-470} bench --tag levers16-7b --timeout 110 \
    --run "h100-liger-ckpt=h100 $S train.use_liger_kernel=true train.gradient_checkpointing=true" \
    --run "4090d-fast-liger=4090d-fast $S train.use_liger_kernel=true" \
    --run "h100-liger=h100 $S train.use_liger_kernel=true" \
    --run "h100-liger-ckpt-nodrop=h100 $S train.use_liger_kernel=true train.gradient_checkpointing=true lora.lora_dropout=0" \
    --run "h100-id-nodrop=h100 $ID60 lora.lora_dropout=0" \
    --run "h100-liger-ckpt-compile=h100 $S train.use_liger_kernel=true train.gradient_checkpointing=true swift_args.torch_compile=true"
  PYTHONPATH="$PWD:${SITE:-${TMPDIR:-/tmp}/swiftkit-site}" timeout 120 python3 bench/import_profile.py > "$out/import-profile.md" 2>&1
  PYTHONPATH="${SITE:-${TMPDIR:-/tmp}/swiftkit-site}" python3 -X importtime -c "from swift.cli.utils import try_use_single_device_mode; from swift.ray_utils import try_init_ray; from swift.pipelines import sft_main" 2> "$out/importtime-sft-child.txt" || true
elif [ "$phase" = final16 ]; then
  # Issue 16, the shipped profiles side by side with the article's recipe on one card, in one call. The warm-up
  # run pays Triton's one-time compilation of Liger's kernels (cached per machine) and is reported as such.
  S="'$MIX' train.num_train_epochs=1"
  BUDGET=${BUDGET16:-560} bench --tag final16-7b --timeout 330 \
    --run "liger-warm-up=h100 $ID60 swift_args.max_steps=2" \
    --run "h100-mixed=h100 $S" \
    --run "4090d-fast-mixed=4090d-fast $S" \
    --run "h100-identity=h100 $ID60" \
    --run "4090d-mixed=4090d $S"
elif [ "$phase" = unsloth16 ]; then
  # ms-swift's own --tuner_backend unsloth (Unsloth's fused LoRA kernels) beside the shipped 4090d-fast, same call.
  # USITE: a folder with unsloth, unsloth_zoo, a bitsandbytes cut to its CUDA 13 library and their small deps.
  S="'$MIX' train.num_train_epochs=1"
  export PYTHONPATH="${USITE:?folder with unsloth}${PYTHONPATH:+:$PYTHONPATH}"
  BUDGET=${BUDGET16:-480} bench --tag unsloth16-7b --timeout 200 \
    --run "unsloth-mixed=4090d-fast $S swift_args.tuner_backend=unsloth train.use_liger_kernel=false train.per_device_train_batch_size=16 train.gradient_accumulation_steps=1 train.gradient_checkpointing=true" \
    --run "4090d-fast-mixed=4090d-fast $S"
else
  bench --tag levers-7b --timeout 170 \
    --run "h100-mixed-exp=h100 '$MIX' train.num_train_epochs=1 $EXP" \
    --run "h100-mixed-exp-gbl=h100 '$MIX' train.num_train_epochs=1 train.group_by_length=true $EXP" \
    --run "lora-16x1=qlora-12gb $ID60 quant=null train.per_device_train_batch_size=16 train.gradient_accumulation_steps=1" \
    --run "4090d-mixed=4090d '$MIX' train.num_train_epochs=1 swift_args.max_steps=8" \
    --run "4090d-fast-mixed=4090d-fast '$MIX' train.num_train_epochs=1 train.group_by_length=true $EXP"
fi
tar czf "$out/logs-$phase.tgz" -C "$logs" . 2>/dev/null
ls -la "$out"
