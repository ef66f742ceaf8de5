"""One run's state and what the analyses may ask of it (sslab.analyses.base.Context): the trained methods, their
cached frozen features, probes, retraining and fine-tuning on the study's images."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from sslab import methods, nets, views
from sslab.data import Images, splits
from sslab.finetune import FinetuneConfig, finetune, score
from sslab.i18n import N_
from sslab.online import Online
from sslab.probes import PROBES, KNNProbe, chance
from sslab.progress import Progress
from sslab.study.ahead import Ahead, Job
from sslab.study.config import Plan, StudyConfig
from sslab.study.encoders import Trainer
from sslab.train import extract


class StudyContext:
    """The trained methods, their cached features of the evaluated images, and what the analyses read."""

    def __init__(self, cfg: StudyConfig, plan: Plan, images: Images, split: splits.Split, proto: splits.Protocol,
                 device: torch.device, out: Path, progress: Progress,
                 modules: dict[str, torch.nn.Module] | None = None):
        self.cfg, self.plan, self.images, self.split, self.proto = cfg, plan, images, split, proto
        self.device, self.out, self.progress = device, out, progress
        self.modules = modules or {}  # the caller's own frozen encoders, by name
        # a memory-mapped dataset (sslab prepare) stays on disk: batches are read from it, a chunk at a time
        self.x = images.x if images.mapped else images.x.to(device)
        self.trainer = Trainer(cfg, images, self.x, device, out, progress, plan.precision, self.modules)
        self.trainer.ahead = self.ahead = Ahead(self.trainer)
        self.trainer.online = Online.of(plan.monitor, split, cfg.split_seed, k=cfg.knn_k,
                                        temperature=cfg.knn_temperature, precision=plan.precision,
                                        channels_last=cfg.channels_last)
        self.class_names = [images.class_names[c] for c in split.classes]  # the main task's classes
        self.chance = chance(split.y[split.test])
        parts = [split.labelled, split.val, split.test]
        if split.transfer is not None:
            parts += [split.transfer.train, split.transfer.test]
        self.evaluated = torch.unique(torch.cat(parts))  # the images whose features the probes and analyses read
        self.rows = torch.full((len(images),), -1, dtype=torch.int64)  # image index -> its row in h (-1: none)
        self.rows[self.evaluated] = torch.arange(len(self.evaluated))
        self.methods: dict[str, methods.Method] = {}  # encoder -> its trained method
        self.h: dict[str, torch.Tensor] = {}  # encoder -> (len(evaluated), D) frozen features
        self.results: dict[str, dict[str, Any]] = {}  # encoder -> its probes' results

    @property
    def encoders(self) -> list[str]:
        return list(self.h)

    @property
    def step(self) -> str:
        return self.trainer.step

    @step.setter
    def step(self, what: str) -> None:
        self.trainer.step = what

    def log(self, message: str) -> None:
        self.progress.log(message)

    def features(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """Cached frozen features of encoder `name` for the images at idx (among the evaluated ones)."""
        rows = self.rows[idx]
        if (rows < 0).any():
            raise ValueError("features were cached for the labelled, validation and test images only")
        return self.h[name][rows]

    def extract(self, method: methods.Method, idx: torch.Tensor, features=None) -> torch.Tensor:
        """Frozen features of the study's images at idx with a method (default: its features; or a variant's)."""
        return extract(method, self.x, self.plan.precision, idx=idx.to(self.x.device), features=features)

    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Features of other uint8 images (e.g. generated pairs) with trained encoder `name`."""
        return extract(self.methods[name], x.to(self.device), self.plan.precision)

    def uses_labels(self, name: str) -> bool:
        return self.trainer.uses_labels(name)

    def view_recipe(self, name: str) -> Any:
        """The view recipe encoder `name` trained with, or the study's (for encoders trained without views, or a name
        that is no encoder)."""
        recipe = getattr(self.methods.get(name), "recipe", None)
        return recipe if callable(recipe) else views.build(self.plan.views)

    def layers(self, name: str) -> list[str]:
        """The stages of encoder `name`'s network, shallow to deep (sslab.nets.blocks); [] for one without a network."""
        net = getattr(self.methods[name], "encoder", None)
        return nets.blocks(net) if isinstance(net, torch.nn.Module) and name not in self.modules else []

    def layer_features(self, name: str, layer: str, idx: torch.Tensor) -> torch.Tensor:
        """(len(idx), D) pooled outputs of `layer` of encoder `name`'s network (sslab.nets.pooled) for the images at idx."""
        method = self.methods[name]

        def read(x: torch.Tensor) -> torch.Tensor:
            with nets.layer_features(method.encoder, layer, pool=True) as out:
                method.encoder(x)
            return out.h

        return self.extract(method, idx, features=read)

    def sort_keys(self) -> dict[str, tuple[torch.Tensor, tuple[str, ...]]]:
        """Ways to group the images: each varying latent factor, then the class. name -> ((N,) labels, names)."""
        keys = {}
        f = self.images.factors
        if f is not None:
            for k, name in enumerate(f.names):
                if f.sizes[k] > 1:
                    keys[name] = (f.classes(name), f.level_names[k])
        keys[N_("class")] = (self.split.y, tuple(self.class_names))  # N_: translated where it is shown
        return keys

    def new_probe(self):
        """A fresh, unfitted linear probe of the study's kind (cfg.probe)."""
        self.ahead.poll()  # a helper that is done gives its threads back to this probe
        return PROBES[self.cfg.probe](self.cfg.probe_C)

    def new_knn(self) -> KNNProbe:
        """A fresh kNN probe of the study's settings (knn_k, knn_temperature)."""
        return KNNProbe(self.cfg.knn_k, self.cfg.knn_temperature)

    def _scaled(self, name: str, epoch_scale: float) -> methods.TrainConfig:
        mcfg = self.plan.methods[name]
        return dataclasses.replace(mcfg, epochs=max(1, round(mcfg.epochs * epoch_scale))) if mcfg.epochs else mcfg

    def retrain_ahead(self, calls: list[tuple[str, torch.Tensor, torch.Tensor, float, str]]) -> None:
        """The retrainings an analysis will ask for, in order, as retrain_and_probe's arguments: on a CPU with 2+
        threads a second process trains the last of them meanwhile (sslab.study.ahead)."""
        self.ahead.start([Job(name, self._scaled(name, scale), idx, y, tag) for name, idx, y, scale, tag in calls
                          if name not in self.modules])

    def retrain_and_probe(self, name: str, idx: torch.Tensor, y: torch.Tensor, epoch_scale: float, tag: str) -> float:
        """Train encoder `name` afresh on the images at idx with labels y (N,) (its recipe's epochs x
        epoch_scale), fit a linear probe on their features, and return its accuracy on the test images."""
        method, _history = self.trainer.train(name, self._scaled(name, epoch_scale), idx, y, tag)
        test = self.split.test
        h_fit, h_test = self.extract(method, idx), self.extract(method, test)
        return self.new_probe().fit(h_fit, y[idx]).score(h_test, y[test])

    def finetune(self, name: str, idx: torch.Tensor, y: torch.Tensor, test: torch.Tensor, cfg: FinetuneConfig,
                 variant: str | None = None, val: torch.Tensor | None = None) -> tuple[float, Any, float | None]:
        """Fine-tune a copy of trained encoder `name` (or its `variant`) with a new linear head on the
        images at idx with labels y (N,); -> (accuracy, (k, k) confusion counts) on the images at test,
        and the accuracy on the images at val (None without any)."""
        label = name + (f" ({variant})" if variant else "")
        self.step = f"fine-tuning {label}"
        torch.manual_seed(self.cfg.seed)  # the new head's initialisation
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        precision = self.plan.precision
        model = finetune(self.methods[name], self.x, y.to(self.device), idx, cfg, gen, precision, variant)
        acc, confusion = score(model, self.x, y, test, precision)
        on_val = score(model, self.x, y, val, precision)[0] if val is not None and len(val) else None
        return acc, confusion, on_val


