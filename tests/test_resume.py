"""Checkpoints and resumed runs: a run killed with SIGKILL in the middle of training and resumed ends with
the same weights, bit for bit, as one never interrupted; a non-finite loss stops training with one line
and keeps the last good checkpoint."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sslab import checkpoint, methods
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.train import Loop, fit
from conftest import literal

RUN = ["--n-images", "600", "--methods", "simclr", "--epochs", "6", "--analyses", "none", "--no-cache",
       "--set", "simclr.batch_size=64", "--no-report"]


def _sslab(*args: str, **kwargs) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "sslab", "run", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    ckpt = tmp_path / "killed.partial" / "checkpoints" / "simclr.safetensors"
    p = _sslab(*RUN, "--out", str(tmp_path), "--name", "killed")
    straight = _sslab(*RUN, "--out", str(tmp_path), "--name", "straight")  # on the other core meanwhile
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:  # wait until training is under way, then kill -9
        if ckpt.exists() and checkpoint.read_meta(ckpt)["epoch"] >= 3:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be killed mid-training"
    p.send_signal(signal.SIGKILL)
    p.wait()
    epoch = checkpoint.read_meta(ckpt)["epoch"]
    assert 3 <= epoch < 6 and not (tmp_path / "killed").exists()
    resumed = _sslab("--resume", str(tmp_path / "killed.partial"), "--no-report")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming at epoch {epoch + 1}" in err
    _, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    a = load_file(str(tmp_path / "killed" / "encoders" / "simclr.safetensors"))
    b = load_file(str(tmp_path / "straight" / "encoders" / "simclr.safetensors"))
    assert a.keys() == b.keys() and len(a) > 5
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "killed" / "checkpoints").exists()  # a finished run keeps no training state


def test_non_finite_loss_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    images = dsprites.generate(256)
    torch.manual_seed(0)
    m = methods.build("simclr", images.shape, 3, {"epochs": 4, "batch_size": 64})
    objective, calls = m.objective, []

    def poisoned(inputs, generator=None):
        loss, logs = objective(inputs, generator)
        calls.append(1)
        return (loss * float("nan"), logs) if len(calls) == 6 else (loss, logs)  # step 6: epoch 2, step 6

    m.objective = poisoned
    ckpt = tmp_path / "simclr.safetensors"
    with pytest.raises(FloatingPointError, match=literal(f"simclr: loss became nan at epoch 2, step 6; "
                                                        f"the last good checkpoint is kept: {ckpt}")):
        fit(m, images.x, images.y, torch.Generator().manual_seed(0), loop=Loop(checkpoint=ckpt, log_every=1))
    assert checkpoint.read_meta(ckpt)["epoch"] == 1
    assert all(torch.isfinite(v).all() for k, v in load_file(str(ckpt)).items() if k.startswith("model/"))


def test_checkpoint_restores_weights_optimiser_and_generators(tmp_path):
    """Stopped mid-run (after epoch 1 of 3) and resumed from a fresh model, optimiser and generator: the
    optimiser's moments and the generator come back as the uninterrupted run had them after epoch 1, and the
    final weights equal the uninterrupted run's. Restoring the weights alone would not do: the optimiser would
    start from zero moments, and the next views and batches would be drawn from another generator state."""
    images = dsprites.generate(256)

    def build(epochs: int = 3) -> methods.Method:
        torch.manual_seed(0)
        return methods.build("simclr", images.shape, 3, {"epochs": epochs, "batch_size": 64, "views": "dsprites"})

    whole, gen, at_epoch_1 = build(), torch.Generator().manual_seed(0), tmp_path / "whole-epoch1.safetensors"
    saved: dict = {}

    def after_epoch(epoch, epochs, record):
        if epoch == 1:  # the uninterrupted run as it stands after epoch 1
            saved["generator"] = gen.get_state().clone()
            shutil.copy(tmp_path / "whole.safetensors", at_epoch_1)

    fit(whole, images.x, images.y, gen, progress=after_epoch,
        loop=Loop(precision="fp32", checkpoint=tmp_path / "whole.safetensors"))

    ckpt = tmp_path / "cut.safetensors"  # a run stopped after 6 of 12 steps: its last checkpoint is epoch 1's
    fit(build(), images.x, images.y, torch.Generator().manual_seed(0),
        loop=Loop(precision="fp32", checkpoint=ckpt, max_steps=6))
    assert checkpoint.read_meta(ckpt)["epoch"] == 1

    fresh = build()
    opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    restored = torch.Generator().manual_seed(12345)
    checkpoint.load(ckpt, fresh, opt, {"loop": restored})
    expected = load_file(str(at_epoch_1))
    moments = {f"optim/{i}/{k}": v for i, s in opt.state_dict()["state"].items() for k, v in s.items()}
    assert len(moments) == 3 * len(list(fresh.parameters()))  # step, exp_avg, exp_avg_sq of each parameter
    for k, v in moments.items():
        assert torch.equal(v.reshape(expected[k].shape), expected[k]), k
    assert all(v.abs().sum() > 0 for k, v in moments.items() if "exp_avg" in k)
    assert torch.equal(restored.get_state(), saved["generator"])
    replay = torch.Generator()
    replay.set_state(saved["generator"])
    assert torch.equal(torch.randperm(256, generator=restored), torch.randperm(256, generator=replay))

    resumed = build()
    fit(resumed, images.x, images.y, torch.Generator().manual_seed(0), loop=Loop(precision="fp32", checkpoint=ckpt))
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # the same settings with more epochs is another recipe (another schedule): refused, not mixed
    with pytest.raises(SslabError, match="was written for other settings of simclr"):
        fit(build(4), images.x, images.y, torch.Generator().manual_seed(0),
            loop=Loop(precision="fp32", checkpoint=at_epoch_1))


def test_resume_needs_an_unfinished_run(tmp_path):
    from click.testing import CliRunner

    from sslab.cli import main

    r = CliRunner().invoke(main, ["run", "--resume", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "sslab: error: nothing to resume at" in r.stderr


@pytest.mark.parametrize("where", ["checkpoint", "encoder"])
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(where, tmp_path, monkeypatch):
    """ENOSPC while writing the second epoch's checkpoint (or the finished encoder): one SslabError naming the
    step, the epoch-1 checkpoint intact, no half-written file left."""
    import errno

    from sslab import store
    from sslab.study import StudyConfig, run

    writes = {"n": 0}
    module = checkpoint if where == "checkpoint" else store
    real = module.save_file

    def full_disk(tensors, filename, metadata=None):
        writes["n"] += 1
        if writes["n"] == (2 if where == "checkpoint" else 1):
            Path(filename).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(module, "save_file", full_disk)
    cfg = StudyConfig(n_images=600, epochs=3, encoders=("simclr",), analyses=(), cache=False,
                      overrides=("simclr.batch_size=64",))
    with pytest.raises(SslabError, match=r"no space left on the disk while training simclr: .*keeps its last good "
                                         r"checkpoint \(resume it with --resume once there is room\)"):
        run(cfg, tmp_path / "full", log=lambda m: None)
    ckpt = tmp_path / "full.partial" / "checkpoints" / "simclr.safetensors"
    assert checkpoint.read_meta(ckpt)["epoch"] == (1 if where == "checkpoint" else 3)
    assert not list((tmp_path / "full.partial").rglob("*.tmp"))


def test_snapshots_keep_the_weights_every_n_epochs(tmp_path):
    """Loop.keep_every: the weights after epochs 2 and 4 of 5 kept apart, the later one loadable as it was."""
    from sslab import store

    im = dsprites.generate(128, seed=0)
    x = im.x[:, :, ::2, ::2].contiguous()
    torch.manual_seed(0)
    m = methods.build("supervised", (1, 32, 32), 3, {"epochs": 5, "batch_size": 32})
    seen = {}
    fit(m, x, im.y, torch.Generator().manual_seed(0), "fp32", loop=Loop(precision="fp32", keep_every=2,
                                                                            snapshots=tmp_path / "snap"),
        progress=lambda e, n, r: seen.__setitem__(e, {k: v.clone() for k, v in m.state_dict().items()}))
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == [
        "epoch-0002.json", "epoch-0002.safetensors", "epoch-0004.json", "epoch-0004.safetensors"]
    fresh = methods.build("supervised", (1, 32, 32), 3, {"epochs": 5, "batch_size": 32})
    assert store.load(tmp_path / "snap", "epoch-0004", fresh)["epoch"] == 4
    assert all(torch.equal(v, seen[4][k]) for k, v in fresh.state_dict().items())
    assert not all(torch.equal(v, seen[5][k]) for k, v in fresh.state_dict().items())  # not the final weights
