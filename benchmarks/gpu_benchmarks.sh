#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, as one script for a machine with an NVIDIA card:
#   1. the translation networks' throughput, the paper-size Att-U-Net included (volumes/s in a
#      batch of 16; target >= 20 on one H100-class card): benchmarks/bench_models.py;
#   2. the whole participant level with HD-BET and the translation on the card (images/hour):
#      benchmarks/bench_throughput.py --device cuda.
# Usage: benchmarks/gpu_benchmarks.sh [RESULTS_DIR]   (run from the checkout, .venv installed
# with torch's CUDA build; PYTHON overrides .venv/bin/python). Results: RESULTS_DIR/*.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
RESULTS=${1:-$ROOT/benchmark-results}
NPROCS=${NPROCS:-$(nproc)}
mkdir -p "$RESULTS"
cd "$ROOT"
"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else
    f"no GPU: torch {torch.__version__} sees no CUDA device")'
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
  nproc; } | tee "$RESULTS/machine.txt"
PYTHONPATH=$ROOT "$PYTHON" benchmarks/bench_models.py --device cuda --threads "$NPROCS" \
    --models att_unet res_unet --presets small paper --batch 16 | tee "$RESULTS/models.txt"
PYTHONPATH=$ROOT "$PYTHON" benchmarks/bench_throughput.py --device cuda --pairs 8 \
    --nprocs "$NPROCS" | tee "$RESULTS/participant.txt"
