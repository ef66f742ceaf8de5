"""The questions asked of representations beyond the probes: label-free quality (RankMe, participation ratio,
alignment, uniformity), stages of a network, generated corruptions, nearest neighbours, other datasets."""

import math
from types import SimpleNamespace

import pytest
import torch

from sslab import analysis, nets
from sslab.analyses import cross_dataset, neighbours, robustness
from sslab.probes import LinearProbe
from sslab.views.corrupt import KINDS, SEVERITIES, corrupt

from conftest import shared


def test_rankme_counts_independent_directions_and_a_rank_one_matrix_is_one():
    g = torch.Generator().manual_seed(0)
    for k in (3, 10, 40):
        directions = torch.linalg.qr(torch.randn(64, k, generator=g))[0].T  # k orthonormal directions in 64-d
        h = torch.randn(5000, k, generator=g) @ directions  # (N, 64) of rank k, each direction as strong
        assert abs(analysis.rankme(h) - k) <= 0.1 * k
        assert abs(analysis.participation_ratio(h) - k) <= 0.1 * k
    rank_one = torch.randn(500, 1, generator=g) @ torch.randn(1, 64, generator=g)
    assert analysis.rankme(rank_one) == pytest.approx(1, abs=0.01)
    assert analysis.participation_ratio(rank_one) == pytest.approx(1, abs=1e-6)
    diverged = rank_one.clone()
    diverged[0, 0] = float("inf")
    assert math.isnan(analysis.rankme(diverged))  # a diverged encoder has no spectrum (and no crash)


