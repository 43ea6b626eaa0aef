"""SynthBench metrics on synthetic signals with known answers."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from audiox.evaluation import metrics

SR = 44100


def clicks(times: list[float], seconds: float = 5.0, seed: int = 0) -> torch.Tensor:
    """Decaying noise bursts at ``times`` over a faint noise floor, (1, T)."""
    gen = torch.Generator().manual_seed(seed)
    x = 1e-3 * torch.randn(int(seconds * SR), generator=gen)
    burst = torch.randn(2000, generator=gen) * torch.exp(-torch.arange(2000) / 300.0)
    for t in times:
        i = int(round(t * SR))
        x[i:i + 2000] += burst[: x.shape[0] - i]
    return x[None]


def test_match_events_exact_shifted_partial_and_empty():
    ref = [0.5, 1.0, 2.0, 3.0]
    assert metrics.match_events(ref, ref)["f1"] == 1.0
    assert metrics.match_events([t + 0.2 for t in ref], ref)["f1"] == 0.0
    assert metrics.match_events([t + 0.09 for t in ref], ref)["f1"] == 1.0
    half = metrics.match_events(ref[:2], ref)
    assert half["precision"] == 1.0 and half["recall"] == 0.5 and half["f1"] == pytest.approx(2 / 3)
    assert metrics.match_events([], [])["f1"] == 1.0
    assert metrics.match_events([], ref)["f1"] == 0.0 and metrics.match_events(ref, [])["f1"] == 0.0
    # a second onset inside a labelled event's span is part of that event, not a false positive
    spans = [(0.5, 0.5)]
    assert metrics.match_events([0.5, 0.8], [0.5], spans=spans)["f1"] == 1.0
    assert metrics.match_events([0.5, 1.5], [0.5], spans=spans)["precision"] == 0.5


def test_detect_onsets_finds_known_clicks_and_nothing_in_noise():
    times = [0.5, 1.2, 2.0, 3.3, 4.1]
    est = metrics.detect_onsets(clicks(times), SR)
    assert metrics.match_events(est, times)["f1"] == 1.0
    assert max(abs(a - b) for a, b in zip(est, times)) < 0.03
    assert metrics.match_events(est, [t + 0.2 for t in times])["f1"] == 0.0
    noise = 0.1 * torch.randn(2, 5 * SR, generator=torch.Generator().manual_seed(1))
    assert metrics.detect_onsets(noise, SR) == []


def test_tempo_and_beats_of_a_click_track():
    bpm = 100.0
    beats = [k * 60 / bpm for k in range(17)]
    x = clicks(beats, seconds=10.0)
    est = metrics.estimate_tempo(x, SR)
    assert est == pytest.approx(bpm, rel=0.02)  # the estimator's resolution: one onset-envelope frame in ~50
    assert metrics.tempo_scores(est, bpm) == {"rel_error": pytest.approx(abs(est - bpm) / bpm), "acc1": 1.0,
                                              "acc2": 1.0}
    assert metrics.match_events(metrics.track_beats(x, SR), beats)["f1"] >= 0.95
    noise = 0.1 * torch.randn(1, 10 * SR, generator=torch.Generator().manual_seed(2))
    assert math.isnan(metrics.estimate_tempo(noise, SR))
    assert metrics.track_beats(noise, SR) == []


def test_tempo_scores_octaves():
    assert metrics.tempo_scores(200.0, 100.0) == {"rel_error": 1.0, "acc1": 0.0, "acc2": 1.0}
    assert metrics.tempo_scores(130.0, 100.0)["acc2"] == 0.0
    assert metrics.tempo_scores(float("nan"), 100.0) == {"rel_error": 1.0, "acc1": 0.0, "acc2": 0.0}


def test_kept_snr_and_continuity():
    gen = torch.Generator().manual_seed(3)
    t = torch.arange(4 * SR) / SR
    orig = torch.stack([0.5 * torch.sin(2 * math.pi * 330 * t), 0.4 * torch.sin(2 * math.pi * 220 * t)])
    spans = [(1.0, 2.0)]
    assert metrics.kept_snr(orig, orig, SR, spans) == 100.0
    noisy = orig + 0.05 * torch.randn(orig.shape, generator=gen)
    expect = 10 * math.log10(float(orig.square().mean()) / 0.05**2)
    # the noise's sample variance over ~2.6e5 kept samples is within 1 % (~0.05 dB) of 0.05**2; 0.3 dB leaves room
    # for the metric's window edges
    assert metrics.kept_snr(noisy, orig, SR, spans) == pytest.approx(expect, abs=0.3)
    # regenerated span filled with noise: kept parts exact, but the boundaries jump
    filled = orig.clone()
    filled[:, SR:2 * SR] = 0.3 * torch.randn(2, SR, generator=gen)
    assert metrics.kept_snr(filled, orig, SR, spans) == 100.0
    same = metrics.continuity(orig, orig, SR, spans, 4.0)
    assert same["excess_jump_db"] == 0.0
    assert metrics.continuity(filled, orig, SR, spans, 4.0)["excess_jump_db"] > 6.0
    assert metrics.span_boundaries([(0.0, 1.0), (3.0, 4.0)], 4.0) == [(1.0, 1), (3.0, -1)]


def test_frechet_distance_known_values():
    x = torch.randn(400, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    # float64 sqrtm of 8x8 covariances: rounding ~ eps64 x dim x cond, far below 1e-6
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = torch.full((8,), 0.5, dtype=torch.float64)
    assert metrics.frechet_distance(x, x + shift) == pytest.approx(8 * 0.25, rel=1e-6)
    assert metrics.frechet_distance(x, 2 * x) > 1.0
    with pytest.raises(ValueError):
        metrics.frechet_distance(x[:1], x)


@pytest.mark.skipif(importlib.util.find_spec("torchcrepe") is None, reason="torchcrepe not installed")
@pytest.mark.parametrize("freq", [110.0, 440.0, 987.77])
def test_crepe_pitch_of_known_tones(freq):
    from audiox.evaluation.pitch import cents_error, dominant_pitch

    t = torch.arange(int(1.5 * SR)) / SR
    tone = torch.zeros(int(3 * SR))
    tone[SR // 2:SR // 2 + t.shape[0]] = 0.5 * torch.sin(2 * math.pi * freq * t)
    est = dominant_pitch(tone[None], SR)
    assert cents_error(est, freq) < 15.0
    assert math.isnan(dominant_pitch(torch.zeros(1, SR), SR))
    assert cents_error(2 * freq, freq) == pytest.approx(1200.0)


@pytest.mark.skipif(importlib.util.find_spec("aisfx") is None, reason="aisfx not installed")
def test_aisfx_embedding_front_end():
    from audiox.evaluation.embeddings import AISFX_MELS, aisfx_mel, embed_clip

    x = 0.1 * torch.randn(2, 3 * SR, generator=torch.Generator().manual_seed(5))
    mel = aisfx_mel(x, SR)
    assert mel.shape == (3 * SR // 1024 + 1, AISFX_MELS)
    assert 0.0 <= float(mel.min()) and float(mel.max()) < 1.5
    emb = embed_clip(x, SR)
    assert emb.shape == (512,) and bool(torch.isfinite(emb).all())
    assert torch.equal(emb, embed_clip(x, SR))  # deterministic: the same arithmetic twice
