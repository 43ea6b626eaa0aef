"""Synthetic note clips for VAE training (``VAETrainConfig.tone_clips``): what they contain, and how the loaders add
them (to training audio, and with their latents to stored latents)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_train_utils import make_corpus

from audiox.errors import ConfigError
from audiox.evaluation.vae_check import cents, peak_frequency
from audiox.training.autoencoder import VAETrainConfig
from audiox.training.tone_clips import F0_RANGE, LEVEL_RANGE, note_clip, note_clips, render_note


def test_note_clips_are_seeded_bounded_and_not_silent() -> None:
    a, b, c = note_clips(6, 16000, 16000, 0), note_clips(6, 16000, 16000, 0), note_clips(6, 16000, 16000, 1)
    assert a.shape == (6, 1, 16000) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    peaks = a.abs().amax(-1).flatten()
    # each note peaks at its level, drawn in LEVEL_RANGE (x the envelope <= 1): a clip's peak is at most the top;
    # at least one of its notes (50 ms or longer) reaches its attack's end, hence more than a tenth of the floor
    assert bool((peaks <= LEVEL_RANGE[1] + 1e-6).all()) and bool((peaks > 0.1 * LEVEL_RANGE[0]).all())
    assert note_clips(0, 100, 16000, 0).shape == (0, 1, 100)


def test_a_pure_note_is_at_its_pitch_and_a_harmonic_one_has_its_partials() -> None:
    g = torch.Generator().manual_seed(0)
    sr = 16000
    pure = render_note((220.0,), sr, sr, g, pure=True)
    # the peak interpolation of vae_check resolves a 1-s sinusoid to a small fraction of a cent
    assert abs(cents(peak_frequency(pure.float(), sr), 220.0)) < 1.0
    assert float(pure.abs().max()) == pytest.approx(1.0)
    rich = render_note((110.0,), sr, sr, g, pure=False)
    spec = torch.fft.rfft(rich).abs()  # 1-Hz bins over 1 s: partial k sits exactly in bin 110 k
    partials = spec[[110 * k for k in range(1, 13)]]
    off = spec[[110 * k + 55 for k in range(1, 13)]]  # half-way between partials
    assert bool((partials > 100 * off).all())


def test_every_note_of_a_clip_is_in_range_and_the_notes_tile_the_clip() -> None:
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        audio, notes = note_clip(32000, 16000, g)
        assert 1 <= len(notes) <= 4 and audio.shape == (1, 32000)
        for n in notes:
            assert F0_RANGE[0] <= n.f0s[0] <= F0_RANGE[1] and len(n.f0s) in (1, 2)
            assert n.end - n.start >= 800 and 0 <= n.start < n.end <= 32000
        # outside the notes the clip is silent
        inside = torch.zeros(32000, dtype=torch.bool)
        for n in notes:
            inside[n.start:n.end] = True
        assert bool((audio[0, ~inside] == 0).all())


def test_tone_clips_config_key_is_checked() -> None:
    assert VAETrainConfig(tone_clips=4).tone_clips == 4
    with pytest.raises(ConfigError, match="tone_clips: must be >= 0"):
        VAETrainConfig(tone_clips=-1).validate("")


def test_loaders_add_the_note_clips(tmp_path: Path, one_thread) -> None:
    from audiox.models.presets import build_model
    from audiox.training.autoencoder import save_vae
    from audiox.training.packed import pack
    from audiox.training.vae_run import load_clips, load_latent_pairs

    model = build_model("debug", seed=0).eval()
    sr, ch = model.config.sample_rate, model.config.audio_channels
    manifest = make_corpus(tmp_path / "data", n_text=3)
    clips = load_clips(manifest, sample_rate=sr, channels=ch)
    more = load_clips(manifest, sample_rate=sr, channels=ch, tone_clips=2, seed=7)
    assert len(more) == len(clips) + 2 and all(torch.equal(a, b) for a, b in zip(clips, more))
    assert torch.equal(torch.stack(more[-2:]), note_clips(2, 10 * sr, sr, 7).expand(-1, ch, -1))

    pack(model, manifest, tmp_path / "pack", batch_size=3)
    vae_file = tmp_path / "vae.safetensors"
    save_vae(vae_file, model.pretransform.model, model.config.model.pretransform)
    base = load_latent_pairs(tmp_path / "pack", manifest, vae_file, sample_rate=sr, channels=ch)
    pairs = load_latent_pairs(tmp_path / "pack", manifest, vae_file, sample_rate=sr, channels=ch, tone_clips=3,
                              seed=7)
    assert len(pairs.latents) == len(base.latents) + 3 and pairs.latents.dtype == base.latents.dtype
    assert torch.equal(pairs.latents[:-3], base.latents) and torch.equal(pairs.audio[:-3], base.audio)
    tones = pairs.audio[-3:]
    assert torch.equal(tones, note_clips(3, base.audio.shape[-1], sr, 7).expand(-1, ch, -1))
    # their latents are the init encoder's posterior means, rounded to fp16 as the packed ones are
    with torch.inference_mode():
        z = model.pretransform.model.encode(tones)
    assert torch.equal(pairs.latents[-3:].float(), z.half().float())


def test_train_vae_config_with_tone_clips_trains(tmp_path: Path, one_thread) -> None:
    from audiox.cli import main

    manifest = make_corpus(tmp_path / "data", n_text=2)
    (tmp_path / "cfg.json").write_text(json.dumps({"crop": 2048, "batch_size": 2, "tone_clips": 2}))
    assert main(["train-vae", "--model", "debug", "--data", str(manifest), "--config", str(tmp_path / "cfg.json"),
                 "--out", str(tmp_path / "run"), "--max-steps", "2", "--accelerator", "cpu", "--no-progress"]) == 0
    saved = json.loads((tmp_path / "run" / "vae_train_config.json").read_text())
    assert saved["training"]["tone_clips"] == 2 and (tmp_path / "run" / "vae.safetensors").exists()
