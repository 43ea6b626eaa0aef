"""Metric math on embeddings and classifier outputs, independent of any network.

Fréchet distance, kernel distance (KAD / MMD^2), paired KL divergence, Inception Score, CLAP-style cosine score,
onset average precision and the beat alignment score. Inputs are ``(N, D)`` arrays or tensors (numpy or torch);
everything is computed in float64 and returned as plain floats. scipy is imported only by the ``"sqrtm"`` route of
the Fréchet distance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from audiox.errors import InputError

ArrayLike = torch.Tensor | np.ndarray
KL_EPS = 1e-6  # added to the generated probability inside the log, as AudioLDM-eval does
BEAT_ALIGN_SIGMA_S = 0.05  # 3 frames at 60 fps, the dance-to-music papers' sigma (Bailando's BA: 2 sigma^2 = 18)


def _f64(x: ArrayLike | Sequence[float], name: str, dims: int) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if a.ndim != dims:
        raise InputError(f"{name}: expected {dims} dimensions, got shape {tuple(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name}: contains NaN or inf")
    return a


def _pair(x: ArrayLike, y: ArrayLike, names: tuple[str, str], min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    a, b = _f64(x, names[0], 2), _f64(y, names[1], 2)
    if a.shape[1] != b.shape[1] or a.shape[0] < min_rows or b.shape[0] < min_rows:
        raise InputError(f"{names[0]}, {names[1]}: need (N>={min_rows}, D) and (M>={min_rows}, D), "
                         f"got {a.shape}, {b.shape}")
    return a, b


# ---------------------------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------------------------

def clipped_eigvalsh(m: np.ndarray, name: str = "matrix") -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric positive semi-definite matrix, with rounding negatives set to 0.

    Rule: the matrix is symmetrised, ``(M + M^T) / 2``. An eigenvalue in ``[-tol, 0)`` becomes 0, with
    ``tol = sqrt(eps64) * max|w|`` (about ``1.5e-8`` relative): a symmetric eigensolver's error is of order
    ``D * eps64 * ||M||``, far below that for any embedding size in use. An eigenvalue below ``-tol`` means the matrix
    is not a covariance, and is refused.

    Args:
        m: ``(D, D)`` symmetric PSD matrix.
        name: how errors name it.

    Returns:
        ``(w (D,), V (D, D))`` with ``M = V diag(w) V^T`` and ``w >= 0``.
    """
    w, v = np.linalg.eigh((m + m.T) / 2)
    tol = np.sqrt(np.finfo(np.float64).eps) * max(float(np.abs(w).max(initial=0.0)), np.finfo(np.float64).tiny)
    if w.size and float(w.min()) < -tol:
        raise InputError(f"{name}: not positive semi-definite (eigenvalue {float(w.min()):.3g})")
    return np.clip(w, 0.0, None), v


def psd_sqrt(m: np.ndarray, name: str = "matrix") -> np.ndarray:
    """Symmetric square root ``V diag(sqrt(w)) V^T`` of a PSD matrix (the stable route: no Schur form, no complex
    arithmetic); negatives from rounding are clipped as in :func:`clipped_eigvalsh`.

    Args:
        m: ``(D, D)`` symmetric PSD matrix.
        name: how errors name it.
    """
    w, v = clipped_eigvalsh(m, name)
    return (v * np.sqrt(w)) @ v.T


