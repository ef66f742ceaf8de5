"""Everything a study decides before it trains: its settings checked, its images loaded and split, and every
encoder's and analysis's settings resolved against the data (the Plan). One clear error, before any work."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from sslab import analyses, data, methods, nets, views
from sslab.data import Images, dsprites, splits
from sslab.devices import PRECISIONS, resolve_device, resolve_precision
from sslab.errors import SslabError
from sslab.i18n import N_
from sslab.online import MonitorConfig
from sslab.probes import PROBES
from sslab.settings import configure
from sslab.study.config import EMBEDDED_IMAGES, QUICK_EPOCHS, Plan, StudyConfig


MONITOR = "monitor"  # --set monitor.KEY=VALUE: the online kNN (sslab.online.MonitorConfig)


def parse_overrides(items: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """("simclr.temperature=0.1", ...) -> {"simclr": {"temperature": "0.1"}}; names are checked."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        owner, dot, setting = key.strip().partition(".")
        if not (sep and dot and setting):
            raise SslabError(f"--set expects name.setting=value, got {item!r}")
        if owner not in analyses.REGISTRY and owner != MONITOR:
            methods.parse_encoder(owner)  # a method or an encoder name such as simclr-2neg
        out.setdefault(owner, {})[setting.strip()] = value.strip()
    return out


def check(cfg: StudyConfig) -> None:
    """Everything that can be checked before reading any data: one clear error, before any work."""
    splits.check_fraction("train fraction", cfg.train_fraction)
    if not 0 <= cfg.val_fraction < 1:
        raise SslabError(f"validation fraction must be in [0, 1), got {cfg.val_fraction}")
    splits.protocol(cfg.protocol, label_fraction=cfg.label_fraction, n_labelled=cfg.n_labelled,
                    holdout=cfg.holdout)
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise SslabError(f"epochs must be a positive number, got {cfg.epochs}")
    if cfg.quick_images < 20:
        raise SslabError(f"quick_images must be at least 20, got {cfg.quick_images}")
    if cfg.n_images is not None and cfg.n_images < 20:
        raise SslabError(f"--n-images must be at least 20, got {cfg.n_images}")
    if cfg.probe not in PROBES:
        raise SslabError(f"unknown probe {cfg.probe!r}; probes: {', '.join(PROBES)}")
    if cfg.probe != "lbfgs" and cfg.probe_C != StudyConfig.probe_C:
        raise SslabError(f"probe_C is the lbfgs probe's inverse L2 strength; the {cfg.probe} probe takes no C")
    if cfg.knn_k < 1:
        raise SslabError(f"knn_k must be at least 1, got {cfg.knn_k}")
    if cfg.knn_temperature <= 0:
        raise SslabError(f"knn_temperature must be positive, got {cfg.knn_temperature}")
    if cfg.keep_every < 0:
        raise SslabError(f"keep_every must be >= 0 (0: keep no snapshots), got {cfg.keep_every}")
    if cfg.checkpoint_every < 1:
        raise SslabError(f"checkpoint_every must be at least 1 epoch, got {cfg.checkpoint_every}")
    if cfg.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise SslabError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    if cfg.precision not in PRECISIONS:
        raise SslabError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if not cfg.encoders:
        raise SslabError("no encoders chosen")
    for kind, names in (("encoder", cfg.encoders), ("analysis", cfg.analyses)):
        if len(set(names)) != len(names):
            raise SslabError(f"an {kind} is listed twice: {', '.join(names)}")
    unknown = [a for a in cfg.analyses if a not in analyses.REGISTRY]
    if unknown:
        raise SslabError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(analyses.NAMES)}")
    for name in cfg.encoders:
        methods.parse_encoder(name)
    if cfg.encoder is not None and cfg.encoder not in nets.REGISTRY:
        raise SslabError(f"unknown encoder {cfg.encoder!r}; encoders: {', '.join(nets.REGISTRY)}")
    if cfg.views is not None and cfg.views not in views.REGISTRY:
        raise SslabError(f"unknown view recipe {cfg.views!r}; recipes: {', '.join(views.REGISTRY)}")
    settings = parse_overrides(cfg.overrides)
    monitor(settings)
    for name in cfg.analyses:
        reason = getattr(analyses.REGISTRY[name], "requires", lambda: None)()
        if reason:
            raise SslabError(reason)
        analyses.config(name, settings.get(name, {}))
    for name in cfg.encoders:  # the user's own settings, checked alone (the data's defaults come later)
        method = methods.parse_encoder(name)[0]
        methods.make_config(method, {**settings.get(method, {}), **settings.get(name, {})})
    resolve_device(cfg.device)


