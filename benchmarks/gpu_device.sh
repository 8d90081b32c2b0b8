#!/usr/bin/env bash
# The GPU benchmark as one command on a lent GPU machine (CUDA torch and PyG, no Ray/Optuna,
# tune-gae not installed): machine facts, then bench_gpu.py (packing time-sliced and under MPS,
# then per-epoch CPU vs GPU) with a deadline so a short lease
# still returns its rows. Writes gpu.json, gpu.md and gpu.log to $OUT (or ./gpu-out).
set -o pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, torch, torch_geometric; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch_geometric.__version__)"
  nproc
} 2>&1 | tee "$OUT/machine.txt"
timeout "${GPU_BENCH_TIMEOUT:-420}" python3 benchmarks/bench_gpu.py --device cuda --data-root /tmp/tgdata \
  --mps --deadline-s "${GPU_BENCH_DEADLINE:-330}" --out "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log" | grep -v '^ \|^[{}]'