def gaussian_stats(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (divisor ``N - 1``) of an embedding set, in float64.

    Args:
        x: ``(N, D)`` embeddings, ``N >= 2``.

    Returns:
        ``(mu (D,), cov (D, D))``.
    """
    a = _f64(x, "x", 2)
    if a.shape[0] < 2:
        raise InputError(f"x: need at least 2 embeddings, got shape {a.shape}")
    return a.mean(0), np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], a.shape[1])


def frechet_distance_gaussian(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike, *,
                              method: Literal["eig", "sqrtm"] = "eig") -> float:
    """Fréchet (2-Wasserstein squared) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``:
    ``|mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)``, in float64.

    ``"eig"`` (default): the cross term is the sum of ``sqrt`` of the eigenvalues of the symmetric PSD matrix
    ``cov1^1/2 cov2 cov1^1/2``, with ``cov1^1/2`` from :func:`psd_sqrt`; tiny negative eigenvalues are clipped by
    the rule of :func:`clipped_eigvalsh`. ``"sqrtm"``: ``tr(sqrtm(cov1 cov2))`` with scipy's Schur-method square
    root of the non-symmetric product, the route of the FID/FAD reference toolkits. The two traces are equal because
    ``cov1 cov2`` is similar to ``cov1^1/2 cov2 cov1^1/2``; ``"sqrtm"`` can lose accuracy when the product is
    near-singular and its trace has an imaginary part from rounding, which is dropped (refused above ``1e-6``
    relative).

    Args:
        mu1: ``(D,)`` mean.
        cov1: ``(D, D)`` covariance.
        mu2: ``(D,)`` mean.
        cov2: ``(D, D)`` covariance.
        method: ``"eig"`` or ``"sqrtm"``.

    Returns:
        The distance (squared units of the embedding), at least 0.
    """
    m1, m2 = _f64(mu1, "mu1", 1), _f64(mu2, "mu2", 1)
    c1, c2 = _f64(cov1, "cov1", 2), _f64(cov2, "cov2", 2)
    d = m1.shape[0]
    for name, shape in (("mu2", m2.shape), ("cov1", c1.shape), ("cov2", c2.shape)):
        if shape != ((d,) if name == "mu2" else (d, d)):
            raise InputError(f"{name}: shape {shape} does not match mu1 of dimension {d}")
    if method == "eig":
        r1 = psd_sqrt(c1, "cov1")
        w, _ = clipped_eigvalsh(r1 @ c2 @ r1, "cov1^1/2 cov2 cov1^1/2")
        cross = float(np.sqrt(w).sum())
    elif method == "sqrtm":
        import scipy.linalg

        root = scipy.linalg.sqrtm(c1 @ c2)
        tr = complex(np.trace(root))
        if not np.isfinite(tr) or abs(tr.imag) > 1e-6 * max(abs(tr.real), 1.0):
            raise InputError(f"frechet_distance: sqrtm of cov1 @ cov2 is not real ({tr:.3g}); use method='eig'")
        cross = tr.real
    else:
        raise InputError(f"method: unknown {method!r}; expected 'eig' or 'sqrtm'")
    fd = float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross)
    return max(0.0, fd)


def frechet_distance(x: ArrayLike, y: ArrayLike, *, method: Literal["svd", "eig", "sqrtm"] = "svd") -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (unbiased covariances), in float64.

    ``"svd"`` (default) never forms a ``(D, D)`` matrix: the cross term ``tr((S_x^1/2 S_y S_x^1/2)^1/2)`` equals the
    nuclear norm of ``X_c Y_c^T / sqrt((N - 1)(M - 1))`` (centred samples), an ``(N, M)`` singular value
    decomposition. It is exact, cheap when ``N, M`` are small against ``D``, and fine with singular covariances.
    ``"eig"`` and ``"sqrtm"`` fit the statistics and call :func:`frechet_distance_gaussian`; with ``N, M >> D``
    ``"eig"`` is the cheaper route (``D x D`` instead of ``N x M``).

    Args:
        x: ``(N, D)`` embeddings (N >= 2).
        y: ``(M, D)`` embeddings (M >= 2).
        method: ``"svd"``, ``"eig"`` or ``"sqrtm"``.
    """
    a, b = _pair(x, y, ("x", "y"), min_rows=2)
    if method != "svd":
        return frechet_distance_gaussian(*gaussian_stats(a), *gaussian_stats(b), method=method)
    ac, bc = a - a.mean(0), b - b.mean(0)
    na, nb = a.shape[0] - 1, b.shape[0] - 1
    cross = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / np.sqrt(na * nb)
    fd = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum(ac**2) / na + np.sum(bc**2) / nb - 2.0 * cross
    return max(0.0, float(fd))


