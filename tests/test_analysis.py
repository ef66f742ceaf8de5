import math

import pytest
import torch

from sslab import analysis
from sslab.data import dsprites
from sslab.probes import LinearProbe


def test_rsm_of_identical_images_is_one_and_sorted_sample_orders():
    h = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    m = analysis.rsm(h)
    assert m.dtype == torch.float32
    assert torch.allclose(m, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    x = dsprites.generate(4, seed=0).x
    twins = torch.cat([x[:1], x[:1]]).flatten(1).float()  # the same image twice
    assert torch.allclose(analysis.rsm(twins), torch.ones(2, 2))
    y = torch.tensor([2, 0, 1, 0, 2, 1])
    pos = analysis.sorted_sample(y, 6)
    assert sorted(pos.tolist()) == list(range(6)) and y[pos].tolist() == [0, 0, 1, 1, 2, 2]
    assert len(analysis.sorted_sample(y, 3)) == 3


def test_rsm_chunks_order_and_block_averages():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(300, 7, generator=g)
    full = analysis.rsm(h)
    assert torch.allclose(analysis.rsm(h, chunk=64), full, atol=1e-6)
    order = torch.randperm(300, generator=g)
    assert torch.allclose(analysis.rsm(h, order, chunk=50), full[order][:, order], atol=1e-6)
    # Block-averaged onto 30 x 30 cells of 10 x 10 images, computed 64 rows at a time.
    pooled = analysis.rsm(h, size=30, chunk=64)
    assert pooled.shape == (30, 30)
    assert torch.allclose(pooled, full.view(30, 10, 30, 10).mean((1, 3)), atol=1e-6)
    assert torch.allclose(analysis.rsm(h, size=1000), full)  # size above N: the plain matrix


def test_linear_cka_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 20, generator=g)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g))
    assert abs(analysis.linear_cka(x, x) - 1) < 1e-9
    assert abs(analysis.linear_cka(x, 3.5 * x @ q) - 1) < 1e-9  # orthogonal transform and isotropic scaling
    assert analysis.linear_cka(x, torch.randn(500, 20, generator=g)) < 0.1  # unrelated features
    assert abs(analysis.linear_cka(x, x[:, :10]) - analysis.linear_cka(x[:, :10], x)) < 1e-12  # symmetric
    m = analysis.cka_matrix({"a": x, "b": 2 * x @ q, "c": torch.randn(500, 5, generator=g)})
    assert m.shape == (3, 3) and torch.allclose(m, m.T)
    assert torch.allclose(m.diagonal(), torch.ones(3, dtype=m.dtype)) and abs(m[0, 1] - 1) < 1e-9 and m[0, 2] < 0.1
    assert analysis.linear_cka(x, torch.ones(500, 3)) != analysis.linear_cka(x, torch.ones(500, 3))  # NaN: constant


def test_rsm_histogram_counts_off_diagonal_pairs():
    h = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    counts, edges = analysis.rsm_histogram(h, bins=4, chunk=2)
    assert counts.sum() == 6 and len(edges) == 5  # 3 x 3 pairs minus the diagonal
    assert counts[-1] == 2 and counts[2] == 4  # the identical pair (1.0) twice; the orthogonal ones (0.0)


