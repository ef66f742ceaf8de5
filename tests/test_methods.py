"""Every registered method gets these tests for free: shapes, finite loss, learning, save/load."""

import dataclasses
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from sslab import methods, nets
from sslab.views.ops import to_float
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.train import epoch_images, extract, fit, lr_schedule, optimizer

NAMES = sorted(methods.REGISTRY)
TRAINED = [n for n in NAMES if methods.REGISTRY[n].Config.epochs > 0]
WITH_NET = [n for n in NAMES if "encoder" in {f.name for f in dataclasses.fields(methods.REGISTRY[n].Config)}]
ANY_NET = [n for n in WITH_NET if n != "mae"]  # methods that take any encoder (mae takes ViTs: tests/test_mae.py)


_WEIGHTS: dict = {}


def build(name, shape, n_classes, overrides=None):
    """methods.build, with a weights file for `pretrained` (an encoder initialised from seed 0)."""
    overrides = dict(overrides or {})
    if name == "pretrained":
        encoder = overrides.get("encoder", "encoder_core")
        if (encoder, shape) not in _WEIGHTS:
            torch.manual_seed(0)
            path = Path(tempfile.mkdtemp()) / f"{encoder}.safetensors"
            save_file({k: v.contiguous() for k, v in nets.build(encoder, shape).state_dict().items()}, str(path))
            _WEIGHTS[encoder, shape] = str(path)
        overrides["weights"] = _WEIGHTS[encoder, shape]
    return methods.build(name, shape, n_classes, overrides)


SHAPE = (1, 32, 32)  # dSprites at half its side: every code path of the study's 64 px at a quarter of the work


@pytest.fixture(scope="module")
def images():
    im = dsprites.generate(256, seed=0)
    return SimpleNamespace(x=im.x[:, :, ::2, ::2].contiguous(), y=im.y)


@pytest.mark.parametrize("name", NAMES)
def test_features_shape_and_determinism(name, images):
    m = build(name, SHAPE, 3)
    m.prepare(images.x, torch.Generator().manual_seed(0))  # e.g. BatchNorm statistics of the random encoder
    h = extract(m, images.x[:10], precision="fp32")
    assert h.ndim == 2 and len(h) == 10 and torch.isfinite(h).all()
    assert torch.equal(h, extract(m, images.x[:10], precision="fp32"))


@pytest.mark.parametrize("name", TRAINED)
def test_loss_is_finite_and_decreases(name, images):
    torch.manual_seed(0)
    m = build(name, SHAPE, 3, {"epochs": 1, "batch_size": 64})
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
    m = build(name, SHAPE, 3, {"epochs": 2, "batch_size": 64})
    seen = []
    hist = fit(m, images.x, images.y, torch.Generator().manual_seed(0), "auto",
               progress=lambda e, n, r: seen.append((e, n)))
    assert seen == [(1, 2), (2, 2)] and len(hist) == 2
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in hist)
    assert not m.training


def test_an_epoch_drops_the_last_partial_batch_and_a_small_set_is_one_step(images):
    assert epoch_images(1000, 128) == 896 and epoch_images(1024, 128) == 1024 and epoch_images(250, 512) == 250
    steps = []
    fit(build("supervised", SHAPE, 3, {"epochs": 1, "batch_size": 64}), images.x, images.y,
        torch.Generator().manual_seed(0), steps=lambda done, total: steps.append(total))
    assert steps[-1] * 64 == epoch_images(len(images.x), 64)  # the steps fit takes cover what epoch_images says


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_roundtrip(name, images, tmp_path):
    m = build(name, SHAPE, 3)
    m.prepare(images.x, torch.Generator().manual_seed(0))
    state = m.state_dict()
    if not state:
        pytest.skip(f"{name} has no state")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    m2 = build(name, SHAPE, 3)
    with torch.no_grad():  # m2 starts elsewhere (pretrained loads the same file as m when built): only loading
        for v in m2.state_dict().values():  # can bring it back
            if v.is_floating_point():
                v.add_(torch.randn_like(v))
    x = to_float(images.x[:8])
    m.eval(), m2.eval()
    with torch.no_grad():
        assert not torch.equal(m.features(x), m2.features(x))
        m2.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
        assert torch.equal(m.features(x), m2.features(x))


