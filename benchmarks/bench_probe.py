"""The linear probe against scikit-learn's: time and test accuracy of the same objective on the same features.

    .venv/bin/python benchmarks/bench_probe.py [--threads 2] [--n 20000] [--width 84]

Features: an untrained encoder_core's (84-d) on generated dSprites images, or with --width 4096 the raw
pixels; target shape; 80% to fit, 20% to score. Both fit multinomial logistic regression with C=1 on
standardised features by L-BFGS (sslab's in float32 torch, scikit-learn's in float64 scipy), capped at 500
iterations. Prints seconds, iterations and test accuracy of each. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from sslab import methods
from sslab.data import dsprites
from sslab.probes import LinearProbe
from sslab.train import extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=20000, help="generated dSprites images")
    parser.add_argument("--width", type=int, default=84, choices=(84, 4096), help="84: encoder features; 4096: pixels")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    images = dsprites.generate(args.n)
    if args.width == 4096:
        h = images.x.float().flatten(1) / 255
    else:
        torch.manual_seed(0)
        h = extract(methods.build("random", images.shape, 3), images.x)  # the study's untrained encoder_core
    y = images.y
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    fit, test = perm[: int(0.8 * len(y))], perm[int(0.8 * len(y)):]
    print(f"{len(fit):,} x {h.shape[1]} features to fit, {len(test):,} to score, {torch.get_num_threads()} threads")

    t = time.perf_counter()
    probe = LinearProbe(C=1.0, max_iter=500).fit(h[fit], y[fit])
    ours = time.perf_counter() - t
    print(f"sslab LinearProbe:       {ours:6.2f} s, {probe.n_iter_} iterations, test {probe.score(h[test], y[test]):.2%}")

    t = time.perf_counter()
    scaler = StandardScaler().fit(h[fit].double().numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its ConvergenceWarning at the cap is reported as the iteration count
        clf = LogisticRegression(C=1.0, max_iter=500).fit(scaler.transform(h[fit].double().numpy()), y[fit].numpy())
    theirs = time.perf_counter() - t
    acc = clf.score(scaler.transform(h[test].double().numpy()), y[test].numpy())
    print(f"scikit-learn lbfgs:      {theirs:6.2f} s, {int(clf.n_iter_[0])} iterations, test {acc:.2%}")
    print(f"scikit-learn / sslab:    {theirs / ours:.1f}x the time")


if __name__ == "__main__":
    main()
