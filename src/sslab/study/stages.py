"""A study's stages, in order: every encoder trained (or built), encoded once and probed; the analyses the data
allows; the pictures every study draws; what results.json records of the data and of a shortened run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from sslab import analyses, distributed, i18n, online, plots, store, views
from sslab.i18n import N_, _
from sslab.study.ahead import Job
from sslab.study.config import QUICK_EPOCHS
from sslab.study.context import StudyContext
from sslab.study.evaluation import finite, pct, probe
from sslab.study.folder import keep_analysis, kept_analysis


@dataclass
class Encoded:
    """What the encoder stage leaves for the pictures and results.json besides ctx.results."""

    histories: dict[str, list] = field(default_factory=dict)  # encoder -> its per-epoch training records
    confusions: dict[str, Any] = field(default_factory=dict)  # encoder -> its linear probe's test confusion
    recon: dict[str, torch.Tensor] = field(default_factory=dict)  # autoencoder -> reconstructions of `shown`
    figures: dict[str, plots.Plot] = field(default_factory=dict)  # what the methods drew of themselves
    method_figures: dict[str, dict] = field(default_factory=dict)  # figure key -> {"encoder", "caption"}


def encoders(ctx: StudyContext, shown: torch.Tensor) -> Encoded:
    """Train (or load, or build) every encoder of the plan, encode the evaluated images once, probe them."""
    out, split, n = Encoded(), ctx.split, len(ctx.plan.methods)
    ctx.ahead.start([Job(name, mcfg, split.labelled if ctx.uses_labels(name) else split.pretrain, split.y, main=True)
                     for name, mcfg in ctx.plan.methods.items() if name not in ctx.modules])
    for k, (name, mcfg) in enumerate(ctx.plan.methods.items(), 1):
        ctx.log(_("[encoder {k}/{n}] {name}").format(k=k, n=n, name=name))
        t0 = time.perf_counter()
        idx = split.labelled if ctx.uses_labels(name) else split.pretrain
        method, out.histories[name] = ctx.trainer.train(name, mcfg, idx, split.y, main=True)
        t_train = time.perf_counter() - t0
        if not distributed.is_main():
            continue  # the other ranks only help train: rank 0 evaluates, analyses and writes
        ctx.methods[name] = method
        ctx.step = f"encoding images with {name}"
        with ctx.progress.task(_("encoding {n} images with {name}").format(n=f"{len(ctx.evaluated):,}", name=name)):
            h, diverged = finite(ctx.extract(method, ctx.evaluated))
            ctx.h[name] = h
        ctx.step = f"probing {name}"
        with ctx.progress.task(_("fitting the probes on {name}'s {dim}-d features").format(name=name, dim=h.shape[1])):
            r = ctx.results[name] = probe(h, ctx.rows, split, ctx.new_probe, ctx.new_knn)
        r["warnings"] += diverged
        r |= {"method": method.name, "family": method.family, "trained_on": len(idx), "train_seconds": round(t_train, 2)}
        seen, warned = watched(out.histories[name], ctx.plan.monitor.patience)
        r |= {"online": seen} if seen else {}
        r["warnings"] += warned
        out.confusions[name] = r.pop("confusion")
        for key, fn in method.variants().items():  # e.g. above SimCLR's head, DINO's teacher: probes only
            ctx.step = f"probing {name} ({key})"
            variant = probe(finite(ctx.extract(method, ctx.evaluated, features=fn))[0], ctx.rows, split,
                            ctx.new_probe, ctx.new_knn)
            variant.pop("confusion")
            r.setdefault("variants", {})[key] = variant
            ctx.log("  " + _("{name} ({key}): linear probe val {val}  test {test}  kNN test {knn}").format(
                name=name, key=_(key), val=pct(variant["val_accuracy"]), test=pct(variant["test_accuracy"]),
                knn=pct(variant["knn_accuracy"])))
        for key, (plot, caption) in method.figures().items():  # e.g. PCA's components
            out.figures[f"{name}_{key}"] = plot
            out.method_figures[f"{name}_{key}"] = {"encoder": name, "caption": caption}
        if hasattr(method, "reconstruct"):
            with torch.no_grad():
                x_show = ctx.x[shown.to(ctx.x.device)].to(ctx.device)
                out.recon[name] = method.reconstruct(x_show.float().div(255)).float().cpu()
        if not mcfg.epochs and method.state_dict():  # trained ones are stored as they finish training
            store.save(ctx.out / "encoders", name, method, {"encoder": name, "history": []})
        if name in ctx.trainer.cached:
            r["from"] = ctx.trainer.cached[name]
        if name in ctx.trainer.peaks:
            r["peak_memory_mb"] = round(ctx.trainer.peaks[name], 1)
        r["seconds"] = round(time.perf_counter() - t0, 2)
        ctx.log("  " + _("{name}: linear probe train {train}  val {val}  test {test}  kNN test {knn}  "
                         "({seconds} s)").format(
            name=name, train=pct(r["train_accuracy"]), val=pct(r["val_accuracy"]), test=pct(r["test_accuracy"]),
            knn=pct(r["knn_accuracy"]), seconds=f"{r['seconds']:.0f}")
            + "".join("\n  " + _("warning: {text}").format(text=i18n.text(w)) for w in r["warnings"]))
    return out


def watched(history: list[dict[str, float]], patience: int) -> tuple[dict[str, Any], list[str]]:
    """What the online kNN saw of a training: results.json's "online" ({} if it did not run), and a warning
    where the curve fell back towards the untrained network's score (collapse)."""
    points, test = online.curve(history), online.curve(history, "knn_test")
    if not points and not test:
        return {}, []
    out: dict[str, Any] = {"knn": points} if points else {}
    if test:  # the protocol's number: the best test score over the evaluations (it selects on test)
        out |= {"knn_test": test, "best_knn_test": max(v for _e, v in test)}
    ranks = online.curve(history, "rankme")
    if ranks:
        out["rankme"] = ranks
    out["seconds"] = round(sum(r.get("eval_seconds", 0) + r.get("untrained_eval_seconds", 0) for r in history), 2)
    fell = online.collapse(points or test, patience)
    if fell is None:
        return out, []
    return out | {"collapse": fell}, [N_("its online kNN fell from {best} back towards the untrained network's "
                                         "{untrained} from epoch {epoch}: it may have collapsed").format(
        best=f"{fell['best']:.1%}", untrained=f"{fell['untrained']:.1%}", epoch=fell["epoch"])]


