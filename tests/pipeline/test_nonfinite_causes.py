"""A non-finite generation names its cause: damaged weights (which tensor), or the input that gave non-finite
conditions, checked before sampling; only finite conditions and weights leave the guidance scale to blame."""

from __future__ import annotations

import pytest
import torch

from audiox.errors import AudioXError
from audiox.pipeline import AudioXPipeline
from audiox.pipeline.settings import NO_LIMITS

FAST = dict(steps=2, sampler="euler", seed=0)


@pytest.fixture
def fresh(debug_model_dir):
    """A pipeline of its own (its weights are damaged by the tests)."""
    return AudioXPipeline.from_pretrained(debug_model_dir, device="cpu")


def _poison(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(float("nan"))


@pytest.mark.parametrize("part, named", [
    ("dit", "model weights: model.model."),
    ("decoder", "model weights: pretransform.model.decoder."),
    ("whole", "model weights: "),
])
def test_nan_weights_are_named_not_the_guidance_scale(fresh, part, named):
    """All-NaN weights used to run the model, then blame the guidance scale."""
    model = fresh.model
    _poison({"dit": model.dit, "decoder": model.pretransform.model.decoder, "whole": model}[part])
    with pytest.raises(AudioXError) as e:
        fresh("rain", **FAST)
    msg = str(e.value)
    assert msg.startswith(named) and "NaN or infinite" in msg and "guidance" not in msg, msg


def test_nan_conditioner_weights_are_caught_before_sampling(fresh, monkeypatch):
    """A damaged audio-prompt encoder gives non-finite conditions: refused before the sampler runs."""
    import audiox.sampling.registry as registry

    monkeypatch.setattr(registry, "sample", lambda *a, **k: pytest.fail("sampling started"))
    _poison(fresh.model.conditioner.conditioners[fresh.ids.audio])
    with pytest.raises(AudioXError, match=rf"^model weights: conditioner\.conditioners\.{fresh.ids.audio}\."):
        fresh("rain", audio=torch.full((1, 4000), 0.1), **FAST)


def test_non_finite_conditions_from_a_finite_model_name_the_input(fresh, monkeypatch):
    """Finite weights but non-finite features (an input out of range): the input is named, before sampling."""
    import audiox.sampling.registry as registry

    monkeypatch.setattr(registry, "sample", lambda *a, **k: pytest.fail("sampling started"))
    cond = fresh.model.conditioner.conditioners[fresh.ids.audio]
    real = cond.frozen_features

    def overflowing(audio, **kw):
        out = real(audio, **kw)
        return {**out, "prompt_raw": out["prompt_raw"] * float("inf")}

    monkeypatch.setattr(cond, "frozen_features", overflowing)
    with pytest.raises(AudioXError, match=r"^audio: the audio_prompt conditioner gives non-finite features .*"
                                          r"peak \|sample\| 0\.3"):
        fresh("rain", audio=torch.full((1, 4000), 0.3), **FAST)


def test_non_finite_latents_of_the_kept_clip_name_the_clip(fresh, monkeypatch):
    encode = fresh.model.encode
    monkeypatch.setattr(fresh.model, "encode", lambda audio, **kw: encode(audio, **kw) * float("inf"))
    with pytest.raises(AudioXError, match="^audio: the clip to keep encodes to non-finite latents"):
        fresh("rain", audio=torch.full((1, 4000), 0.3), continue_audio=True, **FAST)


def test_guidance_is_blamed_only_when_conditions_and_weights_are_finite(fresh):
    with pytest.raises(AudioXError, match="^the sampler diverged: .*cfg_scale 1e\\+30.*try a lower guidance scale"):
        fresh("rain", cfg_scale=1e30, limits=NO_LIMITS, **FAST)
