"""results.json + figures in a run directory -> one self-contained report.html (figures inlined).

The report is a view over saved results: `sslab report RUN_DIR` re-renders it without retraining.
It is grouped by the questions a study asks (each analysis names its question, its captions and its
table); each figure has one sentence on how to read it; analyses that did not run say why.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from sslab import analyses

CAPTIONS = {
    "confusion": "Each panel is one encoder's linear probe on the test images: row = true class, column = "
                 "predicted, each row sums to 1, so a bright diagonal means few confusions.",
    "loss_curves": "Training loss per epoch of each trained encoder (supervised: cross-entropy; VAE: negative "
                   "ELBO per image; SimCLR: NT-Xent), so a curve still falling at the end was stopped early.",
    "reconstructions": "Test images above each autoencoder's reconstructions from its features (the VAE's from "
                       "the posterior mean): what the features retain of each image.",
    "gallery": "Training images with their labels (for generated data, their latent factors; the red cross marks "
               "the sprite's position).",
    "augmented_pairs": "Test images and two independent random views of each, drawn with the study's view recipe: "
                       "the pairs SimCLR is trained to map to nearby features.",
}
FIRST = "How well does each encoder read out the labels?"
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%}figure{margin:1.5em 0}
figcaption{color:#555;font-size:0.95em}pre{background:#f6f6f6;padding:1em;overflow:auto}small{color:#666}
.skipped{color:#777}.about{background:#f3f6fa;padding:0.8em 1em;border-left:4px solid #4a78b0}"""  # every page's
KEEP = "What do the encoders keep?"


def encoder_names(results: dict[str, Any]) -> list[str]:
    """The encoders in a results dict, in run order."""
    return list(results["encoders"])


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; header cells are escaped, row cells are HTML already (escape names before)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def _main_table(results: dict[str, Any]) -> str:
    enc, chance = results["encoders"], results["chance"]
    rows = [["chance (majority class)", "", "", pct(chance), pct(chance), "", ""]]
    for n in encoder_names(results):
        r = enc[n]
        warn = "".join(f"<br><small>&#9888; {html.escape(w)}</small>" for w in r.get("warnings", []))
        rows.append([html.escape(n) + warn, pct(r["train_accuracy"]), pct(r.get("val_accuracy")),
                     f"<b>{pct(r['test_accuracy'])}</b>", pct(r["knn_accuracy"]), str(r["feature_dim"]),
                     f"{r['seconds']:.0f} s"])
        for key, v in r.get("variants", {}).items():  # the same encoder read elsewhere (a head, a teacher)
            rows.append([f"&nbsp;&nbsp;{html.escape(n)} ({html.escape(key)})", pct(v["train_accuracy"]),
                         pct(v.get("val_accuracy")), pct(v["test_accuracy"]), pct(v["knn_accuracy"]),
                         str(v["feature_dim"]), ""])
    return table(["encoder", "linear probe, train", "val", "test", "kNN (k=20), test", "features", "time"], rows)


def figure(png: Path, caption: str) -> str:
    """A PNG inlined in the page, with its caption."""
    data = base64.b64encode(png.read_bytes()).decode()
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(png.stem)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _figure(run_dir: Path, results: dict[str, Any], key: str, caption: str) -> str:
    return figure(run_dir / results["figures"][key], caption) if key in results["figures"] else ""


def _sections(run_dir: Path, results: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(question, HTML parts) in report order: the probes, each analysis's question, the data."""
    names = [html.escape(n) for n in encoder_names(results)]
    sections: dict[str, list[str]] = {FIRST: [_main_table(results), _figure(run_dir, results, "confusion",
                                                                            CAPTIONS["confusion"]),
                                              _figure(run_dir, results, "loss_curves", CAPTIONS["loss_curves"])]}
    for key, module in analyses.REGISTRY.items():
        parts = sections.setdefault(module.QUESTION, [])
        if key in results.get("skipped", {}):
            parts.append(f"<p class='skipped'>The <b>{key}</b> analysis did not run: "
                         f"{html.escape(results['skipped'][key])}.</p>")
            continue
        if key not in results:
            continue
        tables = module.table(results[key], names) if hasattr(module, "table") else ""
        for fig, caption in module.FIGURES.items():
            if isinstance(tables, dict):
                parts.append(tables.get(fig, ""))
            elif tables:
                parts.append(tables)
                tables = ""
            parts.append(_figure(run_dir, results, fig, caption))
    sections.setdefault(KEEP, []).append(_figure(run_dir, results, "reconstructions", CAPTIONS["reconstructions"]))
    for key, caption in results.get("method_figures", {}).items():  # what a method drew of itself
        sections[KEEP].append(_figure(run_dir, results, key, caption))
    sections["The data"] = [_figure(run_dir, results, k, CAPTIONS[k]) for k in ("gallery", "augmented_pairs")]
    return [(q, [p for p in parts if p]) for q, parts in sections.items()]


def _cached(results: dict) -> str:
    """Which trained encoders were loaded rather than trained (the encoder cache, a resumed run)."""
    by_source: dict[str, list[str]] = {}
    for label, source in results.get("cached", {}).items():
        by_source.setdefault(source, []).append(label)
    return "".join(f" Loaded finished from {'the encoder cache' if s == 'the cache' else html.escape(s)}, not trained "
                   f"again: {html.escape(', '.join(names))}." for s, names in by_source.items())


def write(run_dir: str | Path) -> Path:
    """(Re)render run_dir/report.html from run_dir/results.json and the PNGs beside it."""
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    name = html.escape(run_dir.name.removesuffix(".partial"))  # the study renders it before the rename
    body = "".join(f"<h2>{html.escape(q)}</h2>" + "".join(parts) for q, parts in _sections(run_dir, results) if parts)
    d, split = results["data"], results["split"]
    cfg = html.escape(json.dumps(results["config"], indent=2))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in results.get("timings", {}).items())
    classes = ", ".join(html.escape(c) for c in results["classes"])
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in split.get("notes", []))
    about = results["config"].get("about", "")
    about = f"<p class='about'>{html.escape(about)}</p>" if about else ""
    from sslab.probes import DESCRIPTIONS

    probe = DESCRIPTIONS.get(results["config"].get("probe", "lbfgs"), "")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sslab study: {name}</title>
<style>{STYLE}</style>
</head><body>
<h1>sslab study: {name}</h1>
{about}
<p>Data: {html.escape(d['source'])} ({html.escape(d['format'])}, {d['n_images']} images of
{'x'.join(map(str, d['image_shape']))}). Encoders are trained on {results['n_train']} images, frozen, and
probed for <b>{html.escape(results['target'])}</b> ({len(results['classes'])} classes: {classes}): a linear probe
({html.escape(probe)}) and a kNN probe (cosine, k=20, votes weighted by
exp(similarity / 0.07)), fitted on {results['n_probe']} labelled training images, checked on {results['n_val']}
validation images and tested on {results['n_test']} test images. Chance is {pct(results['chance'])}, the
majority class's share of the test images. Protocol: {html.escape(results['protocol']['name'])}.</p>
<ul>{notes}</ul>
<p>Whole study: {results['seconds']:.0f} s on {html.escape(results['environment']['device'])}
({html.escape(timings)}).{_cached(results)}</p>
{body}
<h2>Configuration</h2><pre>{cfg}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    path.write_text(page)
    return path
