"""The dSprites representation study: train or build each encoder, freeze it, probe it, analyse it, draw it.

`run(StudyConfig(), out_dir)` is the whole study as a function; `sslab run` is a thin shell on it.
Every encoder is trained once on the training split and every image is encoded once; the analyses
then work on those cached features. Only two analyses train again: `labels` retrains the supervised
encoder on each labelled subset, `bias` retrains every encoder on a biased set and on its control.
Everything is written into `<out_dir>.partial/` and renamed to `out_dir` only when complete.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from sslab import __version__, analysis, methods, plots, report
from sslab.augment import AffineRecipe, to_float
from sslab.data import Images, dsprites, splits
from sslab.errors import SslabError
from sslab.probes import KNNProbe, LinearProbe, label_curve
from sslab.train import extract, fit

DEFAULT_ENCODERS = ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg")
ANALYSES = ("similarity", "factors", "labels", "bias", "umap")  # beside the probes, which always run

# The dSprites recipe: settings that differ from a method's own defaults. At the tutorial's
# temperature 0.5, SimCLR at batch 128 was still at 55% shape accuracy after 10 epochs; at 0.1 its
# features jump from scale to shape mid-training and reach 99.95% (README, "Training recipes").
RECIPE: dict[str, dict[str, Any]] = {"simclr": {"temperature": 0.1}}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One study. Fields marked (cli) are options of `sslab run`."""

    data: str | None = None  # (cli) dSprites npz; None: the embedded subset, generated from the grid with a fixed seed
    n_images: int = 20_000  # size of the embedded subset
    encoders: tuple[str, ...] = DEFAULT_ENCODERS  # (cli) names from the method registry, or simclr-<k>neg
    analyses: tuple[str, ...] = ANALYSES  # (cli) which analyses run beside the linear and kNN probes
    target: str = "shape"  # (cli) the latent the probes read out
    train_fraction: float = 0.8  # (cli) train:test split (the tutorial's 80:20)
    label_fraction: float = 1.0  # (cli) stratified fraction of training labels the main probes see
    seed: int = 2021  # (cli) seeds the split, the initialisations and the augmentations
    quick: bool = False  # (cli) smoke-test profile: 5,000 images, 3 epochs per trained encoder
    epochs: int | None = None  # (cli) train every trained encoder for this many epochs (default: its recipe)
    overrides: tuple[str, ...] = ()  # (cli) "method.setting=value", e.g. "simclr.temperature=0.2"
    precision: str = "bf16"  # (cli) "bf16" autocast or "fp32"
    device: str = "auto"  # (cli) "auto" (cuda if present), "cpu", "cuda", ...
    umap_colour: str | None = None  # (cli) latent that colours the UMAP (default: the target)
    probe_C: float = 1.0  # inverse L2 strength of the linear probe
    rsm_images: int = 1000  # test images in each RSM panel (block-averaged to rsm_pixels)
    rsm_pixels: int = 250  # RSM panels are at most this many cells across
    label_fractions: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)  # points of the label-fraction curve
    images_per_class: tuple[int, ...] = (10, 20, 50, 100, 200, 500)  # points of the images-per-class curve
    max_epoch_scale: float = 5.0  # retraining on fraction f of the labels runs epochs x min(1/f, this)
    bias_epoch_scale: float = 1.0  # epochs on the biased and control sets, as a multiple of each recipe's
    factor_bins: int = 8  # orientation and positions are read out in this many equal bins
    factor_images: int = 4000  # training images for each factor's read-out probe
    factor_max_iter: int = 100  # L-BFGS iterations of a read-out probe (pixels, orientation: 2.4 s vs 5.3 s at 500)
    invariance_pairs: int = 500  # generated image pairs per factor for the invariance score
    umap_per_class: int = 300  # test images per class of the colouring latent in the UMAP


QUICK_IMAGES, QUICK_EPOCHS = 5000, 3


