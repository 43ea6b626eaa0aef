"""The built-in model geometry: size budget, MiniLM text tokens, all conditioners wired."""

from __future__ import annotations

import torch

from audiox.models.presets import build_model, get_preset


def test_builtin_size_budget():
    model = build_model("builtin", seed=0)
    dit = sum(p.numel() for p in model.dit.parameters())
    assert dit < 50e6  # "tens of millions at most"
    sd = model.state_dict()
    copy_prefix = "conditioner.conditioners.audio_prompt.pretransform"
    vae_copy = sum(v.numel() for k, v in sd.items() if k.startswith(copy_prefix))
    fp16_mb = (sum(v.numel() for v in sd.values()) - vae_copy) * 2 / 1e6  # the VAE copy is stored once
    assert fp16_mb < 60


def test_builtin_conditioning_shapes():
    cfg = get_preset("builtin")
    model = build_model(cfg, seed=0)
    sr = cfg.sample_rate
    inputs = {"video_prompt": torch.zeros(2, 50, 3, 64, 64),
              "text_prompt": ["a dog barks twice", "a dog barked two times"],
              "audio_prompt": torch.zeros(2, 1, 156 * cfg.downsampling_ratio)}
    cond = model.condition(inputs, sample_audio=False)
    assert cond.cross_attn_cond.shape == (2, 32 + 32 + 156, 192)
    text = cond.cross_attn_cond[:, 32:64]
    assert (text[0, 8:] == 0).all()  # padding rows zeroed
    a, b = text[0, 1:4].flatten(), text[1, 1:4].flatten()
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.5  # paraphrases are close
    assert sr == 16000 and cfg.latent_length == 160
