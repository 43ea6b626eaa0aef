"""Condition routing beyond cross-attention: number conditioners as global conditions, prepend and input-concat."""

from __future__ import annotations

import torch
from tolerances import layer_bound, rel_err

from audiox.models.diffusion import make_denoiser
from audiox.models.presets import build_model, debug_config


def _sao_style() -> dict:
    cfg = debug_config()
    confs = cfg["model"]["conditioning"]["configs"]
    confs += [{"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
              {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
              {"id": "prepend_text", "type": "number", "config": {"min_val": 0, "max_val": 1}}]
    d = cfg["model"]["diffusion"]
    d["global_cond_ids"] = ["seconds_start", "seconds_total"]
    d["prepend_cond_ids"] = ["prepend_text"]
    d["config"]["global_cond_dim"] = 64
    d["config"]["prepend_cond_dim"] = 32
    return cfg


def _inputs(b: int = 2, total=(5.0, 9.0)) -> dict:
    return {"video_prompt": torch.zeros(b, 10, 3, 32, 32), "text_prompt": ["a"] * b,
            "audio_prompt": torch.zeros(b, 1, 4096), "seconds_start": [0.0] * b, "seconds_total": list(total),
            "prepend_text": [0.5] * b}


def test_number_conditioner_encoding():
    model = build_model(_sao_style(), seed=0)
    cond = model.conditioner.conditioners["seconds_total"]
    y, mask = cond([0.0, 256.0, 1000.0])
    assert y.shape == (3, 1, 32) and mask.shape == (3, 1)
    y2, _ = cond([512.0])
    # clamped to max_val: the same math in another batch size (another GEMM blocking): Fourier features + linear
    k = model.state_dict()["conditioner.conditioners.seconds_total.embedder.embedding.1.weight"].shape[1]
    assert rel_err(y[2], y2[0]) <= layer_bound(2, k)
    keys = [k for k in model.state_dict() if k.startswith("conditioner.conditioners.seconds_total.")]
    assert keys == ["conditioner.conditioners.seconds_total.embedder.embedding.0.weights",
                    "conditioner.conditioners.seconds_total.embedder.embedding.1.weight",
                    "conditioner.conditioners.seconds_total.embedder.embedding.1.bias"]


def test_global_and_prepend_conditions_reach_the_dit():
    model = build_model(_sao_style(), seed=0)
    with torch.no_grad():
        for p in model.dit.parameters():  # undo the zero init so every path matters
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    c1 = model.condition(_inputs(total=(5.0, 9.0)), sample_audio=False)
    c2 = model.condition(_inputs(total=(5.0, 300.0)), sample_audio=False)
    assert c1.global_cond.shape == (2, 64) and c1.prepend_cond.shape == (2, 1, 32)
    x = torch.randn(2, 8, 128, generator=torch.Generator().manual_seed(0))
    sigma = torch.full((2,), 1.0)
    d1 = make_denoiser(model.dit, c1.cross_attn_cond, cfg_scale=3.0, extra=c1.extras())(x, sigma)
    d2 = make_denoiser(model.dit, c2.cross_attn_cond, cfg_scale=3.0, extra=c2.extras())(x, sigma)
    assert d1.shape == x.shape
    assert torch.equal(d1[0], d2[0])  # same timing for item 0: same inputs and shapes, so the same arithmetic
    # the total length conditions item 1: by more than rounding can explain (the DiT's bound: 10 products per
    # block and 10 around them, sums of up to 4 x embed_dim)
    assert rel_err(d1[1], d2[1]) > layer_bound(10 * model.dit.params.depth + 10, 4 * model.dit.params.embed_dim)
