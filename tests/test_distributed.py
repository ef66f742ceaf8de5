"""Distributed training with torch.distributed (gloo, 2 processes on this CPU): the loss and gradients of
SimCLR, SupCon, DINO, Barlow Twins, VICReg, SimSiam, BYOL, MoCo, SwAV and MAE on a global batch split over 2 ranks equal those of one process on the whole batch,
for encoders with and without BatchNorm; a 2-process study trains the one-process study's weights."""

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from sslab import distributed, methods
from sslab.train import Step

SHAPE, BATCH, WORLD = (1, 28, 28), 16, 2
# backbone has no BatchNorm; encoder_core (dSprites' and MNIST's default) and convnet (MedMNIST's) have it
ENCODERS = ("backbone", "encoder_core", "convnet")


def _method(name: str, encoder: str = "backbone") -> methods.Method:
    torch.manual_seed(0)
    settings = {"encoder": encoder, "batch_size": BATCH} | ({"proj_dim": 16} if name not in ("dino", "mae") else {}) | \
        ({"queue_size": 40} if name in ("moco", "swav") else {}) | \
        ({"freeze_prototypes": 0, "n_local": 1, "n_prototypes": 12} if name == "swav" else {})
    return methods.build(name, SHAPE, 3, settings).train()


class PerRankBatchNorm(torch.nn.Module):
    """What DDP without SyncBatchNorm computes, in one process: each BatchNorm normalises each rank's rows by
    their own statistics. A method's forward pass stacks V inputs of the global batch (views, crops: rows
    v*B .. v*B+B-1); rank r holds rows r*B/W .. (r+1)*B/W - 1 of each."""

    def __init__(self, bn: torch.nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.bn.training:
            return self.bn(x)
        rank = (torch.arange(len(x)) % BATCH) // (BATCH // WORLD)
        out = torch.empty_like(x)
        for r in range(WORLD):
            rows = rank == r
            out[rows] = torch.nn.functional.batch_norm(x[rows], None, None, self.bn.weight, self.bn.bias, True, 0.0,
                                                       self.bn.eps)
        return out


def _per_rank_batchnorm(module: torch.nn.Module) -> None:
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
                setattr(parent, child_name, PerRankBatchNorm(child))


def _inputs(m: methods.Method) -> tuple[torch.Tensor, ...]:
    """One fixed global batch of prepared inputs (views, labels), as the data side of a step makes them."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (BATCH, *SHAPE), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 3, (BATCH,), generator=g)
    return m.inputs(x, y, g)


def _step(m: methods.Method, model: torch.nn.Module, inputs) -> dict[str, torch.Tensor]:
    """One step's loss and gradients (and DINO's new centre after the step)."""
    loss, _ = model(inputs)
    loss.backward()
    m.after_step(0.5)
    out = {"loss": loss.detach().reshape(1)} | {f"grad/{k}": p.grad for k, p in m.named_parameters() if p.grad is not None}
    # state the step leaves for the next one, made of the global batch: DINO's centre, MoCo's and SwAV's queues
    return out | {k: getattr(m, k).clone() for k in ("center", "queue") if hasattr(m, k)}


CASES = [*zip(["simclr", "supcon", "dino"], ENCODERS),  # each of the first methods with each encoder
         *zip(["barlow_twins", "vicreg", "simsiam"], ENCODERS),  # then each method once
         *zip(["byol", "moco", "swav"], ENCODERS), ("mae", "vit_mini")]


def _worker(rank: int, world: int, init: str, out: str) -> None:
    """Every case's step on this rank's shard, in one process group (one spawn for all cases)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        for name, encoder in CASES:
            m = _method(name, encoder)
            shard = tuple(t.chunk(world)[rank] for t in _inputs(m))
            model = torch.nn.parallel.DistributedDataParallel(Step(m))
            with distributed.sharded():
                result = _step(m, model, shard)
            save_file({k: v.contiguous() for k, v in result.items()}, f"{out}/{name}-{encoder}-{rank}.safetensors")
        dist.barrier()  # no rank leaves while the other still talks to it (gloo aborts otherwise)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    """The 2 ranks' results for every case (the processes start once: their start-up is most of the time)."""
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(WORLD, str(out / "init"), str(out)), nprocs=WORLD, join=True)
    return out


