"""Evaluation on cached, frozen features, with the scikit-learn estimator contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from sslab.i18n import N_


def as_tensor(a: torch.Tensor | np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return a.detach().to(dtype) if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a), dtype=dtype)


def finite(h: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Features a probe can fit: non-finite values (a training that diverged) set to 0, and how many rows had one."""
    bad = ~torch.isfinite(h)
    if not bad.any():
        return h, 0
    return torch.nan_to_num(h, nan=0.0, posinf=0.0, neginf=0.0), int(bad.any(1).sum())


def chance(y) -> float:
    """The majority class's share of the labels y (N,): the accuracy of always guessing it (NaN for no labels)."""
    y = as_tensor(y, torch.int64)
    return float(torch.bincount(y).max()) / len(y) if len(y) else float("nan")


class _Classifier:
    """What the probes share: predict() returns labels; score() is accuracy."""

    def predict(self, h) -> torch.Tensor:
        raise NotImplementedError

    def score(self, h, y) -> float:
        """Accuracy as a fraction in [0, 1]."""
        return float((self.predict(h) == as_tensor(y, torch.int64)).double().mean())

    def confusion(self, h, y) -> np.ndarray:
        """(C, C) counts: row = true class, column = predicted class, over the classes seen in fit."""
        import warnings

        from sklearn.metrics import confusion_matrix

        with warnings.catch_warnings():  # a single class gives a (1, 1) matrix, which is what is meant
            warnings.simplefilter("ignore", UserWarning)
            return confusion_matrix(as_tensor(y, torch.int64).numpy(), self.predict(h).numpy(),
                                    labels=self.classes_.numpy())


