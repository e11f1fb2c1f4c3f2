#!/usr/bin/env bash
# Runs bench/gpu_bench.py on a GPU box; arguments go to it. With WHL=<folder of wheels> (no network there) it first
# installs them into $SITE with --no-deps and puts swiftkit (this checkout) and $SITE on PYTHONPATH.
# Where no `swift` command exists (a --target install has none) it adds a shim that runs ms-swift's CLI.
#   WHL=.whl bash bench/gpu_bench.sh --tokenizer tok --logs "$OUT" --results "$OUT"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=$(command -v python3)
if [ -n "${WHL:-}" ]; then
  SITE=${SITE:-${TMPDIR:-/tmp}/swiftkit-site}
  if [ ! -f "$SITE/.swiftkit-installed" ]; then  # once per box: a second bench call reuses it
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl
    touch "$SITE/.swiftkit-installed"
  fi
  export PYTHONPATH="$root:$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! command -v swift >/dev/null 2>&1; then
  shim=${TMPDIR:-/tmp}/swiftkit-shim
  mkdir -p "$shim"
  printf '#!/bin/sh\nexec "%s" -c "import sys; from swift.cli.main import cli_main; sys.argv[0] = \x27swift\x27; sys.exit(cli_main())" "$@"\n' \
    "$python" > "$shim/swift"
  chmod +x "$shim/swift"
  export PATH="$shim:$PATH"
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# Import ms-swift once so that every run finds compiled .pyc files (a --no-compile install has none).
if ! err=$("$python" -c "from swift.pipelines import sft_main" 2>&1); then
  printf 'ms-swift does not import:\n%s\n' "$(printf '%s\n' "$err" | tail -5)"; exit 1
fi
exec "$python" "$here/gpu_bench.py" "$@"
