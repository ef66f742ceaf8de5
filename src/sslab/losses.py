"""Loss functions: pure functions of tensors, no module state."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float = 0.5,
    neg_pairs: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """NT-Xent, the SimCLR loss (Chen et al. 2020), as in the Neuromatch tutorial's `contrastive_loss`.

    z1, z2: (B, D) projections of two views; row i of z1 and row i of z2 are a positive pair.
    Each of the 2B anchors is contrasted with the other 2B - 1 embeddings (neg_pairs=None: the
    positive sits in the denominator, the standard form), or with `neg_pairs` negatives drawn at
    random per anchor from the 2B - 2 candidates (the tutorial's few-negatives variant, where the
    denominator holds the negatives only). Returns the mean loss over the 2B anchors.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    with torch.autocast(z1.device.type, enabled=False):  # in fp32 even under bf16 autocast: logits / 0.1 need it
        return _nt_xent(z1.float(), z2.float(), temperature, neg_pairs, generator)


def _nt_xent(z1, z2, temperature, neg_pairs, generator) -> torch.Tensor:
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    logits = z @ z.T / temperature  # (2B, 2B) cosine similarities / T
    pos_col = torch.arange(2 * n, device=z.device).roll(n)  # anchor i's positive is i +- B
    pos = logits.gather(1, pos_col[:, None]).squeeze(1)  # (2B,)
    if neg_pairs is None:
        eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        return (torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1) - pos).mean()
    if not 1 <= neg_pairs <= 2 * n - 2:
        raise ValueError(f"neg_pairs must be in 1..{2 * n - 2} for a batch of {n}, got {neg_pairs}")
    # Draw neg_pairs columns per row uniformly among the negatives: rank random keys, with the
    # anchor itself and its positive pushed to the end.
    keys = torch.rand(2 * n, 2 * n, generator=generator, device=z.device)
    rows = torch.arange(2 * n, device=z.device)
    keys[rows, rows] = 2.0
    keys[rows, pos_col] = 2.0
    neg_cols = keys.topk(neg_pairs, dim=1, largest=False).indices  # (2B, k)
    return (torch.logsumexp(logits.gather(1, neg_cols), dim=1) - pos).mean()