def resolve(cfg: StudyConfig) -> dict[str, methods.TrainConfig]:
    """Check a config before any work; return each encoder's resolved method config."""
    splits.check_fraction("train fraction", cfg.train_fraction)
    splits.check_fraction("label fraction", cfg.label_fraction)
    for f in cfg.label_fractions:
        splits.check_fraction("label fraction", f)
    if cfg.train_fraction == 1:
        raise SslabError("train fraction must leave test images (use a value below 1)")
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise SslabError(f"epochs must be a positive number, got {cfg.epochs}")
    if cfg.precision not in ("bf16", "fp32"):
        raise SslabError(f"precision must be bf16 or fp32, got {cfg.precision!r}")
    if not cfg.encoders:
        raise SslabError("no encoders chosen")
    for kind, names in (("encoder", cfg.encoders), ("analysis", cfg.analyses)):
        if len(set(names)) != len(names):
            raise SslabError(f"an {kind} is listed twice: {', '.join(names)}")
    unknown = [a for a in cfg.analyses if a not in ANALYSES]
    if unknown:
        raise SslabError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(ANALYSES)}")
    for what, latent in (("target", cfg.target), ("UMAP colour", cfg.umap_colour or cfg.target)):
        if latent not in dsprites.LATENT_NAMES:
            raise SslabError(f"unknown {what} {latent!r}; latents: {', '.join(dsprites.LATENT_NAMES)}")
    per_method: dict[str, dict[str, Any]] = {}
    for item in cfg.overrides:
        key, sep, value = item.partition("=")
        method, dot, setting = key.strip().partition(".")
        if not (sep and dot and setting):
            raise SslabError(f"--set expects method.setting=value, got {item!r}")
        methods.parse_encoder(method)
        per_method.setdefault(method, {})[setting.strip()] = value.strip()
    resolved = {}
    for name in cfg.encoders:
        method, variant = methods.parse_encoder(name)
        trained = methods.REGISTRY[method].Config.epochs > 0
        epochs = QUICK_EPOCHS if cfg.quick else cfg.epochs
        extra = {"epochs": epochs} if trained and epochs is not None else {}
        resolved[name] = methods.make_config(
            method, {**RECIPE.get(method, {}), **extra, **variant, **per_method.get(method, {}), **per_method.get(name, {})})
    return resolved


def load_images(cfg: StudyConfig) -> Images:
    images = dsprites.load(cfg.data) if cfg.data else dsprites.generate(QUICK_IMAGES if cfg.quick else cfg.n_images)
    if cfg.quick and len(images) > QUICK_IMAGES:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))[:QUICK_IMAGES]
        images = images.subset(keep.sort().values)
    if len(images) < 20:
        raise SslabError(f"{len(images)} images are too few for a study")
    return images


def run(cfg: StudyConfig, out_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the study and write results.json, figures and report.html into out_dir (must not exist)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise SslabError(f"run directory already exists: {out_dir}")
    configs = resolve(cfg)
    if "umap" in cfg.analyses:
        _require_umap()  # fail before any training
    images = load_images(cfg)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "encoders").mkdir(parents=True)
    try:
        results = Study(cfg, configs, images, device, tmp, log).run()
        report.write(tmp)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def _require_umap() -> None:
    try:
        import umap  # noqa: F401
    except ImportError:
        raise SslabError("the umap analysis needs umap-learn: pip install 'sslab[umap]', "
                         "or leave it out with --analyses (see sslab run --help)") from None


