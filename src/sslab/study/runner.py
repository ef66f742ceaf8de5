"""A study from start to finish: `run(StudyConfig(...), out_dir)` checks, loads, splits and plans, then trains
and encodes every encoder once, probes it, runs the analyses, and writes results.json, the figures' data and
report.html into `<out_dir>.partial/`, renamed to out_dir when complete. `run_seeds` repeats it per seed."""

from __future__ import annotations

import dataclasses
import errno
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sslab import __version__, atomic, distributed, i18n, methods, plots, report
from sslab.devices import resolve_device
from sslab.errors import SslabError
from sslab.i18n import N_, _
from sslab.progress import Progress, as_progress
from sslab.study import stages
from sslab.study.config import StudyConfig, to_toml
from sslab.study.context import StudyContext
from sslab.study.folder import claim, partial, resumable
from sslab.study.resolve import check, load_images, make_split, plan


def run(cfg: StudyConfig, out_dir: str | Path, log: Callable[[str], None] | Progress = print,
        modules: dict[str, torch.nn.Module] | None = None, resume: bool = False, draw: bool = True) -> dict[str, Any]:
    """Run the study and write results.json, figures and report.html into out_dir (which must not exist).

    The run is written into `<out_dir>.partial/` and renamed when complete. Training checkpoints, finished
    encoders and finished analyses stay there when a run fails or is interrupted, and `resume=True` carries
    on from them (cfg must be the run's own: `study.toml` in that folder). Under torchrun every rank calls
    this; rank 0 alone writes, evaluates and returns the results (the others return {}).
    modules: your own frozen encoders to compare beside cfg.encoders, {name: nn.Module mapping float
    images (B, C, H, W) in [0, 1] to features (B, D)}, e.g. a network trained elsewhere.
    log: where progress goes: a function of one line (print), or a sslab.progress.Progress (live bars).
    draw=False writes no report.html (results.json and the figures' data only; `sslab.report.write` draws it later).
    The run's name is taken atomically: a second run of the same out_dir while one runs is refused."""
    out_dir = Path(out_dir)
    if cfg.seeds:
        return run_seeds(cfg, out_dir, log, resume, draw)
    main = distributed.is_main()
    modules = dict(modules or {})
    clash = set(modules) & (set(cfg.encoders) | set(methods.REGISTRY))
    if clash:
        raise SslabError(f"a module's name clashes with a method or an encoder of the study: {', '.join(clash)}")
    if out_dir.exists():
        raise SslabError(f"run directory already exists: {out_dir}" + (" (the run is complete)" if resume else ""))
    check(cfg)
    device = resolve_device(cfg.device)
    images = load_images(cfg)
    proto, split = make_split(cfg, images)
    the_plan = plan(cfg, images, split, device)
    the_plan.methods.update({name: methods.REGISTRY["pretrained"].Config() for name in modules})
    tmp = partial(out_dir)
    if resume and not tmp.is_dir():
        raise SslabError(f"nothing to resume: {tmp} does not exist")
    if main:
        if not resume:
            claim(tmp)
        try:
            (tmp / "encoders").mkdir(parents=True, exist_ok=True)
            (tmp / "study.toml").write_text(to_toml(cfg))
        except OSError as e:
            raise SslabError(f"cannot write the run folder {tmp}: {e.strerror}") from None
    distributed.barrier()
    progress = as_progress(log)
    ctx = StudyContext(cfg, the_plan, images, split, proto, device, tmp, progress, modules)
    try:
        results = _guarded(ctx)
        if main:
            if draw:
                with progress.task(_("drawing the figures and writing the report")):
                    report.write(tmp, log=lambda problem: ctx.log("  " + _("warning: {text}").format(text=problem)))
            shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
            tmp.rename(out_dir)
    except BaseException:
        ctx.ahead.close(wait=0)  # a helper training ahead stops too (its checkpoints stay)
        if main and not resumable(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def _guarded(ctx: StudyContext) -> dict[str, Any]:
    """The study's stages, with what goes wrong in them said in one line: what it was doing, and what to do."""
    try:
        return _stages(ctx)
    except torch.OutOfMemoryError:
        raise SslabError(f"out of memory while {ctx.step} on {ctx.device}: use a smaller batch "
                         f"(--set METHOD.batch_size=...), fewer images (--n-images) or smaller ones "
                         f"(--image-size)") from None
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        kept = " (resume it with --resume once there is room)" if resumable(ctx.out) else ""
        raise SslabError(f"no space left on the disk while {ctx.step}: {e.filename or ctx.out}; the run folder "
                         f"keeps its last good checkpoint{kept}") from None
    except (RuntimeError, FloatingPointError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SslabError(f"while {ctx.step}: {first}") from e


def _stages(ctx: StudyContext) -> dict[str, Any]:
    cfg, images, split, start = ctx.cfg, ctx.images, ctx.split, time.perf_counter()
    sizes = split.sizes()
    ctx.log(_("data: {source} ({format}): {n} images of {shape}; {k} classes; {sizes}; device {device}").format(
        n=f"{len(images):,}", shape="x".join(map(str, images.shape)), source=images.source, format=images.format,
        k=len(ctx.class_names), sizes=", ".join(f"{k} {v}" for k, v in sizes.items()), device=ctx.device))
    for note in split.notes:
        ctx.log(f"  {i18n.text(note)}")
    for name, reason in ctx.plan.skipped.items():
        ctx.log("  " + _("analysis {name} skipped: {reason}").format(name=name, reason=i18n.text(reason)))
    shown = split.test[stages.spread(split.y[split.test], 8, cfg.seed)]  # test images drawn in figures
    encoded = stages.encoders(ctx, shown)
    timings = {N_("encoders"): round(time.perf_counter() - start, 1)}
    if not distributed.is_main():
        return {}
    results: dict[str, Any] = {
        "study": cfg.name, "data": stages.describe_data(images), "split": sizes | {"notes": list(split.notes)},
        "protocol": dataclasses.asdict(ctx.proto), "classes": ctx.class_names,
        "target": cfg.target or "class", "chance": ctx.chance,
        "chance_note": "the majority class's share of the test images",
        "n_train": len(split.pretrain), "n_probe": len(split.labelled), "n_val": len(split.val),
        "n_test": len(split.test), "encoders": ctx.results, "histories": encoded.histories,
        "confusion": {k: v.tolist() for k, v in encoded.confusions.items()}, "skipped": dict(ctx.plan.skipped),
    }
    saved = stages.run_analyses(ctx, results, timings)
    ctx.step = "drawing the figures"
    figures = stages.pictures(ctx, encoded, shown)
    for key, plot in figures.items():
        plots.save_plot(plot, ctx.out / "figures" / key)
    results |= {
        "recipe_epochs": ctx.plan.recipe_epochs, "shortened": stages.shortened(cfg, ctx.plan.recipe_epochs, len(images)),
        "cached": dict(ctx.trainer.cached),
        "figures": {k: f"figures/{k}" for k in [*figures, *saved]},
        "method_figures": encoded.method_figures,
        "timings": timings,
        "seconds": round(time.perf_counter() - start, 1),
        "config": dataclasses.asdict(cfg) | {
            "methods": {k: dataclasses.asdict(v) for k, v in ctx.plan.methods.items()},
            "analysis_settings": {k: dataclasses.asdict(v) for k, v in ctx.plan.analyses.items()},
            "monitor": dataclasses.asdict(ctx.plan.monitor),
            "views": ctx.plan.views, "default_encoder": ctx.plan.encoder},
        "environment": {"sslab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                        "device": str(ctx.device), "precision": ctx.plan.precision,
                        "threads": torch.get_num_threads(), "argv": sys.argv, "peak_rss_mb": peak_rss_mb()},
    }
    ctx.step = "writing results.json"
    atomic.write_text(ctx.out / "results.json", json.dumps(results, indent=2, default=str))
    return results


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MB (None where the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return round(kb / (2**20 if sys.platform == "darwin" else 2**10), 1)


def run_seeds(cfg: StudyConfig, out_dir: str | Path, log: Callable[[str], None] | Progress = print,
              resume: bool = False, draw: bool = True) -> dict[str, Any]:
    """The study once per seed in cfg.seeds (out_dir/seed-<s>/, the same split: split_seed is kept), then
    their summary in out_dir (compare.json, report.html): every probe accuracy as mean and standard deviation
    with the per-seed points. A resumed run keeps the finished seeds and resumes the interrupted one."""
    from sslab import compare

    out_dir = Path(out_dir)
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise SslabError(f"a seed is listed twice: {cfg.seeds}")
    if out_dir.exists() and not resume:
        raise SslabError(f"run directory already exists: {out_dir}")
    check(cfg)
    if distributed.is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "study.toml").write_text(to_toml(cfg))
    dirs = []
    for s in cfg.seeds:
        one = out_dir / f"seed-{s}"
        dirs.append(one)
        if one.is_dir():
            log(_("seed {seed}: finished earlier, kept").format(seed=s))
            continue
        log(_("[seed {k}/{n}] {seed}").format(k=len(dirs), n=len(cfg.seeds), seed=s))
        run(dataclasses.replace(cfg, seed=s, seeds=()), one, log, resume=resume and partial(one).is_dir(), draw=draw)
    if not distributed.is_main():
        return {}
    summary = compare.write(out_dir, dirs, [_("seed {seed}").format(seed=s) for s in cfg.seeds],
                            _("{name}: {n} seeds").format(name=cfg.name, n=len(cfg.seeds)))
    return summary | {"seeds": list(cfg.seeds)}