def test_encoder_names_and_overrides():
    assert methods.parse_encoder("simclr-2neg") == ("simclr", {"neg_pairs": 2})
    m = methods.build("simclr-5neg", SHAPE, 3, {"temperature": "0.2", "epochs": "3"})
    assert m.cfg.neg_pairs == 5 and m.cfg.temperature == 0.2 and m.cfg.epochs == 3
    assert dataclasses.is_dataclass(m.cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.cfg.epochs = 4
    with pytest.raises(SslabError, match="unknown method"):
        methods.parse_encoder("nnclr")
    with pytest.raises(SslabError, match="unknown method"):
        methods.parse_encoder("vae-2neg")
    with pytest.raises(SslabError, match="no setting"):
        methods.build("simclr", SHAPE, 3, {"temprature": 0.1})
    with pytest.raises(SslabError, match="epochs must be a positive"):
        methods.build("vae", SHAPE, 3, {"epochs": 0})
    with pytest.raises(SslabError, match=r"simclr\.neg_pairs must be in 1..254"):
        methods.build("simclr-0neg", SHAPE, 3)
    with pytest.raises(SslabError, match="temperature must be positive"):
        methods.build("simclr", SHAPE, 3, {"temperature": 0})
    with pytest.raises(SslabError, match=r"supervised\.lr must be positive, got -1"):
        methods.build("supervised", SHAPE, 3, {"lr": -1})
    with pytest.raises(SslabError, match="expected float"):
        methods.build("vae", SHAPE, 3, {"beta": "high"})


def test_the_optimiser_is_the_setting_s():
    m = methods.build("supervised", SHAPE, 3, {"optimizer": "sgd", "lr": 0.24, "weight_decay": 5e-4})
    opt = optimizer(m.cfg, list(m.parameters()))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert opt.defaults["lr"] == 0.24 and opt.defaults["weight_decay"] == 5e-4
    assert isinstance(optimizer(methods.build("supervised", SHAPE, 3).cfg, list(m.parameters())), torch.optim.AdamW)
    with pytest.raises(SslabError, match="optimizer must be one of adamw, sgd, got 'lamb'"):
        methods.build("supervised", SHAPE, 3, {"optimizer": "lamb"})


def test_lr_schedule_warms_up_then_decays():
    cfg = methods.make_config("simclr", {"epochs": 4, "lr": 1.0, "warmup_epochs": 1.0})
    lrs = lr_schedule(cfg, 10)
    assert len(lrs) == 40 and lrs[9] == pytest.approx(1.0) and lrs[0] == pytest.approx(0.1)
    assert (lrs[10:].diff() <= 0).all() and lrs[-1] < 0.01


@pytest.mark.parametrize("encoder, shape", [("convnet", (3, 32, 32)), ("backbone", (1, 28, 28))])
@pytest.mark.parametrize("name", ANY_NET)
def test_methods_take_another_encoder(name, encoder, shape):
    torch.manual_seed(0)
    overrides = {"encoder": encoder} | ({"epochs": 1, "batch_size": 16} if name in TRAINED else {})
    m = build(name, shape, 3, overrides)
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


@pytest.mark.parametrize("name", ANY_NET)
def test_features_from_a_named_layer(name):
    m = build(name, (1, 28, 28), 3, {"encoder": "convnet", "layer": "encoder.flatten"})
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
    m = build(name, SHAPE, 3, {"epochs": 1, "batch_size": 64} if name in TRAINED else {}).to(dev)
    x, y = images.x.to(dev), images.y.to(dev)
    fit(m, x, y, torch.Generator(dev).manual_seed(0), "bf16")
    h = extract(m, x[:16])
    assert h.shape[0] == 16 and torch.isfinite(h).all()


def test_pca_matches_scikit_learn():
    from sklearn.decomposition import PCA

    from sslab.methods.pca import randomized_pca

    g = torch.Generator().manual_seed(0)
    rotation = torch.linalg.qr(torch.randn(40, 40, generator=g)).Q
    a = (torch.randn(300, 40, generator=g) * 0.8 ** torch.arange(40)) @ rotation  # a decaying spectrum, as images
    mean, comps, var = randomized_pca(a, 5, torch.Generator().manual_seed(1))
    ref = PCA(5, svd_solver="full").fit(a.double().numpy())
    assert torch.allclose(var, torch.from_numpy(ref.explained_variance_), rtol=1e-6)
    assert torch.allclose(mean, torch.from_numpy(ref.mean_))
    # the same axes, up to sign
    assert torch.allclose((comps @ torch.from_numpy(ref.components_).T).abs(), torch.eye(5, dtype=torch.float64), atol=1e-6)


def test_pca_features_and_reconstruction(images):
    m = methods.build("pca", SHAPE, 3, {"k": 20})
    m.prepare(images.x, torch.Generator().manual_seed(0))
    x = to_float(images.x[:50])
    h = m.features(x)
    assert h.shape == (50, 20)
    # projections are centred on the training mean and uncorrelated, with the components' variances
    hall = m.features(to_float(images.x))
    assert torch.allclose(hall.mean(0), torch.zeros(20), atol=1e-4)
    assert torch.allclose(hall.var(0), m.explained_variance.float(), rtol=1e-3)
    # more components reconstruct better
    errors = []
    for k in (2, 20, 100):
        mk = methods.build("pca", SHAPE, 3, {"k": k})
        mk.prepare(images.x, torch.Generator().manual_seed(0))
        errors.append((mk.reconstruct(x) - x).pow(2).mean().item())
    assert errors[0] > errors[1] > errors[2]
    with pytest.raises(SslabError, match="k"):
        methods.build("pca", (1, 4, 4), 3, {"k": 17})


def _teacher_and_student(m):
    return list(m.teacher.parameters()), list(m.encoder.parameters()) + list(m.head.parameters())


@pytest.mark.parametrize("schedule, progress, expected_m", [("constant", 0.3, 0.9), ("cosine", 0.0, 0.9),
                                                             ("cosine", 0.5, 0.95), ("cosine", 1.0, 1.0)])
def test_dino_ema_and_centre_updates(images, schedule, progress, expected_m):
    m = methods.build("dino", SHAPE, 3, {"momentum": 0.9, "momentum_schedule": schedule, "batch_size": 8})
    m.train()
    with torch.no_grad():  # make student and teacher differ
        for p in list(m.encoder.parameters()) + list(m.head.parameters()):
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    m.center.fill_(0.5)
    m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))
    teacher_mean = m._teacher_mean.clone()
    before = [t.clone() for t in m.teacher.parameters()]
    _, student = _teacher_and_student(m)
    m.after_step(progress)
    for t, t0, s in zip(m.teacher.parameters(), before, student):
        assert torch.allclose(t, expected_m * t0 + (1 - expected_m) * s, atol=1e-6)
    assert torch.allclose(m.center, 0.9 * 0.5 + 0.1 * teacher_mean, atol=1e-6)


