"""`sslab bench`: how fast each method trains on this machine, where a step's time goes, and what probing
cached features saves over the tutorials' protocol of encoding every batch again.

Per method, on its default data and encoder (the tutorials' methods on dSprites; the others on MNIST-sized,
RGB 32-px and 96-px images): training images per second through the real loop (`sslab.train.fit`), split
into the data side of a step (batch to the device, views, noise: `method.inputs`) and the model side
(forward, loss, backward, optimiser), beside the model-only ceiling (the same steps on one pre-built batch);
then feature extraction and the linear probe. Images per second count source images (a SimCLR step sees
two views of each). Images are generated: dSprites from its grid, the others uniform noise (speed does not
depend on the pixels).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from sslab import methods
from sslab.data import dsprites
from sslab.probes import PROBES, LinearProbe
from sslab.devices import resolve_precision
from sslab.train import Loop, Step, autocast, data_step, extract, fit, model_step, prepare_model


@dataclass(frozen=True)
class Case:
    method: str
    data: str  # a key of SHAPES
    settings: tuple[tuple[str, Any], ...] = ()  # the method's settings, as in a study on that data
    heavy: bool = False  # measured on a GPU, or on a CPU only when named (--methods simclr/cifar10)


SHAPES = {"dsprites": (1, 64, 64), "mnist": (1, 28, 28), "rgb32": (3, 32, 32), "rgb96": (3, 96, 96),
          "cifar10": (3, 32, 32)}
TUTORIAL = (("encoder", "encoder_core"), ("batch_size", 1000))  # the Neuromatch tutorial's network and batch
CASES = (
    Case("supervised", "dsprites", TUTORIAL),
    Case("vae", "dsprites", TUTORIAL),
    Case("simclr", "dsprites", TUTORIAL + (("views", "dsprites"), ("temperature", 0.1))),
    Case("random", "dsprites", TUTORIAL[:1]),
    Case("pca", "mnist"),
    Case("linear_ae", "mnist"),
    Case("ae", "mnist"),
    Case("simclr", "mnist", (("encoder", "backbone"), ("views", "digits"), ("proj_dim", 32))),  # the blog's
    Case("conv_ae", "rgb32"),
    Case("supcon", "rgb32", (("encoder", "convnet"), ("views", "lab"))),  # the MedMNIST lab's
    Case("dino", "rgb32", (("encoder", "convnet"),)),
    Case("simclr", "rgb96", (("encoder", "resnet18"), ("views", "simclr"), ("proj_dim", 128))),  # the UvA tutorial's
    # the methods the field compares, as in the dSprites study (its network, views and batch 128)
    *(Case(m, "dsprites", (("views", "dsprites"),)) for m in ("moco", "byol", "simsiam", "barlow_twins", "vicreg")),
    Case("swav", "dsprites"),
    Case("mae", "dsprites"),  # vit_mini
    # LightlySSL's CIFAR-10 benchmark: ResNet-18 with a CIFAR stem, batch 512, SimCLR views
    Case("simclr", "cifar10", (("encoder", "resnet18"), ("views", "simclr"), ("proj_dim", 128), ("batch_size", 512)),
         heavy=True),
    *(Case(m, "cifar10", (("encoder", "resnet18"), ("views", "simclr"), ("batch_size", 512)), heavy=True)
      for m in ("byol", "moco")),
)


# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by a substring of torch.cuda.get_device_name, from the
# vendors' data sheets (SXM parts where a PCIe one differs); `sslab bench --peak-tflops` gives any other device's.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10G": 70.0, "RTX 4090": 165.0, "V100": 125.0}


def peak_tflops(device: torch.device, precision: str) -> float | None:
    """The device's dense bf16 peak from PEAK_BF16_TFLOPS (None: a CPU, fp32, or a GPU not in the table)."""
    if device.type != "cuda" or resolve_precision(precision, device) != "bf16":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def step_flops(method: methods.Method, inputs: tuple[torch.Tensor, ...], gen: torch.Generator, precision: str) -> int:
    """The model FLOPs of one training step on `inputs` (forward and backward: matrix products and convolutions,
    counted by torch.utils.flop_counter), uncompiled; the gradients it leaves are dropped."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        with autocast(next(method.parameters()).device, precision):
            loss, _logs = Step(method)(inputs, gen)
        loss.backward()
    method.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call of fn, over `repeats` calls after one untimed call."""
    fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / repeats


