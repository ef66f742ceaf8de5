#!/bin/bash
# LightlySSL's CIFAR-10 benchmark (the cifar10 study) on one GPU, as one call of at most 9 minutes:
#   bash benchmarks/gpu_cifar10.sh DATA [OUT_DIR] [METHODS]
# DATA: cifar-10-binary.tar.gz, the shared cifar10-jpeg.tar.gz (extracted to /dev/shm first), or JPEG folders.
# METHODS: default simclr,byol, each trained 200 epochs at batch 512 (the study's recipe), compiled, then per method:
# the final and best online kNN on test (the protocol's number), the linear probe, wall time with compilation and every
# evaluation, images/s, MFU (from `sslab bench`) and peak GPU memory. A dry run elsewhere:
#   DEVICE=cpu EPOCHS=1 N_IMAGES=600 bash benchmarks/gpu_cifar10.sh DATA
set -o pipefail
data=$1; out=${2:-gpu-cifar10}; methods=${3:-simclr,byol}
device=${DEVICE:-cuda}; budget=${BUDGET:-240}  # seconds each method may run
mkdir -p "$out"
if [ -z "$data" ]; then echo "usage: bash benchmarks/gpu_cifar10.sh DATA [OUT_DIR] [METHODS]"; exit 2; fi
if ls .whl/*.whl >/dev/null 2>&1; then  # a CUDA torch without sslab's other dependencies: kornia wheels beside
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 SSLAB_CACHE=/tmp/sslab-cache
if [[ "$data" == *jpeg*.tar.gz ]]; then
  mkdir -p /dev/shm/cifar10 && tar xzf "$data" -C /dev/shm/cifar10 && data=/dev/shm/cifar10
fi
[ "$device" = cuda ] && nvidia-smi -L
extra=(); [ -n "$EPOCHS" ] && extra+=(--epochs "$EPOCHS"); [ -n "$N_IMAGES" ] && extra+=(--n-images "$N_IMAGES")
if [ "$device" = cuda ]; then  # images/s, TFLOP/s and MFU of each method's step, compiled as the runs below are
  extra+=(--compile)
  timeout 120 python3 -m sslab bench --device cuda --steps 20 --compile --no-probe-check \
    --methods "$(echo "$methods" | sed 's/\([a-z_]*\)/\1\/cifar10/g')" --out "$out/bench.json" 2>&1 | grep -v -i warn \
    | tee "$out/bench.txt"
fi
for m in ${methods//,/ }; do
  start=$(date +%s.%N)
  timeout "$budget" python3 -m sslab run cifar10 --data "$data" --device "$device" --methods "$m" --analyses none \
    --no-cache --no-report --progress plain --out /tmp/runs-cifar10 --name "$m-$(date +%H%M%S)" "${extra[@]}" \
    > "$out/$m.log" 2>&1
  code=$?
  wall=$(python3 -c "import time; print(f'{time.time() - $start:.0f}')")
  python3 - "$m" "$code" "$wall" "$out" <<'PY'
import json, pathlib, sys
m, code, wall, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
runs = sorted(pathlib.Path("/tmp/runs-cifar10").glob(f"{m}-*/results.json"))
if code or not runs:
    print(f"{m}: did not finish (exit {code}, {wall} s); the last lines of {out / (m + '.log')}:")
    print("".join(open(out / f"{m}.log").readlines()[-5:]))
    sys.exit()
r = json.loads(runs[-1].read_text())
e = r["encoders"][m]
online, hist = e.get("online", {}), r["histories"][m]
curve = online.get("knn_test", [])
batch = r["config"]["methods"][m]["batch_size"]  # the last partial batch is dropped, as sslab.train.epoch_images
rate = r["n_train"] // batch * batch * len(hist) / max(1e-9, hist[-1]["seconds"])  # source images/s of training
bench = {c["method"]: c for c in json.loads((out / "bench.json").read_text())["cases"]} if (out / "bench.json").exists() else {}
mfu = bench.get(m, {}).get("mfu")
print(f"{m}: {len(hist)} epochs; online kNN on test final {curve[-1][1]:.2%}, best {online.get('best_knn_test', 0):.2%}"
      f" (epoch {max(curve, key=lambda p: p[1])[0]}); linear probe test {e['test_accuracy']:.2%}, kNN test "
      f"{e['knn_accuracy']:.2%}; wall {wall} s (training {hist[-1]['seconds']:.0f} s, evaluations "
      f"{online.get('seconds', 0):.0f} s); {rate:,.0f} images/s over training; MFU "
      f"{'n/a' if mfu is None else f'{mfu:.1%}'}; peak memory {e.get('peak_memory_mb', 0):,.0f} MB")
PY
done | tee "$out/summary.txt"
