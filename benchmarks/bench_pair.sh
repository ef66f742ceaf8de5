#!/usr/bin/env bash
# Both cores on one encoder, or one core each on two at once? The dSprites SimCLR step (encoder_core, batch 128)
# timed by `sslab bench` with 2 threads alone, 1 thread alone, and in two 1-thread processes at the same time.
# The sum of the last two is what `sslab run --parallel` (the default) gets from a 2-core CPU. Run nothing else.
#     benchmarks/bench_pair.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-80}
tmp=$(mktemp -d)
bench() { .venv/bin/sslab bench --methods simclr/dsprites --batch-size 128 --steps "$steps" --no-probe-check \
          --threads "$1" --out "$tmp/$2.json" > "$tmp/$2.log" 2>&1; }
rate() { .venv/bin/python -c "import json,sys; print(round(json.load(open(sys.argv[1]))['cases'][0]['images_per_s']))" "$1"; }
bench 2 both; bench 1 one
bench 1 a & bench 1 b; wait
a=$(rate "$tmp/a.json"); b=$(rate "$tmp/b.json")
echo "2 threads, one encoder:           $(rate "$tmp/both.json") images/s"
echo "1 thread, one encoder:            $(rate "$tmp/one.json") images/s"
echo "1 thread each, two encoders:      $a + $b = $((a + b)) images/s"
rm -rf "$tmp"
