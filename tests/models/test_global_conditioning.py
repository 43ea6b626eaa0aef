"""The built-in model's conditioning routes (an audiox extension; official configs keep the official behaviour):
pooled prompts into adaLN modulation, the video's per-frame features on the input-concat route, their null under
classifier-free guidance and CFG dropout, and ``--init`` warm starts."""

from __future__ import annotations

import copy

import pytest
import torch

from audiox.config import parse_config
from audiox.errors import ConfigError
from audiox.models.conditioners.multi import pooled
from audiox.models.diffusion import guided_forward
from audiox.models.presets import build_model, debug_config


def v2_debug(frame_dim: int = 8) -> dict:
    """The debug model wired like the built-in model: global (adaLN) + per-frame video + cross-attention."""
    cfg = debug_config()
    for c in cfg["model"]["conditioning"]["configs"]:
        if c["type"] == "clip":
            c["config"]["frame_dim"] = frame_dim
    d = cfg["model"]["diffusion"]
    d["global_cond_ids"] = ["text_prompt", "video_prompt", "audio_prompt"]
    d["input_concat_ids"] = ["video_prompt"]
    d["config"].update(global_cond_dim=3 * 32, global_cond_type="adaLN", input_concat_dim=frame_dim)
    return cfg


def _inputs(video: torch.Tensor | None = None, texts=("a dog barks", "")) -> dict:
    b = len(texts)
    return {"video_prompt": torch.zeros(b, 10, 3, 32, 32) if video is None else video, "text_prompt": list(texts),
            "audio_prompt": torch.zeros(b, 1, 4096)}


