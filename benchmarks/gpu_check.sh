#!/bin/bash
# The GPU checks, as one script for a machine with CUDA torch but without sslab's other dependencies:
#   bash benchmarks/gpu_check.sh OUT_DIR [all|bench|runs]   (kornia wheels in .whl/ when it is not installed)
# bench: the CUDA tests, `sslab bench --device cuda` (plain, then compiled), a --quick study on the GPU.
# runs: a prepared (memory-mapped) dataset trained on the GPU from pinned CPU batches, a run killed and resumed.
set -o pipefail
out=${1:-gpu-check}; what=${2:-all}; mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 SSLAB_CACHE=/tmp/sslab-cache
nvidia-smi -L; python3 -c "import torch, kornia; print('torch', torch.__version__, 'kornia', kornia.__version__)"
if [ "$what" != runs ]; then
  timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_methods.py tests/test_views.py -k cuda 2>&1 | tail -4 | tee "$out/cuda-tests.txt"
  timeout 170 python3 -m sslab bench --device cuda --steps 20 --out "$out/bench-gpu.json" 2>&1 | tee "$out/bench-gpu.txt"
  timeout 140 python3 -m sslab run --quick --device cuda --analyses similarity,factors,labels,bias \
    --out /tmp/runs --name gpu-quick 2>&1 | tail -12 | tee "$out/study-gpu.txt"
fi
[ "$what" != runs ] && timeout 120 python3 -m sslab bench --device cuda --steps 20 --compile --channels-last --no-probe-check \
  --methods simclr/dsprites,simclr/cifar10 --out "$out/bench-gpu-compiled.json" 2>&1 | grep -v -i warn | tee "$out/bench-gpu-compiled.txt"
[ "$what" = bench ] && exit 0
python3 - <<'PY'
import numpy as np
from sslab.data import dsprites
import torch
im = dsprites.generate(20000)
order = torch.randperm(20000, generator=torch.Generator().manual_seed(0))  # the grid comes sorted by shape
x, y = im.x[order, 0].numpy(), im.y[order].numpy()
np.savez("/tmp/d.npz", train_images=x[:16000], train_labels=y[:16000], val_images=x[16000:17000],
         val_labels=y[16000:17000], test_images=x[17000:], test_labels=y[17000:])
PY
rm -rf /tmp/prepared /tmp/runs; python3 -m sslab prepare /tmp/d.npz /tmp/prepared 2>&1 | tee "$out/runs-gpu.txt"
run="python3 -m sslab run --data /tmp/prepared --device cuda --methods supervised,simclr --epochs 8 --analyses none --out /tmp/runs"
timeout 100 $run --name mapped 2>&1 | tail -6 | tee -a "$out/runs-gpu.txt"
timeout -s KILL 12 $run --name killed --no-cache > /dev/null 2>&1; ls /tmp/runs/killed.partial/checkpoints | tee -a "$out/runs-gpu.txt"
timeout 100 python3 -m sslab run --resume /tmp/runs/killed.partial 2>&1 | grep -E "resuming|^simclr|^supervised|report" | tee -a "$out/runs-gpu.txt"
