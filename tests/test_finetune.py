"""Fine-tuning: a copy of the encoder and a new head trained end to end; the trained original stays as it was."""

import dataclasses

import pytest
import torch

from sslab import methods
from sslab.data import dsprites
from sslab.finetune import FinetuneConfig, finetune, score, predict
from sslab.probes import LinearProbe
from sslab.train import extract


@pytest.fixture(scope="module")
def images():
    return dsprites.generate(600, seed=0)


def squares(n=600, seed=0):
    """32x32 noise with a bright 8x8 square whose column band is the class (0, 1, 2), its row random."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 100, (n, 1, 32, 32), generator=g, dtype=torch.uint8)
    rows = torch.randint(0, 24, (n,), generator=g)
    for i in range(n):
        x[i, 0, rows[i] : rows[i] + 8, 2 + 10 * y[i] : 10 + 10 * y[i]] = 255
    return x, y


def test_finetuning_moves_a_copy_and_learns_the_labels():
    x, y = squares()
    torch.manual_seed(0)
    m = methods.build("random", (1, 32, 32), 3, {"encoder": "convnet"})
    m.prepare(x, torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    idx, test = torch.arange(300), torch.arange(300, 600)
    cfg = FinetuneConfig(epochs=10, lr=2e-3, batch_size=32)
    model = finetune(m, x, y, idx, cfg, torch.Generator().manual_seed(0), "fp32")
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())  # the original is untouched
    moved = [k for k, v in model.inner.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert any(k.endswith("weight") for k in moved)  # the encoder's weights moved, not only the head's
    assert not any("running" in k for k in moved)  # BatchNorm statistics stay the trained encoder's (freeze_bn)
    acc, confusion = score(model, x, y, test, "fp32")
    assert acc > 0.9 and confusion.shape == (3, 3) and confusion.sum() == len(test)  # chance is 1/3
    assert acc == pytest.approx(float((predict(model, x, test, "fp32") == y[test]).double().mean()))
    assert not model.training
    loose = finetune(m, x, y, idx, dataclasses.replace(cfg, epochs=1, freeze_bn=False), torch.Generator(), "fp32")
    assert not torch.equal(loose.inner.encoder.blocks[0][1].running_mean, m.encoder.blocks[0][1].running_mean)


def test_finetuning_a_variant_and_a_method_without_weights(images):
    torch.manual_seed(0)
    m = methods.build("simclr", (1, 64, 64), 3, {"proj_dim": 8, "epochs": 1})
    cfg = FinetuneConfig(epochs=1, batch_size=64)
    idx = torch.arange(128)
    above = finetune(m, images.x, images.y, idx, cfg, torch.Generator().manual_seed(0), "fp32", "above the head")
    assert above.head.in_features == 8  # the head sits on the projection head's output
    raw = methods.build("raw", (1, 64, 64), 3)
    tuned = finetune(raw, images.x, images.y, idx, cfg, torch.Generator().manual_seed(0), "fp32")
    assert tuned.head.in_features == 64 * 64 and extract(tuned, images.x[:5], "fp32").shape == (5, 3)
    with pytest.raises(Exception, match="no variant 'teacher'"):
        finetune(m, images.x, images.y, idx, cfg, torch.Generator().manual_seed(0), "fp32", "teacher")


def test_finetuning_dino_reads_the_student_and_trains_it(images):
    torch.manual_seed(0)
    m = methods.build("dino", (1, 64, 64), 3, {"epochs": 1})
    cfg = FinetuneConfig(epochs=1, batch_size=64, lr=1e-2)
    model = finetune(m, images.x, images.y, torch.arange(128), cfg, torch.Generator().manual_seed(0), "fp32")
    student = dict(model.inner.encoder.named_parameters())
    teacher = dict(model.inner.teacher["encoder"].named_parameters())
    assert any(not torch.equal(student[k], dict(m.encoder.named_parameters())[k]) for k in student)
    assert all(torch.equal(teacher[k], dict(m.teacher["encoder"].named_parameters())[k]) for k in teacher)
    assert not model.inner.teacher.training


def test_the_head_starts_as_the_frozen_probe():
    x, y = squares(300)
    torch.manual_seed(0)
    m = methods.build("random", (1, 32, 32), 3, {"encoder": "convnet"})
    m.prepare(x, torch.Generator().manual_seed(0))
    h = extract(m, x, "fp32")
    probe = LinearProbe().fit(h[:200], y[:200])
    cfg = FinetuneConfig(epochs=1, lr=1e-12, batch_size=200)  # one step that moves nothing
    model = finetune(m, x, y, torch.arange(200), cfg, torch.Generator().manual_seed(0), "fp32")
    model.inner.load_state_dict(m.state_dict())  # BatchNorm statistics as the frozen encoder's
    logits = extract(model, x[200:], "fp32")
    assert torch.allclose(logits, probe.decision_function(h[200:]), atol=1e-3)
    assert torch.equal(logits.argmax(1), probe.predict(h[200:]))
