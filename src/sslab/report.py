"""results.json + figure data in a run directory -> one self-contained report.html (figures inlined).

The report is a view over saved results: `sslab report RUN_DIR [--lang ja]` re-renders it, figures
included (they are drawn from figures/<key>.json here), without retraining. Its first screen holds the
question, the data, the encoders and the headline table (with a banner when the run was a smoke test);
then a table of contents, one section per question a study asks (each analysis names its question, its
captions and its table), how the study was run, and its configuration. Each figure has one sentence on
how to read it and alt text; a click shows it at full size. Analyses that did not run say why.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sslab import analyses, i18n, methods, plots
from sslab.errors import SslabError
from sslab.html import figure, page, pct, table
from sslab.i18n import N_, _

CAPTIONS = {
    "confusion": N_("Each panel is one encoder's linear probe on the test images: row = true class, column = "
                    "predicted, each row sums to 1, so a bright diagonal means few confusions."),
    "loss_curves": N_("Training loss per epoch of each trained encoder (supervised: cross-entropy; VAE: negative "
                      "ELBO per image; SimCLR: NT-Xent), so a curve still falling at the end was stopped early."),
    "online_knn": N_("The online kNN of each trained encoder while it trained: its validation images' accuracy "
                     "when the labelled images' features vote, from the untrained network (epoch 0) on, so a "
                     "curve still rising at the end was stopped early, and one falling back may have collapsed."),
    "online_rankme": N_("RankMe (the effective rank of the features, no labels needed) at the same evaluations: "
                        "a curve that falls while the kNN above stays flat is a representation losing directions."),
    "online_knn_test": N_("The same kNN on every test image, the benchmark protocol's number (its maximum over the "
                          "epochs): it selects on test, so it is not the study's own test figure."),
    "reconstructions": N_("Test images above each autoencoder's reconstructions from its features (the VAE's from "
                          "the posterior mean): what the features retain of each image."),
    "gallery": N_("Training images with their labels (for generated data, their latent factors; the red cross "
                  "marks the sprite's position)."),
    "augmented_pairs": N_("Test images and two independent random views of each, drawn with the study's view "
                          "recipe: the pairs SimCLR is trained to map to nearby features."),
}
FIRST = N_("How well does each encoder read out the labels?")
KEEP = N_("What do the encoders keep?")
DATA = N_("The data")
def encoder_names(results: dict[str, Any]) -> list[str]:
    """The encoders in a results dict, in run order."""
    return list(results["encoders"])


def _main_table(results: dict[str, Any]) -> str:
    enc, chance = results["encoders"], results["chance"]
    protocol = any("best_knn_test" in r.get("online", {}) for r in enc.values())  # a benchmark's own number
    rows = [["", html.escape(_("chance (majority class)")), "", "", pct(chance), pct(chance)]
            + ([pct(chance)] if protocol else []) + ["", ""]]
    shown = None
    for n in encoder_names(results):  # grouped by family (the study runs them so); the family named once
        r = enc[n]
        family = r.get("family", "")
        label = html.escape(_(methods.FAMILIES.get(family, family))) if family != shown else ""
        shown = family
        warn = "".join(f"<br><small>&#9888; {html.escape(i18n.text(w))}</small>" for w in r.get("warnings", []))
        best = r.get("online", {}).get("best_knn_test")
        rows.append([label, html.escape(n) + warn, pct(r["train_accuracy"]), pct(r.get("val_accuracy")),
                     f"<b>{pct(r['test_accuracy'])}</b>", pct(r["knn_accuracy"])]
                    + ([pct(best) if best is not None else ""] if protocol else [])
                    + [str(r["feature_dim"]), f"{r['seconds']:.0f} s"])
        for key, v in r.get("variants", {}).items():  # the same encoder read elsewhere (a head, a teacher)
            rows.append(["", f"&nbsp;&nbsp;{html.escape(n)} ({html.escape(_(key))})", pct(v["train_accuracy"]),
                         pct(v.get("val_accuracy")), pct(v["test_accuracy"]), pct(v["knn_accuracy"])]
                        + ([""] if protocol else []) + [str(v["feature_dim"]), ""])
    k = results.get("config", {}).get("knn_k", 20)
    return table([_("family"), _("encoder"), _("linear probe, train"), _("val"), _("test"),
                  _("kNN (k={k}), test").format(k=k)]
                 + ([_("online kNN, test: best epoch (selects on test)")] if protocol else [])
                 + [_("features"), _("time")], rows)


class Renderer:
    """Draws a run's figures (from their saved data, in the current language); tells `log` what it could not."""

    def __init__(self, run_dir: Path, results: dict[str, Any], log: Callable[[str], None] | None):
        self.run_dir, self.results, self.log = run_dir, results, log or (lambda m: None)

    def __call__(self, key: str, caption: str) -> str:
        if key not in self.results["figures"]:
            return ""
        stored = self.run_dir / self.results["figures"][key]
        try:
            if stored.suffix == ".png":  # a run from before figures were saved as data
                return figure(stored, caption)
            figs = plots.draw(plots.load_plot(stored))
            pngs = [plots.png(f) for f in figs]
        except Exception as e:  # noqa: BLE001 -- a figure that cannot be drawn is named; the rest is rendered
            problem = _("figure {key} could not be drawn from {path}: {error}").format(
                key=key, path=stored.with_suffix(".json"), error=getattr(e, "strerror", None) or e)
            self.log(problem)
            return f"<p class='skipped'>&#9888; {html.escape(problem)}</p>"
        short = caption.split(". ")[0].split("。")[0].rstrip(".")  # the caption's first sentence
        alts = [short + (f" — {f.axes[0].get_title()}" if len(figs) > 1 and f.axes and f.axes[0].get_title() else "")
                for f in figs]
        for i, p in enumerate(pngs):  # beside the data, for slides and papers (where the folder can be written)
            with contextlib.suppress(OSError):
                (self.run_dir / "figures" / (f"{key}.png" if len(pngs) == 1 else f"{key}-{i + 1}.png")).write_bytes(p)
        return figure(pngs, caption, alts)


