#!/usr/bin/env bash
# The GPU benchmark: the JAX backends (numpyro, blackjax) on a machine where JAX sees a GPU, in one
# short run that writes its records under $OUT (default benchmarks/results/gpu). Each step has its own
# time limit, so one that hangs leaves the others' records.
#
#   OUT=/tmp/gpu bash benchmarks/gpu.sh            # a machine with jax[cuda] and the package installed
#   WHEELS=.whl DATA=.gpudata bash benchmarks/gpu.sh  # a machine with no package index: wheels carried in
#
# Steps: (1) the machine, the GPU and the versions; (2) Epoch's 240 runs on numpyro and blackjax,
# 4 chains x 1000 draws after 1000, cold (compilation included) and warm (benchmarks/run.py's
# chinchilla part); (3) fit + summary + optimal from the command line, as a first process with empty
# compile caches and as a second one that loads JAX's persistent compilation cache; (4) the 92-curve
# saturating_tasks hierarchy at 4 x (800 + 600) (benchmarks/hierarchy_curves.py); (5) the simulated
# hierarchy of 1,000 tasks (benchmarks/run.py's hierarchy part). STEPS="cli hierarchy" runs some of
# them. On one H200, where a numpyro fit of Epoch's runs takes 55 s first and 31 s after
# (benchmarks/results/gpu.json), the chinchilla and cli steps fit one 10-minute command and each
# hierarchy needs one of its own (STEPS=hierarchy, STEPS=tasks).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
PY=${PY:-python3}
SCALE=${SCALE:-1}  # 0.1 checks the script on a CPU in a minute or two
mkdir -p "$OUT"
if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
[ -n "${DATA:-}" ] && export BAYES_SCALING_DATA=$PWD/$DATA
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
STEPS=${STEPS:-chinchilla cli hierarchy tasks}
n() { $PY -c "print(max(10, int($1 * $SCALE)))"; }
step() { [[ " $STEPS " == *" $1 "* ]]; }

echo "== machine"
{ nvidia-smi -L 2>&1; nproc; $PY - <<'PY'
import importlib.metadata as m, platform, jax
print(platform.platform(), platform.python_version(), jax.devices())
for p in ("bayes_scaling", "pymc", "pytensor", "numba", "jax", "jaxlib", "numpyro", "blackjax", "arviz", "xarray", "numpy", "pandas", "scipy"):
    try:
        print(p, m.version(p))
    except m.PackageNotFoundError:
        print(p, "not installed")
PY
} 2>&1 | tee "$OUT/machine.txt"

step chinchilla && { echo "== chinchilla per backend"
timeout 280 $PY benchmarks/run.py --parts chinchilla --backends numpyro blackjax --timeout 135 \
  $( [ "$SCALE" != 1 ] && echo --quick ) --out "$OUT/bench_gpu.json" 2>&1 | tail -n 12; }

step cli && { echo "== command line: first and second process"
CACHE=$(mktemp -d)
FITS=$(mktemp -d)
for run in first second; do
  for step in "fit epoch_chinchilla --backend numpyro --draws $(n 1000) --tune $(n 1000) --out $FITS/$run.nc" \
              "summary $FITS/$run.nc --json" "optimal $FITS/$run.nc --compute 5.88e23 --json"; do
    t0=$EPOCHREALTIME
    PYTENSOR_FLAGS=base_compiledir=$CACHE timeout 80 $PY -m bayes_scaling.cli $step > /dev/null 2> "$FITS/err"
    rc=$?
    seconds=$(awk "BEGIN {print $EPOCHREALTIME - $t0}")
    echo "{\"process\": \"$run\", \"step\": \"${step%% *}\", \"seconds\": $seconds, \"rc\": $rc}" \
      | tee -a "$OUT/cli_gpu.jsonl"
    [ $rc -ne 0 ] && tail -n 3 "$FITS/err"
  done
done; }

step hierarchy && { echo "== 92-curve hierarchy"
timeout 560 $PY benchmarks/hierarchy_curves.py --backend numpyro --adaptation diag --tune "$(n 800)" \
  --draws "$(n 600)" --out "$OUT/hierarchy_curves_gpu.json" 2>&1 | tail -n 20; }

step tasks && { echo "== 1,000 simulated tasks"
timeout 560 $PY benchmarks/run.py --parts hierarchy --tasks "$(n 1000)" --hierarchy-backend numpyro \
  --timeout 555 --out "$OUT/bench_gpu_hierarchy.json" 2>&1 | tail -n 4; }
