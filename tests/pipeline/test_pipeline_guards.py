"""The pipeline's own guards (for Python API callers) and the inputs it builds: continuation alignment as in
training, non-finite inputs and outputs refused, work limits."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch

from audiox.errors import AudioXError, InputError
from audiox.pipeline.settings import NO_LIMITS

FAST = dict(steps=2, sampler="euler")


def test_continuation_prompt_equals_training(pipe, tmp_path, monkeypatch):
    """A continuation head shorter than the audio prompt reaches the audio conditioner exactly as in training:
    right-aligned (zeros first), as data/dataset.py builds it (and the official code)."""
    from audiox.data.dataset import build_item
    from audiox.data.manifest import ManifestEntry

    geo = pipe.geometry
    train_geo = pipe.model.config.geometry
    sr = geo.sample_rate
    assert train_geo.prompt_samples == geo.prompt_samples > 0
    head_seconds = 0.25
    assert head_seconds * sr < geo.prompt_samples  # a short head: where left and right alignment differ
    clip = torch.randn(geo.channels, 2 * geo.sample_size, generator=torch.Generator().manual_seed(0)).clamp(-1, 1) * 0.5
    sf.write(tmp_path / "clip.wav", clip.T.numpy(), sr, subtype="FLOAT")
    entry = ManifestEntry(id="c", split="train", kind="sfx", task="continue", audio="clip.wav", video=None,
                          image=None, caption="x", audio_prompt={"mode": "continue", "spans": [[head_seconds, 2.0]]},
                          sample_rate=sr, seconds=clip.shape[-1] / sr, labels={})
    trained = build_item(entry, tmp_path, train_geo, 0, offset=0)["audio_prompt"]

    seen = []
    real = pipe.model.condition

    def spy(inputs, **kw):
        seen.append(inputs[pipe.ids.audio].cpu().clone())
        return real(inputs, **kw)

    monkeypatch.setattr(pipe.model, "condition", spy)
    head = clip[:, : round(head_seconds * sr)]
    pipe("x", audio=head, continue_audio=True, seconds=geo.window_seconds, seed=0, **FAST)
    assert torch.equal(seen[0][0], trained)  # the same float32 samples, so exactly equal
    n = head.shape[-1]
    assert torch.equal(trained[:, -n:], head) and not trained[:, :-n].any()


def test_non_finite_audio_tensor_refused(pipe):
    a = torch.zeros(1, 4000)
    a[0, 7] = float("nan")
    with pytest.raises(InputError, match="NaN or infinite"):
        pipe("x", audio=a, **FAST)


def test_diverging_guidance_is_an_error_not_silence(pipe, tmp_path):
    """cfg 1e30 (allowed only without limits) overflows to non-finite latents: an error, nothing written."""
    with pytest.raises(InputError, match="more than the limit of 100"):
        pipe("x", cfg_scale=1e30, seed=0, **FAST)
    with pytest.raises(AudioXError, match="diverged"):
        pipe("x", cfg_scale=1e30, seed=0, limits=NO_LIMITS, **FAST)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(steps=1001), "limit of 1000"), (dict(seed=2**64), "seed"), (dict(seed=-1), "seed"),
    (dict(video_start=float("nan")), "finite"), (dict(seconds=float("inf")), "finite"), (dict(steps=2.0), "integer"),
    (dict(text="a\udcff"), "UTF-8"), (dict(cfg_scale=float("nan")), "finite"),
])
def test_api_refuses(pipe, kwargs, needle):
    args = {**FAST, "text": "x", **kwargs}
    with pytest.raises(InputError, match=needle):
        pipe(args.pop("text"), **args)


def test_inpaint_length_bounded(pipe):
    """Inpainting keeps the clip's length: a clip longer than the limit is refused before any window runs."""
    long = torch.zeros(1, int(601 * pipe.geometry.sample_rate))
    with pytest.raises(InputError, match="limit"):
        pipe("x", audio=long, inpaint=[(1, 2)], **FAST)