def _sections(draw: Renderer, results: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(question, HTML parts) in report order: the probes, each analysis's question, the data."""
    names = [html.escape(n) for n in encoder_names(results)]
    sections: dict[str, list[str]] = {FIRST: [draw("confusion", _(CAPTIONS["confusion"])),
                                              draw("loss_curves", _(CAPTIONS["loss_curves"])),
                                              draw("online_knn", _(CAPTIONS["online_knn"])),
                                              draw("online_knn_test", _(CAPTIONS["online_knn_test"])),
                                              draw("online_rankme", _(CAPTIONS["online_rankme"]))]}
    for key, module in analyses.REGISTRY.items():
        parts = sections.setdefault(module.QUESTION, [])
        if key in results.get("skipped", {}):
            parts.append("<p class='skipped'>" + _("The {name} analysis did not run: {reason}.").format(
                name=f"<b>{key}</b>", reason=html.escape(i18n.text(results["skipped"][key]))) + "</p>")
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
            parts.append(draw(fig, _(caption)))
    sections.setdefault(KEEP, []).append(draw("reconstructions", _(CAPTIONS["reconstructions"])))
    for key, about in results.get("method_figures", {}).items():  # what a method drew of itself
        caption = about if isinstance(about, str) else f"{about['encoder']}: {i18n.text(about['caption'])}"
        sections[KEEP].append(draw(key, caption))
    sections[DATA] = [draw(k, _(CAPTIONS[k])) for k in ("gallery", "augmented_pairs")]
    return [(_(q), [p for p in parts if p]) for q, parts in sections.items()]


def _cached(results: dict) -> str:
    """Which trained encoders were loaded rather than trained (the encoder cache, a resumed run)."""
    by_source: dict[str, list[str]] = {}
    for label, source in results.get("cached", {}).items():
        by_source.setdefault(source, []).append(label)
    return "".join(" " + _("Loaded finished from {source}, not trained again: {names}.").format(
        source=html.escape(_(s)), names=html.escape(", ".join(names)))
        for s, names in by_source.items())


def _ran(results: dict[str, Any]) -> str:
    """What actually ran, from the results: the images used, and each encoder's epochs beside its recipe's."""
    recipes = results.get("recipe_epochs")
    if recipes is None:  # a run from before the recipes' epochs were recorded
        return ""
    rows = []
    for name, r in results["encoders"].items():
        settings, recipe = results["config"]["methods"].get(name, {}), recipes.get(name, 0)
        ran = len(results["histories"].get(name) or [])
        epochs = "" if not recipe else str(ran) + (f" <small>({_('recipe')}: {recipe})</small>" if ran != recipe else "")
        memory = r.get("peak_memory_mb")
        rows.append([html.escape(name), html.escape(r.get("method", "")), epochs,
                     str(settings.get("batch_size", "")) if recipe else "", f"{r['trained_on']:,}",
                     f"{memory:,.0f} MB" if memory else "", html.escape(_(r["from"]) if r.get("from") else "")])
    if not any(row[5] for row in rows):  # trained on a CPU (or loaded): no device memory to show
        rows = [row[:5] + row[6:] for row in rows]
    head = [_("encoder"), _("method"), _("epochs"), _("batch"), _("trained on (images)")] + (
        [_("peak GPU memory")] if len(rows[0]) == 7 else []) + [_("loaded from")] if rows else []
    return ("<p>" + _("Images used: {n}.").format(n=f"{results['data']['n_images']:,}") + "</p>" + table(head, rows))


def _banner(results: dict[str, Any]) -> str:
    reasons = results.get("shortened") or []
    if not reasons:
        return ""
    return ("<p class='banner'>&#9888; " + html.escape(_(
        "Smoke test: these numbers come from a shortened run ({reasons}). They show that the study runs, not what it "
        "finds: run it without --quick for the study's results.").format(
        reasons="; ".join(i18n.text(r) for r in reasons))) + "</p>")


def write(run_dir: str | Path, lang: str | None = None, log: Callable[[str], None] | None = None) -> Path:
    """(Re)render run_dir/report.html from run_dir/results.json and the figure data beside it.

    lang: the report's language (None: the current one, see sslab.i18n). log: told of each figure that could
    not be drawn (the page then says so in its place). Raises SslabError for a missing or unreadable results.json.
    """
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise SslabError(f"no results.json in {run_dir}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SslabError(f"cannot read {path}: {e}") from None
    with i18n.language(lang):
        try:
            page = _page(run_dir, results, log)
        except (KeyError, TypeError, AttributeError) as e:
            raise SslabError(f"{path} is not a complete sslab results file ({type(e).__name__}: {e})") from None
    out = run_dir / "report.html"
    try:
        out.write_text(page)
    except OSError as e:
        raise SslabError(f"cannot write {out}: {e.strerror}") from None
    return out


def _page(run_dir: Path, results: dict[str, Any], log: Callable[[str], None] | None) -> str:
    draw = Renderer(run_dir, results, log)
    sections = [(q, parts) for q, parts in _sections(draw, results) if parts]
    name = html.escape(run_dir.name.removesuffix(".partial"))  # the study renders it before the rename
    d, split, cfg = results["data"], results["split"], results["config"]
    encoders = ", ".join(html.escape(n) for n in encoder_names(results))
    classes = ", ".join(html.escape(c) for c in results["classes"])
    from sslab.probes import DESCRIPTIONS

    probe = _(DESCRIPTIONS.get(cfg.get("probe", "lbfgs"), ""))
    data = _("Data: {source} ({format}, {n} images of {shape}); the probes read out {target} ({k} classes: "
             "{classes}). Encoders: {encoders}.").format(
        source=html.escape(i18n.text(d["source"])), format=html.escape(d["format"]), n=f"{d['n_images']:,}",
        shape="x".join(map(str, d["image_shape"])), target=f"<b>{html.escape(results['target'])}</b>",
        k=len(results["classes"]), classes=classes, encoders=encoders)
    how = _("Encoders are trained on {n_train} images, frozen, and probed: a linear probe ({probe}) and a kNN probe "
            "(cosine, k={k}, votes weighted by exp(similarity / {t})), fitted on {n_probe} labelled training images, "
            "checked on {n_val} validation images and tested on {n_test} test images. Chance is {chance}, the "
            "majority class's share of the test images. Protocol: {protocol}.").format(
        k=cfg.get("knn_k", 20), t=cfg.get("knn_temperature", 0.07),
        n_train=results["n_train"], probe=html.escape(probe), n_probe=results["n_probe"], n_val=results["n_val"],
        n_test=results["n_test"], chance=pct(results["chance"]), protocol=html.escape(results["protocol"]["name"]))
    notes = "".join(f"<li>{html.escape(i18n.text(n))}</li>" for n in split.get("notes", []))
    timings = ", ".join(f"{html.escape(_(k))} {v:.0f} s" for k, v in results.get("timings", {}).items())
    whole = _("Whole study: {seconds} s on {device} ({timings}).").format(
        seconds=f"{results['seconds']:.0f}", device=html.escape(results["environment"]["device"]), timings=timings)
    about = f"<p class='about'>{html.escape(i18n.text(cfg['about']))}</p>" if cfg.get("about") else ""
    font = _("no Japanese font was found, so the figures' labels are in English (install fonts-noto-cjk)") \
        if plots.font_missing() else ""
    run_about = _("How the study was run")
    toc = [(f"s{i}", q) for i, (q, _parts) in enumerate(sections, 1)] + [("run", run_about),
                                                                         ("config", _("Configuration"))]
    nav = "<nav><b>" + _("Contents") + "</b><ol>" + "".join(
        f"<li><a href='#{a}'>{html.escape(q)}</a></li>" for a, q in toc) + "</ol></nav>"
    chapters = "".join(f"<h2 id='s{i}'>{html.escape(q)}</h2>" + "".join(parts)
                       for i, (q, parts) in enumerate(sections, 1))
    font = f"<p class='skipped'>&#9888; {html.escape(font)}</p>" if font else ""
    cfg_json = html.escape(json.dumps(cfg, indent=2, ensure_ascii=False))
    title = _("sslab study: {name}").format(name=name)
    body = f"""<h1>{title}</h1>
{_banner(results)}
{about}
<p>{data}</p>
{_main_table(results)}
<p><small>{html.escape(_("Linear probe and kNN accuracy on the frozen features; test is the figure to compare."))}
{html.escape(_("Chance is {chance}, the majority class's share of the test images.").format(
        chance=pct(results["chance"])))}</small></p>
{font}
{nav}
{chapters}
<h2 id="run">{html.escape(run_about)}</h2>
<p>{how}</p>
<ul>{notes}</ul>
<p>{whole}{_cached(results)}</p>
<h2 id="config">{html.escape(_("Configuration"))}</h2>
{_ran(results)}
<details><summary>{html.escape(_("The study as resolved (every setting)"))}</summary><pre>{cfg_json}</pre></details>"""
    return page(title, body, i18n.current())
