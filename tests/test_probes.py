import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sslab.probes import PROBES, LinearProbe, SGDProbe, finite


def blobs(n=600, d=10, n_classes=3, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, d, generator=g) * 3
    y = torch.arange(n) % n_classes
    return centres[y] + spread * torch.randn(n, d, generator=g), y


def test_probe_separates_separable_data():
    h, y = blobs()
    probe = LinearProbe().fit(h[:400], y[:400])
    assert probe.coef_.shape == (10, 3) and probe.converged_
    assert probe.score(h[:400], y[:400]) == 1.0
    assert probe.score(h[400:], y[400:]) == 1.0


def test_probe_is_at_chance_on_noise():
    g = torch.Generator().manual_seed(0)
    h, y = torch.randn(3000, 5, generator=g), torch.randint(0, 3, (3000,), generator=g)
    probe = LinearProbe().fit(h[:2000], y[:2000])
    assert abs(probe.score(h[2000:], y[2000:]) - 1 / 3) < 0.05


def test_probe_matches_scikit_learn_objective():
    h, y = blobs(spread=3.0, seed=1)
    ours = LinearProbe(C=0.5).fit(h, y)
    ref = LogisticRegression(C=0.5, max_iter=2000, tol=1e-8).fit(StandardScaler().fit_transform(h.numpy()), y.numpy())
    agree = (ours.predict(h).numpy() == ref.predict(StandardScaler().fit_transform(h.numpy()))).mean()
    assert agree > 0.99
    assert np.allclose(ours.coef_.numpy().T - ours.coef_.numpy().T.mean(0), ref.coef_ - ref.coef_.mean(0), atol=2e-2)


@pytest.mark.parametrize("n", [250, 900])  # fewer images than features (the N x N Gram), and more
def test_wide_features_reach_the_same_optimum_in_their_whitened_row_space(n):
    """Features wider than LinearProbe.WIDE (raw pixels) are solved as W = A Y: the same objective's optimum as
    scikit-learn's float64 L-BFGS (n=250) and as the plain solve run to convergence (n=900, where scikit-learn
    needs 40 s), in a small fraction of the plain solve's iterations."""
    g = torch.Generator().manual_seed(0)
    d, y = 560, torch.arange(n) % 3
    basis = torch.randn(30, d, generator=g)  # correlated pixels: a few directions of very unequal scales
    h = (torch.randn(n, 30, generator=g) * torch.logspace(0, -3, 30)) @ basis + 0.01 * torch.randn(n, d, generator=g)
    h[:, :5] += y[:, None].float() * 0.05  # a weak signal in a few raw features
    wide = LinearProbe(C=1.0).fit(h, y)
    plain = LinearProbe(C=1.0)
    plain.WIDE = 10**9
    plain.fit(h, y)
    assert wide.converged_ and plain.converged_ and wide.n_iter_ * 5 < plain.n_iter_
    if n == 250:
        x = StandardScaler().fit_transform(h.numpy().astype(np.float64))
        ref = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(x, y.numpy())
        reference, predicted = ref.coef_, ref.predict(x)
    else:
        reference, predicted = plain.coef_.numpy().T, plain.predict(h).numpy()
    assert (wide.predict(h).numpy() == predicted).mean() > 0.99
    centred = lambda c: c - c.mean(0)  # noqa: E731 -- multinomial weights are defined up to a shift
    ours, theirs = centred(wide.coef_.numpy().T.astype(np.float64)), centred(reference)
    assert np.linalg.norm(ours - theirs) <= 0.01 * np.linalg.norm(theirs)


def test_probe_keeps_label_values_and_accepts_numpy():
    h, y = blobs(n_classes=2)
    labels = np.where(y.numpy() == 0, 7, 11)
    probe = LinearProbe().fit(h.numpy(), labels)
    assert set(probe.predict(h).tolist()) == {7, 11}
    assert probe.score(h.numpy(), labels) == pytest.approx(1.0)


def test_knn_probe_on_separable_data_and_votes():
    from sslab.probes import KNNProbe

    h, y = blobs()
    knn = KNNProbe(k=20).fit(h[:400], y[:400])
    assert knn.score(h[400:], y[400:]) == 1.0
    # Similarity-weighted votes: one very close neighbour outweighs two far ones.
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    knn = KNNProbe(k=3, temperature=0.07).fit(train, torch.tensor([5, 9, 9]))
    assert knn.predict(torch.tensor([[1.0, 0.05]])).tolist() == [5]
    assert KNNProbe(k=3, temperature=100.0).fit(train, torch.tensor([5, 9, 9])).predict(torch.tensor([[1.0, 0.05]])).tolist() == [9]


