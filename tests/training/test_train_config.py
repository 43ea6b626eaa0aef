"""TrainConfig parsing, the InverseLR schedule, the EMA, trainable parts, timestep samplers, masking placement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_train_utils import make_corpus, train_config

from audiox.errors import ConfigError
from audiox.training.config import TrainConfig, inverse_lr_factor


def test_defaults_are_the_official_values() -> None:
    cfg = TrainConfig()
    assert (cfg.lr, cfg.betas, cfg.weight_decay) == (5e-5, (0.9, 0.999), 1e-3)
    assert (cfg.warmup, cfg.inv_gamma, cfg.power) == (0.99, 1e6, 0.5)
    assert (cfg.ema_beta, cfg.ema_power, cfg.ema_update_after_step) == (0.9999, 0.75, 1)
    assert cfg.masking.cfg_dropout_prob == 0.1 and cfg.timestep_sampler == "uniform" and not cfg.mask_padding
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad, key", [
    ({"lrr": 1.0}, "training.lrr"),
    ({"lr": "fast"}, "training.lr"),
    ({"precision": "8-bit"}, "training.precision"),
    ({"timestep_sampler": "sobol"}, "training.timestep_sampler"),
    ({"batch_size": 0}, "training.batch_size"),
    ({"masking": {"text_ratio": 0.1}}, "training.masking.text_ratio"),
    ({"masking": {"cfg_dropout_prob": 2.0}}, "training.masking.cfg_dropout_prob"),
])
def test_bad_keys_are_named(bad: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        TrainConfig.from_dict(bad)


def test_load_reads_official_training_block(tmp_path: Path) -> None:
    block = {"learning_rate": 1e-4, "use_ema": True, "cfg_dropout_prob": 0.2, "timestep_sampler": "logit_normal",
             "optimizer_configs": {"diffusion": {
                 "optimizer": {"type": "AdamW", "config": {"lr": 5e-5, "betas": [0.9, 0.99], "weight_decay": 1e-3}},
                 "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 1e6, "power": 0.5, "warmup": 0.99}}}}}
    (tmp_path / "model.json").write_text(json.dumps({"model_type": "diffusion_cond", "training": block}))
    cfg = TrainConfig.load(tmp_path / "model.json")
    assert cfg.lr == 5e-5 and cfg.betas == (0.9, 0.99) and cfg.masking.cfg_dropout_prob == 0.2
    assert cfg.timestep_sampler == "logit_normal"
    (tmp_path / "train.json").write_text(json.dumps({"lr": 2e-4, "masking": {"text_word_ratio": 0.3}}))
    cfg = TrainConfig.load(tmp_path / "train.json")
    assert cfg.lr == 2e-4 and cfg.masking.text_word_ratio == 0.3


def test_inverse_lr_schedule() -> None:
    cfg = TrainConfig()
    for step in (0, 1, 10, 500, 10**6):
        want = (1 - 0.99 ** (step + 1)) * (1 + step / 1e6) ** -0.5
        assert inverse_lr_factor(step, cfg) == pytest.approx(want, rel=1e-12)
    lin = TrainConfig(schedule="constant", warmup_steps=4)
    assert [inverse_lr_factor(s, lin) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    floor = TrainConfig(final_lr=4e-5, warmup=0.0, inv_gamma=1.0)
    assert inverse_lr_factor(100, floor) == pytest.approx(0.8)


def test_ema_follows_ema_pytorch_decay() -> None:
    from audiox.training.ema import EMA

    net = torch.nn.Linear(2, 1, bias=False)
    ema = EMA(net, beta=0.9, power=0.5, update_after_step=1)
    values = []
    for step in range(6):
        with torch.no_grad():
            net.weight.fill_(float(step))
        ema.update(net)
        values.append(float(ema.ema_model.weight[0, 0]))
    # updates 0 and 1 copy; then decay_k = min(1 - (1 + k)^-0.5, 0.9) with k = updates so far - 2
    expect, w = [0.0, 1.0], 1.0
    for step in range(2, 6):
        k = step + 1 - 1 - 1
        d = 0.0 if k <= 0 else min(1 - (1 + k) ** -0.5, 0.9)
        w = d * w + (1 - d) * step
        expect.append(w)
    assert values == pytest.approx(expect)  # float32 weights against float64 arithmetic: rel 1e-6 = 8 ulps
    assert not ema.ema_model.weight.requires_grad and int(ema.step) == 6


def test_trainable_parts() -> None:
    from audiox.models.presets import build_model
    from audiox.training.module import AudioXTrainingModule, trainable_names

    model = build_model("debug", seed=0)
    module = AudioXTrainingModule(model, TrainConfig())
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("model.model.") for n in names)
    for want in ("video_prompt.Temp_transformer.norm.weight", "video_prompt.proj.weight", "empty_visual_feat",
                 "audio_prompt.proj_out.weight", "empty_audio_feat", "video_prompt.Temp_pos_embedding"):
        assert any(n.endswith(want) for n in names), want
    assert not any("pretransform." in n or "visual_encoder_model." in n or "text_prompt.encoder." in n
                   for n in names)
    module.train()
    assert not model.conditioner.conditioners["video_prompt"].visual_encoder_model.training
    assert model.dit.training
    only = trainable_names(model, ("model.model.transformer.layers.0.*",))
    assert only and all(n.startswith("model.model.transformer.layers.0.") for n in only)
    with pytest.raises(ConfigError, match="'vae'"):
        trainable_names(model, ("vae",))
    with pytest.raises(ConfigError, match="matches no parameter"):
        trainable_names(model, ("no.such.*",))


def test_timestep_samplers() -> None:
    from audiox.training.module import sample_timesteps

    for name in ("uniform", "logit_normal"):
        cfg = TrainConfig(timestep_sampler=name)
        t = sample_timesteps(4096, cfg, torch.Generator().manual_seed(0))
        assert t.shape == (4096,) and float(t.min()) >= 0 and float(t.max()) < 1
        assert torch.equal(t, sample_timesteps(4096, cfg, torch.Generator().manual_seed(0)))
        assert abs(float(t.mean()) - 0.5) < 0.02  # 4096 draws in [0, 1]: the mean's std is <= 0.0045
    u = sample_timesteps(64, TrainConfig(), torch.Generator().manual_seed(1))
    assert torch.equal(torch.sort((u * 64).floor())[0], torch.arange(64.0))  # Sobol: one per 1/64 stratum
    z = torch.logit(sample_timesteps(20000, TrainConfig(timestep_sampler="logit_normal", logit_normal_std=0.5),
                                     torch.Generator().manual_seed(2)))
    assert float(z.std()) == pytest.approx(0.5, rel=0.05)  # 20000 draws: the sample std's own std is 0.5 %


def test_masking_only_in_training_and_cfg_dropout_zeroes_context(tmp_path: Path) -> None:
    from audiox.data.dataset import ManifestDataset, collate
    from audiox.models.presets import build_model
    from audiox.training.module import AudioXTrainingModule
    from audiox.training.preencode import encode_frozen

    model = build_model("debug", seed=0)
    ds = ManifestDataset(make_corpus(tmp_path, n_text=2, media=True), model.config.geometry, random_crop=False)
    batch = collate([ds[(i, 0)] for i in range(len(ds))])
    cfg = train_config(masking={"video_patch_size": 8, "video_patch_ratio": 0.5, "text_word_ratio": 0.5,
                                "cfg_dropout_prob": 0.5})
    module = AudioXTrainingModule(model, cfg)
    with torch.no_grad():
        plain = encode_frozen(model, batch)
        feats, info = module.features(batch, torch.Generator().manual_seed(0), training=False)
        assert info == {} and all(torch.equal(feats[k], plain[k]) for k in plain)  # eval never masks
        masked, info = module.features(batch, torch.Generator().manual_seed(0), training=True)
    assert not torch.equal(masked["video_features"], plain["video_features"])
    assert float(info["video_patch_ratio"][2]) == 0.5 and info["text_word_ratio"].max() > 0

    seen = {}
    forward = model.dit.forward

    def spy(x, t, cross_attn_cond=None, **kw):
        seen["ctx"] = cross_attn_cond
        return forward(x, t, cross_attn_cond=cross_attn_cond, **kw)

    model.dit.forward = spy
    loss, info = module.loss(batch, torch.Generator().manual_seed(3), training=True)
    dropped = info["cfg_dropped"]
    assert math.isfinite(float(loss)) and 0 < int(dropped.sum()) < len(dropped)
    norms = seen["ctx"].abs().flatten(1).sum(1)
    assert bool((norms[dropped] == 0).all()) and bool((norms[~dropped] > 0).all())


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("builtin_*.json")) + sorted(CONFIG_DIR.glob("ladder/*.json")),
                         ids=lambda p: p.name)
def test_shipped_training_configs_load(path: Path) -> None:
    """Every recipe config in configs/ parses; the no-mask ablations differ from their recipe only in masking."""
    cfg = TrainConfig.load(path)
    assert cfg.masking.cfg_dropout_prob == 0.1
    if path.stem.endswith("_nomask"):
        recipe = TrainConfig.load(path.with_name(path.name.replace("_nomask", "")))
        assert cfg.masking.drop_video_prob == cfg.masking.drop_text_prob == cfg.masking.drop_audio_prob == 0.0
        assert cfg.masking.video_patch_ratio == cfg.masking.text_word_ratio == 0.0
        assert recipe.masking.drop_video_prob > 0 and recipe.masking.video_patch_ratio > 0
        assert cfg.to_dict() | {"masking": None} == recipe.to_dict() | {"masking": None}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("vae_*.json")), ids=lambda p: p.name)
def test_shipped_vae_configs_load_and_make_the_shipped_decoder(path: Path) -> None:
    """Every ``audiox train-vae --config`` recipe parses; its decoder section is the built-in model's decoder."""

    from audiox.config import load_config
    from audiox.models.presets import get_preset
    from audiox.training.autoencoder import VAETrainConfig, with_decoder

    cfg = VAETrainConfig.load(path)
    shipped = load_config(CONFIG_DIR.parent / "audiox" / "assets" / "builtin" / "config.json").model.pretransform
    if cfg.decoder is not None:
        assert with_decoder(get_preset("builtin").model.pretransform, cfg.decoder).config == shipped.config