# ---------------------------------------------------------------------------------------------------------------
# Kernel distance (KAD)
# ---------------------------------------------------------------------------------------------------------------

def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    return np.clip(d, 0.0, None)


def median_pairwise_distance(x: ArrayLike) -> float:
    """Median Euclidean distance over the distinct pairs ``i < j`` of a set (the median heuristic).

    Args:
        x: ``(N, D)`` points, ``N >= 2``.
    """
    a = _f64(x, "x", 2)
    if a.shape[0] < 2:
        raise InputError(f"x: need at least 2 points, got shape {a.shape}")
    iu = np.triu_indices(a.shape[0], k=1)
    return float(np.median(np.sqrt(_sq_dists(a, a)[iu])))


def kernel_distance(x: ArrayLike, y: ArrayLike, *, bandwidth: float | None = None) -> float:
    """Unbiased MMD^2 with a Gaussian RBF kernel (the kernel audio distance, KAD, unscaled).

    Kernel ``k(a, b) = exp(-|a - b|^2 / (2 h^2))``. Estimator (Gretton et al., JMLR 2012, eq. 3):
    ``sum_{i!=j} k(x_i, x_j) / (N(N-1)) + sum_{i!=j} k(y_i, y_j) / (M(M-1)) - 2 sum_{i,j} k(x_i, y_j) / (NM)``.
    It is unbiased, so it can be slightly negative when the two sets come from one distribution; it is not clipped.
    Bandwidth rule: ``h`` is the median pairwise distance over the pooled set ``x ∪ y``
    (:func:`median_pairwise_distance`) unless given. kadtk instead takes the median over one of its two sets and
    reports the value times 100; pass ``bandwidth=`` and scale to reproduce it.

    Args:
        x: ``(N, D)`` embeddings, ``N >= 2``.
        y: ``(M, D)`` embeddings, ``M >= 2``.
        bandwidth: kernel width ``h`` (embedding units), ``> 0``.

    Returns:
        MMD^2 (dimensionless; the kernel lies in ``(0, 1]``).
    """
    a, b = _pair(x, y, ("x", "y"), min_rows=2)
    h = median_pairwise_distance(np.concatenate([a, b])) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise InputError(f"bandwidth: must be > 0, got {h}")
    g = 1.0 / (2.0 * h * h)
    kxx, kyy, kxy = (np.exp(-g * _sq_dists(p, q)) for p, q in ((a, a), (b, b), (a, b)))
    n, m = a.shape[0], b.shape[0]
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


# ---------------------------------------------------------------------------------------------------------------
# Classifier-output scores
# ---------------------------------------------------------------------------------------------------------------

