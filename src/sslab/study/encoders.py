"""The encoder stage's machinery: build an encoder and train it on the one loop, or load it finished from the
run folder (a resumed run) or the encoder cache; checkpoints, live metrics and progress while it trains."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from sslab import __version__, distributed, methods, online, store
from sslab.checkpoint import read_meta
from sslab.i18n import N_, _
from sslab.progress import Progress, duration
from sslab.train import Loop, epoch_images, fit

AHEAD = "ahead"  # the run folder's subfolder where a helper process leaves the retrained encoders it trained
COLLAPSE = N_("{label} may have collapsed: its online kNN fell from {best} back towards the untrained network's "
              "{untrained} from epoch {epoch} (now {last})")

class Trainer:
    """Trains a study's encoders (and an analysis's retrained ones) from the study's seed, with its options."""

    def __init__(self, cfg: Any, images: Any, x: torch.Tensor, device: torch.device, out: Path, progress: Progress,
                 precision: str, modules: dict[str, torch.nn.Module] | None = None):
        self.cfg, self.images, self.x, self.device, self.out = cfg, images, x, device, out
        self.progress, self.precision, self.modules = progress, precision, modules or {}
        # a memory-mapped dataset (sslab prepare) stays on disk: batches are read from it, a chunk at a time
        self.chunk = max(1, (256 << 20) // max(1, images.x[0].numel())) if images.mapped else 0  # ~256 MB
        self.cached: dict[str, str] = {}  # encoder (and retraining) label -> where its trained weights came from
        self.step = "starting"  # what is being done, for an error's message
        self._data_digest: str | None = None
        self.ahead: Any = None  # sslab.study.ahead.Ahead: trainings a second process does meanwhile
        self.keep: Path | None = None  # where retrained (not main) encoders are also stored (a helper's)
        self.online: online.Online | None = None  # the online kNN of the study's own encoders while they train
        self.peaks: dict[str, float] = {}  # label -> the GPU memory its training held at most (MB)

    def build(self, name: str, mcfg: methods.TrainConfig, n_classes: int) -> methods.Method:
        if name in self.modules:
            return methods.REGISTRY["pretrained"].wrap(self.modules[name]).to(self.device)
        method = methods.create(name, mcfg, self.images.shape, n_classes).to(self.device)
        if method.note():
            self.log("  " + method.note())
        return method

    def train(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, y: torch.Tensor,
              tag: str = "", main: bool = False) -> tuple[methods.Method, list]:
        """Build `name` and train it on the images at idx (labels y (N,), read by label-using methods only),
        starting from the study's seed; or load it, finished, from the run folder (a resumed run) or the
        encoder cache. main: one of the study's own encoders (checkpointed, stored in the run folder, trained
        by every rank under torchrun), not an analysis's retraining."""
        torch.manual_seed(self.cfg.seed)  # each encoder starts from the same seed, whichever others ran
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        n_classes = max(2, int(y.max()) + 1)  # the task's classes, whichever the training images hold
        method = self.build(name, mcfg, n_classes)
        label = f"{name}{tag}"
        self.step = f"training {label}"
        if not mcfg.epochs or name in self.modules:
            return method, fit(method, self.x, y.to(self.device), gen, self.precision, idx=idx.to(self.device))
        helped = self.ahead is not None and self.ahead.wait(label)
        key = self.key(name, mcfg, idx, y, n_classes)
        found = self._load(name, key, method, main)
        if found is not None and helped:
            self.log("  " + _("{label}: trained in the second process: {epochs} epochs, {seconds} s").format(
                label=label, epochs=mcfg.epochs, seconds=f"{found[0].get('train_seconds', 0):.0f}"))
            method.eval()
            return method, found[0]["history"]
        if found is not None:
            meta, source = found
            self.log("  " + _("{label}: trained encoder loaded from {source} ({key}): {epochs} epochs, {seconds} s "
                              "when trained").format(label=label, source=_(source), key=key[:12], epochs=mcfg.epochs,
                                                     seconds=f"{meta.get('train_seconds', 0):.0f}"))
            self.cached[label] = source
            if "peak_memory_mb" in meta:
                self.peaks[label] = meta["peak_memory_mb"]
            if main and source == "the cache" and distributed.is_main():  # the run folder holds all its encoders
                store.save(self.out / "encoders", name, method, meta)
            method.eval()
            return method, meta["history"]
        self.log("  " + _("{label}: training {epochs} epochs on {n} images").format(
            label=label, epochs=mcfg.epochs, n=f"{len(idx):,}"))
        loop = self.loop(name, label, main)
        if loop.checkpoint is not None and loop.checkpoint.exists():
            self.log("  " + _("{label}: resuming at epoch {epoch} from {path}").format(
                label=label, epoch=read_meta(loop.checkpoint)["epoch"] + 1, path=loop.checkpoint))
        t0 = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        monitor = self.online if main and self.online is not None and self.online.cfg.enabled else None
        evaluate = None if monitor is None else lambda m, epoch: monitor(m, self.x, epoch, mcfg.epochs)
        with self.progress.task(_("training {label}").format(label=label), unit=_("steps")) as task:
            lines = self._epoch_lines(label, tag, epoch_images(len(idx), mcfg.batch_size))
            history = fit(method, self.x, y.to(self.device), gen, self.precision, lines, idx=idx.to(self.device),
                          loop=loop, steps=lambda done, total: task.update(done, total), evaluate=evaluate)
        if distributed.is_main():
            meta = {"encoder": name, "key": key, "history": history, "train_seconds": time.perf_counter() - t0,
                    "sslab": __version__}
            if self.device.type == "cuda":
                meta["peak_memory_mb"] = self.peaks[label] = torch.cuda.max_memory_allocated(self.device) / 2**20
            if self.cfg.cache:
                store.save(store.cache_dir(), key, method, meta)
            if self.keep is not None and not main:
                store.save(self.keep, key, method, meta)
            if main:
                store.save(self.out / "encoders", name, method, meta)
                (self.out / "checkpoints" / f"{name}.safetensors").unlink(missing_ok=True)
        return method, history

    def _load(self, name: str, key: str, method: methods.Method, main: bool) -> tuple[dict, str] | None:
        """(meta, where from) of a finished encoder in the run folder or the cache, loaded into method; None."""
        meta, source = (store.load(self.out / "encoders", name, method), N_("the run folder")) if main else (None, "")
        if meta is None and not main and (meta := store.load(self.out / AHEAD, key, method)) is not None:
            for suffix in (".safetensors", ".json"):  # a helper's hand-over, read once
                (self.out / AHEAD / f"{key}{suffix}").unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the folder too, once empty
                (self.out / AHEAD).rmdir()
            return meta, N_("the second process")
        if meta is None and self.cfg.cache and not self.cfg.force:
            meta, source = store.load(store.cache_dir(), key, method), N_("the cache")
        if distributed.world()[1] > 1 and main:  # every rank trains, or none: rank 0's finding decides
            meta = distributed.broadcast(meta)
            if meta is not None and not distributed.is_main():
                store.load(self.out / "encoders", name, method) or store.load(store.cache_dir(), key, method)
        return None if meta is None else (meta, source)

    def stored(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, y: torch.Tensor, main: bool) -> bool:
        """True when this training is finished already, in the run folder or the encoder cache."""
        if main and (self.out / "encoders" / f"{name}.json").is_file():
            return True
        n_classes = max(2, int(y.max()) + 1)
        key = self.key(name, mcfg, idx, y, n_classes)
        return self.cfg.cache and not self.cfg.force and (store.cache_dir() / f"{key}.json").is_file()

    def loop(self, name: str, label: str, main: bool) -> Loop:
        """The loop's options: the study's speed options; checkpoints and every rank for the study's encoders."""
        cfg, safe = self.cfg, label.replace(" ", "_")
        return Loop(precision=self.precision, channels_last=cfg.channels_last, compile=cfg.compile,
                    sync_bn=cfg.sync_bn, distributed=main, checkpoint_every=cfg.checkpoint_every,
                    chunk_images=self.chunk, keep_every=cfg.keep_every if main else 0,
                    snapshots=self.out / "snapshots" / safe if main and cfg.keep_every else None,
                    checkpoint=self.out / "checkpoints" / f"{name}.safetensors" if main else None,
                    metrics=self.out / "metrics" / f"{safe}.jsonl",
                    tensorboard=self.out / "tensorboard" / safe if cfg.tensorboard else None)

    def _epoch_lines(self, label: str, tag: str, n_images: int):
        """The per-epoch log line: losses, the online kNN, the epoch's own training time and throughput (n_images:
        what an epoch trains on), what is left."""
        done: dict[str, Any] = {"seconds": 0.0, "history": [], "collapse": None}

        def progress(epoch: int, epochs: int, rec: dict[str, float]) -> None:
            if self.ahead is not None:
                self.ahead.poll()  # the helper done: the rest of this training on every thread
            took, done["seconds"] = rec["seconds"] - done["seconds"], rec["seconds"]  # rec's is cumulative
            logs = "  ".join(f"{k} {v:.2%}" if k.startswith(("knn", "untrained_knn")) else f"{k} {v:.4g}"
                             for k, v in rec.items() if k not in ("seconds", "eval_seconds", "untrained_eval_seconds"))
            if not tag or epoch == epochs:  # retraining runs log their last epoch only
                self.log("  " + _("{label} epoch {epoch}/{epochs}  {logs}  {took} s ({rate} images/s), {left} left").format(
                    label=label, epoch=epoch, epochs=epochs, logs=logs, took=f"{took:.1f}",
                    rate=f"{n_images / max(took, 1e-9):,.0f}", left=duration(took * (epochs - epoch))))
            done["history"].append(rec)
            if "knn" in rec and done["collapse"] is None and self.online is not None:
                found = online.collapse(online.curve(done["history"]), self.online.cfg.patience)
                if found is not None:
                    done["collapse"] = found
                    self.log("  " + _("warning: {text}").format(text=_(COLLAPSE).format(
                        label=label, epoch=found["epoch"], best=f"{found['best']:.1%}",
                        untrained=f"{found['untrained']:.1%}", last=f"{found['last']:.1%}")))

        return progress

    def key(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, y: torch.Tensor, n_classes: int) -> str:
        """What determines a trained encoder's weights, hashed (see sslab.store): the data, its training images
        and (for a label-using method) their labels, the method and its settings, the seed, the precision, the
        loop's layout and order options, the version."""
        if self._data_digest is None:
            self._data_digest = store.digest(self.images.x)
        idx = idx.cpu()
        return store.key({"data": self._data_digest, "images": store.digest(idx), "name": name,
                          "labels": store.digest(y.cpu()[idx]) if self.uses_labels(name) else None,
                          "method": dataclasses.asdict(mcfg), "shape": self.images.shape, "classes": n_classes,
                          "seed": self.cfg.seed, "precision": self.precision, "channels_last": self.cfg.channels_last,
                          "compile": self.cfg.compile, "chunk": self.chunk, "sslab": __version__})

    def uses_labels(self, name: str) -> bool:
        """True for an encoder trained on labels (a caller's own module is frozen: it trains on nothing)."""
        return name not in self.modules and methods.REGISTRY[methods.parse_encoder(name)[0]].uses_labels

    def log(self, message: str) -> None:
        self.progress.log(message)