def run_analyses(ctx: StudyContext, results: dict[str, Any], timings: dict[str, float]) -> list[str]:
    """Run each planned analysis (or keep what an interrupted run finished); their results go into results,
    their figures are saved as they finish. Returns the figure keys saved."""
    saved: list[str] = []
    n = len(ctx.plan.analyses)
    for k, (key, acfg) in enumerate(ctx.plan.analyses.items(), 1):
        stage = _("[analysis {k}/{n}] {name}").format(k=k, n=n, name=key)
        kept = kept_analysis(ctx.out, key)
        if kept is not None:  # a resumed run keeps what it finished
            results[key], timings[key] = kept["results"], kept["seconds"]
            saved += kept["figures"]
            ctx.log(stage + ": " + _("kept from the interrupted run"))
            continue
        t0 = time.perf_counter()
        ctx.step = f"running the {key} analysis"
        ctx.log(stage)
        with ctx.progress.task(_("running the {name} analysis").format(name=key)):
            results[key], figures = analyses.REGISTRY[key].run(ctx, acfg)
        timings[key] = round(time.perf_counter() - t0, 1)
        for fig, plot in figures.items():
            plots.save_plot(plot, ctx.out / "figures" / fig)
        saved += list(figures)
        keep_analysis(ctx.out, key, results[key], timings[key], list(figures))
        ctx.log("  " + _("{name} done ({seconds} s)").format(name=key, seconds=f"{timings[key]:.0f}"))
    return saved


