"""Metric math against closed forms and hand-computed values (no network)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from audiox.errors import InputError
from audiox.evaluation import distances as d
from audiox.evaluation import metrics


def rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


def random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.standard_normal((dim, dim))
    return a @ a.T + 0.1 * np.eye(dim)


# ---- Fréchet distance ---------------------------------------------------------------------------------------------
# Closed form (Dowson & Landau 1982; Olkin & Pukelsheim 1982):
# FD = |mu1-mu2|^2 + tr S1 + tr S2 - 2 tr (S1^1/2 S2 S1^1/2)^1/2.
# Tolerance 1e-6 relative (the bar); the float64 routes measured within 1e-15 on these well-conditioned inputs.

def test_fd_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    # commuting (diagonal) covariances: the cross term is sum sqrt(a_i b_i), so FD = |dmu|^2 + sum (sqrt a - sqrt b)^2
    expected = 1.0 + 0.0 + 6.25 + (1 - 3) ** 2 + (2 - 1) ** 2 + 0.0
    for method in ("eig", "sqrtm"):
        got = d.frechet_distance_gaussian(mu1, np.diag(a), mu2, np.diag(b), method=method)
        assert got == pytest.approx(expected, rel=1e-6)


def test_fd_non_commuting_2x2_analytic():
    # For a 2x2 PSD matrix M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) (Cayley-Hamilton on sqrt(M)); with
    # M = S1^1/2 S2 S1^1/2: tr M = tr(S1 S2), det M = det S1 det S2. No matrix square root is involved.
    s1 = rotation(0.3) @ np.diag([4.0, 0.5]) @ rotation(0.3).T
    s2 = rotation(1.1) @ np.diag([2.0, 0.1]) @ rotation(1.1).T
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = np.array([0.5, -1.0]), np.array([0.0, 2.0])
    cross = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)
    for method in ("eig", "sqrtm"):
        assert d.frechet_distance_gaussian(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-6)


def test_fd_constructed_cross_term_and_scipy_route():
    # S2 = S1^-1/2 P^2 S1^-1/2 from known factors, so S1^1/2 S2 S1^1/2 = P^2 and the cross term is tr P exactly.
    rng = np.random.default_rng(0)
    dim = 6
    q1, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    q2, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    lam, p_eig = np.linspace(0.5, 3.0, dim), np.linspace(0.2, 2.0, dim)
    s1 = q1 @ np.diag(lam) @ q1.T
    inv_root = q1 @ np.diag(lam**-0.5) @ q1.T
    p = q2 @ np.diag(p_eig) @ q2.T
    s2 = inv_root @ p @ p @ inv_root
    mu = np.zeros(dim)
    expected = float(np.trace(s1) + np.trace(s2) - 2 * p_eig.sum())
    assert d.frechet_distance_gaussian(mu, s1, mu, s2) == pytest.approx(expected, rel=1e-6)
    # Independent route at D=16: scipy's Schur sqrtm of S1^1/2 S2 S1^1/2 (symmetric, computed by scipy throughout).
    a, b = random_spd(rng, 16), random_spd(rng, 16)
    ra = scipy.linalg.sqrtm(a).real
    ref = float(np.trace(a) + np.trace(b) - 2 * np.trace(scipy.linalg.sqrtm(ra @ b @ ra).real))
    m0 = np.zeros(16)
    assert d.frechet_distance_gaussian(m0, a, m0, b, method="eig") == pytest.approx(ref, rel=1e-6)
    assert d.frechet_distance_gaussian(m0, a, m0, b, method="sqrtm") == pytest.approx(ref, rel=1e-6)


def test_fd_embedding_routes_agree_and_identical_sets_are_zero():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 12))
    y = 0.5 * rng.standard_normal((200, 12)) + 0.3
    svd, eig, sq = (d.frechet_distance(x, y, method=m) for m in ("svd", "eig", "sqrtm"))
    # three routes to one number: agreement to 1e-9 relative (float64 rounding ~1e-13 times condition numbers)
    assert eig == pytest.approx(svd, rel=1e-9) and sq == pytest.approx(svd, rel=1e-9)
    for m in ("svd", "eig", "sqrtm"):
        # FD(x, x): the terms cancel to rounding, ~1e-12 of tr S_x (about 1e2 here)
        assert d.frechet_distance(x, x, method=m) == pytest.approx(0.0, abs=1e-8)
    # 1-D (D=1): FD = (mu1-mu2)^2 + (sd1-sd2)^2 with unbiased sds
    a, b = rng.standard_normal((50, 1)), 3 + 2 * rng.standard_normal((80, 1))
    closed = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert d.frechet_distance(a, b) == pytest.approx(closed, rel=1e-9)
    # singular covariances (N < D) are fine on the svd route, and torch input works the same as numpy
    small = torch.randn(5, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert d.frechet_distance(small, small) == pytest.approx(0.0, abs=1e-9)
    assert metrics.frechet_distance(x, y) == svd  # the SynthBench name delegates here


def test_fd_refusals():
    s = np.eye(2)
    with pytest.raises(InputError, match="positive semi-definite"):
        d.frechet_distance_gaussian(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), s)
    with pytest.raises(InputError, match="cov2"):
        d.frechet_distance_gaussian(np.zeros(2), s, np.zeros(2), np.eye(3))
    with pytest.raises(ValueError):  # InputError is a ValueError; metrics' callers expect that
        d.frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    # a rounding-level negative eigenvalue is clipped, not refused
    w, _ = d.clipped_eigvalsh(np.diag([1.0, -1e-12]))
    assert w.min() == 0.0


# ---- Kernel distance ----------------------------------------------------------------------------------------------

def test_kad_identical_sets_exact_value():
    # With X = Y (the same N points), the unbiased estimator is 2 S/(N(N-1)) - 2 (S + N)/N^2 = 2 S/(N^2 (N-1)) - 2/N,
    # S = sum_{i != j} k(x_i, x_j): exactly computable, <= 0, and 0 only if all points coincide.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3))
    h = 1.3
    k = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * h * h))
    n = len(x)
    s = k.sum() - n
    expected = 2 * s / (n * n * (n - 1)) - 2 / n
    assert d.kernel_distance(x, x, bandwidth=h) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert -2 / n <= expected <= 0
    assert d.kernel_distance(np.zeros((3, 2)), np.zeros((4, 2)), bandwidth=1.0) == 0.0


def test_kad_hand_example_and_bandwidth_rule():
    # 1-D, x = {0, 1}, y = {2, 4}, h = 1 (k = exp(-d^2/2)):
    # xx = k(0,1) = e^-0.5; yy = k(2,4) = e^-2;
    # xy = mean(k(0,2), k(0,4), k(1,2), k(1,4)) = (e^-2 + e^-8 + e^-0.5 + e^-4.5) / 4
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [4.0]])
    e = math.exp
    expected = e(-0.5) + e(-2) - 2 * (e(-2) + e(-8) + e(-0.5) + e(-4.5)) / 4
    assert d.kernel_distance(x, y, bandwidth=1.0) == pytest.approx(expected, rel=1e-12)
    # the pooled median heuristic: distances of {0, 1, 2, 4} are 1, 2, 4, 1, 3, 2 -> median 2
    assert d.median_pairwise_distance(np.concatenate([x, y])) == 2.0
    assert d.kernel_distance(x, y) == pytest.approx(d.kernel_distance(x, y, bandwidth=2.0), rel=1e-15)
    with pytest.raises(InputError, match="bandwidth"):
        d.kernel_distance(x, y, bandwidth=0.0)


def test_kad_gaussians_population_value():
    # X ~ N(0, I_2), Y ~ N((1, 0), I_2), h = 1: E k = (h^2 / (h^2 + 2))^(D/2) = 1/3 within a set and
    # (1/3) exp(-|dmu|^2 / (2 (h^2 + 2))) across, so MMD^2 = (2/3)(1 - e^(-1/6)) = 0.10235.
    # Estimator std measured over 60 seeds at N = M = 500: 0.0147, so ~0.0104 at 1000; tolerance 0.04 is ~4 std.
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)) + np.array([1.0, 0.0])
    expected = 2 / 3 * (1 - math.exp(-1 / 6))
    assert d.kernel_distance(x, y, bandwidth=1.0) == pytest.approx(expected, abs=0.04)
    same = d.kernel_distance(x, rng.standard_normal((1000, 2)), bandwidth=1.0)
    assert abs(same) < 0.04


# ---- KL ------------------------------------------------------------------------------------------------------------

def test_kl_identical_is_zero_and_hand_example():
    rng = np.random.default_rng(3)
    logits = {f"clip{i}": rng.standard_normal(5) for i in range(4)}
    for variant in ("softmax", "sigmoid", "bernoulli"):
        assert d.paired_kl(logits, logits, variant=variant, eps=0.0) == pytest.approx(0.0, abs=1e-12)
        # with the default eps = 1e-6: sum_c p log(p / (p + eps)) ~ -eps * (number of terms), <= 2 * 5 * 1e-6
        assert abs(d.paired_kl(logits, logits, variant=variant)) <= 2 * 5 * d.KL_EPS
    # 2 classes, probabilities given: p_ref = (0.8, 0.2), p_gen = (0.5, 0.5):
    # KL(p_ref || p_gen) = 0.8 ln 1.6 + 0.2 ln 0.4 = 0.19274 nats
    ref, gen = {"a": np.array([0.8, 0.2])}, {"a": np.array([0.5, 0.5])}
    expected = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert d.paired_kl(ref, gen, probabilities=True, eps=0.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.19274, abs=1e-5)
    # the same from logits: softmax([ln 4, 0]) = (0.8, 0.2), softmax([0, 0]) = (0.5, 0.5)
    assert d.paired_kl({"a": [math.log(4), 0.0]}, {"a": [0.0, 0.0]}, eps=0.0) == pytest.approx(expected, rel=1e-12)
    # sigmoid (AudioLDM-eval's KL_Sigmoid): positive-class terms only; bernoulli adds the (1 - p) terms.
    # one class, logit ln 4 -> p = 0.8 against logit 0 -> q = 0.5
    one_ref, one_gen = {"a": [math.log(4)]}, {"a": [0.0]}
    assert d.paired_kl(one_ref, one_gen, variant="sigmoid", eps=0.0) == pytest.approx(0.8 * math.log(1.6), rel=1e-12)
    assert d.paired_kl(one_ref, one_gen, variant="bernoulli", eps=0.0) == pytest.approx(expected, rel=1e-12)
    # averaged over pairs, in the direction KL(ref || gen)
    two = d.paired_kl({"a": [0.8, 0.2], "b": [0.5, 0.5]}, {"a": [0.5, 0.5], "b": [0.5, 0.5]}, probabilities=True,
                      eps=0.0)
    assert two == pytest.approx(expected / 2, rel=1e-12)
    back = d.paired_kl(gen, ref, probabilities=True, eps=0.0)  # KL((.5,.5) || (.8,.2)) = 0.5 ln(0.625) + 0.5 ln(2.5)
    assert back == pytest.approx(0.5 * math.log(0.625) + 0.5 * math.log(2.5), rel=1e-12) and back != expected


def test_kl_refuses_unpaired_names():
    ref = {"a": [0.0, 1.0], "b": [1.0, 0.0]}
    with pytest.raises(InputError, match=r"reference \['b'\].*generated \['c'\]"):
        d.paired_kl(ref, {"a": [0.0, 1.0], "c": [1.0, 0.0]})
    with pytest.raises(InputError, match="variant"):
        d.paired_kl(ref, ref, variant="softmax2")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="probabilities"):
        d.paired_kl(ref, {"a": [0.0, 1.0], "b": [2.0, 0.0]}, probabilities=True)


# ---- Inception Score ---------------------------------------------------------------------------------------------

def test_inception_score_limits():
    # uniform classifier: p(y|x) = p(y), every KL is 0, IS = e^0 = 1 exactly (up to log rounding)
    mean, std = d.inception_score(np.full((100, 7), 1 / 7), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # confident classifier, K classes used equally within each split: KL = ln K for every row, IS = K
    k = 5
    probs = np.eye(k)[np.arange(100) % k]
    mean, std = d.inception_score(probs, splits=4)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # a hand example with one split: rows (1, 0) and (0.5, 0.5), marginal (0.75, 0.25):
    # KL_1 = ln(4/3), KL_2 = 0.5 ln(2/3) + 0.5 ln 2, IS = exp of their mean
    hand = math.exp((math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2)
    assert d.inception_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)[0] == pytest.approx(hand, rel=1e-12)
    # splits: the halves score 1 (uniform) and 2 (confident, two classes): mean 1.5, population std 0.5
    halves = np.concatenate([np.full((4, 2), 0.5), np.eye(2)[[0, 1, 0, 1]]])
    assert d.inception_score(halves, splits=2) == pytest.approx((1.5, 0.5), rel=1e-12)
    with pytest.raises(InputError, match="splits"):
        d.inception_score(np.full((3, 2), 0.5), splits=4)


# ---- CLAP score, onset AP -----------------------------------------------------------------------------------------

def test_clap_score():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    t = np.array([[2.0, 0.0], [0.0, -1.0], [1.0, 0.0]])  # cosines 1, -1, 1/sqrt(2)
    expected = (1 - 1 + 1 / math.sqrt(2)) / 3
    assert d.clap_score(a, t) == pytest.approx(expected, rel=1e-12)
    assert d.clap_score(a, t, percent=True) == pytest.approx(100 * expected, rel=1e-12)
    with pytest.raises(InputError, match="rows"):
        d.clap_score(a, t[:2])


def test_onset_average_precision():
    ref = [0.5, 1.0, 1.5]
    assert d.onset_average_precision(ref, [1.0, 1.0, 1.0], ref) == 1.0
    # ranked: 1.02 (hit, P=1/1), 3.0 (miss), 0.55 (hit, P=2/3); 1.5 never found -> AP = (1 + 2/3) / 3
    ap = d.onset_average_precision([0.55, 1.02, 3.0], [0.2, 0.9, 0.5], ref)
    assert ap == pytest.approx((1 + 2 / 3) / 3, rel=1e-12)
    # each reference onset matches once: a duplicate detection is a false positive
    assert d.onset_average_precision([0.5, 0.52], [1.0, 0.5], [0.5]) == 1.0
    assert d.onset_average_precision([], [], []) == 1.0 and d.onset_average_precision([], [], ref) == 0.0
    with pytest.raises(InputError, match="strength"):
        d.onset_average_precision([0.5], [], ref)


# ---- cross-checks against an independent published implementation (torchmetrics 1.9, installed with Lightning) ----
# torchmetrics computes FID's trace term from the eigenvalues of sigma1 @ sigma2 in float64 (its
# ``_compute_fid``), a route other than ours (SVD / eig of the symmetrised product / scipy's sqrtm); both are
# exact for SPD inputs, so they agree to float64 rounding scaled by the condition number: 1e-9 relative is a
# wide bound for these 16-dimensional, well-conditioned covariances (measured agreement ~1e-13).
def test_fd_matches_torchmetrics_fid_formula():
    from torchmetrics.image.fid import _compute_fid

    rng = np.random.default_rng(7)
    for _ in range(3):
        x, y = rng.standard_normal((400, 16)), 0.5 * rng.standard_normal((300, 16)) @ rng.standard_normal((16, 16))
        mu1, s1 = d.gaussian_stats(x)
        mu2, s2 = d.gaussian_stats(y)
        ref = float(_compute_fid(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2))))
        for method in ("svd", "eig", "sqrtm"):
            assert d.frechet_distance(x, y, method=method) == pytest.approx(ref, rel=1e-9)


# torchmetrics' InceptionScore with splits=1 (no shuffling then) on a feature module that returns fixed logits:
# its softmax and KL run in float32, so agreement is float32 rounding over K=10 classes and 64 rows (bound 1e-5).
@pytest.mark.filterwarnings("ignore:std\\(\\)")  # splits=1: its std over one part
def test_inception_score_matches_torchmetrics():
    from torchmetrics.image.inception import InceptionScore

    g = torch.Generator().manual_seed(3)
    logits = 3.0 * torch.randn(64, 10, generator=g)

    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return logits[x[:, 0, 0, 0].long()]

    metric = InceptionScore(feature=Fixed(), splits=1)
    index = torch.arange(64, dtype=torch.uint8)[:, None, None, None].expand(64, 3, 2, 2).contiguous()
    metric.update(index)
    ref_mean, _ = metric.compute()
    ours, _ = d.inception_score(torch.softmax(logits.double(), 1).numpy(), splits=1)
    assert ours == pytest.approx(float(ref_mean), rel=1e-5)


# ---- beat alignment score ----------------------------------------------------------------------------------------
# BAS = mean over reference beats of exp(-min_g (g - r)^2 / (2 sigma^2)); sigma = 0.05 s.
def test_beat_align_score_closed_form():
    ref = [0.5, 1.0, 1.5, 2.0]
    assert d.beat_align_score(ref, ref) == 1.0
    # every beat 0.03 s late: each term is exp(-0.03^2 / (2 * 0.05^2)) = exp(-0.18)
    assert d.beat_align_score(ref, [t + 0.03 for t in ref]) == pytest.approx(math.exp(-0.18), rel=1e-12)
    # one generated beat at 0.6: nearest distances 0.1, 0.4, 0.9, 1.4 (sigma^2 = 0.0025)
    expected = sum(math.exp(-x * x / 0.005) for x in (0.1, 0.4, 0.9, 1.4)) / 4
    assert d.beat_align_score(ref, [0.6]) == pytest.approx(expected, rel=1e-12)
    # direction: extra generated beats cost nothing, missing ones do
    assert d.beat_align_score([1.0], [0.2, 1.0, 3.7]) == 1.0
    assert d.beat_align_score([0.2, 1.0], [1.0]) == pytest.approx((math.exp(-0.64 / 0.005) + 1) / 2, rel=1e-12)
    assert d.beat_align_score(ref, [t + 0.05 for t in ref], sigma=0.1) == pytest.approx(math.exp(-0.125))
    assert d.beat_align_score([], []) == 1.0 and d.beat_align_score(ref, []) == 0.0
    assert d.beat_align_score([], ref) == 0.0
    with pytest.raises(InputError, match="sigma"):
        d.beat_align_score(ref, ref, sigma=0.0)
