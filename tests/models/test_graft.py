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


def test_grafted_dit_computes_the_source_until_new_inputs_train(tmp_path):
    from audiox.checkpoint.native import save_native

    small = builtin_text_config(width=64, depth=1, heads=2)
    big = builtin_config(width=64, depth=1, heads=2, text_route="sentence", cross_attention=False)
    src_model = build_model(small, seed=1)
    src = src_model.model.model
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-zero everywhere (a fresh DiT zero-initialises some layers)
        for p in src.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    save_native(src_model, tmp_path / "src")
    dst_model = build_model(big, seed=2)
    extended, fresh = _graft_fn()(dst_model, [str(tmp_path / "src")])
    assert {k.removeprefix("model.model.") for k in extended} == {
        "to_global_embed.0.weight", "transformer.project_in.weight", "preprocess_conv.weight"}
    lacking = ("conditioner.conditioners.video_prompt.", "conditioner.conditioners.audio_prompt.")
    assert fresh and all(k.startswith(lacking) for k in fresh)  # only the conditioners the text rung lacks
    dst = dst_model.model.model
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


def test_warm_start_extends_only_when_asked(tmp_path):
    from audiox.checkpoint.native import save_native
    from audiox.training.run import warm_start

    src = build_model(builtin_text_config(width=64, depth=1, heads=2), seed=1)
    save_native(src, tmp_path / "src")
    big = build_model(builtin_config(width=64, depth=1, heads=2, text_route="sentence", cross_attention=False), seed=2)
    before = big.state_dict()["model.model.to_global_embed.0.weight"].clone()
    report = warm_start(big, str(tmp_path / "src"))  # same name and shape only, as `train --init`
    assert not report["extended"] and "model.model.to_global_embed.0.weight" in report["unused"]
    assert torch.equal(big.state_dict()["model.model.to_global_embed.0.weight"], before)
    report = warm_start(big, str(tmp_path / "src"), extend=True)
    assert "model.model.to_global_embed.0.weight" in report["extended"]
    w = big.state_dict()["model.model.to_global_embed.0.weight"]
    assert torch.equal(w[:, :384], src.state_dict()["model.model.to_global_embed.0.weight"]) and not w[:, 384:].any()