class Study:
    """One run of the study. Each analysis is a method that reads the cached features and returns
    its results; figures go into self.figures."""

    def __init__(self, cfg: StudyConfig, configs: dict[str, methods.TrainConfig], images: Images,
                 device: torch.device, out: Path, log: Callable[[str], None]):
        self.cfg, self.configs, self.images, self.device, self.out, self.log = cfg, configs, images, device, out, log
        self.y = images.labels(cfg.target)
        self.train, self.test = splits.train_test(len(images), cfg.train_fraction, cfg.seed)
        self.probe_idx = self.train[splits.label_fraction(self.y[self.train], cfg.label_fraction, cfg.seed)]
        self.n_classes = images.n_classes(cfg.target)
        self.x = images.x.to(device)
        self.h: dict[str, torch.Tensor] = {}  # encoder -> (N, D) frozen features of every image
        self.pairs_h: dict[str, torch.Tensor] = {}  # encoder -> features of the generated invariance pairs
        self.encoders: dict[str, dict[str, Any]] = {}  # encoder -> its main probe results
        self.figures: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    # --- training ---------------------------------------------------------------------------------

    def train_encoder(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, tag: str = "",
                      latent: str | None = None) -> tuple[Any, list]:
        """Build `name` and train it on the images at idx, with the labels of `latent` (default: the target),
        starting from the study's seed."""
        latent = latent or self.cfg.target
        torch.manual_seed(self.cfg.seed)  # each encoder starts from the same seed, whichever others ran
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        n_classes = self.images.n_classes(latent)
        method = methods.create(name, mcfg, tuple(self.images.x.shape[1:]), n_classes).to(self.device)
        label = f"{name}{tag}"
        if mcfg.epochs:
            self.log(f"[{label}] training {mcfg.epochs} epochs on {len(idx)} images")

        def progress(epoch: int, epochs: int, rec: dict[str, float]) -> None:
            logs = "  ".join(f"{k} {v:.4g}" for k, v in rec.items() if k != "seconds")
            if not tag or epoch == epochs:  # retraining runs log their last epoch only
                self.log(f"  {label} epoch {epoch}/{epochs}  {logs}  ({rec['seconds']:.0f} s)")

        idx_dev = idx.to(self.device)
        y = self.images.labels(latent)[idx].to(self.device)
        history = fit(method, self.x[idx_dev], y, gen, self.cfg.precision, progress)
        return method, history

    def encode(self, method: Any, x: torch.Tensor) -> torch.Tensor:
        return extract(method, x.to(self.device), self.cfg.precision)

    # --- the study --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg, images, start = self.cfg, self.images, time.perf_counter()
        self.log(f"data: {len(images)} images {tuple(images.x.shape[1:])} ({cfg.data or 'embedded dSprites subset'}); "
                 f"{len(self.train)} train / {len(self.test)} test; target {cfg.target!r} ({self.n_classes} classes); "
                 f"device {self.device}; analyses: {', '.join(cfg.analyses) or 'probes only'}")
        pairs = self.invariance_pairs() if "factors" in cfg.analyses else None
        encoders = self.encoders
        histories, confusions, recon = {}, {}, None
        shown = self.test[analysis.sorted_sample(self.y[self.test], 8, cfg.seed)]  # test images drawn in figures
        for name, mcfg in self.configs.items():
            t0 = time.perf_counter()
            method, histories[name] = self.train_encoder(name, mcfg, self.train)
            t_train = time.perf_counter() - t0
            self.h[name] = h = self.encode(method, self.x)  # every image encoded once, then cached
            if pairs is not None:
                self.pairs_h[name] = self.encode(method, pairs)
            probe = LinearProbe(C=cfg.probe_C).fit(h[self.probe_idx], self.y[self.probe_idx])
            knn = KNNProbe().fit(h[self.probe_idx], self.y[self.probe_idx])
            confusions[name] = probe.confusion(h[self.test], self.y[self.test])
            encoders[name] = {
                "method": method.name,
                "train_accuracy": probe.score(h[self.probe_idx], self.y[self.probe_idx]),
                "test_accuracy": probe.score(h[self.test], self.y[self.test]),
                "knn_accuracy": knn.score(h[self.test], self.y[self.test]),
                "feature_dim": h.shape[1],
                "train_seconds": round(t_train, 2),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            if hasattr(method, "reconstruct"):
                with torch.no_grad():
                    x_show = self.x[shown.to(self.device)]
                    recon = (x_show.cpu(), method.reconstruct(to_float(x_show)).cpu())
            state = {k: v.detach().cpu().contiguous() for k, v in method.state_dict().items()}
            if state:
                save_file(state, str(self.out / "encoders" / f"{name}.safetensors"))
            e = encoders[name]
            self.log(f"[{name}] linear probe: train {e['train_accuracy']:.2%}  test {e['test_accuracy']:.2%}  "
                     f"kNN test {e['knn_accuracy']:.2%}  ({e['seconds']:.0f} s)")
        self.timings["encoders"] = round(time.perf_counter() - start, 1)

        results: dict[str, Any] = {
            "encoders": encoders, "chance": 1 / self.n_classes, "target": cfg.target,
            "n_train": len(self.train), "n_probe": len(self.probe_idx), "n_test": len(self.test),
            "histories": histories, "confusion": {k: v.tolist() for k, v in confusions.items()},
        }
        for key in ANALYSES:
            if key in cfg.analyses:
                t0 = time.perf_counter()
                self.log(f"analysis: {key}")
                results[key] = getattr(self, f"analyse_{key}")()
                self.timings[key] = round(time.perf_counter() - t0, 1)
                self.log(f"analysis: {key} done ({self.timings[key]:.0f} s)")

        self.pictures(histories, confusions, shown, recon)
        for key, fig in self.figures.items():
            plots.save(fig, self.out / f"{key}.png")
        results |= {
            "figures": {k: f"{k}.png" for k in self.figures},
            "timings": self.timings,
            "seconds": round(time.perf_counter() - start, 1),
            "config": dataclasses.asdict(cfg) | {"methods": {k: dataclasses.asdict(v) for k, v in self.configs.items()}},
            "environment": {"sslab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                            "device": str(self.device), "threads": torch.get_num_threads(), "argv": sys.argv},
        }
        (self.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        return results

    def pictures(self, histories, confusions, shown, recon) -> None:
        """The figures every study draws: data gallery, views, training curves, confusions, reconstructions."""
        images, cfg = self.images, self.cfg
        pick = self.train[torch.randperm(len(self.train), generator=torch.Generator().manual_seed(cfg.seed))[:16]]
        captions, centres = dsprites.describe(images.latents[pick])
        self.figures["gallery"] = plots.gallery(images.x[pick], captions, centres)
        views = next((c.views for c in self.configs.values() if hasattr(c, "views")), AffineRecipe())  # the study's own
        self.figures["augmented_pairs"] = plots.augmented_pairs(images.x[shown], views, cfg.seed)
        if any(histories.values()):
            self.figures["loss_curves"] = plots.loss_curves({k: v for k, v in histories.items() if v})
        self.figures["confusion"] = plots.confusions(confusions, self.class_names(cfg.target))
        if recon is not None:
            self.figures["vae_reconstructions"] = plots.reconstructions(*recon)

    def class_names(self, latent: str) -> list[str]:
        if latent == "shape":
            return list(dsprites.SHAPE_NAMES)
        return [str(i) for i in range(self.images.n_classes(latent))]

    # --- what do the encoders keep? ---------------------------------------------------------------

    def analyse_similarity(self) -> dict[str, Any]:
        """RSM grid (encoder x latent), RSM-value histograms, and linear CKA between encoders, on test images."""
        cfg, test = self.cfg, self.test
        latents = [self.images.latent_names[i] for i in self.varying_factors()]
        # The same random test images in every panel, ordered by each latent in turn.
        samples = {lat: test[analysis.sorted_sample(self.images.labels(lat)[test], cfg.rsm_images, cfg.seed)]
                   for lat in latents}
        grid: dict[str, dict[str, Any]] = {}
        hists, summary = {}, {}
        for name, h in self.h.items():
            grid[name] = {lat: (analysis.rsm(h[idx], size=cfg.rsm_pixels).numpy(), self.images.labels(lat)[idx].numpy())
                          for lat, idx in samples.items()}
            counts, edges = analysis.rsm_histogram(h[test])
            hists[name] = (counts, edges)
            centres = (edges[1:] + edges[:-1]) / 2  # mean and spread from the 100 bins: within 0.01 of exact
            mean = float((counts * centres).sum() / counts.sum())
            summary[name] = {"mean": mean, "std": float(((counts * (centres - mean) ** 2).sum() / counts.sum()).sqrt())}
        names = list(self.h)
        cka = analysis.cka_matrix({k: self.h[k][test] for k in names})
        self.figures["rsm"] = plots.rsm_grid(grid, {lat: self.class_names(lat) for lat in self.images.latent_names})
        self.figures["rsm_histograms"] = plots.rsm_histograms(hists)
        self.figures["cka"] = plots.matrix(cka.numpy(), names, names, "Linear CKA between encoders (test images)",
                                           "linear CKA", 0, 1)
        return {"rsm_values": summary, "cka": {"encoders": names, "matrix": cka.tolist()}}

    def invariance_pairs(self) -> torch.Tensor:
        """Generated image pairs for the invariance score: for each factor, pairs differing in it alone,
        then pairs differing in every factor: (2 x n_pairs x (factors + 1), C, H, W) uint8, in that order."""
        g = torch.Generator().manual_seed(self.cfg.seed)
        n = self.cfg.invariance_pairs
        lats = []
        for f in [*self.varying_factors(), None]:
            a, b = analysis.factor_pairs(self.images.latent_sizes, f, n, g)
            lats += [a, b]
        return dsprites.render(torch.cat(lats))

    def varying_factors(self) -> list[int]:
        return [i for i, s in enumerate(self.images.latent_sizes) if s > 1]

    def analyse_factors(self) -> dict[str, Any]:
        """The factor profile: per-latent linear read-out accuracy and invariance, encoders x factors."""
        cfg, images = self.cfg, self.images
        factors = [images.latent_names[i] for i in self.varying_factors()]
        g = torch.Generator().manual_seed(cfg.seed)
        fit_idx = self.train[torch.randperm(len(self.train), generator=g)[: cfg.factor_images]]
        ys = {lat: analysis.binned(images.labels(lat), images.n_classes(lat), cfg.factor_bins) for lat in factors}
        chance = {lat: 1 / min(images.n_classes(lat), cfg.factor_bins) for lat in factors}
        n_pairs, accuracy, invariance = cfg.invariance_pairs, {}, {}
        for name, h in self.h.items():
            accuracy[name], invariance[name] = {}, {}
            hp = self.pairs_h[name].view(len(factors) + 1, 2, n_pairs, -1)  # (factor or all, a/b, pair, D)
            for k, lat in enumerate(factors):
                y = ys[lat]
                probe = LinearProbe(C=cfg.probe_C, max_iter=cfg.factor_max_iter).fit(h[fit_idx], y[fit_idx])
                accuracy[name][lat] = probe.score(h[self.test], y[self.test])
                invariance[name][lat] = analysis.invariance(hp[k, 0], hp[k, 1], hp[-1, 0], hp[-1, 1])
            self.log(f"  {name}: read-out " + "  ".join(f"{lat} {accuracy[name][lat]:.0%}" for lat in factors)
                     + " | invariance " + "  ".join(f"{lat} {invariance[name][lat]:.2f}" for lat in factors))
        names = list(self.h)
        self.figures["factor_profile"] = plots.factor_profile(
            names, factors, [[accuracy[n][f] for f in factors] for n in names], [chance[f] for f in factors],
            [[invariance[n][f] for f in factors] for n in names])
        return {"factors": factors, "bins": cfg.factor_bins, "chance": chance, "n_fit": len(fit_idx),
                "max_iter": cfg.factor_max_iter,
                "n_pairs": n_pairs, "accuracy": accuracy, "invariance": invariance}

    def analyse_umap(self) -> dict[str, Any]:
        """UMAP (cosine) of each encoder's test features, capped per class of the colouring latent."""
        cfg = self.cfg
        latent = cfg.umap_colour or cfg.target
        labels = self.images.labels(latent)[self.test]
        pos = splits.per_class(labels, cfg.umap_per_class, cfg.seed)
        coords = {}
        for name, h in self.h.items():
            t0 = time.perf_counter()
            coords[name] = analysis.umap_2d(h[self.test[pos]], cfg.seed).numpy()
            self.log(f"  {name}: UMAP of {len(pos)} test images ({time.perf_counter() - t0:.0f} s)")
        self.figures["umap"] = plots.scatter_grid(coords, labels[pos].numpy(), self.class_names(latent), latent)
        return {"colour": latent, "n_images": len(pos)}

    # --- how many labels do they need? ------------------------------------------------------------

    def analyse_labels(self) -> dict[str, Any]:
        """Label-fraction and images-per-class curves: a probe per labelled subset; encoders that learn
        from labels are retrained end to end on each subset, with epochs scaled up as it shrinks."""
        cfg, y_train = self.cfg, self.y[self.train]
        subsets = {
            "label_fraction": {f: splits.label_fraction(y_train, f, cfg.seed) for f in sorted(cfg.label_fractions)},
            "images_per_class": {n: splits.per_class(y_train, n, cfg.seed) for n in sorted(cfg.images_per_class)},
        }
        retrained = [n for n in self.configs if methods.REGISTRY[methods.parse_encoder(n)[0]].uses_labels]
        out: dict[str, Any] = {"retrained": retrained}
        for kind, subs in subsets.items():
            out[kind] = {}
            for name, h in self.h.items():
                # The main probe already saw every training label: reuse it (it is the slowest probe on pixels).
                known = {k: self.encoders[name]["test_accuracy"] for k, p in subs.items()
                         if len(p) == len(y_train) and cfg.label_fraction == 1}
                rest = {k: p for k, p in subs.items() if k not in known}
                if name in retrained:
                    known |= {k: self.retrained_accuracy(name, p) for k, p in rest.items()}
                else:
                    known |= label_curve(h[self.train], y_train, rest, h[self.test], self.y[self.test],
                                         probe=lambda: LinearProbe(C=cfg.probe_C))
                out[kind][name] = {k: known[k] for k in subs}
            self.log(f"  {kind}: " + "; ".join(f"{n} " + " ".join(f"{v:.0%}" for v in c.values())
                                               for n, c in out[kind].items()))
        chance = 1 / self.n_classes
        self.figures["label_fraction"] = plots.curves(out["label_fraction"], "fraction of labelled training images",
                                                      chance, tuple(retrained))
        self.figures["images_per_class"] = plots.curves(out["images_per_class"], "labelled training images per class",
                                                        chance, tuple(retrained))
        out["sizes"] = {kind: {k: len(p) for k, p in subs.items()} for kind, subs in subsets.items()}
        return out

    def retrained_accuracy(self, name: str, pos: torch.Tensor) -> float:
        """Test accuracy of encoder `name` retrained end to end on the training images at positions pos,
        epochs scaled by min(all / labelled, max_epoch_scale), then probed with the same labels."""
        cfg, idx = self.cfg, self.train[pos]
        if len(pos) == len(self.train):  # all labels: the encoder trained on them already
            h = self.h[name]
            return LinearProbe(C=cfg.probe_C).fit(h[idx], self.y[idx]).score(h[self.test], self.y[self.test])
        scale = min(len(self.train) / len(pos), cfg.max_epoch_scale)
        return self.retrain_and_probe(name, scale, idx, cfg.target, f" on {len(pos)} labels")

    def retrain_and_probe(self, name: str, epoch_scale: float, idx: torch.Tensor, latent: str, tag: str) -> float:
        """Train encoder `name` afresh on the images at idx (its recipe's epochs x epoch_scale), fit a linear
        probe for `latent` on their features, and return its accuracy on the test images."""
        mcfg = self.configs[name]
        if mcfg.epochs:
            mcfg = dataclasses.replace(mcfg, epochs=max(1, round(mcfg.epochs * epoch_scale)))
        method, _ = self.train_encoder(name, mcfg, idx, tag=tag, latent=latent)
        y = self.images.labels(latent)
        h_fit, h_test = self.encode(method, self.x[idx]), self.encode(method, self.x[self.test])
        return LinearProbe(C=self.cfg.probe_C).fit(h_fit, y[idx]).score(h_test, y[self.test])

    # --- do they survive bias? --------------------------------------------------------------------

    def analyse_bias(self) -> dict[str, Any]:
        """The tutorial's Section 7: train every encoder (and its probe) on a set where shape predicts posX,
        and on a size-matched unbiased control; test both on the same unbiased test set."""
        images, cfg = self.images, self.cfg
        biased = splits.shape_posx_biased(images, self.train)
        control = splits.matched_control(images, self.train, biased, cfg.seed)
        out: dict[str, Any] = {"n_biased": len(biased), "n_control": len(control), "epoch_scale": cfg.bias_epoch_scale,
                               "bands": splits.SHAPE_POSX_BANDS, "encoders": {}}
        for name in self.configs:
            out["encoders"][name] = r = {
                kind: self.retrain_and_probe(name, cfg.bias_epoch_scale, idx, "shape", f" on the {kind} set")
                for kind, idx in (("biased", biased), ("control", control))}
            self.log(f"  {name}: unbiased test accuracy after the biased set {r['biased']:.2%}, "
                     f"after the control set {r['control']:.2%}")
        self.figures["bias"] = plots.bias_bars(out["encoders"], 1 / images.n_classes("shape"))
        return out
