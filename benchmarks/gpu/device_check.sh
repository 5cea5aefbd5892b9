#!/usr/bin/env bash
# GPU device check: install the gpu extra offline from the carried wheels, print the
# environment, run the gpu tests, then the GPU benchmark sections, each under its own time
# limit; writes $OUT/bench_gpu.json, $OUT/bench_gpu.md and $OUT/device_check.log.
#
#   python benchmarks/gpu/prepare_carry.py          # once, on a machine with the packages
#   OUT=/some/dir bash benchmarks/gpu/device_check.sh            # on the GPU host (< 8 min)
#   bash benchmarks/gpu/device_check.sh --dry-run               # anywhere: tiny sizes, CUDA
#                                                                # simulator when no GPU
# Environment: OUT (results folder), CARRY (default <repo>/.gpucarry), PYTHON (python3).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARRY=$(cd "${CARRY:-$REPO/.gpucarry}" && pwd) || { echo "carry folder missing: run prepare_carry.py"; exit 2; }
OUT=${OUT:-/tmp/fm_gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
DRY=""
LIMF=1
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; LIMF=${DRY_LIMIT_FACTOR:-10}; fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
LOG="$OUT/device_check.log"
: >"$LOG"
T0=$(date +%s)
DEADLINE=${DEADLINE:-450}   # seconds after which no new section starts (whole run < 8 min)
RUN=/tmp/fm_gpu_run         # working directory outside the repo: the installed package is used
mkdir -p "$RUN"

say() { echo "$*" | tee -a "$LOG"; }
step() {  # step NAME LIMIT_S command...
  local name=$1 limit=$2
  shift 2
  local now=$(( $(date +%s) - T0 ))
  if [ "$now" -ge "$DEADLINE" ]; then say "== $name: not started (t=${now}s past the ${DEADLINE}s deadline)"; return 0; fi
  say "== $name (limit ${limit}s, t=${now}s)"
  (cd "$RUN" && timeout -k 5 $(( limit * LIMF )) "$@") 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  say "== $name: exit $rc, t=$(( $(date +%s) - T0 ))s"
}

# ---- 1. unpack the carried weights, install the gpu extra offline
for gz in "$CARRY"/encoder/*/*.gz; do
  [ -f "${gz%.gz}" ] || gunzip -k "$gz"
done
SITE=/tmp/fm_site
rm -rf "$SITE"
if [ -z "$DRY" ]; then
  step install 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target "$SITE" "$CARRY"/wheels/*.whl
else  # this machine's Python may not take the cp312 wheels: the project and pure wheels only
  step install 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target "$SITE" "$CARRY"/wheels/fastmetrics-*.whl "$CARRY"/wheels/vaderSentiment-*.whl
  export NUMBA_ENABLE_CUDASIM=${NUMBA_ENABLE_CUDASIM:-$("$PY" -c 'import ctypes
try:
    ctypes.CDLL("libcuda.so.1"); print(0)
except OSError:
    print(1)')}
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export FASTMETRICS_GPU_WEIGHTS="$CARRY/encoder/fp16" FASTMETRICS_CACHE_DIR="$RUN/cache"

# ---- 2. environment
step env 30 "$PY" "$REPO/benchmarks/gpu/bench_gpu.py" --section env --carry "$CARRY" --out "$OUT" $DRY
(nvidia-smi 2>&1 || echo "nvidia-smi: not available") | head -20 | tee -a "$LOG"

ONLY=${ONLY:-"tests wmd sinkhorn encoder pipeline"}
want() { case " $ONLY " in *" $1 "*) return 0;; *) return 1;; esac; }

# ---- 3. tests (the gpu tests on a GPU; the simulator suite in a dry run without one)
if ! want tests; then
  say "== tests: skipped (ONLY=$ONLY)"
elif [ -z "$DRY" ] || [ "${NUMBA_ENABLE_CUDASIM:-0}" != "1" ]; then
  step tests 90 "$PY" -m pytest -q -p no:cacheprovider -m gpu -x \
      "$REPO/tests/test_cuda_kernels.py" "$REPO/tests/test_gpu_encoder.py" --junitxml "$OUT/gpu_tests.xml"
else
  step tests 40 "$PY" -m pytest -q -p no:cacheprovider -x \
      "$REPO/tests/test_cuda_kernels.py" "$REPO/tests/test_gpu_encoder.py" --junitxml "$OUT/gpu_tests.xml"
fi

# ---- 4. benchmark sections
for spec in wmd:55 sinkhorn:60 encoder:90 pipeline:160; do
  want "${spec%%:*}" || continue
  step "${spec%%:*}" "${spec##*:}" "$PY" "$REPO/benchmarks/gpu/bench_gpu.py" --section "${spec%%:*}" \
      --carry "$CARRY" --out "$OUT" $DRY
done
(cd "$RUN" && "$PY" "$REPO/benchmarks/gpu/bench_gpu.py" --summarize --out "$OUT") 2>&1 | tee -a "$LOG"
say "device check finished in $(( $(date +%s) - T0 )) s"
