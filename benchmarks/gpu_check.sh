#!/bin/bash
# The GPU checks, as one script for a machine with CUDA torch but without sslab's other dependencies:
#   bash benchmarks/gpu_check.sh OUT_DIR      (kornia wheels in .whl/ when it is not installed)
# CUDA tests, `sslab bench --device cuda` (plain, then compiled), and a --quick study on the GPU.
set -o pipefail
out=${1:-gpu-check}; mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi -L; python3 -c "import torch, kornia; print('torch', torch.__version__, 'kornia', kornia.__version__)"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_methods.py tests/test_views.py -k cuda 2>&1 | tail -4 | tee "$out/cuda-tests.txt"
timeout 170 python3 -m sslab bench --device cuda --steps 20 --out "$out/bench-gpu.json" 2>&1 | tee "$out/bench-gpu.txt"
timeout 120 python3 -m sslab bench --device cuda --steps 20 --compile --channels-last --no-probe-check \
  --methods simclr --out "$out/bench-gpu-compiled.json" 2>&1 | tee "$out/bench-gpu-compiled.txt"
/usr/bin/time -v timeout 140 python3 -m sslab run --quick --device cuda --analyses similarity,factors,labels,bias \
  --out /tmp/runs --name gpu-quick 2>&1 | grep -v "^\s*$" | tail -40 | tee "$out/study-gpu.txt"
