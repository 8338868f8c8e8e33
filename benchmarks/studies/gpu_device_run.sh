#!/usr/bin/env bash
# The device run, in ONE call on a lent GPU (under 10 minutes; each part has its own
# time cap and the run stops starting parts at the overall deadline, so what finished is kept):
#
#   bash benchmarks/studies/gpu_device_run.sh                 # on the GPU machine, repository root
#   bash benchmarks/studies/gpu_device_run.sh --dry           # on the CPU: tiny sizes, proves it runs
#   bash benchmarks/studies/gpu_device_run.sh --parts print2  # only some parts (a later try)
#
# Parts, in priority order (names for --parts, comma-separated):
#   env     the card, driver, torch; how long the parent's CUDA inventory probe takes
#   cold    16 default 1024 px jobs from a cold `run --once`, jobs_per_device auto, warming
#           on (the CUDA default): wall rate against the steady rate (done: >= 0.8x)
#   steady  48 default 1024 px jobs, jobs_per_device auto: steady jobs/h (done: >= 3,000/h)
#   print1  printsize 4096 and 8192 px against a 1024 px preview, with (look size 1024)
#           and without (--baseline: look_size 0) the look size: tubingen x starry night
#   solver  gpu_check.py --sections render,tests: the masked against the compact solver
#   coldoff the cold batch again with executor.warm false (what warming buys)
#   print2  printsize as print1 on golden_gate x the scream
# Raw output: benchmarks/studies/results/gpu-device-run/ (and copied to $OUT when the runner sets it).
set -u
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python

DRY=0; PARTS="env,cold,steady,print1,solver,coldoff,print2"; BUDGET=${BUDGET:-570}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry) DRY=1 ;;
    --parts) PARTS=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ $DRY = 1 ]; then
  R=${RESULTS:-/tmp/gpu-device-run-dry}
  DEV=cpu; TORCH_DEV=cpu; COLD_JOBS=3; STEADY_JOBS=4; SIZE=32; STEPS="--steps 4"
  PREVIEW=64; LARGE="96 128"; PSTEPS="--steps 4 --eval-size 64"; EVALJ=1
  CHECK="--device cpu --dry --tests tests/engine/test_cuda_loop.py"
  CAPX=4   # a shared, loaded CPU is slow even at tiny sizes
else
  R=${RESULTS:-benchmarks/studies/results/gpu-device-run}
  DEV=cuda:0; TORCH_DEV=cuda; COLD_JOBS=16; STEADY_JOBS=48; SIZE=1024; STEPS=""
  PREVIEW=1024; LARGE="4096 8192"; PSTEPS=""; EVALJ=auto
  CHECK="--device cuda"
  CAPX=1
fi
mkdir -p "$R"
LOG="$R/run.log"
START=$(date +%s)
echo "gpu_device_run $(date -Is) dry=$DRY parts=$PARTS budget=${BUDGET}s" | tee -a "$LOG"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
want() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# part NAME CAP_SECONDS COMMAND...: runs with min(CAP, time left), output to $R/NAME.txt
part() {
  local name=$1 cap=$2; shift 2
  want "$name" || return 0
  local t; t=$(left)
  if [ "$t" -lt 20 ]; then
    echo "[$name] SKIPPED: ${t}s left of ${BUDGET}s; run again with --parts $name" | tee -a "$LOG"
    return 0
  fi
  cap=$(( cap * CAPX )); [ "$t" -lt "$cap" ] && cap=$t
  echo "[$name] start $(date -Is), cap ${cap}s, load $(cut -d' ' -f1-3 /proc/loadavg): $*" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$cap" "$@" > "$R/$name.txt" 2>&1
  local rc=$?
  echo "[$name] rc $rc in $(( $(date +%s) - t0 ))s$([ $rc = 124 ] && echo ' (TIMED OUT: partial)')" | tee -a "$LOG"
  tail -n 4 "$R/$name.txt" | cut -c1-600 | tee -a "$LOG"
}

part env 60 bash -c "nvidia-smi 2>&1 | head -20; uptime; nproc; free -g | head -2;
  $PY -c 'import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))';
  /usr/bin/time -f 'parent CUDA inventory probe: %e s' $PY -c 'from deepart_batch.pool.devices import cuda_inventory; print(cuda_inventory())'"
part cold 150 $PY -m benchmarks.cold_batch --device $DEV --jobs $COLD_JOBS --jpd $EVALJ \
  --size $SIZE $STEPS --out "$R/cold.jsonl" --timeout 140
part steady 150 $PY -m benchmarks.cold_batch --device $DEV --jobs $STEADY_JOBS --jpd $EVALJ \
  --size $SIZE $STEPS --out "$R/steady.jsonl" --timeout 140
part print1 200 $PY -m benchmarks.printsize --device $TORCH_DEV --preview $PREVIEW --large $LARGE \
  --baseline $PSTEPS --results "$R/printsize" --tag tubingen-starry
part solver 150 $PY -m benchmarks.gpu_check --out "$R/gpu-solver" --sections render,tests $CHECK
part coldoff 120 $PY -m benchmarks.cold_batch --device $DEV --jobs $COLD_JOBS --jpd $EVALJ \
  --size $SIZE $STEPS --warm off --out "$R/cold.jsonl" --timeout 110
part print2 200 $PY -m benchmarks.printsize --device $TORCH_DEV --preview $PREVIEW --large $LARGE \
  --baseline $PSTEPS --results "$R/printsize" --tag golden_gate-scream \
  --photo examples/photos/golden_gate.jpg --style examples/styles/the_scream.jpg

echo "gpu_device_run done in $(( $(date +%s) - START ))s" | tee -a "$LOG"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp -r "$R" "$OUT/"; fi
