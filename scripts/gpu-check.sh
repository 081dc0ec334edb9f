#!/usr/bin/env bash
# One-shot GPU check for a machine with an NVIDIA GPU (H100/H200), needing only nvcc, cmake and
# python3 (Node is optional): builds native/bench's rt_gpu_check with plain cmake for the GPU's
# architecture only, runs it (CUDA vs CPU agreement, then GB/s against the device triad and page-
# cache reads), runs scripts/gpu_torch_compare.py (torch's fused optimizers and torch averaging on
# the same sizes), and, when node and node_modules exist and time remains, the Node-side checks
# scripts/gpu/optim.sh and scripts/gpu/average.sh. Everything is merged by
# scripts/gpu_check_merge.py into $OUT/gpu-check.json, with the console log in $OUT/gpu-check.log.
# Whole run under GPU_CHECK_BUDGET_S (default 285 s): every step runs under `timeout`.
#
# Exit: 0 GPU present and every check passed; 1 a check or a step failed (or timed out), or
#       nvidia-smi lists a GPU that rt_gpu_check cannot use; 3 no GPU: GPU steps skipped, the
#       CPU parts that ran passed.
# Env:  OUT (default /tmp/ratatouille-gpu), GPU_CHECK_BUDGET_S, GPU_CHECK_BUILD_DIR
#       (default build/gpu-check), RATATOUILLE_CUDA_ARCHS (default: the GPU's, else 90-real).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/ratatouille-gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-285}
BUILD_DIR=${GPU_CHECK_BUILD_DIR:-build/gpu-check}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/rt-gpu-check-work.XXXXXX)
STEPS="$WORK/steps.tsv"
: >"$STEPS"
exec > >(tee "$OUT/gpu-check.log") 2>&1
TEE_PID=$!
# On exit: let tee finish the log (whoever collects $OUT reads it right after), drop the scratch.
finish() {
  exec 1>&- 2>&-
  wait "$TEE_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap finish EXIT

log() { printf '== %s\n' "$*"; }

# step NAME CAP_S CMD...: runs CMD under timeout min(CAP_S, time left - 10 s), records
# name, status (ok / failed / timeout / skipped), exit code, seconds and a note in $STEPS.
step() {
  local name=$1 cap=$2
  shift 2
  local left=$((BUDGET - SECONDS - 10))
  local limit=$((cap < left ? cap : left))
  if ((limit < 5)); then
    log "$name: skipped (time budget of ${BUDGET}s spent)"
    printf '%s\tskipped\t\t0\ttime budget spent\n' "$name" >>"$STEPS"
    return 0
  fi
  log "$name (limit ${limit}s): $*"
  local t0=$SECONDS rc=0
  timeout --kill-after=5 "$limit" "$@" || rc=$?
  local status=ok
  if ((rc == 124 || rc == 137)); then status=timeout; elif ((rc != 0)); then status=failed; fi
  printf '%s\t%s\t%s\t%s\t\n' "$name" "$status" "$rc" "$((SECONDS - t0))" >>"$STEPS"
  log "$name: $status (exit $rc, $((SECONDS - t0))s)"
  return 0
}

skip() {  # skip NAME REASON
  log "$1: skipped ($2)"
  printf '%s\tskipped\t\t0\t%s\n' "$1" "$2" >>"$STEPS"
}

# --- What is here -------------------------------------------------------------------------------
HAS_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  HAS_GPU=1
  nvidia-smi -L
else
  log "nvidia-smi: $(command -v nvidia-smi >/dev/null 2>&1 && (nvidia-smi -L 2>&1 | head -1) || echo 'not found') -> no GPU"
fi
NVCC=$(command -v nvcc || true)
[[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
if [[ -n $NVCC ]]; then "$NVCC" --version | tail -2; else log "nvcc: not found (CPU-only build)"; fi
ARCHS=${RATATOUILLE_CUDA_ARCHS:-}
if [[ -z $ARCHS ]]; then
  cap=$( ((HAS_GPU)) && nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
  ARCHS="${cap:-90}-real"
fi
log "CUDA architectures: $ARCHS; time budget ${BUDGET}s; output $OUT"

# --- Native check (plain cmake, no Node) --------------------------------------------------------
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
CUDA_OPT=OFF
[[ -n $NVCC ]] && CUDA_OPT=ON
[[ -n $NVCC ]] && export CUDACXX=$NVCC
step configure 60 cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DRATATOUILLE_BUILD_TOOLS=ON \
  -DRATATOUILLE_CUDA=$CUDA_OPT -DRATATOUILLE_CUDA_ARCHS="$ARCHS"
step build 150 cmake --build "$BUILD_DIR" --target rt_gpu_check -j "$(nproc)"

QUICK=()
((HAS_GPU)) || QUICK=(--quick)  # no GPU: the CPU parts only, at small sizes
if [[ -x $BUILD_DIR/rt_gpu_check ]]; then
  step rt_gpu_check 150 bash -c '"$1" "${@:3}" >"$2"' _ "$BUILD_DIR/rt_gpu_check" "$WORK/rt_gpu_check.json" "${QUICK[@]}"
else
  skip rt_gpu_check "rt_gpu_check was not built"
fi

# --- torch baselines ----------------------------------------------------------------------------
if command -v python3 >/dev/null 2>&1; then
  step torch_compare 90 bash -c 'python3 scripts/gpu_torch_compare.py >"$1"' _ "$WORK/torch.json"
else
  skip torch_compare "python3 not found"
fi

# --- Node-side checks (teammates' vitest CUDA tests), only where Node and node_modules exist -----
if ! ((HAS_GPU)); then
  skip node_checks "no GPU: the vitest CUDA tests would skip themselves"
elif ! command -v node >/dev/null 2>&1 || [[ ! -d node_modules ]]; then
  skip node_checks "node or node_modules not present"
elif ((BUDGET - SECONDS < 150)); then
  skip node_checks "less than 150 s of the time budget left"
else
  LOCK=()
  command -v flock >/dev/null 2>&1 && LOCK=(flock /tmp/rt-build.lock)
  step node_build_addon 120 env RATATOUILLE_CUDA=ON RATATOUILLE_CUDA_ARCHS="$ARCHS" "${LOCK[@]}" npx cmake-js compile --out build
  step node_build_ts 60 npx tsc -p tsconfig.build.json
  mkdir -p "$WORK/node"
  step node_optim 130 env OUT="$WORK/node" bash scripts/gpu/optim.sh
  step node_average 125 env OUT="$WORK/node" bash scripts/gpu/average.sh
fi

# --- Merge --------------------------------------------------------------------------------------
if ! command -v python3 >/dev/null 2>&1; then
  log "python3 not found: cannot merge; raw results were in $WORK"
  exit 1
fi
rc=0
python3 scripts/gpu_check_merge.py --work "$WORK" --steps "$STEPS" --has-gpu "$HAS_GPU" \
  --seconds "$SECONDS" --out "$OUT/gpu-check.json" || rc=$?
exit "$rc"
