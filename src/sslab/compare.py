"""Several finished runs side by side: `sslab compare RUN_DIR...`, and the summary of a `--seeds` run.

Every encoder's probe accuracies (linear val / test, kNN test; and its variants') are read from each run's
results.json; where a run set is one study over several seeds they are summarised as mean and standard
deviation, and the figures draw every run's point beside the mean. The label curves, where every run has
them, are drawn the same way. One compare.json and one self-contained report.html.
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from pathlib import Path
from typing import Any

from sslab.errors import SslabError

METRICS = (("val_accuracy", "linear val"), ("test_accuracy", "linear test"), ("knn_accuracy", "kNN test"))


def read(run_dirs: list[Path]) -> list[dict[str, Any]]:
    out = []
    for d in run_dirs:
        path = Path(d) / "results.json"
        if not path.is_file():
            raise SslabError(f"{d} is not a finished run: no results.json there")
        out.append(json.loads(path.read_text()))
    return out


def rows(results: list[dict[str, Any]]) -> dict[str, list[dict[str, float | None]]]:
    """{encoder (or 'encoder (variant)'): [its probe accuracies in each run, None where it is missing]}."""
    names: dict[str, None] = {}
    for r in results:
        for name, e in r["encoders"].items():
            names[name] = None
            names.update({f"{name} ({v})": None for v in e.get("variants", {})})
    table = {}
    for name in names:
        base, _, variant = name.partition(" (")
        per_run = []
        for r in results:
            e = r["encoders"].get(base)
            e = e.get("variants", {}).get(variant.rstrip(")")) if e is not None and variant else e
            per_run.append(None if e is None else {k: e.get(k) for k, _ in METRICS})
        table[name] = per_run
    return table


def summary(points: list[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one point) and the points themselves."""
    values = [p for p in points if p is not None]
    if not values:
        return {"mean": None, "sd": None, "points": points}
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "points": points}


def aggregate(results: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """What compare.json holds: per encoder and metric, mean, sd and per-run points; label curves likewise."""
    out: dict[str, Any] = {"runs": labels, "encoders": {}}
    for name, per_run in rows(results).items():
        out["encoders"][name] = {k: summary([None if p is None else p[k] for p in per_run]) for k, _ in METRICS}
    for kind in ("label_fraction", "images_per_class"):
        if all(kind in r.get("labels", {}) for r in results):
            curves: dict[str, dict[str, Any]] = {}
            for name in results[0]["labels"][kind]:
                points = results[0]["labels"][kind][name]
                curves[name] = {k: summary([r["labels"][kind].get(name, {}).get(k) for r in results]) for k in points}
            out[kind] = curves
    return out


def write(out_dir: Path, run_dirs: list[Path], labels: list[str] | None = None, title: str = "") -> dict[str, Any]:
    """Write out_dir/compare.json, out_dir/results.json (the same) and out_dir/report.html; return the summary."""
    results = read(run_dirs)
    labels = labels or [Path(d).name for d in run_dirs]
    summary_ = aggregate(results, labels)
    summary_ |= {"title": title or "comparison of " + ", ".join(labels), "run_dirs": [str(d) for d in run_dirs]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.json").write_text(json.dumps(summary_, indent=2))
    (out_dir / "report.html").write_text(page(summary_, run_dirs, out_dir))
    return summary_


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f"<img src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"


def figure_points(s: dict[str, Any], metric: str, label: str):
    """Each encoder's accuracy in every run (dots) with the mean and one standard deviation (bar)."""
    import matplotlib.pyplot as plt

    names = [n for n, e in s["encoders"].items() if e[metric]["mean"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 0.75 * len(names) + 2), 3.6))
    for i, n in enumerate(names):
        e = s["encoders"][n][metric]
        pts = [p for p in e["points"] if p is not None]
        ax.errorbar([i], [e["mean"] * 100], yerr=[e["sd"] * 100], fmt="_", color="k", capsize=6, markersize=18)
        ax.scatter([i + (j - (len(pts) - 1) / 2) * 0.08 for j in range(len(pts))], [p * 100 for p in pts],
                   s=18, alpha=0.8, zorder=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel(f"{label} accuracy (%)")
    ax.set_title(f"{label}: every run (dots), mean ± sd (bars)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def figure_curves(curves: dict[str, Any], axis: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, points in curves.items():
        xs = [float(k) for k in points]
        means = [points[k]["mean"] * 100 for k in points]
        line, = ax.plot(xs, means, marker="o", label=name)
        for x, k in zip(xs, points):
            pts = [p * 100 for p in points[k]["points"] if p is not None]
            ax.scatter([x] * len(pts), pts, s=8, color=line.get_color(), alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel("linear probe test accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def page(s: dict[str, Any], run_dirs: list[Path], out_dir: Path) -> str:
    def cell(stat: dict[str, Any]) -> str:
        if stat["mean"] is None:
            return "–"
        pts = ", ".join("–" if p is None else f"{p:.1%}" for p in stat["points"])
        sd = f" ± {stat['sd']:.1%}" if len(s["runs"]) > 1 else ""
        return f"<b>{stat['mean']:.1%}</b>{sd}<br><small>{pts}</small>"

    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in METRICS)
    body = "".join(f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{cell(e[k])}</td>" for k, _ in METRICS) + "</tr>"
                   for n, e in s["encoders"].items())
    links = "".join(f"<li><a href='{html.escape(_relative(Path(d), out_dir))}/report.html'>{html.escape(label)}</a></li>"
                    for d, label in zip(run_dirs, s["runs"]))
    figures = _png(figure_points(s, "test_accuracy", "linear probe test"))
    figures += _png(figure_points(s, "knn_accuracy", "kNN test"))
    for kind, axis in (("label_fraction", "fraction of labelled training images"),
                       ("images_per_class", "labelled training images per class")):
        if kind in s:
            figures += _png(figure_curves(s[kind], axis))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(s['title'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;display:block;margin:1em 0}}small{{color:#666}}</style>
</head><body><h1>{html.escape(s['title'])}</h1>
<p>{len(s['runs'])} runs. Each cell: the mean over the runs (± sample standard deviation), then each run's value.</p>
<table><tr><th>encoder</th>{head}</tr>{body}</table>{figures}
<h2>The runs</h2><ul>{links}</ul></body></html>"""


def _relative(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(target.resolve(), start.resolve())
