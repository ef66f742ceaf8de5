"""Validation accuracy after every epoch of one encoder's training: where it stops improving.

    .venv/bin/python benchmarks/val_curve.py --method simclr [--study dsprites] [--data PATH]
        [--set simclr.lr=0.01 ...] [--epochs 20] [--seed 2021] [--threads 2] [--channels-last]

Builds the study's split and the method's resolved settings exactly as `sslab run` would, trains the
encoder, and after each epoch probes its frozen features (linear L-BFGS and kNN) on the validation
images. Test accuracy is never printed: recipes are chosen on validation. The last line names the
epoch after which the linear validation accuracy gains less than 0.5 points.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import torch

from sslab import methods, studies
from sslab.data import splits
from sslab.probes import KNNProbe, LinearProbe
from sslab.study import StudyConfig, load_images, plan
from sslab.train import Loop, extract, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", required=True, help="encoder name, e.g. simclr, supervised, vae")
    ap.add_argument("--study", default="dsprites", help="a named study or study file (default dsprites)")
    ap.add_argument("--data", help="dataset path (default: the study's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="name.key=value")
    ap.add_argument("--epochs", type=int, help="epochs (default: the resolved recipe's)")
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precision", default=None)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="probe every this many epochs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = studies.read(args.study)
    fields = {**base, "encoders": (args.method,), "analyses": (), "seed": args.seed,
              "overrides": (*base.get("overrides", ()), *args.overrides)}
    if args.data:
        fields["data"] = args.data
    if args.precision:
        fields["precision"] = args.precision
    cfg = StudyConfig(**fields)
    images = load_images(cfg)
    proto = splits.protocol(cfg.protocol, label_fraction=cfg.label_fraction, n_labelled=cfg.n_labelled,
                            holdout=cfg.holdout)
    split = splits.make_split(images, proto, cfg.split_seed, cfg.train_fraction, cfg.val_fraction)
    mcfg = plan(cfg, images, split).methods[args.method]
    if args.epochs:
        mcfg = dataclasses.replace(mcfg, epochs=args.epochs)
    torch.manual_seed(cfg.seed)
    method = methods.create(args.method, mcfg, images.shape, max(2, len(split.classes)))
    uses_labels = methods.REGISTRY[methods.parse_encoder(args.method)[0]].uses_labels
    idx = split.labelled if uses_labels else split.pretrain
    print(f"{args.method}: {mcfg}; threads {args.threads}; {cfg.precision}; channels_last {args.channels_last}; "
          f"{len(idx)} training images, {len(split.labelled)} labelled, {len(split.val)} validation", flush=True)
    print(f"{'epoch':>5}{'loss':>10}{'val linear':>12}{'val kNN':>10}{'train s':>9}", flush=True)
    curve: list[tuple[int, float]] = []
    t_train = [0.0]

    def probe(epoch: int, epochs: int, rec: dict[str, float]) -> None:
        t_train[0] = rec["seconds"]
        if epoch % args.every and epoch != epochs:
            return
        h_fit = extract(method, images.x, cfg.precision, idx=split.labelled)
        h_val = extract(method, images.x, cfg.precision, idx=split.val)
        y_fit, y_val = split.y[split.labelled], split.y[split.val]
        lin = LinearProbe(C=cfg.probe_C).fit(h_fit, y_fit).score(h_val, y_val)
        knn = KNNProbe().fit(h_fit, y_fit).score(h_val, y_val)
        method.train()  # extract() left it in eval mode
        curve.append((epoch, lin))
        more = "  ".join(f"{k} {v:.4g}" for k, v in rec.items() if isinstance(v, float) and k not in
                         ("loss", "seconds", "epoch", "lr"))  # the method's other logs (VICReg's terms, ...)
        print(f"{epoch:>5}{rec.get('loss', float('nan')):>10.4f}{lin:>12.2%}{knn:>10.2%}{rec['seconds']:>9.1f}  {more}",
              flush=True)

    t0 = time.perf_counter()
    fit(method, images.x, split.y, torch.Generator().manual_seed(cfg.seed), cfg.precision, probe, idx=idx,
        loop=Loop(precision=cfg.precision, channels_last=args.channels_last))
    best = max(v for _e, v in curve)
    plateau = next(e for e, v in curve if v >= best - 0.005)
    print(f"best val linear {best:.2%}; within 0.5 points of it from epoch {plateau}; "
          f"training {t_train[0]:.0f} s, whole {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