def test_alignment_and_uniformity_at_their_ends():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(300, 16, generator=g)
    assert analysis.alignment(h, h) == 0
    assert analysis.alignment(h, 3 * h) == pytest.approx(0, abs=1e-12)  # normalised first: scale is no change
    assert analysis.alignment(h, -h) == pytest.approx(4)  # antipodal: the largest distance on the sphere
    assert analysis.uniformity(torch.ones(50, 8)) == pytest.approx(0, abs=1e-9)  # one point: log mean exp(0)
    spread, clumped = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g) * 0.05 + 1
    assert analysis.uniformity(spread) < analysis.uniformity(clumped) < 0
    z = torch.nn.functional.normalize(spread.double(), dim=1)  # against the definition written out
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    pairs = d2[torch.triu(torch.ones(400, 400, dtype=torch.bool), 1)]
    assert analysis.uniformity(spread) == pytest.approx(math.log(torch.exp(-2 * pairs).mean().item()), rel=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_corruptions_are_seeded_grow_with_severity_and_vanish_at_zero(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    assert corrupt(x, kind, 0, torch.Generator().manual_seed(1)) is x
    outs = [corrupt(x, kind, s, torch.Generator().manual_seed(1)) for s in SEVERITIES]
    assert all(o.dtype == torch.uint8 and o.shape == x.shape for o in outs)
    assert torch.equal(outs[0], corrupt(x, kind, 1, torch.Generator().manual_seed(1)))  # the seed decides
    change = [(o.float() - x.float()).abs().mean().item() for o in outs]
    assert 0 < change[0] < change[1] < change[2]


def _context(x, y, labelled, test, encoders):
    """What robustness and neighbours read of a study, built by hand: features = encode = a fixed function."""
    split = SimpleNamespace(labelled=labelled, test=test, y=y)
    return SimpleNamespace(cfg=SimpleNamespace(seed=0), split=split, images=SimpleNamespace(x=x),
                           encoders=list(encoders), log=lambda m: None, new_probe=lambda: LinearProbe(),
                           features=lambda n, idx: encoders[n](x[idx]), encode=lambda n, images: encoders[n](images))


def test_robustness_clean_is_the_probe_s_accuracy_and_blur_costs_a_texture_encoder():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 2  # class 1: a fine checkerboard; class 0: flat, both at random brightness
    board = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2).float()
    level = torch.rand(400, 1, 1, generator=g) * 0.5 + 0.25
    x = ((level + 0.2 * y[:, None, None] * (board - 0.5)) * 255).round().to(torch.uint8)[:, None]
    encoders = {"pixels": lambda im: im.flatten(1).float() / 255,
                "texture": lambda im: (im.float().diff(dim=-1).abs().mean((1, 2, 3)) / 255)[:, None]}
    s = _context(x, y, torch.arange(300), torch.arange(300, 400), encoders)
    out, figures = robustness.run(s, robustness.Config(images=100, fit_images=300))
    for name, fn in encoders.items():
        probe = LinearProbe().fit(fn(x[:300]), y[:300])
        assert out["encoders"][name]["clean"] == probe.score(fn(x[300:]), y[300:])  # severity 0: exactly clean
    assert out["encoders"]["texture"]["blur"][2] < out["encoders"]["texture"]["clean"]  # blur erases the board
    assert set(out["encoders"]["texture"]) == {"clean", *KINDS} and "robustness" in figures


def test_neighbours_are_the_most_similar_and_one_query_per_class():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    assert neighbours.nearest_rows(torch.tensor([[1.0, 0.05], [0.0, -1.0]]), bank, 2).tolist() == [[2, 0], [3, 0]]
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    picked = neighbours.one_per_class(torch.arange(7), y, 3, torch.Generator().manual_seed(0))
    assert sorted(y[picked].tolist()) == [0, 1, 2]
    assert len(neighbours.one_per_class(torch.arange(7), y, 5, torch.Generator().manual_seed(0)).unique()) == 5


def test_other_datasets_are_converted_to_the_study_s_channels_and_size():
    grey = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    rgb = cross_dataset.convert(grey, (3, 64, 64))
    assert rgb.shape == (2, 3, 64, 64) and (rgb == 200).all()
    colour = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    colour[:, 1] = 255  # pure green: its luma
    assert cross_dataset.convert(colour, (1, 32, 32)).unique().tolist() == [round(0.587 * 255)]


@pytest.mark.parametrize("name, shape", [("encoder_core", (1, 64, 64)), ("backbone", (1, 28, 28)),
                                         ("convnet", (3, 32, 32)), ("strided_convnet", (3, 28, 28)),
                                         ("resnet18", (3, 32, 32)), ("vit_mini", (1, 32, 32))])
def test_every_stage_of_a_network_is_reached_and_pooled_small(name, shape):
    net = nets.build(name, shape).eval()
    x = torch.rand(2, *shape)
    blocks = nets.blocks(net)
    assert len(blocks) >= 3
    for block in blocks:
        with nets.layer_features(net, block, pool=True) as out:
            h = net(x)
        assert out.h.shape[0] == 2 and out.h.shape[1] <= 4 * 512
    assert torch.allclose(out.h, h) or name == "vit_mini"  # the last stage is the features (the ViT's: its tokens)


def test_cross_dataset_probes_two_other_files(tmp_path):
    from sslab.study import StudyConfig, run

    others = (str(shared("pneumoniamnist.npz")), str(shared("retinamnist.npz")))
    cfg = StudyConfig(n_images=300, encoders=("random", "supervised"), epochs=1, analyses=("cross_dataset",),
                      cache=False, parallel=False, overrides=(f"cross_dataset.data={others!r}", "cross_dataset.n_images=400"))
    results = run(cfg, tmp_path / "r", log=lambda line: None, draw=False)
    datasets = results["cross_dataset"]["datasets"]
    assert list(datasets) == ["pneumoniamnist.npz", "retinamnist.npz"]
    for d in datasets.values():
        assert set(d["encoders"]) == {"raw pixels", "random", "supervised"} and d["n_test"] > 0
        assert all(0 <= e["linear"] <= 1 and 0 <= e["knn"] <= 1 for e in d["encoders"].values())