def paired_kl(reference: Mapping[str, ArrayLike], generated: Mapping[str, ArrayLike], *,
              variant: Literal["softmax", "sigmoid", "bernoulli"] = "softmax", probabilities: bool = False,
              eps: float = KL_EPS) -> float:
    """Mean KL divergence between a classifier's outputs on reference and generated clips, paired by name.

    Direction and conventions follow AudioLDM-eval (``audioldm_eval``'s ``calculate_kl``): ``KL(p_ref || p_gen)``
    (the reference output is the target), ``eps`` added to the generated probability inside the log, summed over
    classes, averaged over pairs.

    - ``"softmax"``: ``p = softmax(logits)``; ``sum_c p_ref,c log(p_ref,c / (p_gen,c + eps))`` (its ``KL``).
    - ``"sigmoid"``: ``p = sigmoid(logits)`` per class, the same positive-class sum, without the ``1 - p`` terms
      (its ``KL_Sigmoid``; not a true divergence, it can be negative).
    - ``"bernoulli"``: the full per-class Bernoulli KL of sigmoid outputs,
      ``sum_c p log(p / (q + eps)) + (1 - p) log((1 - p) / (1 - q + eps))``, the proper multi-label divergence.

    AudioLDM-eval skips a reference name missing from the generated side; here any name on one side only is refused.

    Args:
        reference: name -> ``(K,)`` logits (or probabilities) of a reference clip.
        generated: name -> ``(K,)`` logits (or probabilities) of the generated clip of that name.
        variant: ``"softmax"``, ``"sigmoid"`` or ``"bernoulli"``.
        probabilities: the values are already probabilities (softmax or per-class sigmoid outputs), not logits.
        eps: added to the generated probability inside each log.

    Returns:
        The mean over pairs, in nats.
    """
    if variant not in ("softmax", "sigmoid", "bernoulli"):
        raise InputError(f"variant: unknown {variant!r}; expected 'softmax', 'sigmoid' or 'bernoulli'")
    only_ref, only_gen = sorted(set(reference) - set(generated)), sorted(set(generated) - set(reference))
    if only_ref or only_gen:
        raise InputError(f"paired_kl: names on one side only: reference {only_ref[:5]}, generated {only_gen[:5]} "
                         f"({len(only_ref)} and {len(only_gen)} in all)")
    if not reference:
        raise InputError("paired_kl: no pairs")
    names = sorted(reference)
    p = np.stack([_f64(reference[k], f"reference[{k!r}]", 1) for k in names])
    q = np.stack([_f64(generated[k], f"generated[{k!r}]", 1) for k in names])
    if p.shape != q.shape:
        raise InputError(f"paired_kl: reference {p.shape} and generated {q.shape} class counts differ")
    if not probabilities:
        if variant == "softmax":
            p, q = (np.exp(v - v.max(1, keepdims=True)) for v in (p, q))
            p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
        else:
            p, q = 1.0 / (1.0 + np.exp(-p)), 1.0 / (1.0 + np.exp(-q))
    elif p.min() < 0 or q.min() < 0 or p.max() > 1 or q.max() > 1:
        raise InputError("paired_kl: probabilities must lie in [0, 1]")

    def xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # a log(a / b), 0 where a == 0
        return np.where(a > 0, a * (np.log(np.where(a > 0, a, 1.0)) - np.log(b)), 0.0)

    kl = xlogy(p, q + eps)
    if variant == "bernoulli":
        kl = kl + xlogy(1.0 - p, 1.0 - q + eps)
    return float(kl.sum(1).mean())


