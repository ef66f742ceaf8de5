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
