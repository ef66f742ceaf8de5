"""Every registered method gets these tests for free: shapes, finite loss, learning, save/load."""

import dataclasses

import pytest
import torch
from safetensors.torch import load_file, save_file

from sslab import methods
from sslab.views.ops import to_float
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.train import extract, fit, lr_schedule

NAMES = sorted(methods.REGISTRY)
TRAINED = [n for n in NAMES if methods.REGISTRY[n].Config.epochs > 0]
WITH_NET = [n for n in NAMES if "encoder" in {f.name for f in dataclasses.fields(methods.REGISTRY[n].Config)}]


@pytest.fixture(scope="module")
def images():
    return dsprites.generate(256, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_features_shape_and_determinism(name, images):
    m = methods.build(name, (1, 64, 64), 3)
    m.prepare(images.x, torch.Generator().manual_seed(0))  # e.g. BatchNorm statistics of the random encoder
    h = extract(m, images.x[:10], precision="fp32")
    assert h.ndim == 2 and len(h) == 10 and torch.isfinite(h).all()
    assert torch.equal(h, extract(m, images.x[:10], precision="fp32"))


@pytest.mark.parametrize("name", TRAINED)
def test_loss_is_finite_and_decreases(name, images):
    torch.manual_seed(0)
    m = methods.build(name, (1, 64, 64), 3, {"epochs": 1, "batch_size": 64})
    x, y = images.x[:64], images.y[:64]
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    m.train()
    losses = []
    for _ in range(15):
        torch.manual_seed(0)
        loss, logs = m.loss(x, y, torch.Generator().manual_seed(0))  # same views each step
        assert torch.isfinite(loss) and "loss" in logs
        opt.zero_grad(), loss.backward(), opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", TRAINED)
def test_fit_runs_the_loop(name, images):
    m = methods.build(name, (1, 64, 64), 3, {"epochs": 2, "batch_size": 64})
    seen = []
    hist = fit(m, images.x, images.y, torch.Generator().manual_seed(0), "bf16",
               progress=lambda e, n, r: seen.append((e, n)))
    assert seen == [(1, 2), (2, 2)] and len(hist) == 2
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in hist)
    assert not m.training


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_roundtrip(name, images, tmp_path):
    m = methods.build(name, (1, 64, 64), 3)
    m.prepare(images.x, torch.Generator().manual_seed(0))
    state = m.state_dict()
    if not state:
        pytest.skip(f"{name} has no state")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    m2 = methods.build(name, (1, 64, 64), 3)
    m2.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    x = to_float(images.x[:8])
    m.eval(), m2.eval()
    with torch.no_grad():
        assert torch.equal(m.features(x), m2.features(x))