def test_confusion_matrix_rows_are_true_classes():
    from sslab.probes import KNNProbe

    h, y = blobs()
    for probe in (LinearProbe(), KNNProbe()):
        m = probe.fit(h[:400], y[:400]).confusion(h[400:], y[400:])
        assert m.shape == (3, 3) and m.sum() == 200
        assert (m == np.diag(np.bincount(y[400:].numpy()))).all()  # separable: everything on the diagonal
    # A probe that always says class 0 puts every row's count in column 0.
    probe = LinearProbe().fit(h[:400], y[:400])
    probe.predict = lambda h: torch.zeros(len(h), dtype=torch.int64)
    m = probe.confusion(h[400:], y[400:])
    assert (m[:, 1:] == 0).all() and m[:, 0].tolist() == np.bincount(y[400:].numpy()).tolist()


def test_label_curve_rises_with_labels():
    from sslab.data.splits import label_fraction
    from sslab.probes import label_curve

    h, y = blobs(n=3000, spread=2.5)  # overlapping classes: more labels help
    subsets = {f: label_fraction(y[:2000], f, seed=0) for f in (0.005, 0.05, 1.0)}
    curve = label_curve(h[:2000], y[:2000], subsets, h[2000:], y[2000:])
    assert list(curve) == [0.005, 0.05, 1.0]
    assert curve[1.0] == LinearProbe().fit(h[:2000], y[:2000]).score(h[2000:], y[2000:])
    assert curve[1.0] >= curve[0.005]


def test_probe_reports_non_convergence_and_a_single_class():
    h, y = blobs(spread=3.0)
    capped = LinearProbe(max_iter=3).fit(h, y)
    assert not capped.converged_ and capped.n_iter_ <= 3
    one = LinearProbe().fit(h, torch.zeros(len(h), dtype=torch.int64))
    assert len(one.classes_) == 1 and one.converged_ and one.predict(h[:5]).tolist() == [0] * 5


@pytest.mark.parametrize("name", list(PROBES))
def test_every_probe_separates_separable_data_and_repeats(name):
    n = 16_000 if name == "tutorial" else 400  # 25 epochs of batch 1000 need the tutorial's 16,000 images
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g) * 4
    y = torch.arange(n + 200) % 3
    h = centres[y] + torch.randn(n + 200, 16, generator=g)
    probe = PROBES[name](1.0).fit(h[:n], y[:n] + 5)  # label values are kept
    assert probe.score(h[n:], y[n:] + 5) > 0.95
    assert torch.equal(probe.predict(h[n:]), PROBES[name](1.0).fit(h[:n], y[:n] + 5).predict(h[n:]))


def test_sgd_probe_schedules_follow_the_tutorials():
    h, y = torch.randn(100, 4), torch.arange(100) % 2
    uva = PROBES["uva"](1.0)
    assert (uva.epochs, uva.batch_size, uva.weight_decay, uva.milestones) == (100, 64, 1e-3, (60, 80))
    tut = PROBES["tutorial"](1.0).fit(h, y)
    assert (tut.optimizer, tut.schedule, tut.t_max, tut.batch_size, tut.standardise) == ("adam", "cosine", 100, 1000, False)
    assert tut.mean_ == 0.0  # unstandardised features, as the tutorial's classifier
    std = SGDProbe(epochs=1, standardise=True).fit(h * 10 + 3, y)
    assert torch.allclose(std.mean_, (h * 10 + 3).mean(0))


def test_finite_zeroes_what_a_diverged_encoder_gave_and_counts_its_rows():
    h = torch.ones(4, 3)
    assert finite(h)[0] is h and finite(h)[1] == 0
    h[1, 0], h[1, 2], h[3, 1] = float("nan"), float("inf"), -float("inf")
    clean, n = finite(h)
    assert n == 2 and torch.equal(clean, torch.tensor([[1.0, 1, 1], [0, 1, 0], [1, 1, 1], [1, 0, 1]]))
