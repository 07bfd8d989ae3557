#!/usr/bin/env bash
# One prepared GPU check, for a session that is lent a device (run from the repository root there):
# the paper profile's dry run (every stage, CUDA), one paper epoch of each architecture, four ConvNet trainings
# sharing the GPU against one alone, and the batched explanation attack against one pair at a time.
# Needs: python3 with torch, and DATA_DIR with small MNIST/Fashion-MNIST/CIFAR-10 files (see the README).
set -u
OUT=${OUT:-/tmp/gpu-check}; mkdir -p "$OUT"
export PYTHONPATH=$PWD DATA_DIR=${DATA_DIR:-$PWD/.gpu/data} DATA_DOWNLOAD=0 TQDM_DISABLE=1
PY=${PY:-python3}
log="$OUT/gpu.log"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$log"
t0=$(date +%s)
RESULTS_DIR=$(mktemp -d) $PY scripts/paper_dry.py --device cuda --stages-only > "$OUT/paper_dry.log" 2>&1
echo "paper-dry (every stage, cuda): exit $? in $(( $(date +%s) - t0 )) s" | tee -a "$log"
grep -E "FAILED|Error|paper-dry\]" "$OUT/paper_dry.log" | tail -5 | tee -a "$log"
$PY benchmarks/bench_epoch.py --device cuda --batches 20 --concurrent 4 2>&1 | tee -a "$log"
$PY benchmarks/bench_manipulate.py --device cuda --pairs 256 --steps 30 --single-pairs 5 2>&1 | tee -a "$log"
