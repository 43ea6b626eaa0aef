"""Every task end to end with a tiny random model: lengths, rates, channels, preservation, reproducibility."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from audiox.errors import InputError
from audiox.sampling.registry import SAMPLER_NAMES
from audiox.utils.seeds import SEED_MAX

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO.parent / "shared" / "media"
FAST = dict(steps=4, sampler="euler", cfg_scale=3.0)


def _tone(seconds: float, sr: int, hz: float = 440.0) -> torch.Tensor:
    t = torch.arange(int(seconds * sr)) / sr
    return (0.5 * torch.sin(2 * math.pi * hz * t))[None]


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("img") / "red.png"
    Image.fromarray(np.full((40, 60, 3), (220, 30, 30), np.uint8)).save(p)
    return p


def _snr_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    return 10 * math.log10(ref.pow(2).sum().item() / max((ref - est).pow(2).sum().item(), 1e-20))


@pytest.mark.parametrize("task", ["t2a", "t2m", "v2a", "v2m", "tv2a", "tv2m", "i2a", "i2m", "a2a"])
def test_every_task_shape(pipe, task, image_path):
    geo = pipe.geometry
    kw: dict = {}
    text = {"t2a": "a dog barks", "t2m": "calm piano music", "tv2a": "engine noise", "tv2m": "upbeat drums"}.get(task)
    if task in ("v2a", "v2m", "tv2a", "tv2m"):
        kw["video"] = MEDIA / "v2a-sample-1.mp4"
    if task in ("i2a", "i2m"):
        kw["image"] = image_path
    if task == "a2a":
        kw["audio"] = _tone(0.5, geo.sample_rate)
    out = pipe(text, music=task.endswith("m"), seed=3, **kw, **FAST)
    assert out.audio.shape == (1, geo.channels, geo.sample_size)
    assert out.sample_rate == geo.sample_rate
    assert out.latents.shape == (1, pipe.model.config.latent_dim, geo.window_latents)
    assert torch.isfinite(out.audio).all() and out.audio.abs().max() > 0
    if text is None and kw.get("video") is not None:
        assert out.settings["text"][0].startswith("Generate " + ("music" if task.endswith("m") else "general"))


def test_seed_reproducible_and_distinct(pipe):
    a = pipe("rain on a roof", seed=11, **FAST).audio
    b = pipe("rain on a roof", seed=11, **FAST).audio
    c = pipe("rain on a roof", seed=12, **FAST).audio
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    fresh = pipe("rain on a roof", **FAST)
    assert torch.equal(pipe("rain on a roof", seed=fresh.settings["seed"], **FAST).audio, fresh.audio)
    top = pipe("rain on a roof", seed=SEED_MAX, **FAST)  # the whole range, 0 .. 2**64 - 1
    assert top.settings["seed"] == SEED_MAX and not torch.equal(top.audio, a)
    with pytest.raises(InputError, match=r"seed: must be <= 18446744073709551615"):
        pipe("rain on a roof", seed=SEED_MAX + 1, **FAST)


@pytest.mark.parametrize("sampler", sorted(SAMPLER_NAMES))
def test_sidecar_seed_reproduces_every_sampler(pipe, sampler, tmp_path):
    """A fresh seed, read back from the saved sidecar, gives the same bits again: every draw (the initial noise,
    the samplers' noise, the Brownian tree's entropy) comes from the one generator made from the seed."""
    import json

    kw = dict(steps=3, sampler=sampler, seconds=1.0, cfg_scale=3.0)
    out = pipe("rain on a roof", **kw)
    out.save(tmp_path / "out.wav")
    seed = json.loads((tmp_path / "out.json").read_text())["seed"]
    assert 0 <= seed <= SEED_MAX
    assert torch.equal(pipe("rain on a roof", seed=seed, **kw).audio, out.audio)


def test_default_sampler_runs(pipe):
    out = pipe("wind", seed=1, steps=3)  # dpmpp-3m-sde with Brownian-tree noise
    assert out.settings["sampler"] == "dpmpp-3m-sde" and torch.isfinite(out.audio).all()


def test_negative_prompt_changes_output(pipe):
    a = pipe("birds", seed=5, **FAST).audio
    b = pipe("birds", negative_text="engine", seed=5, **FAST).audio
    assert not torch.allclose(a, b)


def test_batched_prompts(pipe):
    out = pipe(["a bell", "a drum"], seed=2, **FAST)
    assert out.audio.shape[0] == 2 and not torch.allclose(out.audio[0], out.audio[1])


def test_inpainting_keeps_outside_and_regenerates_inside(pipe):
    sr = pipe.geometry.sample_rate
    clip = _tone(2.0, sr)
    out = pipe("a tone", audio=clip, inpaint=[(0.6, 1.1)], seed=4, **FAST)
    assert out.audio.shape == (1, 1, clip.shape[-1])
    y = out.audio[0]
    margin = int(0.03 * sr)
    keep = torch.ones(clip.shape[-1], dtype=torch.bool)
    keep[int(0.6 * sr) - margin: int(1.1 * sr) + margin] = False
    assert _snr_db(clip[:, keep], y[:, keep]) > 60  # kept regions: the caller's samples
    hole = slice(int(0.6 * sr) + margin, int(1.1 * sr) - margin)
    assert _snr_db(clip[:, hole], y[:, hole]) < 10  # regenerated: not a copy of the original
    assert y[:, hole].abs().max() > 0


def test_inpaint_range_outside_clip_is_rejected(pipe):
    with pytest.raises(InputError, match="ends after the clip"):
        pipe("x", audio=_tone(1.0, pipe.geometry.sample_rate), inpaint=[(0.5, 3.0)], **FAST)


def test_continuation_and_long_output(pipe):
    geo = pipe.geometry
    sr = geo.sample_rate
    clip = _tone(1.5, sr, 330.0)
    seconds = 3.7  # > 3 model windows of 1.024 s
    out = pipe("a tone", audio=clip, continue_audio=True, seconds=seconds, seed=6, **FAST)
    assert out.audio.shape == (1, 1, round(seconds * sr))
    keep = slice(0, clip.shape[-1] - int(0.03 * sr))
    assert _snr_db(clip[:, keep], out.audio[0, :, keep]) > 60
    assert out.audio[0, :, clip.shape[-1]:].abs().max() > 0
    long = pipe("rain", seconds=seconds, seed=6, **FAST)
    assert long.audio.shape == (1, 1, round(seconds * sr))
    assert long.latents.shape[-1] >= round(seconds * sr) // geo.hop


def test_long_video_to_audio_uses_video_slices(pipe):
    out = pipe(video=MEDIA / "v2a-sample-1.mp4", seconds=4.0, seed=8, **FAST)
    assert out.audio.shape[-1] == 4 * pipe.geometry.sample_rate


@pytest.mark.parametrize("bad, match", [
    (dict(steps=0), "steps"), (dict(seconds=0), "seconds"), (dict(seconds=-1), "seconds"),
    (dict(sampler="k-nope"), "unknown sampler"), (dict(cfg_scale=0), "cfg_scale"),
    (dict(continue_audio=True), "inpaint / continue_audio need audio"),  # the keywords, as given
])
def test_bad_arguments(pipe, bad, match):
    with pytest.raises(InputError, match=match):
        pipe("x", **{**FAST, **bad})


def test_save_writes_audio_and_sidecar(pipe, tmp_path):
    import json

    import soundfile as sf

    out = pipe("a bell", seed=9, **FAST)
    path = out.save(tmp_path / "bell.wav")
    data, sr = sf.read(path)
    assert sr == pipe.geometry.sample_rate and len(data) == out.audio.shape[-1]
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["seed"] == 9 and meta["sampler"] == "euler" and meta["text"] == ["a bell"]
    peak = float(out.audio[0].abs().max())
    assert meta["normalized"] is True and abs(meta["raw_peak_dbfs"] - 20 * np.log10(peak)) < 0.01


def test_saving_a_near_silent_output_warns(tmp_path, caplog):
    import logging

    from audiox.pipeline.output import AudioOutput

    quiet = AudioOutput(audio=torch.full((1, 1, 800), 1e-3) * torch.randn(1, 1, 800, generator=torch.Generator()
                        .manual_seed(0)).sign(), sample_rate=8000, latents=torch.zeros(1, 2, 4))
    with caplog.at_level(logging.WARNING, logger="audiox.pipeline.output"):
        quiet.save(tmp_path / "q.wav")
    assert "near-silent (peak -60.0 dBFS)" in caplog.text and "60 dB" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audiox.pipeline.output"):
        AudioOutput(audio=quiet.audio * 1000, sample_rate=8000, latents=quiet.latents).save(tmp_path / "l.wav")
    assert "near-silent" not in caplog.text


def test_bfloat16_pipeline_close_to_float32(debug_model_dir, pipe):
    from audiox.pipeline import AudioXPipeline

    bf = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu", dtype=torch.bfloat16)
    assert next(bf.model.dit.parameters()).dtype == torch.bfloat16
    assert next(bf.model.pretransform.parameters()).dtype == torch.float32  # the VAE stays float32
    a = pipe("a bell", seed=3, steps=4, sampler="euler", cfg_scale=1.0).latents
    b = bf("a bell", seed=3, steps=4, sampler="euler", cfg_scale=1.0).latents
    rel = ((a - b).abs().max() / a.abs().max()).item()
    assert torch.isfinite(b).all() and rel < 0.1, rel  # bf16 has ~3 significant digits; 4 steps stay close
