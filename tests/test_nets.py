"""Every registered encoder gets these tests for free; then the facts each architecture must keep."""

import pytest
import torch
from torch import nn

from sslab import nets
from sslab.errors import SslabError
from sslab.nets.decoders import ConvDecoder, DecoderCore

NAMES = list(nets.REGISTRY)
SHAPES = [(1, 28, 28), (3, 32, 32), (3, 96, 96), (1, 64, 64)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", NAMES)
def test_encoder_forward_backward_and_feat_dim(name, shape):
    torch.manual_seed(0)
    net = nets.build(name, shape)
    x = torch.rand(2, *shape)  # batch 2: BatchNorm1d needs more than one image in training mode
    h = net(x)
    assert h.shape == (2, net.feat_dim) and isinstance(net.feat_dim, int)
    assert torch.isfinite(h).all()
    # a random projection: a plain sum of BatchNorm(affine=False) outputs has no gradient
    (h * torch.randn_like(h)).sum().backward()
    first = next(net.parameters())  # the first layer's weight in every family
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0


def test_describe_lists_every_encoder_with_its_width():
    rows = nets.describe((1, 28, 28))
    assert [r[0] for r in rows] == NAMES
    assert all(r[1] and "\n" not in r[1] for r in rows)
    assert dict((r[0], r[2]) for r in rows) == {"encoder_core": 84, "convnet": 128, "backbone": 32, "resnet18": 512,
                                                    "strided_convnet": 128, "vit_tiny": 192, "vit_mini": 192}
    assert dict((r[0], r[2]) for r in nets.describe((1, 12, 12)))["backbone"] is None  # too small for it


def test_build_rejects_unknown_names_options_and_tiny_images():
    with pytest.raises(SslabError, match="unknown encoder 'vgg'; encoders: .*convnet"):
        nets.build("vgg", (1, 28, 28))
    with pytest.raises(SslabError, match="resnet18 has no option.*'depth'.*options: stem, zero_init_residual"):
        nets.build("resnet18", (3, 32, 32), depth=34)
    with pytest.raises(SslabError, match="stem must be one of"):
        nets.build("resnet18", (3, 32, 32), stem="tiny")
    with pytest.raises(SslabError, match="at least 16x16"):
        nets.build("encoder_core", (1, 12, 12))


def test_encoder_core_keeps_the_tutorial_layout_at_64px():
    net = nets.build("encoder_core", (1, 64, 64))
    assert [n for n, _ in net.named_parameters()] == [
        "conv.0.weight", "conv.0.bias", "conv.4.weight", "conv.4.bias", "linear.0.weight", "linear.0.bias",
        "linear.3.weight", "linear.3.bias", "head.0.weight", "head.0.bias"]
    assert net.linear[0].in_features == 16 * 13 * 13
    assert not any(m.affine for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert nets.build("encoder_core", (3, 28, 28)).linear[0].in_features == 16 * 4 * 4


def test_convnet_is_128d_with_a_1152d_flatten_at_28px():
    net = nets.build("convnet", (1, 28, 28)).eval()
    x = torch.rand(3, 1, 28, 28)
    with nets.layer_features(net, "flatten") as out:
        h = net(x)
    assert h.shape == (3, 128) and out.h.shape == (3, 1152)
    assert [type(m) for m in net.blocks[0]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    assert [b[0].out_channels for b in net.blocks] == [32, 64, 128]
    assert isinstance(nets.build("convnet", (1, 28, 28), activation="gelu").act, nn.GELU)


def test_backbone_is_32d_at_28px():
    net = nets.build("backbone", (1, 28, 28))
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 32) and net.feat_dim == 32
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [16, 16, 32]
    assert all(m.padding == (0, 0) for m in net.modules() if isinstance(m, nn.Conv2d))


def _after_stem(net: nn.Module, size: int) -> tuple[int, ...]:
    seen = []
    handle = net.maxpool.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:])))
    with torch.no_grad():
        net.eval()(torch.rand(1, 3, size, size))
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("size, stem, side", [(32, "auto", 32), (63, "auto", 63), (64, "auto", 16), (96, "auto", 24),
                                              (32, "imagenet", 8), (96, "cifar", 96)])
def test_resnet18_picks_its_stem_by_size(size, stem, side):
    net = nets.build("resnet18", (3, size, size), stem=stem)
    assert net.stem == ("imagenet" if side < size else "cifar")
    assert _after_stem(net, size) == (64, side, side)


