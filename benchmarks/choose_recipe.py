"""Choose a method setting on validation data: train one encoder per value and print its validation
accuracy (linear and kNN probes). Test accuracy is never printed: recipes are chosen on validation.

    .venv/bin/python benchmarks/choose_recipe.py --data ../shared/data/retinamnist.npz \
        --method simclr --setting temperature --values 0.1,0.2,0.5 [--set simclr.epochs=60] [--threads 2]
        [--study medmnist]   # the named study's protocol, encoder, views and settings apply

Each value runs `sslab run` with that encoder alone and no analyses, into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from sslab import studies
from sslab.study import StudyConfig, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="dataset path (default: the generated dSprites)")
    ap.add_argument("--method", required=True, help="encoder name, e.g. simclr or supervised")
    ap.add_argument("--setting", required=True, help="the setting to vary, e.g. temperature")
    ap.add_argument("--values", required=True, help="comma-separated values")
    ap.add_argument("--study", help="a named study or study file whose settings apply (e.g. medmnist)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="other settings, name.key=value")
    ap.add_argument("--seeds", default="2021", help="comma-separated training seeds (the split stays fixed)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"data {args.data or 'generated dSprites'}; {args.method}.{args.setting}; threads {args.threads}")
    print(f"{'value':>10}{'seed':>6}{'val linear':>12}{'val kNN':>10}{'train s':>9}")
    for value in args.values.split(","):
        for seed in args.seeds.split(","):
            base = studies.read(args.study) if args.study else {}
            cfg = StudyConfig(**{**base, "data": args.data, "encoders": (args.method,), "analyses": (), "seed": int(seed),
                                 "overrides": (*base.get("overrides", ()), *args.overrides,
                                               f"{args.method}.{args.setting}={value}")})
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                res = run(cfg, Path(tmp) / "r", log=lambda m: None)
                r = res["encoders"][args.method]
            print(f"{value:>10}{seed:>6}{r['val_accuracy']:>12.2%}{r['knn_val_accuracy']:>10.2%}"
                  f"{time.perf_counter() - t0:>9.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
