import math

import pytest
import torch
import torch.nn.functional as F

from sslab.losses import (barlow_twins, swav_loss, dino_loss, info_nce, negative_cosine, nt_xent, ranking, sinkhorn, supcon,
                          vae_loss, vicreg)


def naive_nt_xent(z1, z2, temperature, neg_cols=None):
    """Direct transcription: for each anchor, -log(exp(s_pos / T) / sum over the denominator set)."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2, n = len(z), len(z1)
    losses = []
    for i in range(n2):
        pos = (i + n) % n2
        sim = lambda j: math.exp(float(z[i] @ z[j]) / temperature)  # noqa: E731
        cols = [j for j in range(n2) if j != i] if neg_cols is None else neg_cols[i]
        losses.append(-math.log(sim(pos) / sum(sim(j) for j in cols)))
    return sum(losses) / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_direct_implementation(temperature):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert nt_xent(z1, z2, temperature).item() == pytest.approx(naive_nt_xent(z1, z2, temperature), rel=1e-5)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_nt_xent_few_negatives_matches_direct_implementation(k):
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    n2 = 12
    # Reproduce the draw: uniform keys, the anchor and its positive excluded, the k smallest kept.
    keys = torch.rand(n2, n2, generator=torch.Generator().manual_seed(7))
    neg_cols = []
    for i in range(n2):
        allowed = [j for j in range(n2) if j not in (i, (i + 6) % n2)]
        neg_cols.append(sorted(allowed, key=lambda j: keys[i, j].item())[:k])
        assert len(neg_cols[-1]) == k
    got = nt_xent(z1, z2, 0.5, neg_pairs=k, generator=torch.Generator().manual_seed(7))
    assert got.item() == pytest.approx(naive_nt_xent(z1, z2, 0.5, neg_cols), rel=1e-5)


def test_nt_xent_analytic_values():
    # Identical embeddings: every similarity is 1, so the loss is log(#denominator terms).
    z = torch.ones(8, 3)
    assert nt_xent(z, z, 0.5).item() == pytest.approx(math.log(15), rel=1e-6)
    assert nt_xent(z, z, 0.5, neg_pairs=3).item() == pytest.approx(math.log(3), rel=1e-6)
    # Perfectly aligned positives with orthogonal negatives drive the loss towards its minimum.
    e = torch.eye(4)
    assert nt_xent(e, e, 0.05).item() < 1e-6 + math.log(1 + 6 * math.exp(-1 / 0.05))


def test_nt_xent_checks_inputs():
    with pytest.raises(ValueError):
        nt_xent(torch.ones(4, 3), torch.ones(5, 3))
    with pytest.raises(ValueError, match="neg_pairs"):
        nt_xent(torch.ones(4, 3), torch.ones(4, 3), neg_pairs=7)


def test_nt_xent_has_gradients():
    z1 = torch.randn(5, 4, requires_grad=True)
    nt_xent(z1, torch.randn(5, 4), neg_pairs=2).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_vae_loss_terms():
    x = torch.tensor([[[[0.0, 1.0]]]])
    logits = torch.tensor([[[[-2.0, 3.0]]]])
    mu, logvar = torch.zeros(1, 2), torch.zeros(1, 2)
    loss, rec, kl = vae_loss(logits, x, mu, logvar)
    assert kl.item() == pytest.approx(0.0)
    assert rec.item() == pytest.approx(math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-3)), rel=1e-6)
    _, _, kl = vae_loss(logits, x, torch.ones(1, 2), torch.zeros(1, 2))
    assert kl.item() == pytest.approx(1.0)  # 0.5 * sum(mu^2)
    loss_b, _, _ = vae_loss(logits, x, torch.ones(1, 2), torch.zeros(1, 2), beta=4.0)
    assert loss_b.item() == pytest.approx(rec.item() + 4.0)


def test_nt_xent_is_computed_in_fp32_under_autocast():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    exact = nt_xent(z1, z2, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = nt_xent(z1, z2, 0.1)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(exact.item(), rel=1e-6)  # bf16 logits would be off by ~1e-2


def naive_supcon(z, y, temperature):
    """A loop over anchors: minus the mean log-probability of each anchor's positives."""
    z = F.normalize(z.double(), dim=1)
    losses = []
    for i in range(len(z)):
        others = [j for j in range(len(z)) if j != i]
        positives = [j for j in others if y[j] == y[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(z[i] @ z[j]) / temperature) for j in others)
        losses.append(-sum(float(z[i] @ z[p]) / temperature - math.log(denom) for p in positives) / len(positives))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_matches_loop_over_anchors(temperature):
    g = torch.Generator().manual_seed(2)
    z, y = torch.randn(10, 6, generator=g), torch.tensor([0, 1, 1, 2, 0, 3, 1, 0, 2, 4])  # classes 3, 4: no positive
    assert supcon(z, y, temperature).item() == pytest.approx(naive_supcon(z, y, temperature), rel=1e-5)


