"""The dSprites representation study: train or build each encoder, freeze it, probe it, draw it.

`run(StudyConfig(), out_dir)` is the whole study as a function; `sslab run` is a thin shell on it.
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
from sslab.probes import LinearProbe
from sslab.train import extract, fit

DEFAULT_ENCODERS = ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg")

# The dSprites recipe: settings that differ from a method's own defaults. At the tutorial's
# temperature 0.5, SimCLR at batch 128 was still at 55% shape accuracy after 10 epochs; at 0.1 its
# features jump from scale to shape mid-training and reach 99.95% (README, "Training recipes").
RECIPE: dict[str, dict[str, Any]] = {"simclr": {"temperature": 0.1}}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One study. All but n_images, probe_C and rsm_images are options of `sslab run`."""

    data: str | None = None  # dSprites npz; None: the embedded subset, generated from the grid with a fixed seed
    n_images: int = 20_000  # size of the embedded subset
    encoders: tuple[str, ...] = DEFAULT_ENCODERS  # names from the method registry, or simclr-<k>neg
    target: str = "shape"  # the latent the probes read out
    train_fraction: float = 0.8  # train:test split (the tutorial's 80:20)
    label_fraction: float = 1.0  # stratified fraction of training labels the probes see
    seed: int = 2021  # seeds the split, the initialisations and the augmentations
    quick: bool = False  # smoke-test profile: 5,000 images, 3 epochs per trained encoder
    epochs: int | None = None  # train every trained encoder for this many epochs (default: its recipe)
    overrides: tuple[str, ...] = ()  # "method.setting=value", e.g. "simclr.temperature=0.2"
    precision: str = "bf16"  # "bf16" autocast or "fp32"
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda", ...
    probe_C: float = 1.0  # inverse L2 strength of the linear probe
    rsm_images: int = 1000  # test images in each RSM figure


QUICK_IMAGES, QUICK_EPOCHS = 5000, 3