def pictures(ctx: StudyContext, encoded: Encoded, shown: torch.Tensor) -> dict[str, plots.Plot]:
    """The figures every study draws: data gallery, views, training curves, confusions, reconstructions."""
    images, cfg, split = ctx.images, ctx.cfg, ctx.split
    g = torch.Generator().manual_seed(cfg.seed)
    pick = split.train[torch.randperm(len(split.train), generator=g)[:16]].sort().values
    if images.factors is not None and images.factors.describe is not None:
        captions, points = images.factors.describe(images.factors.values[pick])
    else:
        captions, points = [images.class_names[c] if c >= 0 else "unlabelled" for c in images.y[pick].tolist()], None
    out = {"gallery": plots.later(plots.gallery, images.x[pick], captions, points)}
    recipe, g = views.build(ctx.plan.views), torch.Generator().manual_seed(cfg.seed)
    x = images.x[shown]
    out["augmented_pairs"] = plots.later(plots.image_rows, [plots.to_float(x), recipe(x, g), recipe(x, g)],
                                         [N_("image"), N_("view 1"), N_("view 2")])
    trained = {k: v for k, v in encoded.histories.items() if v}
    if trained:
        out["loss_curves"] = plots.later(plots.loss_curves, trained)
    watched = {k: r["online"] for k, r in ctx.results.items() if "online" in r}
    if any("knn" in v for v in watched.values()):
        out["online_knn"] = plots.later(plots.lines, {k: v["knn"] for k, v in watched.items() if "knn" in v},
                                        N_("kNN accuracy on validation images"), ctx.chance)
    if any("rankme" in v for v in watched.values()):
        out["online_rankme"] = plots.later(plots.lines, {k: v["rankme"] for k, v in watched.items() if "rankme" in v},
                                           N_("RankMe of the labelled bank's features"), None, None)
    if any("knn_test" in v for v in watched.values()):
        out["online_knn_test"] = plots.later(plots.lines, {k: v["knn_test"] for k, v in watched.items()
                                                                  if "knn_test" in v},
                                             N_("kNN accuracy on the test images"), ctx.chance)
    out["confusion"] = plots.later(plots.confusions, encoded.confusions, ctx.class_names)
    if encoded.recon:
        out["reconstructions"] = plots.later(plots.image_rows, [plots.to_float(x), *encoded.recon.values()],
                                             [N_("image"), *encoded.recon])
    return out | encoded.figures


def spread(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n positions into y, classes taken in turn, so a figure shows every class it can."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    rank = torch.zeros(len(y), dtype=torch.int64)
    for c in torch.unique(y):
        mine = order[y[order] == c]
        rank[mine] = torch.arange(len(mine))
    return order[torch.argsort(rank[order] * (int(y.max()) + 2) + y[order], stable=True)][:n]


def describe_data(images: Any) -> dict[str, Any]:
    """What results.json records of the data: where it came from and what it holds."""
    out = {"source": images.source, "format": images.format, "image_shape": list(images.shape),
           "n_images": len(images), "splits": {k: len(v) for k, v in images.splits.items()} or {"all": len(images)},
           "class_names": list(images.class_names),
           "class_counts": dict(zip(images.class_names, images.class_counts())),
           "unlabelled": int((~images.labelled).sum())}
    if images.factors is not None:
        out["factors"] = {n: s for n, s in zip(images.factors.names, images.factors.sizes)}
    return out


def shortened(cfg: Any, recipe_epochs: dict[str, int], n_images: int) -> list[str]:
    """Why this run's numbers are not the study's: a smoke test, or fewer epochs than the recipes (English)."""
    if cfg.quick:
        return [N_("--quick: {n} images and {epochs} epochs per trained encoder").format(
            n=n_images, epochs=cfg.epochs or QUICK_EPOCHS)]
    if cfg.epochs and any(cfg.epochs < e for e in recipe_epochs.values()):
        return [N_("--epochs {epochs}: fewer epochs than the recipes ({recipe})").format(
            epochs=cfg.epochs, recipe=", ".join(f"{k} {v}" for k, v in recipe_epochs.items() if v))]
    return []
