#!/usr/bin/env bash
# One short run of the benchmarks on whatever device JAX finds (a GPU if
# jax[cuda] is installed), from the repository root, all outputs in $OUT:
#
#   OUT=/tmp/out bash benchmarks/device_check.sh          # about 7 minutes
#   OUT=/tmp/out FAST=1 bash benchmarks/device_check.sh   # a smoke run
#
# Needs jax, optax, chex, flax, numpy, scipy, matplotlib, tqdm, six, and for
# erfi.py mpmath, for step_time_rl.py and speed.py (which import the harness)
# gymnax (with gymnasium, cloudpickle, farama-notifications, seaborn, pandas).
# Writes at most 10 files:
# step_time_<platform>.{md,json}, step_time_rl_<platform>.{md,json},
# lane_sums_<platform>.{md,json}, erfi_<platform>.{md,json}, speed.md,
# device_check.log (the device, the
# lax.cond host-transfer check, and every script's stderr).
set -u
OUT="${OUT:?set OUT to the output folder}"
FAST="${FAST:-0}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT/device_check.log"
status=0
step() {  # step <seconds> <command...>: runs it with a time limit, logs it.
  local limit=$1; shift
  echo "== $* (limit ${limit}s)" >> "$LOG"
  local start=$SECONDS
  timeout "$limit" "$@" 2>> "$LOG" || { echo "!! exit $? : $*" >> "$LOG"; status=1; }
  echo "== done in $((SECONDS - start))s" >> "$LOG"
}
: > "$LOG"
python -c 'import jax; d = jax.devices()[0]; print(f"devices: {jax.device_count()}x {d.device_kind} ({d.platform}), jax {jax.__version__}")' >> "$LOG" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$LOG" 2>&1 || true

if [ "$FAST" = 1 ]; then
  step 120 python benchmarks/skip_transfer_check.py --params 1e4 >> "$LOG"
  step 120 python benchmarks/step_time.py --smoke --out "$OUT" > /dev/null
  step 200 python benchmarks/step_time_rl.py --smoke --out "$OUT" > /dev/null
  step 60 python benchmarks/lane_sums.py --smoke --out "$OUT" > /dev/null
  step 120 python benchmarks/erfi.py --smoke --out "$OUT" > /dev/null
  step 300 python results/control/speed.py --optimizers adam,trac --seeds 1 --rounds 2 \
    --iterations 2 > "$OUT/speed.md"
else
  # Time limits add up to 7.2 minutes.
  step 40 python benchmarks/skip_transfer_check.py --params 1e5 >> "$LOG"
  step 80 python benchmarks/step_time.py --sizes 1e5,1e7 --rounds 10 --out "$OUT" > /dev/null
  step 160 python benchmarks/step_time_rl.py --rounds 10 \
    --cases "PPO;1e5 params, 10;1e6 params, 50" --out "$OUT" > /dev/null
  step 40 python benchmarks/lane_sums.py --out "$OUT" > /dev/null
  step 30 python benchmarks/erfi.py --out "$OUT" > /dev/null
  step 80 python results/control/speed.py --optimizers adam,trac > "$OUT/speed.md"
fi
echo "status $status" >> "$LOG"
ls -l "$OUT" >> "$LOG"
exit $status