def load_images(cfg: StudyConfig) -> Images:
    """The study's images: the file at cfg.data, or dSprites generated from the grid; subsampled and
    relabelled by cfg.target as asked."""
    n = cfg.quick_images if cfg.quick and cfg.n_images is None else cfg.n_images
    if cfg.data is None and cfg.needs_data:
        raise SslabError(f"the {cfg.name} study needs --data: {cfg.needs_data}")
    if cfg.data is None:
        images = dsprites.generate(n or EMBEDDED_IMAGES)
    else:
        images = data.load(cfg.data, n_images=n, seed=cfg.split_seed, image_size=cfg.image_size)
    if cfg.target is not None:
        images = images.with_target(cfg.target)
    if int(images.labelled.sum()) < 20:
        raise SslabError(f"{int(images.labelled.sum())} labelled images are too few for a study")
    return images


def make_split(cfg: StudyConfig, images: Images) -> tuple[splits.Protocol, splits.Split]:
    """The labelling protocol and the study's split of the images (seeded by cfg.split_seed)."""
    proto = splits.protocol(cfg.protocol, label_fraction=cfg.label_fraction, n_labelled=cfg.n_labelled,
                            holdout=cfg.holdout)
    return proto, splits.make_split(images, proto, cfg.split_seed, cfg.train_fraction, cfg.val_fraction)


def plan(cfg: StudyConfig, images: Images, split: splits.Split, device: torch.device | str = "cpu") -> Plan:
    """Resolve every encoder's method config and every analysis against the data (before training)."""
    fmt = data.REGISTRY.get(images.format)
    views_name = cfg.views or getattr(fmt, "VIEWS", "simclr")
    encoder = cfg.encoder or getattr(fmt, "ENCODER", None) or ("convnet" if images.shape[1] <= 32 else "resnet18")
    recipe = getattr(fmt, "METHODS", {})  # the data's own method settings (e.g. dSprites: temperature 0.1)
    settings = parse_overrides(cfg.overrides)
    resolved, recipe_epochs = {}, {}
    for name in methods.by_family(cfg.encoders):  # grouped by family: the report's tables and legends follow
        method, variant = methods.parse_encoder(name)
        cls = methods.REGISTRY[method]
        fields = {f.name for f in dataclasses.fields(cls.Config)} - ({"encoder"} if not cls.accepts(encoder) else set())
        values: dict[str, Any] = {k: v for k, v in (("encoder", encoder), ("views", views_name)) if k in fields}
        values |= recipe.get(method, {})
        values |= {**variant, **settings.get(method, {}), **settings.get(name, {})}
        epochs = cfg.epochs or (QUICK_EPOCHS if cfg.quick else None)  # over any method's own (a study file's too)
        recipe_epochs[name] = methods.make_config(method, values).epochs
        if cls.Config.epochs > 0 and epochs is not None:
            values["epochs"] = epochs
        resolved[name] = methods.make_config(method, values)
        try:  # build it once without memory: a layer, encoder or size that cannot work fails now
            with torch.device("meta"):
                methods.create(name, resolved[name], images.shape, max(2, len(split.classes)))
        except SslabError as e:
            raise SslabError(f"{name}: {e}") from None
        except (RuntimeError, ValueError) as e:
            raise SslabError(f"{name} cannot be built for {images.shape} images: {e}") from None
        if cls.uses_labels and len(split.classes) < 2:
            raise SslabError(f"{name} learns from labels, but the main task has {len(split.classes)} class(es)")
    run, skipped = {}, {}
    for name in cfg.analyses:
        reason = analyses.missing(name, images, split)
        if reason:
            skipped[name] = reason
            continue
        quick = getattr(analyses.REGISTRY[name], "QUICK", {}) if cfg.quick else {}  # the smoke test's budget
        if quick is None and cfg.analyses == analyses.DEFAULTS and name not in settings:  # a setting names it
            skipped[name] = N_("left out of --quick (it costs more than a smoke test should); name it with "
                               "--analyses to run it")
            continue
        run[name] = analyses.config(name, {**(quick or {}), **settings.get(name, {})})
        reason = getattr(analyses.REGISTRY[name], "unavailable", lambda c: None)(run[name])
        if reason:  # e.g. cross_dataset without other data
            skipped[name] = reason
            del run[name]
            continue
        if hasattr(analyses.REGISTRY[name], "validate"):
            analyses.REGISTRY[name].validate(run[name], images)
    return Plan(resolved, run, skipped, views_name, encoder, recipe_epochs,
                resolve_precision(cfg.precision, resolve_device(str(device))), monitor(settings))


def monitor(settings: dict[str, dict[str, str]]) -> MonitorConfig:
    """The online kNN's settings (`--set monitor.every=5`), checked."""
    return configure(MonitorConfig, settings.get(MONITOR, {}), MONITOR, "the monitor")