@pytest.mark.parametrize("teacher_bn", ["batch", "copy", "initial"])
def test_dino_teacher_batchnorm_statistics(images, teacher_bn):
    m = methods.build("dino", SHAPE, 3, {"teacher_bn": teacher_bn, "batch_size": 8})
    m.train()
    initial = [b.clone() for b in m.teacher.buffers()]
    m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))  # the student's BN statistics move
    m.after_step(0.1)
    student = list(m.encoder.buffers()) + list(m.head.buffers())
    assert m.teacher["encoder"].training == (teacher_bn == "batch")  # official: training mode; else eval mode
    for t, t0, s in zip(m.teacher.buffers(), initial, student):
        if teacher_bn == "batch":  # its own batches' statistics: moved, and not the student's
            assert t.dtype == torch.int64 or (not torch.equal(t, t0) and not torch.equal(t, s))
        else:
            assert torch.equal(t, s if teacher_bn == "copy" else t0)
    assert any(not torch.equal(a, b) for a, b in zip(initial, student))


def test_dino_teacher_is_outside_the_optimiser(images):
    m = methods.build("dino", SHAPE, 3, {"epochs": 1, "batch_size": 32, "momentum": 1.0, "n_local": 1})
    teacher0 = [t.clone() for t in m.teacher.parameters()]
    student0 = [s.clone() for s in m.encoder.parameters()]
    fit(m, images.x[:64], images.y[:64], torch.Generator().manual_seed(0), "fp32")
    assert all(torch.equal(t, t0) for t, t0 in zip(m.teacher.parameters(), teacher0))  # momentum 1: frozen
    assert any(not torch.equal(s, s0) for s, s0 in zip(m.encoder.parameters(), student0))
    h_student, h_teacher = m.features(to_float(images.x[:4])), m.teacher["encoder"](to_float(images.x[:4]))
    assert not torch.allclose(h_student, h_teacher)
    m_t = methods.build("dino", SHAPE, 3, {"features_from": "teacher"})
    m_t.load_state_dict(m.state_dict())
    m_t.eval()
    assert torch.equal(m_t.features(to_float(images.x[:4])), h_teacher)


