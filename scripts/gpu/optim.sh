#!/usr/bin/env bash
# GPU checks of the optim family, run by scripts/gpu-check.sh on a machine with an NVIDIA GPU
# after the CUDA build (RATATOUILLE_CUDA=ON npm run build:native) and `npx tsc -p tsconfig.build.json`:
# the CUDA-vs-CPU vitest file (skipped without a GPU, so here it must really run), then
# optim-check.mjs (agreement numbers, bench optim --cuda, size sweep, torch fused baseline).
# Writes $OUT/optim-tests.json and $OUT/optim.json; under 90 s on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ratatouille-gpu}
mkdir -p "$OUT"
status=0
timeout 45 npx vitest run test/optim/cuda.test.ts --reporter=json --outputFile="$OUT/optim-tests.json" >/dev/null 2>"$OUT/optim-tests.err" || status=1
timeout 80 node scripts/gpu/optim-check.mjs >"$OUT/optim.json" 2>"$OUT/optim.err" || status=1
exit $status
