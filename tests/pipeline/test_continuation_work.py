"""Continuation and long outputs do a bounded amount of work per window (the cost is linear in the length), and
only windows with something to generate are sampled. Counted with spies on the tiny debug model, not timed."""

from __future__ import annotations

import math

import pytest
import torch

import audiox.pipeline.core as core
from audiox.pipeline.windows import known_latent_mask, known_run_end

FAST = dict(steps=2, sampler="euler", cfg_scale=3.0)


def _tone(seconds: float, sr: int) -> torch.Tensor:
    t = torch.arange(int(round(seconds * sr))) / sr
    return (0.5 * torch.sin(2 * math.pi * 440 * t))[None]


class Work:
    """Spies on everything a window costs: the main VAE encoder, the audio prompt's encoder, the decoder, and the
    scans of the known-sample mask."""

    def __init__(self, pipe, monkeypatch) -> None:
        self.encoded, self.prompts, self.decodes, self.scanned = [], [], 0, []
        model = pipe.model
        encode, decode, scan = model.encode, model.decode, core.known_run_end
        prompt_vae = model.conditioner.conditioners[pipe.ids.audio].pretransform.model
        encode_raw = prompt_vae.encode_raw

        def spy_encode(audio, **kw):
            self.encoded.append(audio.shape[-1])
            return encode(audio, **kw)

        def spy_prompt(audio, *a, **kw):
            self.prompts.append(audio.shape[-1])
            return encode_raw(audio, *a, **kw)

        def spy_decode(lat, **kw):
            self.decodes += 1
            return decode(lat, **kw)

        def spy_scan(known, start, *a, **kw):
            end = scan(known, start, *a, **kw)
            self.scanned.append(end - start)
            return end

        monkeypatch.setattr(model, "encode", spy_encode)
        monkeypatch.setattr(model, "decode", spy_decode)
        monkeypatch.setattr(prompt_vae, "encode_raw", spy_prompt)
        monkeypatch.setattr(core, "known_run_end", spy_scan)


def _overlap(pipe) -> int:
    geo = pipe.geometry
    return min(max(1, round(pipe.overlap_seconds * geo.sample_rate / geo.hop)) * geo.hop, geo.sample_size // 2)


def _windows(pipe, total: int) -> int:
    return len(core.plan_windows(total, pipe.geometry.sample_size, _overlap(pipe)))


@pytest.mark.parametrize("clip_windows", [1.5, 6.0])
def test_long_clip_continuation_samples_only_the_new_part(pipe, monkeypatch, clip_windows):
    """A clip of many windows continued by half a window: every window inside the clip used to be sampled and to
    walk the clip sample by sample up to its end (cost growing with the square of the clip). Now a window whose
    frames are all known is only encoded (its latents), the sampled windows are the same few whatever the clip's
    length, and each VAE call and mask scan covers at most one window."""
    geo = pipe.geometry
    sr, win = geo.sample_rate, geo.sample_size
    clip = _tone(clip_windows * geo.window_seconds, sr)
    work = Work(pipe, monkeypatch)
    out = pipe("x", audio=clip, continue_audio=True, seed=0, **FAST)
    total = out.audio.shape[-1]
    n = _windows(pipe, total)
    assert n >= (6 if clip_windows > 2 else 2)
    assert work.decodes <= 2  # the windows holding new samples (the new half window may straddle two)
    assert work.encoded == [win] * n  # one window of samples per window: the known latents
    assert work.prompts == [geo.prompt_samples] * work.decodes  # one audio prompt per sampled window
    assert len(work.scanned) == work.decodes and all(0 < s <= win for s in work.scanned)
    assert torch.equal(out.audio[0, :, : clip.shape[-1] - int(0.02 * sr)], clip[:, : clip.shape[-1] - int(0.02 * sr)])
    assert out.latents.shape[-1] == -(-total // geo.hop) and torch.isfinite(out.audio).all()


def test_work_per_window_is_constant_for_a_long_continuation(pipe, monkeypatch):
    """A short clip continued over many windows: every window is sampled once, with one encode of one window
    and one audio prompt, and scans only its overlap, so the work is windows x a constant."""
    geo = pipe.geometry
    work = Work(pipe, monkeypatch)
    clip = _tone(0.3, geo.sample_rate)
    out = pipe("x", audio=clip, continue_audio=True, seconds=8 * geo.window_seconds, seed=0, **FAST)
    n = _windows(pipe, out.audio.shape[-1])
    assert n >= 9 and work.decodes == n
    assert work.encoded == [geo.sample_size] * n and work.prompts == [geo.prompt_samples] * n
    assert work.scanned == [clip.shape[-1]] + [_overlap(pipe)] * (n - 1)  # the clip, then each overlap


def test_known_mask_helpers_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        known = torch.rand(500, generator=g) < 0.9
        known[torch.randint(0, 500, (1,), generator=g)] = True
        for start in (0, 1, 37, 255, 499, 500, 600):
            end = start
            while end < known.shape[0] and bool(known[end]):
                end += 1
            assert known_run_end(known, start, chunk=7) == end
            ref = [start + (j + 1) * 8 <= 500 and bool(known[start + j * 8: start + (j + 1) * 8].all())
                   for j in range(40)]
            assert known_latent_mask(known, start, 40, 8).tolist() == ref
