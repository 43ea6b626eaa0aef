"""SynthBench signal metrics: onsets and event F1, tempo and beats, inpainting SNR and continuity, Frechet distance.

All functions take ``(C, T)`` or ``(T,)`` float tensors with an explicit sample rate and return plain floats or
lists, so they can be unit-tested on synthetic signals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from audiox.evaluation import distances
from audiox.evaluation.features import onset_envelope, to_mono

ONSET_TOLERANCE_S = 0.1
ONSET_LATENCY_S = 0.01  # the flux peak precedes the true onset by about one hop


def _local_peaks(env: np.ndarray, radius: int) -> np.ndarray:
    """Indices where ``env`` equals its maximum over ``[i - radius, i + radius]`` (first of a plateau)."""
    padded = np.pad(env, radius, mode="constant", constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1)
    is_max = env >= win.max(axis=1)
    prev = np.concatenate([[-np.inf], env[:-1]])
    return np.flatnonzero(is_max & (env > prev))


def detect_onsets(audio: torch.Tensor, sample_rate: int, *, delta: float = 0.3, min_gap_s: float = 0.05,
                  min_flux_db: float = 3.0) -> list[float]:
    """Onset times by peak picking the spectral-flux envelope.

    A frame is an onset when it is the maximum within +-50 ms, exceeds the local mean (+-150 ms) by ``delta``
    times the envelope's standard deviation, rises by at least ``min_flux_db`` (mean over bands; stationary noise
    stays near 1 dB), is not in the first 50 ms, and is at least ``min_gap_s`` after the previous onset.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
        delta: threshold over the local mean, in envelope standard deviations.
        min_gap_s: smallest spacing of two onsets (s).
        min_flux_db: absolute floor of the onset strength (dB).

    Returns:
        Sorted onset times in seconds.
    """
    env_t, rate = onset_envelope(audio, sample_rate)
    env = env_t.double().numpy()
    if env.size < 3 or float(env.max()) <= 1e-9:
        return []
    raw = env
    env = env / env.max()
    radius = max(1, int(round(0.05 * rate)))
    avg_r = max(1, int(round(0.15 * rate)))
    kernel = np.ones(2 * avg_r + 1) / (2 * avg_r + 1)
    local_mean = np.convolve(np.pad(env, avg_r, mode="edge"), kernel, mode="valid")
    thresh = local_mean + delta * env.std() + 0.05
    out: list[float] = []
    for i in _local_peaks(env, radius):
        t = i / rate
        if t < 0.05 or raw[i] < min_flux_db:
            continue
        if env[i] > thresh[i] and (not out or t - out[-1] >= min_gap_s):
            out.append(round(float(t) + ONSET_LATENCY_S, 4))
    return out


def match_events(est: Sequence[float], ref: Sequence[float], tolerance: float = ONSET_TOLERANCE_S, *,
                 spans: Sequence[Sequence[float]] = ()) -> dict[str, float]:
    """One-to-one matching of estimated and reference times within ``tolerance`` (greedy in time order, which
    is optimal for 1-D windows of equal width).

    Args:
        est: estimated event times (s).
        ref: reference event times (s).
        tolerance: largest allowed ``|est - ref|`` (s).
        spans: ``[(onset_s, duration_s)]`` of the labelled events. An unmatched estimate inside an event's
            sounding span (after its onset's tolerance window) belongs to that event, e.g. a second click of a
            camera shutter; it is dropped rather than counted as a false positive.

    Returns:
        ``{"precision", "recall", "f1", "matches"}``; with no reference and no estimate all three scores are 1,
        with only one side empty they are 0.
    """
    est_s, ref_s = sorted(est), sorted(ref)
    if not est_s and not ref_s:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "matches": 0}
    i = j = hits = 0
    unmatched: list[float] = []
    while i < len(est_s) and j < len(ref_s):
        d = est_s[i] - ref_s[j]
        if abs(d) <= tolerance + 1e-9:
            hits, i, j = hits + 1, i + 1, j + 1
        elif d < 0:
            unmatched.append(est_s[i])
            i += 1
        else:
            j += 1
    unmatched += est_s[i:]
    inside = sum(any(t0 + tolerance < t <= t0 + dur for t0, dur in spans) for t in unmatched)
    n_est = len(est_s) - inside
    p = hits / n_est if n_est else 0.0
    r = hits / len(ref_s) if ref_s else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f, "matches": hits}


def tempo_curve(audio: torch.Tensor, sample_rate: int, *, min_bpm: float = 40.0, max_bpm: float = 240.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Autocorrelation of the onset envelope over candidate tempi.

    Returns:
        ``(bpms (L,), strength (L,), envelope (frames,), frame_rate_hz)``.
    """
    env_t, rate = onset_envelope(audio, sample_rate)
    env = env_t.double().numpy()
    env = env - env.mean()
    n = env.size
    spec = np.fft.rfft(env, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / max(ac[0], 1e-12)
    lags = np.arange(max(1, int(rate * 60 / max_bpm)), min(n - 1, int(rate * 60 / min_bpm)) + 1)
    return 60.0 * rate / lags, ac[lags], env, rate


def estimate_tempo(audio: torch.Tensor, sample_rate: int, *, min_strength: float = 0.2) -> float:
    """Tempo in BPM: the autocorrelation lag with the best log-normal-prior-weighted strength (centre 120 BPM,
    one octave standard deviation), refined by parabolic interpolation.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
        min_strength: smallest normalised autocorrelation peak that counts as a beat (else ``nan``: no tempo).
    """
    bpms, strength, _, rate = tempo_curve(audio, sample_rate)
    if bpms.size == 0 or float(strength.max()) < min_strength:
        return float("nan")
    prior = np.exp(-0.5 * (np.log2(bpms / 120.0) / 1.0) ** 2)
    score = np.clip(strength, 0, None) * prior
    k = int(np.argmax(score))
    lag = 60.0 * rate / bpms[k]  # frames; lags grow by one frame per index
    if 0 < k < len(score) - 1:
        a, b, c = score[k - 1], score[k], score[k + 1]
        denom = a - 2 * b + c
        if abs(denom) > 1e-12:
            lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float(60.0 * rate / lag)


def tempo_scores(est_bpm: float, true_bpm: float) -> dict[str, float]:
    """MIREX-style tempo scores.

    Args:
        est_bpm: estimated tempo.
        true_bpm: labelled tempo.

    Returns:
        ``{"rel_error": |est - true| / true, "acc1": within 4 %, "acc2": within 4 % of x1, x2, x1/2, x3 or x1/3}``.
    """
    if not math.isfinite(est_bpm) or est_bpm <= 0:
        return {"rel_error": 1.0, "acc1": 0.0, "acc2": 0.0}
    rel = abs(est_bpm - true_bpm) / true_bpm
    acc2 = any(abs(est_bpm * m - true_bpm) / true_bpm <= 0.04 for m in (1.0, 2.0, 0.5, 3.0, 1 / 3))
    return {"rel_error": float(rel), "acc1": float(rel <= 0.04), "acc2": float(acc2)}


def track_beats(audio: torch.Tensor, sample_rate: int, *, bpm: float | None = None) -> list[float]:
    """Beat times: the phase of a ``bpm`` grid that collects the most onset strength, each beat then snapped to
    the strongest envelope frame within +-10 % of the period.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
        bpm: the tempo (default :func:`estimate_tempo`).

    Returns:
        Sorted beat times in seconds.
    """
    bpm = estimate_tempo(audio, sample_rate) if bpm is None else bpm
    env_t, rate = onset_envelope(audio, sample_rate)
    env = env_t.double().numpy()
    if not math.isfinite(bpm) or bpm <= 0 or float(env.max()) <= 1e-9:
        return []
    period = 60.0 * rate / bpm
    best_phase, best = 0.0, -1.0
    for phase in np.arange(0.0, period, 1.0):
        idx = np.round(np.arange(phase, env.size, period)).astype(int)
        idx = idx[idx < env.size]
        val = float(env[idx].sum())
        if val > best:
            best_phase, best = float(phase), val
    radius = max(1, int(round(0.1 * period)))
    beats = []
    for c in np.arange(best_phase, env.size, period):
        lo, hi = max(0, int(round(c)) - radius), min(env.size, int(round(c)) + radius + 1)
        if lo >= hi:
            continue
        beats.append(round(float((lo + int(np.argmax(env[lo:hi]))) / rate), 4))
    return beats


def kept_mask(n_samples: int, sample_rate: int, spans: Sequence[Sequence[float]]) -> torch.Tensor:
    """``(T,)`` bool: True outside the regenerated ``spans`` (s)."""
    keep = torch.ones(n_samples, dtype=torch.bool)
    for s, e in spans:
        keep[int(round(s * sample_rate)):int(round(e * sample_rate))] = False
    return keep


def kept_snr(generated: torch.Tensor, original: torch.Tensor, sample_rate: int, spans: Sequence[Sequence[float]],
             *, cap_db: float = 100.0) -> float:
    """SNR (dB) of the generated audio against the original over the kept regions (outside ``spans``).

    Args:
        generated: ``(C, T)`` samples.
        original: ``(C, T')`` samples at the same rate (cropped or zero-padded to T).
        sample_rate: Hz.
        spans: regenerated regions ``[[start_s, end_s], ...]``.
        cap_db: upper bound (an exact copy gives ``cap_db``).
    """
    g, o = _align(generated, original)
    keep = kept_mask(g.shape[-1], sample_rate, spans)
    sig = float(o[:, keep].double().square().sum())
    err = float((g[:, keep] - o[:, keep]).double().square().sum())
    if err <= sig * 10 ** (-cap_db / 10):
        return cap_db
    if sig <= 0:
        return -cap_db
    return max(-cap_db, 10.0 * math.log10(sig / err))


def _align(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = a.float().reshape(-1, a.shape[-1])
    b = b.float().reshape(-1, b.shape[-1])
    if a.shape[0] != b.shape[0]:
        a, b = a.mean(0, keepdim=True), b.mean(0, keepdim=True)
    n = a.shape[-1]
    b = torch.nn.functional.pad(b, (0, max(0, n - b.shape[-1])))[:, :n]
    return a, b


def _band_db(x: torch.Tensor, sample_rate: int, t0: float, t1: float) -> torch.Tensor | None:
    """Log power (dB) in 24 log-spaced bands of ``x`` (mono) between ``t0`` and ``t1`` s."""
    i0, i1 = max(0, int(round(t0 * sample_rate))), min(x.shape[-1], int(round(t1 * sample_rate)))
    if i1 - i0 < 64:
        return None
    seg = x[i0:i1].double() * torch.hann_window(i1 - i0, dtype=torch.float64)
    power = torch.fft.rfft(seg).abs().square()
    freqs = torch.fft.rfftfreq(i1 - i0, 1.0 / sample_rate)
    edges = np.geomspace(50.0, sample_rate / 2, 25)
    out = [power[(freqs >= lo) & (freqs < hi)].sum() + 1e-12 for lo, hi in zip(edges[:-1], edges[1:])]
    return 10 * torch.log10(torch.stack(out) / (i1 - i0))


def span_boundaries(spans: Sequence[Sequence[float]], seconds: float) -> list[tuple[float, int]]:
    """Interior edges of the regenerated spans as ``(time_s, kept_side)``; ``kept_side`` is -1 when the kept
    audio lies before the edge (a span start) and +1 when it lies after (a span end). Edges at 0 or at the clip
    end, and edges with regenerated audio on both sides, are left out."""
    out = []
    for s, e in spans:
        for t, side in ((float(s), -1), (float(e), 1)):
            probe = t + side * 0.01
            inside = any(a <= probe <= b for a, b in spans)
            if 0.05 < t < seconds - 0.05 and not inside:
                out.append((t, side))
    return sorted(set(out))


def boundary_jump(fill: torch.Tensor, context: torch.Tensor, sample_rate: int,
                  boundaries: Sequence[tuple[float, int]], *, window_s: float = 0.05) -> float:
    """Mean spectral jump (dB, mean absolute difference of 24 band levels) between the kept ``context`` just
    outside each boundary and the ``fill`` just inside it.

    Args:
        fill: ``(C, T)`` or ``(T,)`` audio whose regenerated side is measured.
        context: ``(C, T)`` or ``(T,)`` audio whose kept side is measured (the original clip).
        sample_rate: Hz.
        boundaries: ``(time_s, kept_side)`` from :func:`span_boundaries`.
        window_s: analysis window on each side (s).

    Returns:
        The mean jump in dB (``nan`` when no boundary can be measured).
    """
    f, c = to_mono(fill), to_mono(context)
    jumps = []
    for t, side in boundaries:
        kept = _band_db(c, sample_rate, t - window_s, t) if side < 0 else _band_db(c, sample_rate, t, t + window_s)
        new = _band_db(f, sample_rate, t, t + window_s) if side < 0 else _band_db(f, sample_rate, t - window_s, t)
        if kept is not None and new is not None:
            jumps.append(float((kept - new).abs().mean()))
    return float(np.mean(jumps)) if jumps else float("nan")


def continuity(generated: torch.Tensor, original: torch.Tensor, sample_rate: int,
               spans: Sequence[Sequence[float]], seconds: float) -> dict[str, float]:
    """Boundary continuity of an inpainted or continued clip.

    At every interior span edge, the 50 ms of kept original audio outside the edge is compared with the 50 ms of
    generated audio inside it; the same comparison on the original clip gives the natural jump.

    Args:
        generated: ``(C, T)`` samples.
        original: ``(C, T')`` the real clip.
        sample_rate: Hz.
        spans: regenerated regions (s).
        seconds: clip length (s).

    Returns:
        ``{"jump_db", "real_jump_db", "excess_jump_db" = jump - real jump}`` (an excess near 0 means the fill
        joins its context as smoothly as the real recording does).
    """
    g, o = _align(generated, original)
    bounds = span_boundaries(spans, seconds)
    jg, jo = boundary_jump(g, o, sample_rate, bounds), boundary_jump(o, o, sample_rate, bounds)
    return {"jump_db": jg, "real_jump_db": jo, "excess_jump_db": jg - jo}


def frechet_distance(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets, in float64: see
    :func:`audiox.evaluation.distances.frechet_distance` (the ``"svd"`` route, exact with singular covariances).

    Args:
        x: ``(N, D)`` embeddings (N >= 2).
        y: ``(M, D)`` embeddings (M >= 2).
    """
    return distances.frechet_distance(x, y)