@pytest.mark.parametrize("name, encoder", CASES)
def test_two_processes_equal_one_on_the_global_batch(name, encoder, ranked):
    """Loss and every gradient of 2 ranks equal one process's on the same global batch (1e-5). With BatchNorm
    (no SyncBatchNorm on CPUs), each rank normalises its own shard: the one process then computes the same
    only with each BatchNorm doing so (PerRankBatchNorm); with whole-batch statistics the gradients differ."""
    m = _method(name, encoder)
    has_bn = any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())
    whole_batch = _step(m, Step(m), _inputs(m)) if has_bn else None
    m = _method(name, encoder)
    _per_rank_batchnorm(m)
    single = _step(m, Step(m), _inputs(m))
    ranks = [load_file(str(ranked / f"{name}-{encoder}-{r}.safetensors")) for r in range(WORLD)]
    single = {k.replace(".bn.", "."): v for k, v in single.items()}
    assert set(ranks[0]) == set(single) and len(single) > 3
    # DINO's and MAE's losses are each rank's mean over its shard: their mean is the global batch's
    loss = (ranks[0]["loss"] + ranks[1]["loss"]) / 2 if name in ("dino", "mae") else ranks[0]["loss"]
    torch.testing.assert_close(loss, single["loss"], atol=1e-5, rtol=0)
    # Barlow Twins standardises each of 16 dimensions over the batch of 16 and sums 16 (1 - c_ii)^2: its
    # gradients cancel large terms, and differ by up to 2e-5 of their scale with the order of float additions.
    tol = 5e-5 if name == "barlow_twins" else 1e-5
    for k, v in single.items():
        if k != "loss":
            for r in ranks:  # DDP leaves every rank with the same averaged gradients (to 1e-5 of their scale:
                # a conv bias's gradient sums 57,600 terms per image, and its float rounding reaches 1e-5 at 3.6)
                assert (r[k] - v).abs().max() <= tol * max(1.0, float(v.abs().max())), f"{name} {k}"
    if has_bn:  # the emulation matters: statistics over the whole batch give other gradients
        assert any(not torch.allclose(whole_batch[k], single[k], atol=1e-4) for k in single if k.startswith("grad/"))


def test_a_two_process_study_trains_the_same_weights_as_one(tmp_path):
    """`torchrun --nproc-per-node 2 ... sslab run` (gloo on this CPU): rank 0 alone writes the run folder and its
    metrics, and the encoder it trains is the one process's. Deterministic: a method without random views
    (supervised, no augmentation) and an encoder without BatchNorm (backbone) see the same global batches in the
    same order on 1 and 2 processes, so in fp32 the weights agree up to the order of float additions (bf16, which
    `auto` picks on a CPU with native bf16, rounds those differences up past Adam's step)."""
    import subprocess
    import sys

    args = ["run", "--n-images", "600", "--epochs", "2", "--methods", "supervised", "--encoder", "backbone",
            "--analyses", "none", "--no-cache", "--no-report", "--precision", "fp32", "--out", str(tmp_path)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    one = subprocess.Popen([sys.executable, "-m", "sslab", *args, "--name", "one"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # meanwhile: both use the same 2 cores anyway
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "sslab", *args, "--name", "two"], env=env, capture_output=True, text=True, timeout=600)
    _, err = one.communicate(timeout=600)
    assert one.returncode == 0, err
    assert two.returncode == 0, two.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("sslab-cache")) == ["one", "two"]
    assert two.stdout.count("results: ") == 1 and "no report drawn" in two.stdout  # rank 0 alone reports
    w1, w2 = (load_file(str(tmp_path / n / "encoders" / "supervised.safetensors")) for n in ("one", "two"))
    assert set(w1) == set(w2)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=1e-4, rtol=1e-3, msg=k)
    r1, r2 = (json.loads((tmp_path / n / "results.json").read_text())["encoders"]["supervised"] for n in ("one", "two"))
    n_test = json.loads((tmp_path / "one" / "results.json").read_text())["n_test"]
    assert abs(r1["test_accuracy"] - r2["test_accuracy"]) <= 2 / n_test  # at most a couple of images
    steps = [json.loads(line) for line in (tmp_path / "two" / "metrics" / "supervised.jsonl").read_text().splitlines()]
    n_probe = json.loads((tmp_path / "two" / "results.json").read_text())["n_probe"]
    assert len([s for s in steps if "loss" in s]) == 2 * (n_probe // 128)  # by rank 0 alone: 2 epochs' global steps
    assert [s["epoch"] for s in steps if "knn" in s] == [1, 2]  # and its online kNN, rank 0's too, once an epoch
