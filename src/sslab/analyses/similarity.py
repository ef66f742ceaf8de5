"""Similarity: RSMs of test images sorted by each factor (or by class), their histograms, and linear CKA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslab import analysis, plots
from sslab.i18n import N_
from sslab.analyses.base import Context, Figures

QUESTION = N_("What do the encoders keep?")
ORDER = 20
NEEDS = ()


@dataclass(frozen=True)
class Config:
    rsm_images: int = 1000  # test images in each RSM panel (block-averaged to rsm_pixels)
    rsm_pixels: int = 250  # RSM panels are at most this many cells across


FIGURES = {
    "rsm": N_("One row per encoder, one column per sorting key (a latent factor, or the class): the cosine similarity "
           "between test images sorted by it (ticks at group boundaries), so bright blocks on the diagonal mean "
           "the encoder groups images that share that value."),
    "rsm_histograms": N_("The distribution of cosine similarities over all pairs of test images (log density): mass "
                      "near 1 means the encoder maps those images alike, mass near 0 or below means it tells them "
                      "apart, and two peaks at +1 and -1 are what a nearly one-dimensional code gives."),
    "cka": N_("Linear CKA between the test-image features of every pair of encoders: 1 means the two represent the "
           "images with the same geometry (up to rotation and scale), 0 means unrelated."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    test = s.split.test
    keys = s.sort_keys()  # {name: ((N,) labels of every image, level names)}: each factor, then the class
    if len(keys) > 1:
        del keys["class"]  # generated data: its labels are one of its factors already
    # The same random test images in every panel, ordered by each key in turn.
    samples = {k: test[analysis.sorted_sample(labels[test], cfg.rsm_images, s.cfg.seed)]
               for k, (labels, _) in keys.items()}
    grid, hists, summary = {}, {}, {}
    for name in s.encoders:
        # float16 is plenty for a picture of similarities in [-1, 1], and halves the figure data on disk
        grid[name] = {k: (analysis.rsm(s.features(name, idx), size=cfg.rsm_pixels).half().numpy(),
                          keys[k][0][idx].numpy()) for k, idx in samples.items()}
        counts, edges = analysis.rsm_histogram(s.features(name, test))
        hists[name] = (counts, edges)
        centres = (edges[1:] + edges[:-1]) / 2  # mean and spread from the 100 bins: within 0.01 of exact
        mean = float((counts * centres).sum() / counts.sum())
        summary[name] = {"mean": mean, "std": float(((counts * (centres - mean) ** 2).sum() / counts.sum()).sqrt())}
    names = list(s.encoders)
    cka = analysis.cka_matrix({k: s.features(k, test) for k in names})
    figures = {}
    figures["rsm"] = plots.later(plots.rsm_grid, grid, {k: list(v[1]) for k, v in keys.items()})
    figures["rsm_histograms"] = plots.later(plots.rsm_histograms, hists)
    figures["cka"] = plots.later(plots.matrix, cka.numpy(), names, names, N_("Linear CKA between encoders (test images)"),
                                    N_("linear CKA"), 0, 1)
    return {"sorted_by": list(keys), "n_images": cfg.rsm_images, "rsm_values": summary,
            "cka": {"encoders": names, "matrix": cka.tolist()}}, figures
