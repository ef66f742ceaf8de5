"""results.json + figures in a run directory -> one self-contained report.html (figures inlined).

The report is a view over saved results: `sslab report RUN_DIR` re-renders it without retraining.
It is grouped by the questions a study asks; each figure has one sentence on how to read it.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from sslab.data.dsprites import SHAPE_NAMES

CAPTIONS = {
    "confusion": "Each panel is one encoder's linear probe on the test images: row = true class, column = "
                 "predicted, each row sums to 1, so a bright diagonal means few confusions.",
    "loss_curves": "Training loss per epoch of each trained encoder (supervised: cross-entropy; VAE: negative "
                   "ELBO per image; SimCLR: NT-Xent), so a curve still falling at the end was stopped early.",
    "factor_profile": "Left: test accuracy of a linear probe reading each latent factor out of the frozen features "
                      "(compare with the chance level under the factor); right: invariance, 1 when changing only "
                      "that factor leaves the features unchanged and 0 when it moves them (in cosine distance) as far "
                      "as changing every factor does.",
    "rsm": "One row per encoder, one column per latent: the cosine similarity between test images sorted by that "
           "latent (ticks at group boundaries), so bright blocks on the diagonal mean the encoder groups images "
           "that share that latent.",
    "rsm_histograms": "The distribution of cosine similarities over all pairs of test images (log density): mass "
                      "near 1 means the encoder maps those images alike, mass near 0 or below means it tells them "
                      "apart, and two peaks at +1 and -1 are what a nearly one-dimensional code gives.",
    "cka": "Linear CKA between the test-image features of every pair of encoders: 1 means the two represent the "
           "images with the same geometry (up to rotation and scale), 0 means unrelated.",
    "umap": "A 2-d UMAP (cosine metric) of each encoder's test features, one colour per class: separate clusters "
            "mean the classes are far apart in feature space; mixed colours mean they are not.",
    "vae_reconstructions": "Test images above the VAE's reconstructions from the posterior mean: what the VAE's "
                           "features retain of each image.",
    "label_fraction": "Test accuracy against the fraction of labelled training images (log scale), the same "
                      "stratified subsets for every encoder; a flat curve means few labels suffice; * marks encoders "
                      "retrained end to end on each subset.",
    "images_per_class": "The same with a fixed number of labelled images per class (the UvA SimCLR tutorial's "
                        "protocol); * marks encoders retrained end to end on each subset.",
    "bias": "Shape accuracy on the same unbiased test set after training encoder and probe on a set where shape "
            "predicts horizontal position (red) or on a control set of the same size and shapes (blue): the gap "
            "is what the bias costs.",
    "gallery": "Training images with their latents (shape, scale, orientation, posX, posY); the red cross marks "
               "the sprite's position.",
    "augmented_pairs": "Test images and two independent random affine views of each: the pairs SimCLR is "
                       "trained to map to nearby features.",
}
SECTIONS = [
    ("How well does each encoder read out the target?", ["confusion", "loss_curves"]),
    ("What do the encoders keep?", ["factor_profile", "rsm", "rsm_histograms", "cka", "umap", "vae_reconstructions"]),
    ("How many labels do they need?", ["label_fraction", "images_per_class"]),
    ("Do they survive a biased training set?", ["bias"]),
    ("The data", ["gallery", "augmented_pairs"]),
]


def encoder_names(results: dict[str, Any]) -> list[str]:
    """The encoders in a results dict, in run order."""
    return list(results["encoders"])


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _tables(results: dict[str, Any]) -> dict[str, str]:
    """HTML tables keyed by the figure they stand above."""
    names = encoder_names(results)
    enc = results["encoders"]
    out = {"confusion": _table(
        ["encoder", "linear probe, train", "linear probe, test", "kNN (k=20), test", "features", "time"],
        [["chance", "", _pct(results["chance"]), _pct(results["chance"]), "", ""]]
        + [[html.escape(n), _pct(enc[n]["train_accuracy"]), f"<b>{_pct(enc[n]['test_accuracy'])}</b>",
            _pct(enc[n]["knn_accuracy"]), str(enc[n]["feature_dim"]), f"{enc[n]['seconds']:.0f} s"] for n in names])}
    if "factors" in results:
        f = results["factors"]
        rows = [[html.escape(n)] + [f"{_pct(f['accuracy'][n][k])} / {f['invariance'][n][k]:.2f}" for k in f["factors"]]
                for n in names]
        out["factor_profile"] = (
            f"<p>Read-out accuracy / invariance per factor. Orientation and positions are read out in "
            f"{f['bins']} equal bins of neighbouring values (chance in brackets); probes fit on {f['n_fit']} training "
            f"images (L-BFGS capped at {f['max_iter']} iterations); invariance from {f['n_pairs']} generated image pairs "
            f"per factor, change measured as cosine distance (the RSMs' similarity). Squares look the same every "
            f"90&deg; and ellipses every 180&deg;, so no encoder can read orientation out perfectly.</p>"
            + _table(["encoder"] + [f"{k} ({_pct(f['chance'][k])})" for k in f["factors"]], rows))
    if "labels" in results:
        lab = results["labels"]
        for kind, label in (("label_fraction", "fraction of labels"), ("images_per_class", "labels per class")):
            sizes = lab["sizes"][kind]  # {point: number of labelled images}, in curve order
            keys = list(sizes)
            rows = [[html.escape(n) + ("*" if n in lab["retrained"] else "")] + [_pct(lab[kind][n][k]) for k in keys]
                    for n in names]
            out[kind] = _table([label] + [f"{k} ({sizes[k]})" for k in keys], rows)
    if "bias" in results:
        b = results["bias"]
        rows = [[html.escape(n), _pct(b["encoders"][n]["control"]), _pct(b["encoders"][n]["biased"]),
                 f"{(b['encoders'][n]['control'] - b['encoders'][n]['biased']) * 100:+.1f}"] for n in names]
        bands = ", ".join(f"{shape}s at posX {lo}&ndash;{hi}" for shape, (lo, hi) in zip(SHAPE_NAMES, b["bands"]))
        out["bias"] = (f"<p>Biased set: {b['n_biased']} training images with {bands}; control: {b['n_control']} "
                       f"training images with the same number of each shape at any position. Encoder and probe are "
                       f"trained on the set ({b['epoch_scale']:g} x each recipe's epochs), then tested on all "
                       f"{results['n_test']} test images.</p>"
                       + _table(["encoder", "trained on control", "trained on biased", "cost (points)"], rows))
    return out


def write(run_dir: str | Path) -> Path:
    """(Re)render run_dir/report.html from run_dir/results.json and the PNGs beside it."""
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    name = html.escape(run_dir.name.removesuffix(".partial"))  # the study renders it before the rename
    tables, figures = _tables(results), results["figures"]
    body = []
    for title, keys in SECTIONS:
        parts = []
        for key in keys:
            if key in tables:
                parts.append(tables[key])
            if key in figures:
                data = base64.b64encode((run_dir / figures[key]).read_bytes()).decode()
                parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{key}'>"
                             f"<figcaption>{CAPTIONS.get(key, '')}</figcaption></figure>")
        if parts:
            body.append(f"<h2>{title}</h2>" + "".join(parts))
    cfg = html.escape(json.dumps(results["config"], indent=2))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in results.get("timings", {}).items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sslab study: {name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}figure{{margin:1.5em 0}}
figcaption{{color:#555;font-size:0.95em}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>
</head><body>
<h1>sslab study: {name}</h1>
<p>Encoders trained on dSprites and frozen; probes read out <b>{html.escape(results['target'])}</b> from their
features: a linear probe (multinomial logistic regression on standardised features) and a kNN probe (cosine,
k=20, votes weighted by exp(similarity / 0.07)), fitted on {results['n_probe']} labelled training images and
tested on {results['n_test']} test images. Whole study: {results['seconds']:.0f} s on
{html.escape(results['environment']['device'])} ({html.escape(timings)}).</p>
{''.join(body)}
<h2>Configuration</h2><pre>{cfg}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page)
    return path
