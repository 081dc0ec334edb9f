#!/usr/bin/env bash
# GPU checks of the average family, run by scripts/gpu-check.sh on a machine with an NVIDIA GPU
# after the CUDA build and `npx tsc -p tsconfig.build.json`: the engine vitest file (its CUDA-vs-CPU
# test is skipped without a GPU, so here it really runs), then average-check.mjs (CUDA vs CPU
# bytes and errors, GB/s vs page-cache read bandwidth and device memory bandwidth).
# Writes $OUT/average-tests.json and $OUT/average.json; under 90 s on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ratatouille-gpu}
mkdir -p "$OUT"
status=0
timeout 40 npx vitest run test/average-native/engine.test.ts --reporter=json --outputFile="$OUT/average-tests.json" >/dev/null 2>"$OUT/average-tests.err" || status=1
timeout 80 node scripts/gpu/average-check.mjs >"$OUT/average.json" 2>"$OUT/average.err" || status=1
exit $status