def test_resnet18_matches_torchvision_names_count_and_init():
    net = nets.build("resnet18", (3, 96, 96))
    names = [n for n, _ in net.named_parameters()]
    # torchvision.models.resnet18(): 62 parameter tensors and 122 state-dict entries, fc's 2 of each
    assert len(names) == 60 and len(net.state_dict()) == 120
    assert [n for n, _ in net.named_children()] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                                                    "layer4", "avgpool"]
    for name in ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
                 "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer3.0.downsample.1.bias",
                 "layer4.1.conv2.weight", "layer4.1.bn2.weight"]:
        assert name in names
    assert "layer1.0.downsample.0.weight" not in names and "layer2.1.downsample.0.weight" not in names
    assert "layer4.1.bn2.running_var" in net.state_dict()
    assert tuple(net.conv1.weight.shape) == (64, 3, 7, 7)
    assert tuple(net.layer4[0].downsample[0].weight.shape) == (512, 256, 1, 1)
    # torchvision: 11,689,512 parameters, of which fc (512 x 1000 + 1000) is 513,000
    assert sum(p.numel() for p in net.parameters()) == 11_689_512 - 513_000
    cifar = nets.build("resnet18", (3, 32, 32))
    assert sum(p.numel() for p in cifar.parameters()) == 11_176_512 - 64 * 3 * (49 - 9)
    # kaiming_normal_(fan_out, relu): std sqrt(2 / (out_channels * k * k)); BatchNorm weight 1, bias 0
    w = net.layer3[0].conv1.weight
    assert w.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    zero = nets.build("resnet18", (3, 32, 32), zero_init_residual=True)
    assert (zero.layer2[1].bn2.weight == 0).all() and (zero.layer2[1].bn1.weight == 1).all()


@pytest.mark.parametrize("size", [28, 32, 64, 96, 29, 17])
def test_decoder_returns_the_input_size(size):
    dec = DecoderCore(84, (3, size, size))
    assert dec(torch.randn(2, 84)).shape == (2, 3, size, size)
    assert dec.side[0] == {28: 4, 32: 5, 64: 13, 96: 21}.get(size, dec.side[0])


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 96, 96), (1, 29, 17)])
def test_conv_decoder_retraces_the_strided_encoder(shape):
    enc = nets.build("strided_convnet", shape)
    dec = ConvDecoder(enc.feat_dim, shape)
    x = torch.rand(2, *shape)
    assert dec(enc(x)).shape == (2, *shape)
    if shape == (1, 28, 28):  # the lab's: 28 -> 14 -> 7 -> 4, 2,048 flattened; back 4 -> 7 -> 14 -> 28
        assert enc.fc.in_features == 128 * 4 * 4 and dec.start == (128, 4, 4)
        assert [m.size for m in dec.conv if isinstance(m, nn.Upsample)] == [(7, 7), (14, 14), (28, 28)]


def test_decoder_keeps_the_tutorial_layout_at_64px():
    dec = DecoderCore(84, (1, 64, 64))
    assert [n for n, _ in dec.named_parameters()] == [
        "linear.0.0.weight", "linear.0.0.bias", "linear.1.0.weight", "linear.1.0.bias", "linear.2.weight",
        "linear.2.bias", "conv.2.weight", "conv.2.bias", "conv.6.weight", "conv.6.bias"]
    assert dec.linear[2].out_features == 16 * 13 * 13


def test_layer_features_capture_before_an_in_place_relu_and_unhook():
    net = nets.build("encoder_core", (1, 28, 28)).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad(), nets.layer_features(net, "conv.0") as out:  # conv.1 is ReLU(inplace=True)
        net(x)
        expected = net.conv[0](x).flatten(1)
    assert torch.equal(out.h, expected) and (out.h < 0).any()
    assert not net.conv[0]._forward_hooks


def test_layer_features_name_the_layers_when_one_is_missing():
    net = nets.build("convnet", (1, 28, 28))
    with pytest.raises(SslabError, match=r"no layer 'flaten' in ConvNet; layers: blocks, .*flatten, fc, act"):
        with nets.layer_features(net, "flaten"):
            pass
    with pytest.raises(SslabError, match="not reached"):
        with nets.layer_features(net, "fc") as out:
            net.blocks(torch.rand(2, 1, 28, 28))
        out.h
