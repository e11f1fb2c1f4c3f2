#!/usr/bin/env bash
# The identity table of issue 26: cpu-demo trained and scored for the built-in identity and three user identities,
# with this checkout's defaults and with those of an earlier commit (default 3c1049e, the defaults before
# bench/results/identity-2026-12-03-recipe.md), one run after the other: every identity with
# the new defaults first, then every one with the old (so a run cut short still has the new side complete).
#   bash bench/identity_runs.sh [OLD_REF]        then: python bench/identity_table.py ... (the lines it prints)
# Env: OUT (default /tmp/identity-runs), SWIFTKIT_CACHE / MODELSCOPE_CACHE (shared: model converted once),
# PY (default .venv/bin/python), SIDES (default "new old"), WHO_LIST (default "xifeng latin multi builtin").
# Each run is bench/cpu_demo_levers.sh with --set identity.*; rows in $OUT/rows.md.
set -euo pipefail
old_ref=${1:-3c1049e}
OUT=${OUT:-/tmp/identity-runs}
PY=$(realpath -s "${PY:-.venv/bin/python}")  # -s: keep the venv's own path (its symlink leads out of the venv)
export PY
here=$(pwd)
mkdir -p "$OUT/old-src"
git archive "$old_ref" | tar -x -C "$OUT/old-src"
declare -A WHO=(
  [builtin]=""
  [latin]="--set identity.name=Zephyr --set identity.author=Orbit~Works"
  [multi]="--set identity.name=Sky~Pilot --set identity.author=Blue~Harbor~Technologies"
  [xifeng]="--set identity.name=Zephyr --set identity.author=Orbit~Works --set identity.name_zh=西风 --set identity.author_zh=轨道工坊"
)
for side in ${SIDES:-new old}; do
  for who in ${WHO_LIST:-xifeng latin multi builtin}; do
    read -r -a sets <<<"${WHO[$who]}"
    sets=("${sets[@]//\~/ }")  # Orbit~Works -> "Orbit Works" (one argument)
    src=$here
    [ "$side" = old ] && src=$OUT/old-src
    (cd "$src" && PYTHONPATH=$src OUT=$OUT/$side bash "$here/bench/cpu_demo_levers.sh" "$side-$who" "${sets[@]}" \
      | tee -a "$OUT/rows.md")
  done
done
cat <<TABLE
python bench/identity_table.py \\
  new-xifeng=$OUT/new/new-xifeng:Zephyr:"Orbit Works":西风:轨道工坊 old-xifeng=$OUT/old/old-xifeng:Zephyr:"Orbit Works":西风:轨道工坊 \\
  new-latin=$OUT/new/new-latin:Zephyr:"Orbit Works" old-latin=$OUT/old/old-latin:Zephyr:"Orbit Works" \\
  new-multi=$OUT/new/new-multi:"Sky Pilot":"Blue Harbor Technologies" old-multi=$OUT/old/old-multi:"Sky Pilot":"Blue Harbor Technologies" \\
  new-builtin=$OUT/new/new-builtin:Swift-Robot:"ACME Lab" old-builtin=$OUT/old/old-builtin:Swift-Robot:"ACME Lab"
TABLE
