"""Analyses of frozen features: tensors in, tensors out (plotting lives in sslab.plots).

Similarity (RSMs, their histograms, linear CKA), label-free quality (the singular-value spectrum, RankMe,
alignment and uniformity), the factor profile (what each latent factor does to the features) and 2-d UMAP
coordinates. Probes and label-efficiency curves live in sslab.probes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sslab.errors import SslabError


def rsm(h: torch.Tensor, order: torch.Tensor | None = None, size: int | None = None, chunk: int = 1024) -> torch.Tensor:
    """Representational similarity matrix: cosine similarity of every pair of rows of h (N, D).

    order: (N,) row order (e.g. argsort of a latent), applied to rows and columns alike.
    size: if given and below N, the matrix is block-averaged onto a (size, size) grid (each cell the mean
    over consecutive rows x columns), so a sorted RSM of 10,000 images can be drawn. Computed `chunk`
    rows at a time: at most (chunk, N) float32 similarities exist at once, never an (N, N) float64.
    Returns (N, N), or (size, size), float32.
    """
    z = F.normalize(h.float(), dim=1)
    if order is not None:
        z = z[order]
    n = len(z)
    if size is None or size >= n:
        out = torch.empty(n, n)
        for i in range(0, n, chunk):
            out[i : i + chunk] = z[i : i + chunk] @ z.T
        return out
    cell = torch.arange(n) * size // n  # (N,) grid cell of each row/column
    counts = torch.bincount(cell, minlength=size).float()
    out = torch.zeros(size, size)
    for i in range(0, n, chunk):
        block = z[i : i + chunk] @ z.T  # (chunk, N)
        cols = torch.zeros(len(block), size).index_add_(1, cell, block)  # (chunk, size): column sums
        out.index_add_(0, cell[i : i + chunk], cols)
    return out / counts[:, None] / counts[None, :]


def sorted_sample(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Up to n positions into y, drawn at random and ordered by y (then by position), for sorted RSMs."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(y), generator=g)[:n].sort().values
    return pick[torch.argsort(y[pick], stable=True)]


def linear_cka(h1: torch.Tensor, h2: torch.Tensor) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two feature matrices of the same images.

    h1: (N, D1), h2: (N, D2). 1 for identical features; invariant to orthogonal transforms and
    isotropic scaling of either. Uses the (D1, D2) cross-covariance, never an (N, N) matrix.
    """
    x = h1.double() - h1.double().mean(0)
    y = h2.double() - h2.double().mean(0)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    norms = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(cross / norms) if norms > 0 else float("nan")  # constant features: CKA is undefined


def cka_matrix(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Linear CKA between every pair of encoders' features of the same images: (E, E), symmetric (the
    diagonal is computed too: 1 unless an encoder's features are constant, where CKA is undefined)."""
    hs = list(features.values())
    out = torch.empty(len(hs), len(hs), dtype=torch.float64)
    for i in range(len(hs)):
        for j in range(i, len(hs)):
            out[i, j] = out[j, i] = linear_cka(hs[i], hs[j])
    return out


def rsm_histogram(h: torch.Tensor, bins: int = 100, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram of the off-diagonal RSM values of h (N, D), computed chunk by chunk.

    Never holds more than (chunk, N) similarities. Returns (counts (bins,), edges (bins + 1,)) over [-1, 1].
    """
    z = F.normalize(h.float(), dim=1)
    counts = torch.zeros(bins, dtype=torch.float64)
    for i in range(0, len(z), chunk):
        block = z[i : i + chunk] @ z.T  # (chunk, N)
        rows = torch.arange(len(block))
        block[rows, rows + i] = float("nan")  # drop self-similarity
        vals = block[~block.isnan()].clamp(-1, 1)
        counts += torch.histc(vals, bins=bins, min=-1, max=1).double()
    return counts, torch.linspace(-1, 1, bins + 1)


# --- Label-free quality: the spectrum, its effective rank, alignment and uniformity ----------------

def spectrum(h: torch.Tensor) -> torch.Tensor:
    """The singular values of the feature matrix h (N, D), largest first: (min(N, D),) float64."""
    return torch.linalg.svdvals(h.double())


def rankme(h: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the singular values of h (N, D) normalised to sum to 1,
    the effective rank of Roy & Vetterli (2007). k equally strong directions give k; a rank-1 matrix gives 1; NaN
    for features that are not all finite."""
    if not torch.isfinite(h).all():
        return float("nan")  # a diverged encoder's features: no spectrum to speak of
    s = spectrum(h)
    p = s / s.sum().clamp_min(1e-300) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def participation_ratio(h: torch.Tensor) -> float:
    """The participation ratio of the features' covariance eigenvalues: (sum l)^2 / sum l^2 over h (N, D) centred
    (another effective dimensionality: k equal variances give k, one dominant direction about 1)."""
    x = h.double() - h.double().mean(0)
    var = spectrum(x) ** 2
    return float(var.sum() ** 2 / (var ** 2).sum()) if var.sum() > 0 else float("nan")


def alignment(h1: torch.Tensor, h2: torch.Tensor) -> float:
    """Alignment (Wang & Isola 2020): the mean squared distance between the L2-normalised features of two views of
    the same images, h1 and h2 (N, D); 0 for identical views, at most 4."""
    return float((F.normalize(h1.double(), dim=1) - F.normalize(h2.double(), dim=1)).pow(2).sum(1).mean())


def uniformity(h: torch.Tensor, t: float = 2.0) -> float:
    """Uniformity (Wang & Isola 2020): log of the mean of exp(-t |z_i - z_j|^2) over every pair i < j of the
    L2-normalised features of h (N, D); lower is more uniform on the sphere, 0 for features at one point."""
    z = F.normalize(h.double(), dim=1)
    d2 = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * d2, 0) - math.log(len(d2)))


