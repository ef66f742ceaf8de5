"""Several finished runs side by side: `sslab compare RUN_DIR...`, and the summary of a `--seeds` run.

Every encoder's probe accuracies (linear val / test, kNN test; and its variants') are read from each run's
results.json; where a run set is one study over several seeds they are summarised as mean and standard
deviation, and the figures draw every run's point beside the mean. The label curves, where every run has
them, are drawn the same way. One compare.json and one self-contained report.html.
"""

from __future__ import annotations

import html
import json
import os
import statistics
from pathlib import Path
from typing import Any

from sslab import i18n
from sslab.errors import SslabError
from sslab.html import figure
from sslab.html import page as html_page
from sslab.html import table as html_table
from sslab.i18n import N_, _

METRICS = (("val_accuracy", N_("linear val")), ("test_accuracy", N_("linear test")), ("knn_accuracy", N_("kNN test")))


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
        base, _sep, variant = name.partition(" (")
        per_run = []
        for r in results:
            e = r["encoders"].get(base)
            e = e.get("variants", {}).get(variant.rstrip(")")) if e is not None and variant else e
            per_run.append(None if e is None else {k: e.get(k) for k, _label in METRICS})
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
        out["encoders"][name] = {k: summary([None if p is None else p[k] for p in per_run]) for k, _label in METRICS}
    for kind in ("label_fraction", "images_per_class"):
        if all(kind in r.get("labels", {}) for r in results):
            curves: dict[str, dict[str, Any]] = {}
            for name in results[0]["labels"][kind]:
                points = results[0]["labels"][kind][name]
                curves[name] = {k: summary([r["labels"][kind].get(name, {}).get(k) for r in results]) for k in points}
            out[kind] = curves
    return out


def write(out_dir: Path, run_dirs: list[Path], labels: list[str] | None = None, title: str = "") -> dict[str, Any]:
    """Write out_dir/compare.json, the figures as PNGs and out_dir/report.html; return the summary."""
    results = read(run_dirs)
    labels = labels or [Path(d).name for d in run_dirs]
    summary_ = aggregate(results, labels)
    summary_ |= {"title": title or _("comparison of {runs}").format(runs=", ".join(labels)),
                 "run_dirs": [str(d) for d in run_dirs]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.json").write_text(json.dumps(summary_, indent=2))
    (out_dir / "report.html").write_text(page(summary_, run_dirs, out_dir))
    return summary_


def figures(s: dict[str, Any], out_dir: Path) -> list[tuple[Path, str]]:
    """Draw the summary's figures into out_dir: (PNG, caption) each."""
    from sslab import plots

    from sslab.analyses.labels import AXES

    todo = []  # (file name, what to draw, caption)
    for metric, label, caption in (
            ("test_accuracy", N_("linear probe test accuracy"), _("Linear probe test accuracy of each encoder in every run.")),
            ("knn_accuracy", N_("kNN test accuracy"), _("kNN test accuracy of each encoder in every run."))):
        values = {n: [p for p in e[metric]["points"] if p is not None] for n, e in s["encoders"].items()}
        todo.append((f"compare_{metric}.png", plots.later(plots.runs, {n: v for n, v in values.items() if v}, label),
                     caption))
    for kind, axis in AXES.items():
        if kind in s:
            means = {n: {float(k): c["mean"] for k, c in curve.items()} for n, curve in s[kind].items()}
            points = {n: {float(k): [p for p in c["points"] if p is not None] for k, c in curve.items()}
                      for n, curve in s[kind].items()}
            todo.append((f"compare_{kind}.png", plots.later(plots.curves, means, axis, None, runs=points),
                         _("Linear probe test accuracy against the labels: the mean over the runs (line) and every "
                           "run's point.")))
    out = []
    for name, plot, caption in todo:
        fig, = plots.draw(plot)  # in the report's style and language
        plots.save(fig, out_dir / name)
        out.append((out_dir / name, caption))
    return out


def page(s: dict[str, Any], run_dirs: list[Path], out_dir: Path) -> str:
    def cell(stat: dict[str, Any]) -> str:
        if stat["mean"] is None:
            return "–"
        pts = ", ".join("–" if p is None else f"{p:.1%}" for p in stat["points"])
        sd = f" ± {stat['sd']:.1%}" if len(s["runs"]) > 1 else ""
        return f"<b>{stat['mean']:.1%}</b>{sd}<br><small>{pts}</small>"

    table = html_table([_("encoder")] + [_(label) for _k, label in METRICS],
                         [[html.escape(n)] + [cell(e[k]) for k, _label in METRICS] for n, e in s["encoders"].items()])
    links = "".join(f"<li><a href='{html.escape(os.path.relpath(Path(d).resolve(), out_dir.resolve()))}/report.html'>"
                    f"{html.escape(label)}</a></li>" for d, label in zip(run_dirs, s["runs"]))
    pictures = "".join(figure(png, caption) for png, caption in figures(s, out_dir))
    about = _("{n} runs. Each cell: the mean over the runs (± sample standard deviation), then each run's value.")
    title = html.escape(s["title"])
    body = f"""<h1>{title}</h1>
<p>{html.escape(about.format(n=len(s['runs'])))}</p>
{table}{pictures}
<h2>{html.escape(_("The runs"))}</h2><ul>{links}</ul>"""
    return html_page(title, body, i18n.current())