def test_supcon_uses_labels_and_takes_no_negatives_setting():
    assert methods.REGISTRY["supcon"].uses_labels and not methods.REGISTRY["simclr"].uses_labels
    with pytest.raises(SslabError, match="neg"):
        methods.build("supcon-2neg", SHAPE, 3)


def test_linear_autoencoder_decodes_with_the_transposed_weights(images):
    m = methods.build("linear_ae", SHAPE, 3, {"latent_dim": 8})
    x = to_float(images.x[:4])
    z = m.encode(x)
    assert z.shape == (4, 8) and torch.allclose(z, x.flatten(1) @ m.weight.T)
    assert torch.allclose(m.decode(z).flatten(1), z @ m.weight)
    assert len(list(m.parameters())) == 1  # tied: one matrix, no bias


@pytest.mark.parametrize("name", ["pca", "linear_ae", "ae", "conv_ae", "vae"])
def test_autoencoders_reconstruct_images(name, images):
    """Training lowers the reconstruction error of held-out images (not only: reconstructions lie in [0, 1])."""
    torch.manual_seed(0)
    m = build(name, SHAPE, 3, {"epochs": 6, "batch_size": 32, "lr": 1e-2} if name != "pca" else {"k": 16})
    x = to_float(images.x[200:])  # not trained on

    def error() -> float:
        m.eval()
        with torch.no_grad():
            rec = m.reconstruct(x)
        assert rec.shape == x.shape
        return float(((rec - x) ** 2).mean())

    before = error()
    fit(m, images.x[:200], images.y[:200], torch.Generator().manual_seed(0), "fp32")
    after = error()
    assert after < 0.95 * before, (before, after)  # an untrained model keeps its error: 5% lower is learning
    assert torch.equal(m.features(x), m.encode(x))


def test_projection_heads():
    from sslab.methods.simclr import HEADS

    for head in HEADS:
        m = methods.build("simclr", (1, 28, 28), 3, {"encoder": "convnet", "proj_dim": 32, "head": head})
        m.eval()
        x = torch.rand(4, 1, 28, 28)
        assert m(x).shape == (4, 32) and m.features(x).shape == (4, 128)
        assert set(m.variants()) == {"above the head"}
    assert methods.build("simclr", (1, 28, 28), 3).variants() == {}
    with pytest.raises(SslabError, match="head"):
        methods.build("simclr", (1, 28, 28), 3, {"head": "deep"})


