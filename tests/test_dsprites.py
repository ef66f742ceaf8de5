
import numpy as np
import pytest
import torch

from sslab import data
from sslab.data import dsprites
from sslab.errors import SslabError


def test_renderer_matches_real_images_per_shape(real_dsprites_path):
    real = data.load(real_dsprites_path)
    assert real.x.shape == (20_000, 1, 64, 64) and real.format == "dsprites"
    fake = dsprites.render(real.factors.values)
    a, b = real.x > 0, fake > 0
    iou = (a & b).sum((1, 2, 3)).double() / (a | b).sum((1, 2, 3)).double()
    for s, name in enumerate(dsprites.SHAPE_NAMES):
        mean_iou = iou[real.y == s].mean().item()
        assert mean_iou >= 0.90, f"{name}: mean IoU {mean_iou:.3f}"
    assert real.factors.sizes == dsprites.LATENT_SIZES and real.class_names == dsprites.SHAPE_NAMES


def _values(shape, scale, orient, px, py):
    return dsprites.latent_values(torch.tensor([[shape, scale, orient, px, py]]))


def test_render_geometry():
    # A square at scale 1, orientation 0, centred: 19.2 px side, centred at pixel 32 (16 + 32 * 0.5).
    img = dsprites.render(_values(0, 5, 0, 15, 15))[0, 0] > 0
    rows, cols = torch.nonzero(img).T
    assert 18 <= rows.max() - rows.min() + 1 <= 20 and 18 <= cols.max() - cols.min() + 1 <= 20
    assert abs(rows.double().mean().item() + 0.5 - (16 + 32 * 15 / 31)) < 0.6
    # Shapes are ordered by area at equal scale: square > ellipse > heart.
    areas = [(dsprites.render(_values(s, 5, 0, 15, 15)) > 0).sum().item() for s in range(3)]
    assert areas[0] > areas[1] > areas[2]
    # posX moves the sprite right (columns), posY down (rows).
    left, right = (torch.nonzero(dsprites.render(_values(0, 5, 0, p, 15))[0, 0])[:, 1].double().mean() for p in (0, 31))
    assert right - left == pytest.approx(32, abs=1)


def test_generate_is_seeded_and_covers_the_grid():
    a, b = dsprites.generate(500, seed=1), dsprites.generate(500, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.factors.values, b.factors.values)
    assert a.x.dtype == torch.uint8 and a.x.shape == (500, 1, 64, 64)
    assert set(a.x.unique().tolist()) == {0, 255}
    assert len(torch.unique(a.factors.values, dim=0)) == 500  # drawn without replacement
    assert a.factors.sizes == dsprites.LATENT_SIZES  # the full grid's levels
    assert torch.equal(a.y, a.factors.classes("shape"))
    assert not torch.equal(dsprites.generate(500, seed=2).factors.values, a.factors.values)


def test_latent_values():
    v = dsprites.latent_values(torch.tensor([[0, 0, 0, 0, 0], [2, 5, 39, 31, 31]]))
    assert torch.allclose(v[0], torch.tensor([1, 0.5, 0, 0, 0], dtype=torch.float64))
    assert torch.allclose(v[1], torch.tensor([3, 1.0, 2 * np.pi, 1, 1], dtype=torch.float64))


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_file_roundtrip_keeps_pixels_labels_and_values(tmp_path):
    g = dsprites.generate(50, seed=3)
    path = _write(tmp_path / "d.npz", imgs=(g.x[:, 0] // 255).numpy(), latents_values=g.factors.values.numpy(),
                  latents_classes=np.zeros((50, 5), np.int64), metadata=np.array({"ignored": True}, dtype=object))
    back = data.load(path)
    assert torch.equal(back.x, g.x) and torch.equal(back.factors.values, g.factors.values)
    assert torch.equal(back.y, g.factors.classes("shape")) and back.splits == {}


def test_sub_grid_reads_factors_from_true_values(tmp_path):
    """A file holding a sub-grid: hearts and squares only, 4 orientations, 8 posX values; its classes are
    re-indexed 0..k-1 (as DeepMind's tools write them), so only the values say what the sprites are."""
    shape, orient, posx = torch.meshgrid(torch.tensor([0, 2]), torch.tensor([0, 10, 20, 30]),
                                         torch.arange(0, 32, 4), indexing="ij")
    classes = torch.stack([shape.flatten(), torch.full((64,), 5), orient.flatten(), posx.flatten(),
                           torch.full((64,), 15)], 1)
    values = dsprites.latent_values(classes)
    reindexed = np.stack([np.unique(c, return_inverse=True)[1] for c in classes.numpy().T], 1)
    path = _write(tmp_path / "sub.npz", imgs=(dsprites.render(values)[:, 0] // 255).numpy(),
                  latents_classes=reindexed, latents_values=values.numpy())
    im = data.load(path)
    f = im.factors
    assert f.sizes == (2, 1, 4, 8, 1)
    assert im.class_names == ("square", "heart") and im.class_counts() == [32, 32]
    assert f.level_names[2] == ("0\u00b0", "92\u00b0", "185\u00b0", "277\u00b0")  # true angles, not 0..3
    assert torch.allclose(f.levels[3], torch.arange(0, 32, 4).double() / 31)
    # Renders of the factor values reproduce the file's pixels: the geometry is the true one.
    assert torch.equal(f.render(f.values_of(torch.stack([f.classes(n) for n in f.names], 1))), im.x)
    assert im.with_target("orientation").class_names[1] == "92\u00b0"


@pytest.mark.parametrize("arrays, message", [
    ({"imgs": np.zeros((4, 32, 32), np.uint8), "latents_classes": np.zeros((4, 5), np.int64)},
     "imgs must be uint8 (N, 64, 64)"),
    ({"imgs": np.zeros((4, 64, 64), np.float32), "latents_classes": np.zeros((4, 5), np.int64)}, "imgs must be uint8"),
    ({"imgs": np.zeros((4, 64, 64), np.uint8), "latents_classes": np.zeros((3, 5), np.int64)},
     "latents_classes must be (N, 5) with N=4, got (3, 5)"),
    ({"imgs": np.zeros((4, 64, 64), np.uint8), "latents_classes": np.full((4, 5), 99)}, "out of range"),
    ({"imgs": np.full((4, 64, 64), 7, np.uint8), "latents_classes": np.zeros((4, 5), np.int64)}, "must be binary"),
    ({"imgs": np.zeros((4, 64, 64), np.uint8), "latents_values": np.full((4, 5), 9.0)}, "latents_values out of range"),
])
def test_load_rejects_bad_files(tmp_path, arrays, message):
    with pytest.raises(SslabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.load(_write(tmp_path / "bad.npz", **arrays))


def test_load_never_unpickles(tmp_path):
    path = _write(tmp_path / "pickled.npz", imgs=np.array([object()], dtype=object),
                  latents_classes=np.zeros((1, 5), np.int64))
    with pytest.raises(SslabError, match="imgs must be uint8"):
        data.load(path)


def test_load_missing_and_non_npz(tmp_path):
    with pytest.raises(SslabError, match="not found"):
        data.load(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")  # named .npz, not a zip: said so, not "not a dataset"
    with pytest.raises(SslabError, match=r"text.npz: cannot read as npz \(File is not a zip file\)"):
        data.load(tmp_path / "text.npz")
