"""The ViT encoders and MAE: patches, masking, what the decoder is scored on, features without masking."""

import pytest
import torch

from sslab import methods, nets
from sslab.errors import SslabError
from sslab.losses import mae_loss
from sslab.methods.mae import patchify
from sslab.nets.vit import default_patch, sincos_2d


@pytest.mark.parametrize("side, patch", [(28, 4), (32, 4), (64, 8), (96, 12), (17, 17)])
def test_patch_size_follows_the_image_side(side, patch):
    assert default_patch(side) == patch
    assert nets.build("vit_mini", (1, side, side)).patch == patch


def test_vit_tokens_of_kept_patches_and_pooling():
    torch.manual_seed(0)
    net = nets.build("vit_mini", (3, 32, 32)).eval()
    x = torch.rand(2, 3, 32, 32)
    assert net.n_patches == 64 and net(x).shape == (2, 192)
    keep = torch.tensor([[0, 5, 9], [63, 1, 2]])
    assert net.tokens(x, keep).shape == (2, 4, 192)
    # a patch's token depends on its pixels and position only: keeping every patch in order is the full pass
    torch.testing.assert_close(net.tokens(x, torch.arange(64).expand(2, -1)), net.tokens(x))
    mean = nets.build("vit_mini", (3, 32, 32), pool="mean").eval()
    mean.load_state_dict(net.state_dict())
    torch.testing.assert_close(mean(x), net.tokens(x)[:, 1:].mean(1))
    pos = sincos_2d(8, 2, 3)
    assert pos.shape == (6, 8) and torch.equal(pos[0], torch.tensor([0.0, 0, 1, 1, 0, 0, 1, 1]))
    with pytest.raises(SslabError, match="must divide"):
        nets.build("vit_mini", (1, 30, 30), patch=4)


def test_patchify_lays_out_each_patch_row_by_row():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)  # 2 channels, 2x2 patches of 2 px
    p = patchify(x, 2)
    assert p.shape == (1, 4, 8)
    # patch 1 is the top-right one: rows 0-1, cols 2-3; its pixels (row, col) with the channels innermost
    assert p[0, 1].tolist() == [2.0, 18.0, 3.0, 19.0, 6.0, 22.0, 7.0, 23.0]


def test_mae_loss_scores_the_masked_patches_only():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 4, 6, generator=g), torch.randn(2, 4, 6, generator=g)
    mask = torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0]])
    total = 0.0
    for b, n in [(0, 0), (0, 3), (1, 1)]:
        t = target[b, n]
        t = (t - t.mean()) / (t.var() + 1e-6).sqrt()
        total += float(((pred[b, n] - t) ** 2).mean())
    assert mae_loss(pred, target, mask).item() == pytest.approx(total / 3, rel=1e-5)
    assert mae_loss(pred, target, mask, norm_pix=False).item() == pytest.approx(
        float(((pred - target) ** 2).mean(-1)[mask.bool()].mean()), rel=1e-5)


def test_mae_masks_three_quarters_and_probes_without_masking():
    torch.manual_seed(0)
    m = methods.build("mae", (1, 32, 32), 3, {"batch_size": 4})
    x = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    xf, order = m.inputs(x, torch.zeros(4), torch.Generator().manual_seed(0))
    assert m.n_keep == 16 and sorted(order[0].tolist()) == list(range(64))
    assert not torch.equal(order[0], order[1])  # each image its own mask
    loss, logs = m.objective((xf, order))
    loss.backward()
    assert torch.isfinite(loss) and m.encoder.patch_embed.weight.grad.abs().sum() > 0
    # the encoder saw only the visible patches: a masked patch's pixels change nothing in its tokens
    changed = xf.clone()
    masked = int(order[0, 20])  # a masked patch of image 0
    r, c = divmod(masked, 8)
    changed[0, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = 1 - changed[0, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4]
    with torch.no_grad():
        torch.testing.assert_close(m.encoder.tokens(changed, order[:, :16]), m.encoder.tokens(xf, order[:, :16]))
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m.features(xf), m.encoder(xf))  # all patches
    with pytest.raises(SslabError, match="needs a ViT"):
        methods.build("mae", (1, 32, 32), 3, {"encoder": "convnet"})
    vit = methods.build("simclr", (1, 32, 32), 3, {"encoder": "vit_mini", "batch_size": 4}).train()
    vit.loss(x, torch.zeros(4), torch.Generator().manual_seed(0))[0].backward()  # every method takes a ViT
