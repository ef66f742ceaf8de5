"""results.json + figures in a run directory -> one self-contained report.html (figures inlined)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

CAPTIONS = {
    "rsm": "Cosine similarity between test images, sorted by the target latent. Bright blocks on the "
           "diagonal mean images of one class sit close together in that encoder's feature space.",
    "loss_curves": "Training loss per epoch of each trained encoder (the supervised loss is cross-entropy, "
                   "the VAE's the negative ELBO per image, SimCLR's NT-Xent).",
    "augmented_pairs": "Test images and two independent random affine views of each: the pairs SimCLR is "
                       "trained to map to nearby features.",
    "vae_reconstructions": "Test images above the VAE's reconstructions from the posterior mean: what the "
                           "VAE's 84 features retain of each image.",
}
TITLES = {"rsm": "Representational similarity", "loss_curves": "Training", "augmented_pairs": "Augmented views",
          "vae_reconstructions": "VAE reconstructions"}


def encoder_names(results: dict[str, Any]) -> list[str]:
    """The encoders in a results dict, in run order (they are the entries holding a test_accuracy)."""
    return [k for k, v in results.items() if isinstance(v, dict) and "test_accuracy" in v]


def write(run_dir: str | Path) -> Path:
    """(Re)render run_dir/report.html from run_dir/results.json and the PNGs beside it."""
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    chance = results["chance"]
    rows = [f"<tr><td>chance</td><td></td><td>{chance:.2%}</td><td></td></tr>"]
    for name in encoder_names(results):
        r = results[name]
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{r['train_accuracy']:.2%}</td>"
                    f"<td><b>{r['test_accuracy']:.2%}</b></td><td>{r['seconds']:.0f} s</td></tr>")
    figures = []
    for key, file in results["figures"].items():
        data = base64.b64encode((run_dir / file).read_bytes()).decode()
        figures.append(f"<h2>{TITLES.get(key, key)}</h2><p>{CAPTIONS.get(key, '')}</p>"
                       f"<img src='data:image/png;base64,{data}' alt='{key}'>")
    cfg = html.escape(json.dumps(results["config"], indent=2))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sslab study: {html.escape(run_dir.name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:4px 12px;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>
</head><body>
<h1>sslab study: {html.escape(run_dir.name)}</h1>
<p>Linear probe (multinomial logistic regression on frozen, standardised features) reading out
<b>{html.escape(results['target'])}</b>: {results['n_probe']} labelled training images, {results['n_test']} test images.
Whole study: {results['seconds']:.0f} s on {html.escape(results['environment']['device'])}.</p>
<table><tr><th>encoder</th><th>train accuracy</th><th>test accuracy</th><th>time</th></tr>
{''.join(rows)}</table>
{''.join(figures)}
<h2>Configuration</h2><pre>{cfg}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page)
    return path
