"""The probes every encoder gets: a linear and a kNN probe fitted on the labelled images' cached features,
scored on train, validation and test, with the warnings a reader needs (not converged, one class, collapsed)."""

from __future__ import annotations

from typing import Any

import torch

from sslab.i18n import N_
from sslab import probes
from sslab.probes import KNNProbe


def probe(h: torch.Tensor, rows: torch.Tensor, split: Any, new_probe, new_knn=KNNProbe) -> dict[str, Any]:
    """Linear and kNN probes on features h of the evaluated images (rows: an image's row in h, by index)."""
    h_fit, y_fit = h[rows[split.labelled]], split.y[split.labelled]
    h_val, h_test = h[rows[split.val]], h[rows[split.test]]
    y_val, y_test = split.y[split.val], split.y[split.test]
    linear = new_probe().fit(h_fit, y_fit)
    knn = new_knn().fit(h_fit, y_fit)
    warnings = []
    if not getattr(linear, "converged_", True):
        warnings.append(N_("the linear probe stopped at its {n}-iteration cap before converging").format(
            n=linear.max_iter))
    if len(linear.classes_) < 2:
        warnings.append(N_("the probe saw a single class: its accuracy means nothing"))
    if collapsed(h_test):
        warnings.append(N_("collapsed: every test image has the same features"))
    return {
        "train_accuracy": linear.score(h_fit, y_fit),
        "val_accuracy": linear.score(h_val, y_val) if len(split.val) else None,
        "test_accuracy": linear.score(h_test, y_test),
        "knn_accuracy": knn.score(h_test, y_test),
        "knn_val_accuracy": knn.score(h_val, y_val) if len(split.val) else None,
        "feature_dim": h.shape[1], "probe_iterations": getattr(linear, "n_iter_", None), "warnings": warnings,
        "confusion": linear.confusion(h_test, y_test),
    }


def finite(h: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Features a probe can fit (probes.finite), and a warning naming the images whose features were not finite."""
    h, n = probes.finite(h)
    return h, [N_("the features of {n} of {total} images were not finite (the training diverged?): set to 0 for "
                  "the probes").format(n=n, total=len(h))] if n else []


def collapsed(h: torch.Tensor) -> bool:
    """True when the features hardly vary between images: all of them sit at one point."""
    spread = h.float().std(0).norm()
    return bool(spread <= 1e-4 * (h.float().mean(0).norm() + spread) or spread < 1e-8)


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2%}"
