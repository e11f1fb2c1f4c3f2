#!/usr/bin/env bash
# Builds, on the CPU machine, the wheel folder that `bench/hopper_gpu.sh uns` installs on the offline GPU box
# (Python 3.12, torch 2.11 cu130, triton, transformers 5.17, peft 0.20 already there; ms-swift's own wheels, trl
# 0.29.1 and datasets included, travel in .gpu/whl). usage: bench/unsloth_wheels.sh [DEST]   (default .gpu/uns)
#   unsloth, unsloth_zoo 2026.10.9: the newest; they pin transformers<=5.17.0, trl<=1.15, peft>=0.18, torch<2.15
#   bitsandbytes 0.50.2, cut to libbitsandbytes_cuda130.so (+ the CPU one): its loader picks the library named
#     after torch.version.cuda (13.0), exact match first; Unsloth imports it in try blocks (bf16 LoRA runs without
#     it) but, as root with it missing, runs `ldconfig` on the box; 43 MB whole, 3.6 MB cut; RECORD rewritten
#   cut_cross_entropy 25.1.1: unsloth_zoo's loss import (try; off for torch>=2.8 through UNSLOTH_ENABLE_CCE=0)
# Left out (never imported on the CUDA training path, or only behind find_spec): tyro, msgspec (vLLM LoRA only),
# hf_transfer, diffusers, xformers, torchao, nest_asyncio, json5, structlog; the box has einops, sentencepiece,
# protobuf, psutil, pillow, regex, requests, typer, rich, torchvision, sentence-transformers.
set -euo pipefail
dest=${1:-.gpu/uns}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
get() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$1" "${@:2}"
}
mkdir -p "$dest"
get "$dest" unsloth==2026.10.9 unsloth_zoo==2026.10.9 cut_cross_entropy==25.1.1
get "$tmp" bitsandbytes==0.50.2
python3 - "$tmp"/bitsandbytes-0.50.2-*.whl "$dest" <<'EOF'
import csv, io, os, sys, zipfile

src, dest = sys.argv[1], sys.argv[2]
keep = {"bitsandbytes/libbitsandbytes_cuda130.so", "bitsandbytes/libbitsandbytes_cpu.so"}
drop = lambda n: n.startswith("bitsandbytes/libbitsandbytes_") and n not in keep  # noqa: E731
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(
    os.path.join(dest, os.path.basename(src)), "w", zipfile.ZIP_DEFLATED, compresslevel=9
) as zout:
    for info in zin.infolist():
        if drop(info.filename):
            continue
        data = zin.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            rows = [r for r in csv.reader(io.StringIO(data.decode())) if r and not drop(r[0])]
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            data = buf.getvalue().encode()
        zout.writestr(info, data)
EOF
ls -l "$dest"
du -sh "$dest"
