"""The momentum-target methods (BYOL, MoCo): the EMA update and its schedule, what gets a gradient, MoCo's queue;
SwAV's frozen prototypes and queue."""

import pytest
import torch

from sslab import methods
from sslab.data import dsprites
from sslab.losses import swav_loss
from sslab.methods._momentum import momentum_at
from sslab.train import fit

MOMENTUM = ("byol", "moco")


@pytest.fixture(scope="module")
def images():
    return dsprites.generate(64, seed=0)


def _build(name, **settings):
    torch.manual_seed(0)
    return methods.build(name, (1, 64, 64), 3, {"batch_size": 8, "proj_dim": 16, "hidden_dim": 32, **settings}).train()


@pytest.mark.parametrize("schedule, progress, expected", [("constant", 0.3, 0.9), ("cosine", 0.0, 0.9),
                                                          ("cosine", 0.5, 0.95), ("cosine", 1.0, 1.0)])
def test_momentum_schedule(schedule, progress, expected):
    assert momentum_at(0.9, schedule, progress) == pytest.approx(expected)


@pytest.mark.parametrize("name", MOMENTUM)
def test_the_target_is_the_ema_of_the_online_network(name, images):
    m = _build(name, momentum=0.9, momentum_schedule="cosine")
    with torch.no_grad():  # make the two networks differ
        for p in m.online():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    before = [t.clone() for t in m.target.parameters()]
    m.after_step(0.5)  # momentum 0.95 half-way
    for t, t0, s in zip(m.target.parameters(), before, m.online(), strict=True):
        torch.testing.assert_close(t, 0.95 * t0 + 0.05 * s)


@pytest.mark.parametrize("name", MOMENTUM)
def test_only_the_online_network_gets_gradients(name, images):
    m = _build(name)
    loss, _ = m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.target.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.online())
    assert m.target["encoder"].training  # batch statistics, as the online network's
    m = _build(name, epochs=1, momentum=1.0)
    online0 = [p.clone() for p in m.online()]
    target0 = [t.clone() for t in m.target.parameters()]
    fit(m, images.x, images.y, torch.Generator().manual_seed(0), "fp32")
    assert all(torch.equal(t, t0) for t, t0 in zip(m.target.parameters(), target0))  # momentum 1: never moves
    assert any(not torch.equal(p, p0) for p, p0 in zip(m.online(), online0))
    assert set(m.variants()) == {"above the projector", "target network" if name == "byol" else "momentum encoder"}


def test_moco_queue_takes_both_views_keys_newest_first(images):
    m = _build("moco", queue_size=20)
    old = m.queue.clone()
    g = torch.Generator().manual_seed(0)
    v1, v2 = m.inputs(images.x[:8], images.y[:8], g)
    m.objective((v1, v2))
    with torch.no_grad():
        k1, k2 = m.keys(torch.cat([v1, v2])).chunk(2)
    m.after_step(0.1)
    assert m.queue.shape == (20, 16)
    expected = torch.nn.functional.normalize(torch.cat([k1, k2]), dim=1)
    torch.testing.assert_close(m.queue[:16], expected, atol=1e-5, rtol=0)  # keys before the EMA moved the target
    torch.testing.assert_close(m.queue[16:], old[:4])  # the oldest fell off


def test_moco_without_a_queue_has_no_queue_buffer_in_use(images):
    m = _build("moco", queue_size=0, predictor=True)
    loss, _ = m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))
    m.after_step(0.1)
    assert m.queue.shape == (0, 16) and torch.isfinite(loss)


def test_swav_freezes_the_prototypes_in_the_first_epoch_and_normalises_them(images):
    m = _build("swav", epochs=4, n_prototypes=10, n_local=1)
    g = torch.Generator().manual_seed(0)
    crops = m.inputs(images.x[:8], images.y[:8], g)
    assert len(crops) == 3
    m.objective(crops)[0].backward()
    torch.testing.assert_close(m.prototypes.weight.norm(dim=1), torch.ones(10))
    assert torch.equal(m.prototypes.weight.grad, torch.zeros_like(m.prototypes.weight))  # frozen: exactly 0
    m.zero_grad()
    m.after_step(0.25)  # one epoch of 4 done
    m.objective(crops)[0].backward()
    assert m.prototypes.weight.grad.abs().sum() > 0