def images(data: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 images (N, C, H, W) of the kind `data` names, and labels (N,)."""
    if data == "dsprites":
        im = dsprites.generate(n, seed=2021 + seed)
        return im.x, im.y
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, *SHAPES[data]), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def measure(case: Case, device: torch.device, loop: Loop, batch_size: int | None = None, steps: int = 10,
            n_extract: int = 5000, peak_tflops: float | None = None) -> dict[str, Any]:
    """One method's figures: a warm-up epoch then a timed epoch of `steps` steps through `fit`; the data side
    alone over the same batches; the model side alone on one pre-built batch; the model FLOPs of a step and
    their rate (its share of the device's peak, MFU, where peak_tflops is known); extraction and probe times."""
    settings = dict(case.settings)
    cls = methods.REGISTRY[case.method]
    trained = cls.Config.epochs > 0
    if trained:
        settings |= {"epochs": 2} | ({"batch_size": batch_size} if batch_size else {})
    torch.manual_seed(0)
    m = methods.build(case.method, SHAPES[case.data], 10, settings).to(device)
    b = m.cfg.batch_size if trained else 0
    x, y = images(case.data, max(b * steps, n_extract))
    x, y = x.to(device), y.to(device)
    gen = torch.Generator(device).manual_seed(0)
    out: dict[str, Any] = {"method": case.method, "data": case.data, "shape": list(SHAPES[case.data]),
                           "encoder": getattr(m.cfg, "encoder", ""), "views": getattr(m.cfg, "views", ""),
                           "batch_size": b}
    if trained:
        history = fit(m, x, y, gen, loop=loop, idx=torch.arange(b * steps))  # epoch 1 warms up (and compiles)
        step = (history[1]["seconds"] - history[0]["seconds"]) / steps
        batches = iter(torch.randperm(b * steps, generator=torch.Generator().manual_seed(1)).split(b) * 2)
        m.train()
        data = _timed(lambda: data_step(m, x, y, next(batches), gen, device, loop), device, steps)
        inputs = data_step(m, x, y, torch.arange(b), gen, device, loop)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-6)
        model = prepare_model(m, loop, 1)
        ceiling = _timed(lambda: model_step(model, m, opt, inputs, gen, loop.precision, 0.5), device, steps)
        flops = step_flops(m, inputs, gen, loop.precision)
        m.eval()
        out |= {"step_ms": 1e3 * step, "images_per_s": b / step, "data_ms": 1e3 * data, "data_share": data / step,
                "model_ms": 1e3 * (step - data), "ceiling_images_per_s": b / ceiling, "of_ceiling": ceiling / step,
                "step_gflop": flops / 1e9, "tflops": flops / step / 1e12}
        if peak_tflops:
            out["mfu"] = out["tflops"] / peak_tflops
    else:
        fit(m, x, y, gen, loop=loop)  # prepare(): PCA's components, the random network's BatchNorm statistics
    ex = x[:n_extract]
    extract(m, ex[:256], loop.precision)
    _sync(device)
    t0 = time.perf_counter()
    h = extract(m, ex, loop.precision)
    t_extract = time.perf_counter() - t0
    t0 = time.perf_counter()
    LinearProbe().fit(h, y[:n_extract].cpu())
    out |= {"extract_images_per_s": len(ex) / t_extract, "probe_s": time.perf_counter() - t0,
            "probe_images": len(ex), "feature_dim": h.shape[1]}
    return out


def probe_protocols(device: torch.device, precision: str = "auto", n_images: int = 20_000) -> dict[str, Any]:
    """The Neuromatch tutorial's probe (Adam, 25 epochs, batch 1000) fitted by encoding every batch again,
    against the same probe and the L-BFGS one fitted on features cached once; shape on dSprites (20,000
    images, 80:20), with the untrained encoder_core (BatchNorm statistics estimated) as the tutorial probes it."""
    im = dsprites.generate(n_images)
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(2021))
    train, test = perm[: int(0.8 * n_images)], perm[int(0.8 * n_images):]
    torch.manual_seed(0)
    m = methods.build("random", im.shape, 3, {"encoder": "encoder_core"}).to(device)
    x = im.x.to(device)
    fit(m, x, im.y.to(device), torch.Generator(device).manual_seed(0), precision, idx=train)
    m.eval()

    out: dict[str, Any] = {"images": n_images, "train": len(train), "test": len(test), "encoder": "random encoder_core"}
    t0 = time.perf_counter()  # every minibatch encoded again, the same way `extract` encodes
    probe = PROBES["tutorial"](1.0).fit(x[train], im.y[train], encode=lambda b: extract(m, b, precision))
    acc = probe.score(extract(m, x, precision, idx=test), im.y[test])
    out["reencoding"] = {"test_accuracy": acc, "seconds": time.perf_counter() - t0}
    for name in ("tutorial", "lbfgs"):
        t0 = time.perf_counter()
        h_train, h_test = extract(m, x, precision, idx=train), extract(m, x, precision, idx=test)
        t1 = time.perf_counter()
        acc = PROBES[name](1.0).fit(h_train, im.y[train]).score(h_test, im.y[test])
        out[f"cached_{name}"] = {"test_accuracy": acc, "seconds": time.perf_counter() - t0,
                                 "fit_seconds": time.perf_counter() - t1}
    out["speedup"] = out["reencoding"]["seconds"] / out["cached_tutorial"]["seconds"]  # extraction included
    out["speedup_fit"] = out["reencoding"]["seconds"] / out["cached_tutorial"]["fit_seconds"]  # features at hand
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a plain-text table."""
    head = (f"{'method':<13}{'data':<9}{'encoder':<16}{'batch':>6}{'img/s':>9}{'data ms':>9}{'share':>7}"
            f"{'model ms':>10}{'ceiling':>9}{'of ceil':>8}{'TFLOP/s':>9}{'MFU':>7}{'extract/s':>11}{'probe s':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "step_ms" in r:
            mfu = f"{r['mfu']:>7.1%}" if "mfu" in r else f"{'-':>7}"
            train = (f"{r['batch_size']:>6}{r['images_per_s']:>9.0f}{r['data_ms']:>9.1f}{r['data_share']:>7.1%}"
                     f"{r['model_ms']:>10.1f}{r['ceiling_images_per_s']:>9.0f}{r['of_ceiling']:>8.0%}"
                     f"{r['tflops']:>9.2f}{mfu}")
        else:
            train = f"{'-':>6}{'-':>9}{'-':>9}{'-':>7}{'-':>10}{'-':>9}{'-':>8}{'-':>9}{'-':>7}"
        lines.append(f"{r['method']:<13}{r['data']:<9}{r['encoder'] or '-':<16}{train}"
                     f"{r['extract_images_per_s']:>11.0f}{r['probe_s']:>9.2f}")
    return "\n".join(lines)


def environment(device: torch.device, loop: Loop) -> dict[str, Any]:
    import platform

    from sslab import __version__

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"sslab": __version__, "torch": torch.__version__, "device": str(device), "device_name": name,
            "threads": torch.get_num_threads(), "loop": {k: v for k, v in dataclasses.asdict(loop).items()
                                                          if k in ("precision", "channels_last", "compile")}}