# --- Factor profile: what each latent factor does to the features ---------------------------------

def binned(latent: torch.Tensor, n_values: int, bins: int) -> torch.Tensor:
    """Latent class indices 0..n_values-1 -> `bins` equal-width bins of consecutive values (unchanged if n_values <= bins)."""
    if n_values <= bins:
        return latent
    return latent * bins // n_values


def factor_pairs(latent_sizes: tuple[int, ...], factor: int | None, n: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n pairs of latent vectors (class indices) that differ in one factor only, or in every factor.

    factor: the index of the factor to change; None changes every factor with more than one value.
    The changed factor takes a different value drawn uniformly; the rest are drawn uniformly once
    per pair. Returns two (n, K) int64 tensors, to be rendered into image pairs.
    """
    sizes = torch.tensor(latent_sizes)
    a = (torch.rand(n, len(sizes), generator=generator) * sizes).long()
    changed = sizes > 1 if factor is None else torch.arange(len(sizes)) == factor
    if not (sizes[changed] > 1).all():
        raise SslabError(f"factor {factor} has a single value and cannot change")
    # An offset in 1..size-1 (mod size) always lands on a different value, uniformly.
    offset = 1 + (torch.rand(n, len(sizes), generator=generator) * (sizes - 1).clamp_min(1)).long()
    b = torch.where(changed, (a + offset) % sizes, a)
    return a, b


def invariance(h_a: torch.Tensor, h_b: torch.Tensor, ref_a: torch.Tensor, ref_b: torch.Tensor) -> float:
    """How little features change when one factor changes: 1 - E[1 - cos(h_a, h_b)] / E[1 - cos(ref_a, ref_b)].

    h_a, h_b: (n, D) features of image pairs that differ in one factor; ref_a, ref_b: features of
    pairs that differ in every factor. 1: the factor is ignored; 0: changing it moves the features as
    far as changing everything; below 0: further. Change is cosine distance, the similarity the RSMs
    show, so the score is unchanged by rotating or uniformly scaling the features. NaN when even the
    reference pairs do not move the features (a collapsed encoder): invariance is then undefined,
    not perfect.
    """
    d = (1 - F.cosine_similarity(h_a.double(), h_b.double())).mean()
    ref = (1 - F.cosine_similarity(ref_a.double(), ref_b.double())).mean()
    return float(1 - d / ref) if ref > 1e-9 else float("nan")


def umap_2d(h: torch.Tensor, seed: int = 0, n_neighbors: int = 15) -> torch.Tensor:
    """2-d UMAP coordinates of h (N, D) with the cosine metric (needs the optional umap-learn). -> (N, 2)."""
    try:
        import umap
    except ImportError as e:
        raise SslabError("UMAP needs umap-learn: pip install 'sslab[umap]'") from e
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(h) - 1), metric="cosine", random_state=seed, n_jobs=1)
    return torch.as_tensor(reducer.fit_transform(h.double().numpy()), dtype=torch.float32)