def test_swav_queue_fills_newest_first_then_joins_the_codes(images):
    m = _build("swav", queue_size=12, n_prototypes=10, n_local=0)
    g = torch.Generator().manual_seed(0)
    crops = m.inputs(images.x[:8], images.y[:8], g)
    m.objective(crops)
    z = m(torch.cat(crops)).detach().view(2, 8, -1)
    m.after_step(0.1)
    torch.testing.assert_close(m.queue[:, :8], z, atol=1e-5, rtol=0)
    assert m.queue[:, 8:].abs().sum() == 0  # not full yet: the codes come from the batch alone
    m.objective(crops)
    m.after_step(0.2)
    torch.testing.assert_close(m.queue[:, :8], z, atol=1e-5, rtol=0)
    torch.testing.assert_close(m.queue[:, 8:], z[:, :4], atol=1e-5, rtol=0)  # the oldest beyond 12 fell off
    with torch.no_grad():  # full: the queued embeddings join the Sinkhorn batch
        loss = m.objective(crops)[0]
        scores = m(torch.cat(crops)).view(2, 8, -1) @ m.prototypes.weight.T
        assert loss == pytest.approx(swav_loss(scores, 2, queued=m.queue @ m.prototypes.weight.T).item(), abs=1e-6)
        assert loss != pytest.approx(swav_loss(scores, 2).item(), abs=1e-4)


def _dino(**settings):
    torch.manual_seed(0)
    return methods.build("dino", (1, 64, 64), 3, {"batch_size": 8, "n_local": 1, "hidden_dim": 16, "out_dim": 12,
                                                  **settings}).train()


@pytest.mark.parametrize("norm_last_layer", [True, False])
def test_dino_last_layer_gain_and_first_epoch_freeze(images, norm_last_layer):
    m = _dino(norm_last_layer=norm_last_layer, epochs=2)
    gain, direction = m.head.last.parametrizations.weight.original0, m.head.last.parametrizations.weight.original1
    assert gain.requires_grad != norm_last_layer and torch.all(gain == 1) == norm_last_layer
    m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))[0].backward()
    assert torch.equal(direction.grad, torch.zeros_like(direction))  # frozen in the first epoch: exactly 0
    assert m.head.mlp[0].weight.grad.abs().sum() > 0
    m.zero_grad()
    m.after_step(0.5)  # one epoch of 2 done
    m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))[0].backward()
    assert direction.grad.abs().sum() > 0 and (gain.grad is None) == norm_last_layer
    rows = m.head.last.weight.norm(dim=1)
    assert torch.allclose(rows, torch.ones_like(rows)) == norm_last_layer  # rows of norm 1 (a fixed gain)


def test_dino_teacher_temperature_warms_up():
    m = _dino(epochs=10, warmup_teacher_temp=0.02, teacher_temp=0.06, warmup_teacher_temp_epochs=4)
    temps = []
    for progress in (0.0, 0.2, 0.4, 0.9):
        m.progress = progress
        temps.append(m.teacher_temp())
    assert temps == pytest.approx([0.02, 0.04, 0.06, 0.06])
    assert _dino().teacher_temp() == 0.04  # the official default: no warm-up


def test_gradients_clipped_per_parameter_or_in_total():
    from sslab.train import clip

    a, b = torch.zeros(3, requires_grad=True), torch.zeros(4, requires_grad=True)
    for per_parameter, expected in ((True, (1.0, 0.5)), (False, (5 / 25.25 ** 0.5, 0.5 / 25.25 ** 0.5))):
        a.grad, b.grad = torch.tensor([3.0, 0, 4]), torch.tensor([0.5, 0, 0, 0])  # norms 5 and 0.5
        clip([a, b], 1.0, per_parameter)
        assert (a.grad.norm().item(), b.grad.norm().item()) == pytest.approx(expected, rel=1e-5)


def test_multicrop_passes_by_resolution():
    from sslab.methods._multicrop import by_size

    seen = []

    def net(x):
        seen.append(tuple(x.shape))
        return x.flatten(1)[:, :2]

    crops = [torch.rand(4, 1, 8, 8)] * 2 + [torch.rand(4, 1, 4, 4)] * 3
    out = by_size(net, crops)
    assert seen == [(8, 1, 8, 8), (12, 1, 4, 4)] and out.shape == (5, 4, 2)
    torch.testing.assert_close(out[3], crops[3].flatten(1)[:, :2])
    m = methods.build("dino", (3, 32, 32), 3, {"encoder": "resnet18", "local_size": 16, "n_local": 2,
                                               "batch_size": 4}).train()
    crops = m.inputs(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), None, torch.Generator().manual_seed(0))
    assert [c.shape[-1] for c in crops] == [32, 32, 16, 16]
    assert torch.isfinite(m.objective(crops)[0])


@pytest.mark.parametrize("name", ["barlow_twins", "vicreg", "simsiam", "byol", "moco", "swav"])
def test_without_a_projector_the_loss_reads_the_encoders_features(name, images):
    m = _build(name, proj_dim=0, **({"queue_size": 16} if name == "moco" else {}))
    assert isinstance(m.projector, torch.nn.Identity)
    x = images.x[:8].float() / 255
    torch.testing.assert_close(m(x), m.encoder(x) if name != "swav" else torch.nn.functional.normalize(m.encoder(x)))
    loss, _ = m.loss(images.x[:8], images.y[:8], torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and next(m.encoder.parameters()).grad.abs().sum() > 0
    assert "above the projector" not in m.variants()  # it would be the features themselves