def test_supcon_with_each_image_its_own_class_is_nt_xent():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    y = torch.arange(5).repeat(2)
    assert supcon(torch.cat([z1, z2]), y, 0.3).item() == pytest.approx(nt_xent(z1, z2, 0.3).item(), rel=1e-5)
    assert supcon(z1, torch.arange(5)).item() == 0  # no anchor has a positive


def test_dino_loss_matches_loop_over_view_pairs():
    g = torch.Generator().manual_seed(4)
    s, t, c = torch.randn(6, 3, 8, generator=g), torch.randn(2, 3, 8, generator=g), torch.randn(8, generator=g)
    total, pairs = 0.0, 0
    for iq in range(2):
        for v in range(6):
            if v == iq:
                continue
            for b in range(3):
                q = ((t[iq, b].double() - c.double()) / 0.04).softmax(0)
                total += -float((q * (s[v, b].double() / 0.1).log_softmax(0)).sum()) / 3
            pairs += 1
    assert pairs == 10  # 2 global x 6 views, minus the 2 same-view pairs
    assert dino_loss(s, t, c).item() == pytest.approx(total / pairs, rel=1e-5)


def test_ranking_matches_a_sort():
    g = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    ranks = []
    for i in range(16):
        order = sorted((j for j in range(16) if j != i), key=lambda j: -float(z[i] @ z[j]))
        ranks.append(order.index((i + 8) % 16))
    got = ranking(z1, z2)
    assert got["top1"] == pytest.approx(sum(r < 1 for r in ranks) / 16)
    assert got["top5"] == pytest.approx(sum(r < 5 for r in ranks) / 16)
    assert got["mean_pos"] == pytest.approx(1 + sum(ranks) / 16)
    assert ranking(torch.eye(4), torch.eye(4)) == {"top1": 1.0, "top5": 1.0, "mean_pos": 1.0}


def test_negative_cosine_matches_rows_and_stops_the_gradient():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(6, 5, generator=g, requires_grad=True), torch.randn(6, 5, generator=g, requires_grad=True)
    a, b = p.detach(), z.detach()
    direct = -sum(float(a[i] @ b[i]) / (float(a[i].norm()) * float(b[i].norm())) for i in range(6)) / 6
    loss = negative_cosine(p, z)
    assert loss.item() == pytest.approx(direct, abs=1e-6)
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0 and z.grad is None  # z is the stopped branch


def test_info_nce_matches_a_loop_and_only_the_query_learns():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(4, 8, generator=g, requires_grad=True), torch.randn(4, 8, generator=g, requires_grad=True)
    queue = torch.randn(10, 8, generator=g, requires_grad=True)
    t = 0.2
    total = 0.0
    for i in range(4):
        qi, ki = q[i].detach() / q[i].detach().norm(), k[i].detach() / k[i].detach().norm()
        logits = [float(qi @ ki) / t] + [float(qi @ (n / n.norm())) / t for n in queue.detach()]
        total += -logits[0] + math.log(sum(math.exp(v) for v in logits))
    loss = info_nce(q, k, queue, t)
    assert loss.item() == pytest.approx(total / 4, rel=1e-5)
    loss.backward()
    assert q.grad is not None and k.grad is None and queue.grad is None


def test_info_nce_without_a_queue_contrasts_the_batch_keys():
    """MoCo v3's form: query i against every key of the batch, its own the positive."""
    g = torch.Generator().manual_seed(5)
    q, k = torch.randn(5, 3, generator=g, requires_grad=True), torch.randn(5, 3, generator=g)
    t, total = 0.2, 0.0
    for i in range(5):
        qi = q[i].detach() / q[i].detach().norm()
        logits = [float(qi @ (kj / kj.norm())) / t for kj in k]
        total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    assert info_nce(q, k, None, t).item() == pytest.approx(total / 5, rel=1e-5)