def test_encoder_names_and_overrides():
    assert methods.parse_encoder("simclr-2neg") == ("simclr", {"neg_pairs": 2})
    m = methods.build("simclr-5neg", (1, 64, 64), 3, {"temperature": "0.2", "epochs": "3"})
    assert m.cfg.neg_pairs == 5 and m.cfg.temperature == 0.2 and m.cfg.epochs == 3
    assert dataclasses.is_dataclass(m.cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.cfg.epochs = 4
    with pytest.raises(SslabError, match="unknown method"):
        methods.parse_encoder("byol")
    with pytest.raises(SslabError, match="unknown method"):
        methods.parse_encoder("vae-2neg")
    with pytest.raises(SslabError, match="no setting"):
        methods.build("simclr", (1, 64, 64), 3, {"temprature": 0.1})
    with pytest.raises(SslabError, match="epochs must be a positive"):
        methods.build("vae", (1, 64, 64), 3, {"epochs": 0})
    with pytest.raises(SslabError, match=r"simclr\.neg_pairs must be in 1..254"):
        methods.build("simclr-0neg", (1, 64, 64), 3)
    with pytest.raises(SslabError, match="temperature must be positive"):
        methods.build("simclr", (1, 64, 64), 3, {"temperature": 0})
    with pytest.raises(SslabError, match=r"supervised\.lr must be positive, got -1"):
        methods.build("supervised", (1, 64, 64), 3, {"lr": -1})
    with pytest.raises(SslabError, match="expected float"):
        methods.build("vae", (1, 64, 64), 3, {"beta": "high"})


def test_lr_schedule_warms_up_then_decays():
    cfg = methods.make_config("simclr", {"epochs": 4, "lr": 1.0, "warmup_epochs": 1.0})
    lrs = lr_schedule(cfg, 10)
    assert len(lrs) == 40 and lrs[9] == pytest.approx(1.0) and lrs[0] == pytest.approx(0.1)
    assert (lrs[10:].diff() <= 0).all() and lrs[-1] < 0.01


@pytest.mark.parametrize("encoder, shape", [("convnet", (3, 32, 32)), ("backbone", (1, 28, 28))])
@pytest.mark.parametrize("name", WITH_NET)
def test_methods_take_another_encoder(name, encoder, shape):
    torch.manual_seed(0)
    overrides = {"encoder": encoder} | ({"epochs": 1, "batch_size": 16} if name in TRAINED else {})
    m = methods.build(name, shape, 3, overrides)
    x = torch.randint(0, 256, (16, *shape), dtype=torch.uint8)
    y = torch.randint(0, 3, (16,))
    g = torch.Generator().manual_seed(0)
    m.prepare(x, g)
    if name in TRAINED:
        m.train()
        loss, _ = m.loss(x, y, g)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(next(m.encoder.parameters()).grad).all()
    h = extract(m, x, precision="fp32")
    assert h.shape == (16, m.encoder.feat_dim) and torch.isfinite(h).all()
    if hasattr(m, "reconstruct"):
        with torch.no_grad():
            assert m.reconstruct(to_float(x[:4])).shape == (4, *shape)


@pytest.mark.parametrize("name", WITH_NET)
def test_features_from_a_named_layer(name):
    m = methods.build(name, (1, 28, 28), 3, {"encoder": "convnet", "layer": "encoder.flatten"})
    m.prepare(torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8), torch.Generator().manual_seed(0))
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    h = extract(m, x, precision="fp32")
    with torch.no_grad():
        expected = m.encoder.blocks(to_float(x)).flatten(1)  # the convnet's 128 x 3 x 3 maps
    assert h.shape == (8, 1152) and torch.allclose(h, expected)


def test_features_from_a_layer_past_the_encoder():
    m = methods.build("supervised", (1, 28, 28), 3, {"encoder": "convnet", "layer": "head"}).eval()
    x = to_float(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8))
    with torch.no_grad():
        assert torch.equal(m.features(x), m(x))  # the logits (8, 3)


def test_unknown_encoder_or_layer_is_a_clear_error():
    with pytest.raises(SslabError, match=r"simclr\.encoder 'vgg' is unknown; encoders: .*convnet"):
        methods.build("simclr", (1, 28, 28), 3, {"encoder": "vgg"})
    with pytest.raises(SslabError, match="no layer 'encoder.flaten'.*encoder.flatten"):
        methods.build("vae", (1, 28, 28), 3, {"encoder": "convnet", "layer": "encoder.flaten"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("name", NAMES)
def test_methods_train_and_encode_on_cuda(name, images):
    """Everything on the GPU, the generator included: no CPU-only randperm or randn may sneak in."""
    dev = torch.device("cuda")
    m = methods.build(name, (1, 64, 64), 3, {"epochs": 1, "batch_size": 64} if name in TRAINED else {}).to(dev)
    x, y = images.x.to(dev), images.y.to(dev)
    fit(m, x, y, torch.Generator(dev).manual_seed(0), "bf16")
    h = extract(m, x[:16])
    assert h.shape[0] == 16 and torch.isfinite(h).all()
