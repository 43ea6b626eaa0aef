"""``scripts/graft_weights.py``: a text-rung DiT grafted into the v3 built-in geometry (video and audio-prompt
inputs appended) computes what it computed before, until training turns the new inputs on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from audiox.models.presets import build_model, builtin_config, builtin_text_config

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "graft_weights.py"


def _graft_fn():
    spec = importlib.util.spec_from_file_location("graft_weights", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.graft


def test_v3_preset_differs_from_v2_only_where_documented():
    v2, v3 = builtin_config(), builtin_config(text_route="sentence", cross_attention=False, scale=[1.0] * 32)
    d2, d3 = v2["model"]["diffusion"], v3["model"]["diffusion"]
    assert d2["cross_attention_cond_ids"] == ["video_prompt", "text_prompt", "audio_prompt"]
    assert d3["cross_attention_cond_ids"] == []
    assert d2["config"]["global_cond_dim"] == 3 * 192 and d3["config"]["global_cond_dim"] == 384 + 2 * 192
    assert v3["model"]["pretransform"]["scale"] == [1.0] * 32
    audio = next(c for c in v3["model"]["conditioning"]["configs"] if c["id"] == "audio_prompt")
    assert audio["config"]["pretransform_config"]["scale"] == [1.0] * 32  # the prompt's VAE copy scales alike


def test_grafted_dit_computes_the_source_until_new_inputs_train():
    small = builtin_text_config(width=64, depth=1, heads=2)
    big = builtin_config(width=64, depth=1, heads=2, text_route="sentence", cross_attention=False)
    src = build_model(small, seed=1).model.model
    dst = build_model(big, seed=2).model.model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-zero everywhere (a fresh DiT zero-initialises some layers)
        for p in src.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    sd, extended, fresh = _graft_fn()(dst.state_dict(), [src.state_dict()])
    assert not fresh
    assert {e.split(":")[0] for e in extended} == {"to_global_embed.0.weight", "transformer.project_in.weight",
                                                    "preprocess_conv.weight"}
    dst.load_state_dict(sd)
    src.eval(), dst.eval()
    x = torch.randn(2, 32, 20, generator=g)
    t = torch.rand(2, generator=g)
    sentence = torch.randn(2, 384, generator=g)
    others = torch.randn(2, 2 * 192, generator=g)  # pooled video and audio prompt: any values
    frames = torch.randn(2, 32, 20, generator=g)  # per-frame video features: any values
    with torch.no_grad():
        want = src(x, t, global_cond=sentence)
        got = dst(x, t, global_cond=torch.cat([sentence, others], 1), input_concat_cond=frames)
    # the appended inputs meet exact zeros, so only the summation order of the wider matmuls differs (float32,
    # sums of <= 768 terms of size ~1: a few ulp of the output scale)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # and the new inputs do count once their weights move
        dst.to_global_embed[0].weight[:, 400] += 1.0
        moved = dst(x, t, global_cond=torch.cat([sentence, others], 1), input_concat_cond=frames)
    assert (moved - want).abs().max() > 1e-3
