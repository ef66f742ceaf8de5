"""Checkpoints and resumed runs: a run killed with SIGKILL in the middle of training and resumed ends with
the same weights, bit for bit, as one never interrupted; a non-finite loss stops training with one line
and keeps the last good checkpoint."""

import os
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

RUN = ["--n-images", "1500", "--methods", "simclr", "--epochs", "8", "--analyses", "none", "--no-cache",
       "--set", "simclr.batch_size=64"]


def _sslab(*args: str, **kwargs) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "sslab", "run", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    ckpt = tmp_path / "killed.partial" / "checkpoints" / "simclr.safetensors"
    p = _sslab(*RUN, "--out", str(tmp_path), "--name", "killed")
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:  # wait until training is under way, then kill -9
        if ckpt.exists() and checkpoint.read_meta(ckpt)["epoch"] >= 3:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be killed mid-training"
    p.send_signal(signal.SIGKILL)
    p.wait()
    epoch = checkpoint.read_meta(ckpt)["epoch"]
    assert 3 <= epoch < 8 and not (tmp_path / "killed").exists()
    resumed = _sslab("--resume", str(tmp_path / "killed.partial"))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming at epoch {epoch + 1}" in err
    straight = _sslab(*RUN, "--out", str(tmp_path), "--name", "straight")
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
    images = dsprites.generate(256)

    def train(epochs: int, resume_from: Path | None = None) -> methods.Method:
        torch.manual_seed(0)
        m = methods.build("vae", images.shape, 3, {"epochs": epochs, "batch_size": 64})
        fit(m, images.x, images.y, torch.Generator().manual_seed(0), "fp32",
            loop=Loop(precision="fp32", checkpoint=resume_from))
        return m

    ckpt = tmp_path / "vae.safetensors"
    torch.manual_seed(0)
    half = methods.build("vae", images.shape, 3, {"epochs": 2, "batch_size": 64})
    fit(half, images.x, images.y, torch.Generator().manual_seed(0), loop=Loop(precision="fp32", checkpoint=ckpt))
    # the same settings with more epochs is another recipe (another schedule): refused, not mixed
    with pytest.raises(SslabError, match="was written for other settings of vae"):
        train(3, ckpt)
    assert torch.equal(train(2, ckpt).mu_head.weight, half.mu_head.weight)


def test_resume_needs_an_unfinished_run(tmp_path):
    from click.testing import CliRunner

    from sslab.cli import main

    r = CliRunner().invoke(main, ["run", "--resume", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "sslab: error: nothing to resume at" in r.stderr