def _perturb(module: torch.nn.Module, scale: float = 0.05) -> None:
    """Undo zero inits so that every path matters."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * scale)


def test_pooled_is_the_mean_of_valid_tokens() -> None:
    tokens = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = pooled(tokens, mask)
    assert torch.equal(out[0], tokens[0, :2].mean(0))  # exact: a sum of two floats and a halving
    assert torch.equal(out[1], torch.zeros(4))  # no valid token: zero
    assert torch.equal(pooled(tokens, torch.ones(2, 1)), tokens.mean(1))  # one mask per item: all tokens


def test_fresh_adaln_blocks_equal_unmodulated_blocks() -> None:
    """adaLN's modulation is zero-initialised: a fresh model computes exactly what the same weights compute
    without it (the blocks' other weights are shared)."""
    cfg = v2_debug()
    plain = copy.deepcopy(cfg)
    plain["model"]["diffusion"]["config"]["global_cond_type"] = "prepend"
    a, b = build_model(cfg, seed=0), build_model(plain, seed=0)
    _perturb(b.dit)
    missing = a.dit.load_state_dict(b.dit.state_dict(), strict=False).missing_keys
    assert missing and all("to_scale_shift_gate" in k for k in missing)
    cond = b.condition(_inputs(), sample_audio=False)
    x, t = torch.randn(2, 8, 128, generator=torch.Generator().manual_seed(1)), torch.tensor([0.3, 0.8])
    with torch.no_grad():
        assert torch.equal(a.dit(x, t, cross_attn_cond=cond.cross_attn_cond, **cond.extras()),
                           b.dit(x, t, cross_attn_cond=cond.cross_attn_cond, **cond.extras()))


def test_routes_carry_the_prompts() -> None:
    model = build_model(v2_debug(), seed=0)
    _perturb(model)
    video = torch.zeros(2, 10, 3, 32, 32)
    video[0, 4:] = 200  # item 0: a video whose second half is bright; item 1: no video
    cond = model.condition(_inputs(video), sample_audio=False)
    assert cond.global_cond.shape == (2, 96) and cond.input_concat_cond.shape == (2, 8, 10)
    frames = cond.input_concat_cond
    assert torch.equal(frames[1], torch.zeros(8, 10))  # absent video: zero frames (the null)
    assert (frames[0] != 0).any()
    # the text's pooled part is the mean of its valid tokens, as the cross-attention carries them
    s, e = cond.spans["text_prompt"]
    text_tokens = cond.cross_attn_cond[0, s:e]
    valid = text_tokens.abs().sum(-1) > 0
    torch.testing.assert_close(cond.global_cond[0, :32], text_tokens[valid].mean(0), rtol=1e-6, atol=1e-6)
    x, t = torch.randn(2, 8, 128, generator=torch.Generator().manual_seed(1)), torch.tensor([0.5, 0.5])
    with torch.no_grad():
        out = model.dit(x, t, cross_attn_cond=cond.cross_attn_cond, **cond.extras())
        no_global = model.dit(x, t, cross_attn_cond=cond.cross_attn_cond,
                              input_concat_cond=cond.input_concat_cond)
        no_frames = model.dit(x, t, cross_attn_cond=cond.cross_attn_cond, global_cond=cond.global_cond,
                              input_concat_cond=torch.zeros_like(cond.input_concat_cond))
    assert (out - no_global).abs().max() > 1e-3  # the pooled prompts modulate the blocks
    assert (out[0] - no_frames[0]).abs().max() > 1e-3  # the frames reach the latents
    assert torch.equal(out[1], no_frames[1])  # item 1's frames are zero already


def test_guidance_null_zeroes_global_and_frames_like_cfg_dropout() -> None:
    from audiox.training.module import drop_conditions

    model = build_model(v2_debug(), seed=0)
    _perturb(model)
    video = torch.full((2, 10, 3, 32, 32), 120.0)
    cond = model.condition(_inputs(video), sample_audio=False)
    null = drop_conditions(cond, torch.ones(2, dtype=torch.bool))
    assert not null.cross_attn_cond.any() and not null.global_cond.any() and not null.input_concat_cond.any()
    kept = drop_conditions(cond, torch.tensor([False, True]))
    assert torch.equal(kept.global_cond[0], cond.global_cond[0]) and not kept.global_cond[1].any()
    dit = model.dit
    x, t = torch.randn(2, 8, 128, generator=torch.Generator().manual_seed(2)), torch.tensor([0.4, 0.9])
    with torch.no_grad():
        kv, ukv = dit.context_kv(cond.cross_attn_cond), dit.context_kv(null.cross_attn_cond)
        guided = guided_forward(dit, x, t, kv, cfg_scale=4.0, uncond_kv=ukv, extra=cond.extras())
        c = dit(x, t, cross_attn_cond=cond.cross_attn_cond, **cond.extras())
        u = dit(x, t, cross_attn_cond=null.cross_attn_cond, **null.extras())
    # one doubled batch against two separate ones: a different GEMM blocking, so agreement to float32 rounding of
    # the guided combination (|u + 4 (c - u)| amplifies each branch's rounding by at most 2 * 4 + 1 = 9)
    torch.testing.assert_close(guided, u + 4.0 * (c - u), rtol=1e-5, atol=9 * 1e-5)


def test_clip_input_concat_needs_frame_dim() -> None:
    cfg = v2_debug(frame_dim=0)
    cfg["model"]["diffusion"]["config"]["input_concat_dim"] = 8
    with pytest.raises(ConfigError, match=r"input_concat_ids\[0\].*frame_dim"):
        parse_config(cfg)
    cfg = v2_debug(frame_dim=8)
    cfg["model"]["diffusion"]["config"]["input_concat_dim"] = 6
    with pytest.raises(ConfigError, match=r"input_concat_dim: 6 != 8"):
        parse_config(cfg)


def test_training_step_uses_every_route() -> None:
    """The training loss sees the global and per-frame conditions: their gradients are non-zero (once the zero-
    initialised residual outputs have moved: perturbed here, as after the first optimizer step)."""
    from audiox.training.config import TrainConfig
    from audiox.training.module import AudioXTrainingModule

    model = build_model(v2_debug(), seed=0)
    _perturb(model.dit)
    cfg = TrainConfig.from_dict({"batch_size": 2, "use_ema": False, "masking": {"enabled": False}})
    module = AudioXTrainingModule(model, cfg)
    video = torch.zeros(2, 10, 3, 32, 32)
    video[:, 3:] = 90
    batch = {"id": ["a", "b"], "audio": torch.randn(2, 1, 8192, generator=torch.Generator().manual_seed(0)) * 0.1,
             "video": video, "text": ["a dog barks", "rain"], "audio_prompt": torch.zeros(2, 1, 4096)}
    loss, _ = module.loss(batch, torch.Generator().manual_seed(0), training=True)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert any("to_scale_shift_gate" in n and g.abs().sum() > 0 for n, g in grads.items())
    assert grads["model.model.to_global_embed.0.weight"].abs().sum() > 0
    assert grads["conditioner.conditioners.video_prompt.frame_proj.weight"].abs().sum() > 0


def test_warm_start_loads_matching_tensors(tmp_path) -> None:
    from audiox.checkpoint.native import save_native
    from audiox.training.run import warm_start

    old = build_model("debug", seed=1)
    save_native(old, tmp_path / "old")
    new = build_model(v2_debug(), seed=0)
    report = warm_start(new, str(tmp_path / "old"))
    sd_old, sd_new = old.state_dict(), new.state_dict()
    assert report["loaded"] and all(torch.equal(sd_new[k], sd_old[k]) for k in report["loaded"])
    assert "conditioner.conditioners.video_prompt.frame_proj.weight" in report["fresh"]
    assert "model.model.transformer.project_in.weight" in report["fresh"]  # other input width: not loaded
    assert "model.model.transformer.project_in.weight" in report["unused"]
    with pytest.raises(ConfigError, match="no tensor matches"):
        warm_start(build_model("debug", seed=0), str(_lonely(tmp_path)))


def _lonely(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"nothing.like.this": torch.zeros(2)}, str(path))
    return path


def test_skipping_empty_videos_changes_nothing_else() -> None:
    """Models with per-frame features encode only the present videos of a batch; the present ones get what a
    batch of them alone gets, the empty ones the learned empty feature and zero frames."""
    model = build_model(v2_debug(), seed=0)
    _perturb(model)
    video = torch.zeros(3, 10, 3, 32, 32)
    video[0, 2:] = 150
    video[2, :5] = 60
    cond = model.conditioner.conditioners["video_prompt"]
    with torch.no_grad():
        feats = cond.frozen_features(video)
        y, frames, empty = cond.tokens_and_frames(feats)
        alone = {k: v[[0, 2]] for k, v in feats.items()}
        y_alone, frames_alone, _ = cond.tokens_and_frames(alone)
    assert empty.tolist() == [False, True, False]
    # float32, another batch size (GEMM blocking): rounding of a 1-layer temporal transformer and two projections
    torch.testing.assert_close(y[[0, 2]], y_alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(frames[[0, 2]], frames_alone, rtol=1e-5, atol=1e-5)
    assert torch.equal(y[1], cond.empty_visual_feat[0]) and not frames[1].any()