def vae_loss(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bernoulli reconstruction (BCE on logits) + beta * KL(q(z|x) || N(0, I)), summed per image, mean over batch.

    logits, x: (B, C, H, W), x in [0, 1]; mu, logvar: (B, D). Returns (loss, reconstruction, kl).
    """
    rec = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar.float() - mu.float().pow(2) - logvar.float().exp()) / len(x)
    return rec + beta * kl, rec, kl


def supcon(z: torch.Tensor, y: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, the "L_out" form), as in the MedMNIST lab.

    z: (N, D) projections of every view (N = views x batch), y: (N,) the label of each view's image.
    For each anchor the positives are the other views with its label (the anchor itself excluded);
    the loss is minus the mean log-probability of its positives under a softmax over every other
    view at `temperature`, averaged over the anchors that have at least one positive (0 if none has).
    Computed in fp32, like NT-Xent, which is its special case with each image its own class.
    """
    if z.ndim != 2 or y.shape != (len(z),):
        raise ValueError(f"z must be (N, D) and y (N,), got {tuple(z.shape)} and {tuple(y.shape)}")
    with torch.autocast(z.device.type, enabled=False):
        z = F.normalize(z.float(), dim=1)
        eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
        log_prob = (z @ z.T / temperature).masked_fill(eye, float("-inf")).log_softmax(dim=1)
        pos = (y[:, None] == y[None, :]) & ~eye  # (N, N) positives per anchor
        n_pos = pos.sum(1)
        per_anchor = -log_prob.masked_fill(~pos, 0).sum(1) / n_pos.clamp(min=1)
        has = n_pos > 0
        return per_anchor[has].mean() if has.any() else z.sum() * 0


def dino_loss(student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor,
              student_temp: float = 0.1, teacher_temp: float = 0.04, n_global: int = 2) -> torch.Tensor:
    """DINO's loss (Caron et al. 2021): cross-entropy between the centred, sharpened teacher output and
    the student output, over every pair of different views, averaged over the pairs.

    student: (V, B, K) the student's outputs for V views (the first `n_global` are the global crops);
    teacher: (n_global, B, K) the teacher's outputs for the global crops (no gradient flows into it);
    center: (K,) the running centre subtracted from the teacher's outputs.
    """
    if student.ndim != 3 or teacher.shape != (n_global, *student.shape[1:]) or center.shape != student.shape[2:]:
        raise ValueError(f"student (V, B, K), teacher ({n_global}, B, K) and center (K,) expected, got "
                         f"{tuple(student.shape)}, {tuple(teacher.shape)}, {tuple(center.shape)}")
    with torch.autocast(student.device.type, enabled=False):
        t = ((teacher.float() - center.float()) / teacher_temp).softmax(dim=-1).detach()  # (G, B, K)
        log_s = (student.float() / student_temp).log_softmax(dim=-1)  # (V, B, K)
        ce = -(t[:, None] * log_s[None]).sum(-1).mean(-1)  # (G, V): each teacher view against each student view
        keep = ~torch.eye(n_global, len(student), dtype=torch.bool, device=student.device)  # not the same view
        return ce[keep].mean()


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """SimSiam's D(p, z) (Chen & He 2021): minus the mean cosine similarity of predictions p (B, D) with targets
    z (B, D), the targets detached (stop-gradient). BYOL's 2 - 2 cos (Grill et al. 2020) is 2 + 2 x this."""
    if p.shape != z.shape or p.ndim != 2:
        raise ValueError(f"p and z must both be (B, D), got {tuple(p.shape)} and {tuple(z.shape)}")
    with torch.autocast(p.device.type, enabled=False):
        return -F.cosine_similarity(p.float(), z.detach().float(), dim=1).mean()


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor | None, temperature: float = 0.2) -> torch.Tensor:
    """MoCo's InfoNCE (He et al. 2020): each query q[i] (B, D) against its key k[i] (B, D; detached: the momentum
    encoder's) and the queue's keys (K, D) as negatives, all L2-normalised, at `temperature`. queue=None: MoCo v3's
    form (Chen et al. 2021), the other rows of k are the negatives."""
    if q.shape != k.shape or q.ndim != 2 or (queue is not None and (queue.ndim != 2 or queue.shape[1] != q.shape[1])):
        raise ValueError(f"q, k (B, D) and queue (K, D) expected, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{None if queue is None else tuple(queue.shape)}")
    with torch.autocast(q.device.type, enabled=False):
        q, k = F.normalize(q.float(), dim=1), F.normalize(k.detach().float(), dim=1)
        if queue is None:  # row i's key in column i
            return F.cross_entropy(q @ k.T / temperature, torch.arange(len(q), device=q.device))
        negatives = q @ F.normalize(queue.detach().float(), dim=1).T  # (B, K)
        logits = torch.cat([(q * k).sum(1, keepdim=True), negatives], dim=1) / temperature  # the key in column 0
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.int64, device=q.device))


def _off_diagonal_squares(c: torch.Tensor) -> torch.Tensor:
    return c.pow(2).sum() - torch.diagonal(c).pow(2).sum()


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3, eps: float = 1e-5) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021), as its official code: the (D, D) cross-correlation of the two views'
    embeddings (B, D), each standardised over the batch (BatchNorm without affine: biased variance + eps);
    sum over the diagonal of (1 - c_ii)^2, plus lambd x the sum of the off-diagonal c_ij^2."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    with torch.autocast(z1.device.type, enabled=False):
        a, b = (F.batch_norm(z.float(), None, None, training=True, eps=eps) for z in (z1, z2))
        c = a.T @ b / len(a)  # (D, D)
        on = (torch.diagonal(c) - 1).pow(2).sum()
        return on + lambd * _off_diagonal_squares(c)