def _weights(tmp_path, state, name="w.safetensors"):
    path = tmp_path / name
    if name.endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_pretrained_loads_an_encoder_by_name_or_by_order(fmt, tmp_path):
    torch.manual_seed(1)
    net = nets.build("convnet", (1, 28, 28)).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        expected = net(x)
    prefixed = {f"module.backbone.{k}": v for k, v in net.state_dict().items()}  # a DDP-style checkpoint
    renamed = {f"layer{i}": v for i, v in enumerate(net.state_dict().values())}  # other names, same order
    cases = ((prefixed, "names"),) + (((({"state_dict": renamed}, "order"),) if fmt == "pt" else ()))
    for state, how in cases:  # (safetensors stores tensors sorted by name: no order to match by)
        m = methods.build("pretrained", (1, 28, 28), 2,
                          {"encoder": "convnet", "weights": _weights(tmp_path, state, f"w.{fmt}")}).eval()
        assert m.matched == how and not any(p.requires_grad for p in m.parameters())
        with torch.no_grad():
            assert torch.equal(m.features(x), expected)


@pytest.mark.parametrize("named", [True, False])
def test_pretrained_loads_the_encoder_part_of_a_bigger_checkpoint(named, tmp_path):
    """A checkpoint that holds more than the encoder (the Neuromatch tutorial's VAE: the encoder's tensors, then a
    log-variance head) loads its encoder by name under a prefix, or in order as the file's first tensors; the
    rest is named in one line."""
    torch.manual_seed(2)
    net = nets.build("encoder_core", SHAPE).eval()
    names = [f"encoder.{k}" if named else f"cnn{i}" for i, k in enumerate(net.state_dict())]
    state = dict(zip(names, net.state_dict().values())) | {"logvar.weight": torch.randn(84, 84),
                                                            "logvar.bias": torch.randn(84), "decoder.w": torch.ones(3)}
    m = methods.build("pretrained", SHAPE, 2,
                      {"encoder": "encoder_core", "weights": _weights(tmp_path, state, "vae.pt")}).eval()
    x = torch.rand(4, *SHAPE)
    with torch.no_grad():
        assert torch.equal(m.features(x), net(x))
    assert m.matched == ("names" if named else "order")
    assert m.left_out == ["logvar.weight", "logvar.bias", "decoder.w"]
    assert m.note() == (f"pretrained: {len(state) - 3} tensors loaded by {m.matched}; 3 left out: logvar.weight, "
                        "logvar.bias, decoder.w")


def test_pretrained_errors_say_what_does_not_match(tmp_path):
    state = nets.build("convnet", (1, 28, 28)).state_dict()
    state.pop(next(iter(state)))
    path = _weights(tmp_path, state)
    with pytest.raises(SslabError, match=r"neither by name nor by order.*missing from the file: blocks\.0\.0\.weight"):
        methods.build("pretrained", (1, 28, 28), 2, {"encoder": "convnet", "weights": path})
    wrong = _weights(tmp_path, nets.build("convnet", (3, 32, 32)).state_dict(), "rgb.safetensors")
    with pytest.raises(SslabError, match=r"shapes differ: blocks\.0\.0\.weight: \(32, 3, 3, 3\) in the file"):
        methods.build("pretrained", (1, 28, 28), 2, {"encoder": "convnet", "weights": wrong})
    with pytest.raises(SslabError, match="needs a weights file"):
        methods.build("pretrained", (1, 28, 28), 2)
    torch.save(nets.build("convnet", (1, 28, 28)), tmp_path / "module.pt")  # a pickled module: never unpickled
    with pytest.raises(SslabError, match="only weights are read"):
        methods.build("pretrained", (1, 28, 28), 2, {"weights": str(tmp_path / "module.pt")})


def test_pretrained_wraps_any_module():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))
    m = methods.REGISTRY["pretrained"].wrap(net)
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(extract(m, x, precision="fp32"), net(to_float(x)))