def test_barlow_twins_matches_the_cross_correlation_entry_by_entry():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(16, 5, generator=g) * 3 + 1, torch.randn(16, 5, generator=g)
    lambd, eps = 5e-3, 1e-5

    def standardised(z, j):  # BatchNorm without affine: biased variance, eps inside the root
        col = z[:, j]
        return (col - col.mean()) / math.sqrt(float(((col - col.mean()) ** 2).mean()) + eps)

    total = 0.0
    for i in range(5):
        for j in range(5):
            c = float((standardised(z1, i) * standardised(z2, j)).sum()) / 16
            total += (1 - c) ** 2 if i == j else lambd * c ** 2
    assert barlow_twins(z1, z2, lambd).item() == pytest.approx(total, rel=1e-5)
    same = barlow_twins(z1, z1, lambd=0.0).item()  # a view with itself: every c_ii is 1 up to eps
    assert same == pytest.approx(0.0, abs=1e-6)


def test_vicreg_terms_match_their_definitions():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(12, 4, generator=g) * 0.5, torch.randn(12, 4, generator=g) * 2
    loss, terms = vicreg(z1, z2)
    invariance = float(((z1 - z2) ** 2).mean())
    variance, covariance = 0.0, 0.0
    for z in (z1, z2):
        zc = z - z.mean(0)
        for d in range(4):
            std = math.sqrt(float((zc[:, d] ** 2).sum()) / 11 + 1e-4)
            variance += max(0.0, 1 - std) / 4 / 2
            for e in range(4):
                if d != e:
                    covariance += (float((zc[:, d] * zc[:, e]).sum()) / 11) ** 2 / 4
    assert terms["invariance"].item() == pytest.approx(invariance, rel=1e-5)
    assert terms["variance"].item() == pytest.approx(variance, rel=1e-5)
    assert terms["covariance"].item() == pytest.approx(covariance, rel=1e-5)
    assert loss.item() == pytest.approx(25 * invariance + 25 * variance + covariance, rel=1e-5)


def test_sinkhorn_follows_the_official_loop_and_equipartitions():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(32, 6, generator=g) * 0.1
    q = torch.exp(scores / 0.05).T.double()  # the official code, step by step (K, B)
    q /= q.sum()
    for _ in range(3):
        q /= q.sum(dim=1, keepdim=True)
        q /= 6
        q /= q.sum(dim=0, keepdim=True)
        q /= 32
    codes = sinkhorn(scores, 0.05, 3)
    assert torch.allclose(codes.double(), (q * 32).T, rtol=1e-4, atol=1e-7)
    assert torch.allclose(codes.sum(1), torch.ones(32), atol=1e-5)  # each sample's code is a distribution
    balanced = sinkhorn(scores, 0.05, 200).sum(0)  # each prototype gets B / K of the batch
    assert torch.allclose(balanced, torch.full((6,), 32 / 6), rtol=1e-3)


@pytest.mark.parametrize("with_queue", [False, True])
def test_swav_loss_is_the_swapped_prediction_of_sinkhorn_codes(with_queue):
    g = torch.Generator().manual_seed(6)
    scores = torch.randn(4, 5, 3, generator=g, requires_grad=True)  # 4 crops (2 global), 5 images, 3 prototypes
    queued = torch.randn(2, 7, 3, generator=g) if with_queue else None
    t, total = 0.1, 0.0
    for i in range(2):
        s = scores[i].detach() if queued is None else torch.cat([scores[i].detach(), queued[i]])
        q = sinkhorn(s, 0.05, 3)[:5]  # the codes of the batch's images only
        for v in range(4):
            if v != i:
                for b in range(5):
                    row = scores[v, b].detach() / t
                    log_p = row - math.log(sum(math.exp(float(r)) for r in row))
                    total += -float((q[b] * log_p).sum()) / 5 / 3
    loss = swav_loss(scores, 2, t, 0.05, 3, queued)
    assert loss.item() == pytest.approx(total / 2, rel=1e-5)
    loss.backward()
    assert scores.grad[2:].abs().sum() > 0  # the local crops only predict
