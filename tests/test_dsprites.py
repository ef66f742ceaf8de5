import numpy as np
import pytest
import torch

from sslab.data import dsprites
from sslab.errors import SslabError


def test_renderer_matches_real_images_per_shape(real_dsprites_path):
    real = dsprites.load(real_dsprites_path)
    assert real.x.shape == (20_000, 1, 64, 64)
    fake = dsprites.render(real.latents)
    a, b = real.x > 0, fake > 0
    iou = (a & b).sum((1, 2, 3)).double() / (a | b).sum((1, 2, 3)).double()
    for s, name in enumerate(dsprites.SHAPE_NAMES):
        mean_iou = iou[real.labels("shape") == s].mean().item()
        assert mean_iou >= 0.90, f"{name}: mean IoU {mean_iou:.3f}"


def test_render_geometry():
    # A square at scale 1, orientation 0, centred: 19.2 px side, centred at pixel 32 (16 + 32 * 0.5).
    img = dsprites.render(torch.tensor([[0, 5, 0, 15, 15]]))[0, 0] > 0
    rows, cols = torch.nonzero(img).T
    assert 18 <= rows.max() - rows.min() + 1 <= 20 and 18 <= cols.max() - cols.min() + 1 <= 20
    assert abs(rows.double().mean().item() + 0.5 - (16 + 32 * 15 / 31)) < 0.6
    # Shapes are ordered by area at equal scale: square > ellipse > heart.
    areas = [(dsprites.render(torch.tensor([[s, 5, 0, 15, 15]])) > 0).sum().item() for s in range(3)]
    assert areas[0] > areas[1] > areas[2]


def test_generate_is_seeded_and_covers_the_grid():
    a, b = dsprites.generate(500, seed=1), dsprites.generate(500, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.latents, b.latents)
    assert a.x.dtype == torch.uint8 and a.x.shape == (500, 1, 64, 64)
    assert set(a.x.unique().tolist()) == {0, 255}
    assert len(torch.unique(a.latents, dim=0)) == 500  # drawn without replacement
    assert (a.latents.max(0).values < torch.tensor(dsprites.LATENT_SIZES)).all()
    assert not torch.equal(dsprites.generate(500, seed=2).latents, a.latents)


def test_latent_values():
    v = dsprites.latent_values(torch.tensor([[0, 0, 0, 0, 0], [2, 5, 39, 31, 31]]))
    assert torch.allclose(v[0], torch.tensor([1, 0.5, 0, 0, 0], dtype=torch.float64))
    assert torch.allclose(v[1], torch.tensor([3, 1.0, 2 * np.pi, 1, 1], dtype=torch.float64))


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"imgs": np.zeros((4, 64, 64), np.uint8)}, "missing array(s) latents_classes"),
    ({"imgs": np.zeros((4, 32, 32), np.uint8), "latents_classes": np.zeros((4, 5), np.int64)}, "imgs must be uint8 (N, 64, 64)"),
    ({"imgs": np.zeros((4, 64, 64), np.float32), "latents_classes": np.zeros((4, 5), np.int64)}, "imgs must be uint8"),
    ({"imgs": np.zeros((4, 64, 64), np.uint8), "latents_classes": np.zeros((3, 5), np.int64)}, "latents_classes must be integer (N, 5)"),
    ({"imgs": np.zeros((4, 64, 64), np.uint8), "latents_classes": np.full((4, 5), 99)}, "out of range"),
])
def test_load_rejects_bad_files(tmp_path, arrays, message):
    with pytest.raises(SslabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dsprites.load(_write(tmp_path / "bad.npz", **arrays))


def test_load_never_unpickles(tmp_path):
    path = _write(tmp_path / "pickled.npz", imgs=np.array([object()], dtype=object),
                  latents_classes=np.zeros((1, 5), np.int64))
    with pytest.raises(SslabError, match="cannot read"):
        dsprites.load(path)


def test_load_missing_and_non_npz(tmp_path):
    with pytest.raises(SslabError, match="not found"):
        dsprites.load(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(SslabError, match="cannot read"):
        dsprites.load(tmp_path / "text.npz")


def test_load_roundtrip(tmp_path):
    g = dsprites.generate(50, seed=3)
    path = _write(tmp_path / "d.npz", imgs=(g.x[:, 0] // 255).numpy(), latents_classes=g.latents.numpy(),
                  metadata=np.array({"ignored": True}, dtype=object))
    back = dsprites.load(path)
    assert torch.equal(back.x, g.x) and torch.equal(back.latents, g.latents)
