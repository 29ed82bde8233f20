#!/usr/bin/env bash
# facefuse bench four times: libgomp's default wait policy (OMP_WAIT_POLICY= : empty, so
# libgomp uses its default and import facefuse leaves it) vs facefuse's PASSIVE, each on the
# machine as it is and with one more process spinning a core. JSON + tables into ${OUT:-.}.
set -euo pipefail
out="${OUT:-.}"
py="${PYTHON:-python}"
for load in idle busy; do
  spin=""
  if [ "$load" = busy ]; then "$py" -c "while True: pass" & spin=$!; fi
  for pol in default passive; do
    if [ "$pol" = default ]; then set -- OMP_WAIT_POLICY=; else set --; fi
    env -u OMP_WAIT_POLICY "$@" "$py" -m facefuse bench --repeat 5 --min-time 0.1 \
      --json "$out/bench_${load}_${pol}.json" > "$out/bench_${load}_${pol}.txt"
  done
  if [ -n "$spin" ]; then kill "$spin"; fi
done