def resolve(cfg: StudyConfig) -> dict[str, methods.TrainConfig]:
    """Check a config before any work; return each encoder's resolved method config."""
    splits.check_fraction("train fraction", cfg.train_fraction)
    splits.check_fraction("label fraction", cfg.label_fraction)
    if cfg.train_fraction == 1:
        raise SslabError("train fraction must leave test images (use a value below 1)")
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise SslabError(f"epochs must be a positive number, got {cfg.epochs}")
    if cfg.precision not in ("bf16", "fp32"):
        raise SslabError(f"precision must be bf16 or fp32, got {cfg.precision!r}")
    if not cfg.encoders:
        raise SslabError("no encoders chosen")
    if len(set(cfg.encoders)) != len(cfg.encoders):
        raise SslabError(f"an encoder is listed twice: {', '.join(cfg.encoders)}")
    if cfg.target not in dsprites.LATENT_NAMES:
        raise SslabError(f"unknown target {cfg.target!r}; latents: {', '.join(dsprites.LATENT_NAMES)}")
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
    images = load_images(cfg)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "encoders").mkdir(parents=True)
    try:
        results = _study(cfg, configs, images, device, tmp, log)
        report.write(tmp)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def _study(cfg: StudyConfig, configs: dict[str, methods.TrainConfig], images: Images,
           device: torch.device, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    start = time.perf_counter()
    y_all = images.labels(cfg.target)
    train, test = splits.train_test(len(images), cfg.train_fraction, cfg.seed)
    probe_idx = train[splits.label_fraction(y_all[train], cfg.label_fraction, cfg.seed)]
    n_classes = images.n_classes(cfg.target)
    log(f"data: {len(images)} images {tuple(images.x.shape[1:])} ({cfg.data or 'embedded dSprites subset'}); "
        f"{len(train)} train / {len(test)} test; target {cfg.target!r} ({n_classes} classes); device {device}")
    x_all = images.x.to(device)
    x_train, y_train = x_all[train], y_all[train].to(device)
    rsm_pos = analysis.sorted_sample(y_all[test], cfg.rsm_images, cfg.seed)
    shown = test[analysis.sorted_sample(y_all[test], 8, cfg.seed)]  # test images drawn in the figures

    encoders: dict[str, Any] = {}
    histories, rsms, recon = {}, {}, None
    for name, mcfg in configs.items():
        t0 = time.perf_counter()
        # Each encoder starts from the same seed, so its result does not depend on which others ran.
        torch.manual_seed(cfg.seed)
        gen = torch.Generator(device).manual_seed(cfg.seed)
        method = methods.create(name, mcfg, tuple(images.x.shape[1:]), n_classes).to(device)
        log(f"[{name}] {'training ' + str(mcfg.epochs) + ' epochs' if mcfg.epochs else 'no training'}")

        def progress(epoch: int, epochs: int, rec: dict[str, float], name: str = name) -> None:
            logs = "  ".join(f"{k} {v:.4g}" for k, v in rec.items() if k != "seconds")
            log(f"  {name} epoch {epoch}/{epochs}  {logs}  ({rec['seconds']:.0f} s)")

        histories[name] = fit(method, x_train, y_train, gen, cfg.precision, progress)
        t_train = time.perf_counter() - t0
        h = extract(method, x_all, cfg.precision)  # (N, D): every image encoded once, then cached
        probe = LinearProbe(C=cfg.probe_C).fit(h[probe_idx], y_all[probe_idx])
        encoders[name] = {
            "method": method.name,
            "train_accuracy": probe.score(h[probe_idx], y_all[probe_idx]),
            "test_accuracy": probe.score(h[test], y_all[test]),
            "feature_dim": h.shape[1],
            "train_seconds": round(t_train, 2),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        rsms[name] = analysis.rsm(h[test[rsm_pos]]).numpy()
        if hasattr(method, "reconstruct"):
            with torch.no_grad():
                x_show = x_all[shown]
                recon = (x_show.cpu(), method.reconstruct(to_float(x_show)).cpu())
        state = {k: v.detach().cpu().contiguous() for k, v in method.state_dict().items()}
        if state:
            save_file(state, str(out / "encoders" / f"{name}.safetensors"))
        log(f"[{name}] probe accuracy: train {encoders[name]['train_accuracy']:.2%}  "
            f"test {encoders[name]['test_accuracy']:.2%}  ({encoders[name]['seconds']:.0f} s)")

    figures = {"rsm": plots.rsm_grid(rsms, y_all[test][rsm_pos].numpy(), _class_names(images, cfg.target), cfg.target)}
    if any(histories.values()):
        figures["loss_curves"] = plots.loss_curves({k: v for k, v in histories.items() if v})
    views = next((c.views for c in configs.values() if hasattr(c, "views")), AffineRecipe())  # the study's own recipe
    figures["augmented_pairs"] = plots.augmented_pairs(images.x[shown], views, cfg.seed)
    if recon is not None:
        figures["vae_reconstructions"] = plots.reconstructions(*recon)
    for key, fig in figures.items():
        plots.save(fig, out / f"{key}.png")

    results = {
        **encoders,
        "chance": 1 / n_classes,
        "target": cfg.target,
        "n_train": len(train), "n_probe": len(probe_idx), "n_test": len(test),
        "histories": histories,
        "figures": {k: f"{k}.png" for k in figures},
        "seconds": round(time.perf_counter() - start, 1),
        "config": dataclasses.asdict(cfg) | {"methods": {k: dataclasses.asdict(v) for k, v in configs.items()}},
        "environment": {"sslab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                        "device": str(device), "threads": torch.get_num_threads(), "argv": sys.argv},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def _class_names(images: Images, latent: str) -> list[str]:
    if latent == "shape":
        return list(dsprites.SHAPE_NAMES)
    return [str(i) for i in range(images.n_classes(latent))]
