#!/usr/bin/env bash
# The one command for a CUDA machine with many cores: render on every core but one, build the targets and
# augment on the GPU, train the demo model for a wall-clock budget, export. Run from the repository root:
#     tools/train_gpu.sh [MINUTES] [OUT]        (defaults: 9 minutes, build/gpu-train)
# OUT receives the ONNX, its facts JSON, last.pt / best.pt (checkpoints every 1.5 min) and train.log.
# Needs python3 with torch (CUDA), numpy, opencv and onnx; not the edgepose install (runs from the checkout).
set -euo pipefail
MINUTES=${1:-9}
OUT=${2:-build/gpu-train}
mkdir -p "$OUT"
# DataLoader workers pass frames through /dev/shm: container defaults (64 MB) are too small for 15 workers.
shm_mb=$(df -m /dev/shm 2>/dev/null | awk 'NR==2 {print $2}')
if [ -n "${shm_mb:-}" ] && [ "$shm_mb" -lt 2048 ] && [ "$(id -u)" = 0 ]; then
    mount -o remount,size=8G /dev/shm || echo "warning: /dev/shm is ${shm_mb} MB and could not be enlarged"
fi
WORKERS=$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 tools/train_demo.py --device cuda --minutes "$MINUTES" --workers "$WORKERS" --threads 2 \
    --deep-width 0.1875 --stage-kernel 3 --seed 2 --ckpt-minutes 1.5 --log-seconds 20 \
    --work "$OUT" --export "$OUT/export/edgepose-demo.onnx" --out-dir "$OUT" 2>&1 | tee "$OUT/train.log"