def vicreg(z1: torch.Tensor, z2: torch.Tensor, sim_weight: float = 25.0, var_weight: float = 25.0,
           cov_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """VICReg (Bardes et al. 2022), as its official code: invariance (the MSE between the views' embeddings
    (B, D)), variance (the mean hinge max(0, 1 - std) of each dimension's standard deviation over the batch, with
    1e-4 inside the square root, averaged over the views), covariance (the off-diagonal squares of each view's
    (D, D) covariance, summed, / D, added over the views). Returns the weighted sum and the three terms."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    with torch.autocast(z1.device.type, enabled=False):
        x, y = z1.float(), z2.float()
        invariance = F.mse_loss(x, y)
        x, y = x - x.mean(0), y - y.mean(0)
        std_x, std_y = (torch.sqrt(v.var(0) + 1e-4) for v in (x, y))
        variance = (F.relu(1 - std_x).mean() + F.relu(1 - std_y).mean()) / 2
        n, d = x.shape
        covariance = sum(_off_diagonal_squares(v.T @ v / (n - 1)) for v in (x, y)) / d
        loss = sim_weight * invariance + var_weight * variance + cov_weight * covariance
        return loss, {"invariance": invariance.detach(), "variance": variance.detach(),
                      "covariance": covariance.detach()}


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """SwAV's codes (Caron et al. 2020): the Sinkhorn-Knopp equipartition of B samples over K prototypes from
    their scores (B, K), as its official code: Q = exp(scores / epsilon), then `iterations` rounds of making each
    prototype's total 1/K and each sample's 1/B; returns (B, K) codes whose rows sum to 1. The official code
    all-reduces these sums over the ranks: under torchrun pass the global batch's scores (gathered)."""
    q = torch.exp((scores.float() - scores.float().max()) / epsilon).T  # (K, B); the shift cancels out
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True) * k
        q /= q.sum(dim=0, keepdim=True) * b
    return (q * b).T


def swav_loss(scores: torch.Tensor, n_global: int = 2, temperature: float = 0.1, epsilon: float = 0.05,
              iterations: int = 3, queued: torch.Tensor | None = None) -> torch.Tensor:
    """SwAV's swapped prediction (Caron et al. 2020), as its official code: for each global crop i, the codes q_i
    (sinkhorn of its scores, no gradient) are predicted from every other crop v by a softmax of its scores at
    `temperature`: the mean over crops v != i of -sum_k q_i log p_v, averaged over the global crops.

    scores: (V, B, K) every crop's scores against the K prototypes (the first n_global the global crops);
    queued: (n_global, Q, K) scores of queued embeddings of each global crop, which join the sinkhorn's batch
    (their codes are dropped)."""
    if scores.ndim != 3 or not 1 <= n_global <= len(scores) or len(scores) < 2:
        raise ValueError(f"scores (V, B, K) with V >= 2 and 1 <= n_global <= V expected, got {tuple(scores.shape)}")
    with torch.autocast(scores.device.type, enabled=False):
        scores = scores.float()
        log_p = (scores / temperature).log_softmax(dim=-1)  # (V, B, K)
        total = scores.new_zeros(())
        for i in range(n_global):
            s = scores[i].detach()
            if queued is not None:
                s = torch.cat([s, queued[i].float()])
            q = sinkhorn(s, epsilon, iterations)[: scores.shape[1]]  # (B, K)
            others = [v for v in range(len(scores)) if v != i]
            total = total - sum((q * log_p[v]).sum(-1).mean() for v in others) / len(others)
        return total / n_global


def mae_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True) -> torch.Tensor:
    """MAE's reconstruction loss (He et al. 2022), as its official code: the mean squared error per patch between
    predicted pixels pred (B, N, P) and the image's patches target (B, N, P), each target patch standardised by its
    own mean and variance when norm_pix (unbiased variance, + 1e-6), averaged over the masked patches only
    (mask (B, N): 1 masked, 0 visible)."""
    if pred.shape != target.shape or pred.ndim != 3 or mask.shape != pred.shape[:2]:
        raise ValueError(f"pred, target (B, N, P) and mask (B, N) expected, got {tuple(pred.shape)}, "
                         f"{tuple(target.shape)}, {tuple(mask.shape)}")
    with torch.autocast(pred.device.type, enabled=False):
        target = target.float()
        if norm_pix:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        per_patch = (pred.float() - target).pow(2).mean(-1)  # (B, N)
        return (per_patch * mask).sum() / mask.sum()


def ranking(z1: torch.Tensor, z2: torch.Tensor) -> dict[str, torch.Tensor]:
    """The UvA tutorial's SimCLR metrics: for each of the 2B anchors, the rank of its positive among the
    2B - 1 other embeddings by cosine similarity; returns top-1 and top-5 accuracy and the mean position
    (1 + mean rank), as 0-d tensors left on the device."""
    with torch.no_grad(), torch.autocast(z1.device.type, enabled=False):
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        sim = (z @ z.T).fill_diagonal_(float("-inf"))
        pos = sim.gather(1, torch.arange(2 * n, device=z.device).roll(n)[:, None])  # (2B, 1)
        rank = (sim > pos).sum(1).float()  # candidates strictly more similar than the positive
        return {"top1": (rank < 1).float().mean(), "top5": (rank < 5).float().mean(), "mean_pos": 1 + rank.mean()}