def test_binned():
    assert analysis.binned(torch.arange(32), 32, 8).tolist() == [i // 4 for i in range(32)]
    assert analysis.binned(torch.arange(40), 40, 8).bincount().tolist() == [5] * 8
    assert analysis.binned(torch.arange(6), 6, 8).tolist() == list(range(6))  # few values: kept


def test_invariance_of_a_collapsed_encoder_is_undefined():
    same = torch.ones(50, 4)
    assert math.isnan(analysis.invariance(same, same, same, same))  # not 1.0: nothing moved at all


def test_factor_pairs_change_one_factor_or_all():
    sizes = dsprites.LATENT_SIZES
    g = torch.Generator().manual_seed(0)
    for f in range(5):
        a, b = analysis.factor_pairs(sizes, f, 400, g)
        differs = a != b
        assert differs[:, f].all() and not differs[:, [k for k in range(5) if k != f]].any()
        assert ((a >= 0) & (a < torch.tensor(sizes))).all() and ((b >= 0) & (b < torch.tensor(sizes))).all()
        assert len(b[:, f].unique()) == sizes[f]  # the new value ranges over every class
    a, b = analysis.factor_pairs(sizes, None, 400, g)
    assert (a != b).all()
    with pytest.raises(Exception, match="single value"):
        analysis.factor_pairs((3, 1), 1, 5, g)


def test_invariance_score_properties():
    g = torch.Generator().manual_seed(0)
    ref_a, ref_b = torch.randn(100, 6, generator=g), torch.randn(100, 6, generator=g)
    a = torch.randn(100, 6, generator=g)
    b = a + 0.1 * torch.randn(100, 6, generator=g)
    score = analysis.invariance(a, b, ref_a, ref_b)
    assert 0.9 < score < 1
    assert analysis.invariance(a, a, ref_a, ref_b) == 1  # features unchanged by the factor
    assert abs(analysis.invariance(ref_a, ref_b, ref_a, ref_b)) < 1e-12  # changes like everything
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
    moved = [3 * t @ q for t in (a, b, ref_a, ref_b)]  # rotate and scale every feature vector
    assert analysis.invariance(*moved) == pytest.approx(score, abs=1e-9)


def _fft_encoder(x: torch.Tensor) -> torch.Tensor:
    """A hand-built encoder that ignores position: Fourier magnitudes do not change when a sprite moves (the
    lowest 24 x 17 frequencies, enough for shape and cheap to probe)."""
    return torch.fft.rfft2(x.float()[:, 0] / 255).abs()[:, :24, :17].flatten(1)


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """Pixels at 16 x 16 (4 x 4 averages): they keep position."""
    return torch.nn.functional.avg_pool2d(x.float() / 255, 4).flatten(1)


def test_factor_profile_of_hand_built_encoders():
    """Fourier magnitudes keep shape and drop position; pixels keep position; the profile must say so."""
    g = torch.Generator().manual_seed(0)
    pairs = [analysis.factor_pairs(dsprites.LATENT_SIZES, f, 300, g) for f in (0, 3, None)]  # shape, posX, all
    images = dsprites.generate(3000, seed=1)
    f = images.factors
    render = lambda classes: f.render(f.values_of(classes))  # noqa: E731
    perm = torch.randperm(3000, generator=g)
    fit, test = perm[:2000], perm[2000:]
    profile = {}
    for encoder in (_fft_encoder, _pixels):
        hs = [(encoder(render(a)), encoder(render(b))) for a, b in pairs]
        h = encoder(images.x)
        readout = {}
        for latent in ("shape", "posX"):
            y = analysis.binned(f.classes(latent), f.size(latent), 8)
            readout[latent] = LinearProbe(max_iter=100).fit(h[fit], y[fit]).score(h[test], y[test])
        profile[encoder.__name__] = {"shape": analysis.invariance(*hs[0], *hs[2]),
                                     "posX": analysis.invariance(*hs[1], *hs[2]), "readout": readout}
    fourier, pixels = profile["_fft_encoder"], profile["_pixels"]
    assert fourier["posX"] > 0.9 and fourier["posX"] > fourier["shape"] + 0.3  # ignores position, not shape
    assert fourier["readout"]["posX"] < 0.25 and fourier["readout"]["shape"] > 0.9  # posX at chance (1/8)
    assert pixels["posX"] < 0.5 and pixels["readout"]["posX"] > 0.7


def test_umap_separates_two_clusters():
    pytest.importorskip("umap")
    g = torch.Generator().manual_seed(0)
    centre = torch.randn(2, 16, generator=g) * 5
    h = torch.cat([centre[i] + 0.3 * torch.randn(60, 16, generator=g) for i in range(2)])
    xy = analysis.umap_2d(h, seed=0)
    assert xy.shape == (120, 2) and torch.isfinite(xy).all()
    gap = (xy[:60].mean(0) - xy[60:].mean(0)).norm()
    assert gap > 3 * max(xy[:60].std(0).norm(), xy[60:].std(0).norm())


def test_missing_umap_is_one_clear_error(monkeypatch):
    import sys

    from sslab.errors import SslabError

    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(SslabError, match=r"pip install 'sslab\[umap\]'"):
        analysis.umap_2d(torch.randn(10, 3))