def inception_score(probs: ArrayLike, *, splits: int = 10) -> tuple[float, float]:
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))``, with ``p(y)`` the mean over each split.

    The ``N`` rows are cut into ``splits`` contiguous parts in their given order (sizes differ by at most one; no
    shuffling); the score is computed per part. ``0 log 0 = 0``.

    Args:
        probs: ``(N, K)`` class probabilities (rows sum to 1), ``N >= splits``.
        splits: number of parts, ``>= 1``.

    Returns:
        ``(mean, std)`` over the parts (population standard deviation, ``ddof=0``).
    """
    p = _f64(probs, "probs", 2)
    if splits < 1 or p.shape[0] < splits:
        raise InputError(f"splits: need 1 <= splits <= N, got splits={splits}, N={p.shape[0]}")
    if p.min() < 0 or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise InputError("probs: rows must be probability vectors (non-negative, summing to 1)")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        safe = np.where(part > 0, part, 1.0)
        kl = np.where(part > 0, part * (np.log(safe) - np.log(np.where(part > 0, marginal, 1.0))), 0.0)
        scores.append(float(np.exp(kl.sum(1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


def clap_score(audio: ArrayLike, text: ArrayLike, *, percent: bool = False) -> float:
    """Mean cosine similarity of paired audio and text embeddings (row ``i`` with row ``i``).

    Negative similarities are kept (no ``max(0, cos)`` clipping as CLIPScore does).

    Args:
        audio: ``(N, D)`` audio embeddings.
        text: ``(N, D)`` text embeddings of the same clips.
        percent: report ``100 x`` the mean (the convention of some papers); default the raw mean in ``[-1, 1]``.
    """
    a, t = _pair(audio, text, ("audio", "text"))
    if a.shape[0] != t.shape[0]:
        raise InputError(f"audio, text: need as many rows, got {a.shape[0]} and {t.shape[0]}")
    na, nt = np.linalg.norm(a, axis=1), np.linalg.norm(t, axis=1)
    if (na == 0).any() or (nt == 0).any():
        raise InputError("audio, text: an embedding is all zeros")
    cos = float(np.mean(np.sum(a * t, 1) / (na * nt)))
    return 100.0 * cos if percent else cos


# ---------------------------------------------------------------------------------------------------------------
# Onset synchronisation (precision / recall / F1 at a tolerance: audiox.evaluation.metrics.match_events)
# ---------------------------------------------------------------------------------------------------------------

def onset_average_precision(est: Sequence[float], strength: Sequence[float], ref: Sequence[float],
                            tolerance: float = 0.1) -> float:
    """Average precision of onset detections ranked by strength against reference onsets.

    Detections are taken in order of decreasing strength (ties: earlier first); each matches the nearest
    still-unmatched reference onset within ``tolerance``, else it is a false positive. AP is the sum over true
    positives of the precision at that rank, divided by the number of reference onsets (non-interpolated AP).

    Args:
        est: detected onset times (s).
        strength: ``len(est)`` detection confidences (any scale; only the order counts).
        ref: reference onset times (s).
        tolerance: largest allowed ``|est - ref|`` (s).

    Returns:
        AP in ``[0, 1]``; 1 when both lists are empty, 0 when only one is.
    """
    if len(est) != len(strength):
        raise InputError(f"strength: need one value per onset, got {len(strength)} for {len(est)}")
    if not est or not ref:
        return float(not est and not ref)
    order = sorted(range(len(est)), key=lambda i: (-float(strength[i]), float(est[i])))
    free = sorted(float(r) for r in ref)
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        dist = [abs(float(est[i]) - r) for r in free]
        j = int(np.argmin(dist)) if dist else -1
        if j >= 0 and dist[j] <= tolerance + 1e-9:
            free.pop(j)
            hits += 1
            total += hits / rank
    return total / len(ref)


def beat_align_score(ref: Sequence[float], gen: Sequence[float], sigma: float = BEAT_ALIGN_SIGMA_S) -> float:
    """Beat alignment score (BAS / "Beat Align Score" of the dance-to-music literature).

    ``BAS = mean over reference beats r of exp(-min_g (g - r)^2 / (2 sigma^2))``: each reference beat is scored by
    its nearest generated beat (many reference beats may share one), so missing beats lower the score and extra
    generated beats do not. Bailando's ``BA`` (``utils/beat_align_score.py``) takes this direction: the mean over
    the music beats of the Gaussian of the distance to the nearest motion beat, with ``2 sigma^2 = 18`` frames^2 at
    60 fps, i.e. sigma = 3 frames = 0.05 s. AI Choreographer's released ``alignment_score`` (google-research/mint,
    ``tools/calculate_beat_scores.py``, same sigma) averages the other way, over the motion beats: swap the
    arguments for that variant. Here the real clip's beats are the reference and the generated clip's the candidates.

    Args:
        ref: reference beat times (s), e.g. the real clip's.
        gen: candidate beat times (s), e.g. the generated clip's.
        sigma: Gaussian width (s).

    Returns:
        BAS in ``[0, 1]``; 1 when both lists are empty, 0 when only one is.
    """
    if not sigma > 0:
        raise InputError(f"sigma: must be > 0 s, got {sigma}")
    r, g = _f64(list(ref), "ref", 1), _f64(list(gen), "gen", 1)
    if r.size == 0 or g.size == 0:
        return float(r.size == 0 and g.size == 0)
    nearest = np.min(np.abs(r[:, None] - g[None, :]), axis=1)
    return float(np.mean(np.exp(-(nearest ** 2) / (2.0 * sigma ** 2))))
