import torch

from sslab.analysis import rsm, sorted_sample
from sslab.augment import AffineRecipe, affine_views, to_float
from sslab.data import dsprites


def test_views_are_batched_seeded_and_binary():
    x = dsprites.generate(64, seed=0).x
    recipe = AffineRecipe()
    v1 = affine_views(x, recipe, torch.Generator().manual_seed(0))
    v2 = affine_views(x, recipe, torch.Generator().manual_seed(0))
    assert v1.shape == x.shape and v1.dtype == torch.float32
    assert torch.equal(v1, v2)  # the generator alone decides the views
    assert set(v1.unique().tolist()) <= {0.0, 1.0}  # nearest resampling keeps sprites binary
    v3 = affine_views(x, recipe, torch.Generator().manual_seed(1))
    assert not torch.equal(v1, v3)
    # Sprites are moved, not destroyed: most keep most of their area (scale 0.8-1.2, some leave the frame).
    ratio = v1.sum((1, 2, 3)) / to_float(x).sum((1, 2, 3))
    assert ratio.median() > 0.6


def test_identity_recipe_returns_the_images():
    x = dsprites.generate(16, seed=0).x
    same = affine_views(x, AffineRecipe(degrees=0, translate=0, scale=(1, 1)), torch.Generator().manual_seed(0))
    assert torch.equal(same, to_float(x))


def test_rsm_and_sorted_sample():
    h = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    m = rsm(h)
    assert torch.allclose(m, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    y = torch.tensor([2, 0, 1, 0, 2, 1])
    pos = sorted_sample(y, 6)
    assert sorted(pos.tolist()) == list(range(6)) and y[pos].tolist() == [0, 0, 1, 1, 2, 2]
    assert len(sorted_sample(y, 3)) == 3


def test_linear_cka_properties():
    from sslab.analysis import linear_cka

    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 20, generator=g)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=g))
    assert abs(linear_cka(x, x) - 1) < 1e-9
    assert abs(linear_cka(x, 3.5 * x @ q) - 1) < 1e-9  # orthogonal transform and isotropic scaling
    assert linear_cka(x, torch.randn(500, 20, generator=g)) < 0.1  # unrelated features
    assert abs(linear_cka(x, x[:, :10]) - linear_cka(x[:, :10], x)) < 1e-12  # symmetric


def test_rsm_histogram_counts_off_diagonal_pairs():
    from sslab.analysis import rsm_histogram

    h = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    counts, edges = rsm_histogram(h, bins=4, chunk=2)
    assert counts.sum() == 6 and len(edges) == 5  # 3 x 3 pairs minus the diagonal
    assert counts[-1] == 2 and counts[2] == 4  # the identical pair (1.0) twice; the orthogonal ones (0.0)
