"""Time the default dSprites study end to end and print its figures against the issues' bars.

    .venv/bin/python benchmarks/bench_study.py [--data ../shared/data/dsprites_subset.npz] [--threads 2] [--out DIR]

Prints the wall time of the whole study and of each analysis (the bar: 20 minutes on a 2-core CPU
for every encoder and every analysis), each encoder's probe accuracies, and checks the scientific
bars of issues #2 and #3 on what it got. Run nothing else on the machine meanwhile: two jobs on two
cores slowed each other six-fold here. --out keeps the run folder (report.html) for inspection.
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

BAR = {"supervised": (">=", 0.97), "simclr": (">=", 0.95), "vae": ("<=", 0.70), "random": ("<=", 0.60), "raw": ("<=", 0.50)}
MINUTES = 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "dsprites_subset.npz"
    ap.add_argument("--data", default=str(default) if default.is_file() else None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="keep the run here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cfg = StudyConfig(**studies.read("dsprites") | {"data": args.data, "quick": args.quick})
        res = run(cfg, Path(args.out or Path(tmp) / "bench"),
                  log=lambda m: print(m, file=sys.stderr, flush=True))
        wall = time.perf_counter() - t0
    enc = res["encoders"]
    print(f"data: {args.data or 'embedded generated subset'}; torch {torch.__version__}; threads {args.threads}")
    print(f"{'encoder':<14}{'train acc':>10}{'val acc':>10}{'test acc':>10}{'kNN acc':>10}{'train s':>9}{'total s':>9}")
    for name, r in enc.items():
        print(f"{name:<14}{r['train_accuracy']:>10.2%}{r['val_accuracy']:>10.2%}{r['test_accuracy']:>10.2%}"
              f"{r['knn_accuracy']:>10.2%}"
              f"{r['train_seconds']:>9.1f}{r['seconds']:>9.1f}")
    print("time per part (s): " + ", ".join(f"{k} {v:.0f}" for k, v in res["timings"].items()))
    if "factors" in res:
        f = res["factors"]
        print("factor profile (read-out accuracy / invariance):")
        for name in enc:
            print(f"  {name:<12}" + "  ".join(f"{k} {f['accuracy'][name][k]:.0%}/{f['invariance'][name][k]:.2f}"
                                            for k in f["factors"]))
    for kind in ("label_fraction", "images_per_class"):
        if "labels" in res:
            print(f"{kind}: " + "; ".join(f"{n} " + " ".join(f"{v:.0%}" for v in c.values())
                                          for n, c in res["labels"][kind].items()))
    if "bias" in res:
        print("bias (control -> biased): " + "; ".join(f"{n} {r['control']:.1%} -> {r['biased']:.1%}"
                                                      for n, r in res["bias"]["encoders"].items()))
    print(f"whole study: {wall:.1f} s ({wall / 60:.1f} min)")
    if args.quick:
        return
    checks = [f"{n} {op} {v:.0%}: {'ok' if (enc[n]['test_accuracy'] >= v if op == '>=' else enc[n]['test_accuracy'] <= v) else 'MISSED'}"
              for n, (op, v) in BAR.items() if n in enc]
    if "simclr" in enc and "simclr-2neg" in enc:
        gap = enc["simclr"]["test_accuracy"] - enc["simclr-2neg"]["test_accuracy"]
        checks.append(f"simclr - simclr-2neg >= 10 points: {gap * 100:.1f} points, {'ok' if gap >= 0.10 else 'MISSED'}")
    if "factors" in res and {"simclr", "vae"} <= set(enc):
        inv = res["factors"]["invariance"]
        for k in ("orientation", "posX", "posY"):
            ok = inv["simclr"][k] > inv["vae"][k]
            checks.append(f"simclr more invariant to {k} than vae: {inv['simclr'][k]:.2f} vs {inv['vae'][k]:.2f}, "
                          f"{'ok' if ok else 'MISSED'}")
    checks.append(f"time <= {MINUTES} min: {'ok' if wall <= MINUTES * 60 else 'MISSED'}")
    print("\n".join(checks))


if __name__ == "__main__":
    main()
