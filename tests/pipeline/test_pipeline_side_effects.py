"""A pipeline leaves its model as it found it: its :class:`RunOptions` go to each call, never onto the model.

Two pipelines over one model with different options (the fast path and the reference order) give, interleaved,
the same bits as each alone; and no module of the model has any attribute changed by building or running them
(an option written onto the model, e.g. the DiT's attention backend or the VAEs' 2-D layout, fails both checks).
"""

from __future__ import annotations

import pytest
import torch

from audiox.pipeline.settings import DEFAULT_RUN, REFERENCE_RUN

FEW = dict(steps=2, sampler="dpmpp-3m-sde", cfg_scale=4.0, seconds=2.0, seed=5)


def _state(model: torch.nn.Module) -> dict[str, dict]:
    """Every module's plain attributes (flags, backends, layouts) and training mode, by module name."""
    return {name: {k: v for k, v in vars(m).items() if not k.startswith("_") and not isinstance(v, torch.Tensor)}
            | {"training": m.training} for name, m in model.named_modules()}


def _generate(pipe) -> torch.Tensor:
    clip = torch.sin(torch.arange(8000) / 8000 * 2 * torch.pi * 300)[None] * 0.3  # through the prompt's VAE
    return pipe("a bell rings", audio=clip, **FEW).audio


def test_two_pipelines_over_one_model(debug_model_dir):
    from audiox.checkpoint.official import load_model
    from audiox.pipeline import AudioXPipeline

    model = load_model(debug_model_dir)
    before = _state(model)
    fast_alone = _generate(AudioXPipeline(model, options=DEFAULT_RUN))
    ref_alone = _generate(AudioXPipeline(model, options=REFERENCE_RUN))
    assert not torch.equal(fast_alone, ref_alone)  # the options matter to the bits, so the test can see them

    fast, ref = AudioXPipeline(model, options=DEFAULT_RUN), AudioXPipeline(model, options=REFERENCE_RUN)
    assert torch.equal(_generate(fast), fast_alone)  # built after `ref`: its options are not the model's
    assert torch.equal(_generate(ref), ref_alone)
    assert torch.equal(_generate(fast), fast_alone)
    after = _state(model)
    changed = sorted(f"{name}.{k}" for name in before for k in before[name] if before[name][k] != after[name][k])
    assert not changed, f"the pipelines wrote onto the model: {changed}"


def test_training_mode_model_is_refused(debug_model_dir):
    """The pipeline does not switch a model to eval mode for its caller (that would change the caller's model)."""
    from audiox.checkpoint.official import load_model
    from audiox.pipeline import AudioXPipeline

    model = load_model(debug_model_dir).train()
    with pytest.raises(ValueError, match=r"model: in training mode; give model.eval\(\)"):
        AudioXPipeline(model)
    assert model.training