class LinearProbe(_Classifier):
    """Multinomial logistic regression on standardised features, fitted full-batch with L-BFGS.

    `LinearProbe().fit(h, y).score(h_test, y_test)`; h: (N, D) features, y: (N,) integer labels.
    The objective is scikit-learn's: sum of cross-entropies + ||W||^2 / (2C). Written in torch: on 16,000 x 84
    features it fits in 1.7 s, where scikit-learn's float64 solver takes 3.1 s (benchmarks/bench_probe.py).
    Wide features (D > WIDE, e.g. raw pixels) are ill-conditioned for L-BFGS (it stopped at its 500-iteration
    cap on 4,096-d dSprites pixels); there the same objective is solved in the features' row space, whitened: W = A Y with A (D, r) from the eigenvectors of the smaller
    Gram matrix, scaled so every direction has about the same curvature. The optimum of W lies in that space
    (a component orthogonal to every image only adds to the penalty), so it is the same solution. On the dSprites
    study's raw pixels (14,400 x 4,096) it converged in 376 iterations and 128 s, where the plain solve stopped
    at its 500-iteration cap after 185 s (2-core AMD EPYC, fp32); on synthetic correlated features 12-18
    iterations against 246-394 (tests/test_probes.py).
    """

    WIDE = 512  # features wider than this are solved in their whitened row space

    def __init__(self, C: float = 1.0, max_iter: int = 500):
        self.C, self.max_iter = C, max_iter

    def fit(self, h, y) -> "LinearProbe":
        """Fit on features h (N, D) and labels y (N,). Sets converged_ (False when L-BFGS stopped at
        max_iter with the gradient still above tolerance) and n_iter_; with a single class there is
        nothing to fit, and the probe predicts that class."""
        h, y = as_tensor(h), as_tensor(y, torch.int64)
        self.classes_, y = torch.unique(y, return_inverse=True)
        self.mean_, self.std_ = h.mean(0), h.std(0).clamp_min(1e-6)
        h = (h - self.mean_) / self.std_
        n, d = h.shape
        k = len(self.classes_)
        if k < 2:
            self.coef_, self.intercept_, self.n_iter_, self.converged_ = torch.zeros(d, k), torch.zeros(k), 0, True
            return self
        a, scale = _whitening(h, self.C) if d > self.WIDE else (None, None)
        f = h if a is None else h @ a  # (N, D) or (N, r): the features the solver sees
        w = torch.zeros(f.shape[1], k, requires_grad=True)
        b = torch.zeros(k, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=self.max_iter, history_size=20,
                                tolerance_grad=1e-6, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:  # per-sample mean, so the L2 term is divided by N
            opt.zero_grad()
            penalty = (w * w).sum() if scale is None else ((scale[:, None] * w) ** 2).sum()  # = ||W||^2 either way
            loss = F.cross_entropy(f @ w + b, y) + penalty / (2 * self.C * n)
            loss.backward()
            return loss

        opt.step(objective)
        self.coef_ = w.detach() if a is None else a @ w.detach()
        self.intercept_ = b.detach()
        state = opt.state[opt._params[0]]
        self.n_iter_ = int(state.get("n_iter", 0))
        # L-BFGS stops on a small gradient or change (converged), or on its iteration or evaluation cap.
        self.converged_ = self.n_iter_ < self.max_iter and state.get("func_evals", 0) < opt.defaults["max_eval"]
        return self

    def decision_function(self, h) -> torch.Tensor:
        return ((as_tensor(h) - self.mean_) / self.std_) @ self.coef_ + self.intercept_

    def predict(self, h) -> torch.Tensor:
        return self.classes_[self.decision_function(h).argmax(1)]


def _whitening(h: torch.Tensor, C: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A (D, r) with h A well conditioned for the probe's objective, and s (r,) with ||A Y|| = ||s[:, None] Y||.

    From h = U S V^T (via the eigenvalues of the smaller Gram matrix): A = V diag(p / S), so h A = U diag(p),
    with p_i = 1 / sqrt(1/4 + 1 / (C S_i^2)): each direction's curvature, the data term's (at most 1/4) plus the
    penalty's (1 / (C S_i^2)), is brought to about 1. Directions with S_i below 1e-6 of the largest are dropped.
    """
    n, d = h.shape
    h64 = h.double()
    if n >= d:
        eig, v = torch.linalg.eigh(h64.T @ h64)  # (D,), (D, D): V and S^2
    else:
        eig, u = torch.linalg.eigh(h64 @ h64.T)  # (N,), (N, N): U and S^2; V = h^T U / S
        v = None
    keep = eig > eig.max() * 1e-12
    s = eig[keep].sqrt()
    v = v[:, keep] if v is not None else (h64.T @ u[:, keep]) / s
    p = 1 / (0.25 + 1 / (C * s * s)).sqrt()
    return (v * (p / s)).float(), (p / s).float()


class SGDProbe(_Classifier):
    """A Linear(D, k) layer trained by minibatch gradient descent: the teaching material's own probes.

    optimizer "adam" or "adamw"; schedule "cosine" (CosineAnnealingLR with t_max, stepped per epoch)
    or "step" (the learning rate x0.1 at each epoch in milestones); standardise: scale the features
    to zero mean and unit variance first (the L-BFGS probe does; the tutorial's classifier does not).
    Minibatches are drawn from a generator seeded with `seed`, so a fit is repeatable.
    """

    def __init__(self, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str = "adamw", schedule: str = "step", milestones: tuple[int, ...] = (60, 80),
                 t_max: int = 100, standardise: bool = False, seed: int = 0):
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.optimizer, self.schedule, self.milestones, self.t_max = optimizer, schedule, milestones, t_max
        self.standardise, self.seed = standardise, seed

    def fit(self, h, y, encode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> "SGDProbe":
        """encode: h are inputs (e.g. images) and every minibatch is encoded again, as the tutorials did
        (`sslab bench` compares that with fitting on cached features); no standardisation then."""
        self.classes_, y = torch.unique(as_tensor(y, torch.int64), return_inverse=True)
        self.mean_, self.std_ = 0.0, 1.0
        if encode is None:
            h = as_tensor(h)
            if self.standardise:
                self.mean_, self.std_ = h.mean(0), h.std(0).clamp_min(1e-6)
            h, encode = (h - self.mean_) / self.std_, (lambda b: b)
        elif self.standardise:
            raise ValueError("standardise needs the features up front, not encoded per batch")
        g = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):  # the layer's initialisation, from the probe's own seed
            torch.manual_seed(self.seed)
            self.linear_ = torch.nn.Linear(encode(h[:1]).shape[1], len(self.classes_))
        opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[self.optimizer]
        opt = opt_cls(self.linear_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.t_max) if self.schedule == "cosine"
                 else torch.optim.lr_scheduler.MultiStepLR(opt, list(self.milestones), gamma=0.1))
        for _ in range(self.epochs):
            perm = torch.randperm(len(h), generator=g)
            for i in range(0, len(h), self.batch_size):
                batch = perm[i : i + self.batch_size]
                loss = F.cross_entropy(self.linear_(encode(h[batch])), y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        self.linear_.requires_grad_(False)
        return self

    def decision_function(self, h) -> torch.Tensor:
        return self.linear_((as_tensor(h) - self.mean_) / self.std_)

    def predict(self, h) -> torch.Tensor:
        return self.classes_[self.decision_function(h).argmax(1)]


# The linear probes a study can use (`--probe`): name -> (C -> a fresh probe).
PROBES: dict[str, Callable[[float], _Classifier]] = {
    # Multinomial logistic regression fitted to convergence (the default; C is its inverse L2 strength).
    "lbfgs": lambda C: LinearProbe(C=C),
    # The Neuromatch tutorial's classifier: unstandardised features, Adam 1e-3, cosine over T_max 100 epochs
    # (stepped per epoch), batch 1000, 25 epochs.
    "tutorial": lambda C: SGDProbe(epochs=25, batch_size=1000, lr=1e-3, optimizer="adam", schedule="cosine", t_max=100),
    # The UvA SimCLR tutorial's logistic regression: AdamW 1e-3, wd 1e-3, batch 64, 100 epochs, x0.1 at 60 and 80.
    "uva": lambda C: SGDProbe(epochs=100, batch_size=64, lr=1e-3, weight_decay=1e-3, optimizer="adamw",
                              schedule="step", milestones=(60, 80)),
}


DESCRIPTIONS = {  # for the report
    "lbfgs": N_("multinomial logistic regression on standardised features, fitted to convergence by L-BFGS"),
    "tutorial": N_("the Neuromatch tutorial's classifier: a linear layer on unstandardised features, Adam lr 1e-3, "
                "cosine schedule (T_max 100), batch 1000, 25 epochs"),
    "uva": N_("the UvA SimCLR tutorial's logistic regression: AdamW lr 1e-3, weight decay 1e-3, batch 64, 100 epochs, "
           "learning rate x0.1 at epochs 60 and 80"),
}


class KNNProbe(_Classifier):
    """Weighted k-nearest-neighbour classifier on cosine similarity (the InstDisc protocol, Wu et al. 2018).

    Each of the k most similar training images votes for its label with weight exp(sim / temperature).
    `KNNProbe().fit(h, y).score(h_test, y_test)`; nothing is learned, fit stores normalised features.
    """

    def __init__(self, k: int = 20, temperature: float = 0.07, chunk: int = 1024):
        self.k, self.temperature, self.chunk = k, temperature, chunk

    def fit(self, h, y) -> "KNNProbe":
        self.classes_, self.y_ = torch.unique(as_tensor(y, torch.int64), return_inverse=True)
        self.h_ = F.normalize(as_tensor(h), dim=1)
        return self

    def predict(self, h) -> torch.Tensor:
        h = F.normalize(as_tensor(h), dim=1)
        k = min(self.k, len(self.h_))
        out = []
        for i in range(0, len(h), self.chunk):  # (chunk, N_train) similarities at a time
            sim, idx = (h[i : i + self.chunk] @ self.h_.T).topk(k, dim=1)
            votes = torch.zeros(len(sim), len(self.classes_))
            votes.scatter_add_(1, self.y_[idx], torch.exp(sim / self.temperature))
            out.append(votes.argmax(1))
        return self.classes_[torch.cat(out)] if out else self.classes_[:0]


def label_curve(h, y, subsets: dict, h_test, y_test, probe: Callable[[], _Classifier] = LinearProbe) -> dict:
    """Test accuracy of a fresh probe fitted on each labelled subset: {key: accuracy}.

    subsets: {key (e.g. a label fraction): positions into h (N, D) and y (N,)}; the same subsets
    for every encoder make the curves comparable.
    """
    h, y = as_tensor(h), as_tensor(y, torch.int64)
    return {key: probe().fit(h[idx], y[idx]).score(h_test, y_test) for key, idx in subsets.items()}
