"""Time the default dSprites study end to end and print each encoder's figures.

    .venv/bin/python benchmarks/bench_study.py [--data ../shared/data/dsprites_subset.npz] [--threads 2]

Prints the wall time of the whole study (the issue's bar: 15 minutes on a 2-core CPU) and where
it goes, and checks the scientific bar of issue #2 on the accuracies it got.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from sslab.study import StudyConfig, run

BAR = {"supervised": (">=", 0.97), "simclr": (">=", 0.95), "vae": ("<=", 0.70), "random": ("<=", 0.60), "raw": ("<=", 0.50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "dsprites_subset.npz"
    ap.add_argument("--data", default=str(default) if default.is_file() else None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run(StudyConfig(data=args.data, quick=args.quick), Path(tmp) / "bench", log=lambda m: print(m, file=sys.stderr, flush=True))
        wall = time.perf_counter() - t0
    print(f"data: {args.data or 'embedded generated subset'}; torch {torch.__version__}; threads {args.threads}")
    print(f"{'encoder':<14}{'train acc':>10}{'test acc':>10}{'train s':>9}{'total s':>9}")
    for name, r in res.items():
        if isinstance(r, dict) and "test_accuracy" in r:
            print(f"{name:<14}{r['train_accuracy']:>10.2%}{r['test_accuracy']:>10.2%}{r['train_seconds']:>9.1f}{r['seconds']:>9.1f}")
    print(f"whole study: {wall:.1f} s ({wall / 60:.1f} min)")
    if args.quick:
        return
    checks = [f"{n} {op} {v:.0%}: {'ok' if (res[n]['test_accuracy'] >= v if op == '>=' else res[n]['test_accuracy'] <= v) else 'MISSED'}"
              for n, (op, v) in BAR.items() if n in res]
    if "simclr" in res and "simclr-2neg" in res:
        gap = res["simclr"]["test_accuracy"] - res["simclr-2neg"]["test_accuracy"]
        checks.append(f"simclr - simclr-2neg >= 10 points: {gap * 100:.1f} points, {'ok' if gap >= 0.10 else 'MISSED'}")
    checks.append(f"time <= 15 min: {'ok' if wall <= 900 else 'MISSED'}")
    print("\n".join(checks))


if __name__ == "__main__":
    main()
