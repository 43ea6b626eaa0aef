"""Adversarial VAE training: discriminator shapes, config checks, the default path untouched, exact resume."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from test_vae_training import _corpus

from audiox.errors import ConfigError
from audiox.models.discriminators import DiscriminatorConfig, MultiDiscriminator
from audiox.models.presets import get_preset
from audiox.training.autoencoder import VAETrainConfig, VAETrainingModule

# tiny discriminators for a 1024-sample crop: 5 periods + 2 STFT sizes, width 4
ADV = {"crop": 1024, "batch_size": 2, "adversarial_weight": 0.1, "feature_matching_weight": 2.0, "disc_lr": 1e-3,
       "disc_start_step": 1, "fft_sizes": [512, 128, 32],
       "discriminator": {"periods": [2, 3, 5, 7, 11], "fft_sizes": [256, 128], "channels": 4}}


def test_discriminator_output_shapes():
    c = 3
    disc = MultiDiscriminator(DiscriminatorConfig(periods=(3,), fft_sizes=(256,), channels=c))
    out = disc(torch.randn(2, 2, 1000))  # (B, C, T): channels are judged separately -> 4 rows
    assert len(out) == 2
    (p_logits, p_feats), (r_logits, r_feats) = out
    # period 3: 1000 -> padded 1002 -> 334 rows; each (5, 1) conv of stride 3, padding 2: n -> (n - 1) // 3 + 1
    assert [tuple(f.shape) for f in p_feats] == [(4, c, 112, 3), (4, 2 * c, 38, 3), (4, 4 * c, 13, 3),
                                                 (4, 4 * c, 5, 3)]
    assert p_logits.shape == (4, 5 * 3)
    # STFT 256, hop 64: 1 + 1000 // 64 = 16 frames, 129 bins; each (3, 9) conv of stride (1, 2): bins 65, 33, 17, 9
    assert [tuple(f.shape) for f in r_feats] == [(4, c, 16, 65), (4, c, 16, 33), (4, c, 16, 17), (4, c, 16, 9)]
    assert r_logits.shape == (4, 16 * 9)
    assert len(MultiDiscriminator(DiscriminatorConfig())(torch.randn(1, 1, 4096))) == 8  # 5 periods + 3 sizes


def test_default_config_builds_no_discriminator():
    module = VAETrainingModule(get_preset("debug").model.pretransform, VAETrainConfig())
    assert module.automatic_optimization and not hasattr(module, "discriminator")
    assert all(k.startswith("vae.") for k in module.state_dict())
    assert isinstance(module.configure_optimizers(), torch.optim.AdamW)  # one optimizer, as before


def test_bad_adversarial_config_names_the_key(tmp_path):
    cases = [({"discriminator": {"period": [2]}}, r"discriminator\.period: unknown key"),
             ({"discriminator": {"periods": [1, 2]}}, r"discriminator\.periods: each must be >= 2"),
             ({"discriminator": {"channels": 0}}, r"discriminator\.channels: must be >= 1"),
             ({"disc_lr": 0}, r"disc_lr: must be a finite number > 0"),
             ({"disc_start_step": -1}, r"disc_start_step: must be a finite number >= 0"),
             ({**ADV, "discriminator": {"fft_sizes": [1024]}}, r"discriminator\.fft_sizes: each must be shorter")]
    for data, pattern in cases:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        with pytest.raises(ConfigError, match=r"bad\.json: " + pattern):
            VAETrainConfig.load(bad)


def test_adversarial_training_resumes_exactly(tmp_path, capsys):
    """4 steps straight == 2 steps + ``--resume`` 2 steps: VAE, discriminator and both optimizers bitwise equal."""
    from safetensors.torch import load_file

    from audiox.cli import main
    from audiox.training.vae_run import train_vae

    cfg = get_preset("debug")
    data = _corpus(tmp_path)
    (tmp_path / "adv.json").write_text(json.dumps(ADV))
    tcfg = VAETrainConfig.load(tmp_path / "adv.json")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from audiox.training.autoencoder import load_corpus_audio

        clips = load_corpus_audio(data, cfg.sample_rate, cfg.audio_channels)
        res = train_vae(cfg.model.pretransform, clips, tmp_path / "a", dataclasses.replace(tcfg, max_steps=4),
                        save_every=2, accelerator="cpu", progress=False)
        common = ["train-vae", "--model", "debug", "--data", data, "--config", str(tmp_path / "adv.json"),
                  "--save-every", "2", "--accelerator", "cpu", "--no-progress", "--out", str(tmp_path / "b")]
        assert main([*common, "--max-steps", "2"]) == 0
        assert main([*common, "--max-steps", "4", "--resume"]) == 0
        capsys.readouterr()
        (tmp_path / "bad.json").write_text(json.dumps({**ADV, "discriminator": {"fftsizes": [64]}}))
        assert main([*common[:5], "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err
        assert "discriminator.fftsizes: unknown key" in err and "Traceback" not in err
        assert not (tmp_path / "c").exists()
    finally:
        torch.set_num_threads(threads)
    assert res["steps"] == 4 and math.isfinite(res["loss"])  # the last loss includes the adversarial terms
    a, b = load_file(tmp_path / "a" / "vae.safetensors"), load_file(tmp_path / "b" / "vae.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(k.startswith("pretransform.model.") for k in a)  # the exported file is the VAE alone
    ca, cb = (torch.load(tmp_path / r / "checkpoints" / "last.ckpt", weights_only=False) for r in "ab")
    assert ca["global_step"] == cb["global_step"] == 4  # one global step per batch, not one per optimizer step
    sa, sb = ca["state_dict"], cb["state_dict"]
    disc = [k for k in sa if k.startswith("discriminator.")]
    assert disc and sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert len(ca["optimizer_states"]) == 2
    for oa, ob in zip(ca["optimizer_states"], cb["optimizer_states"]):
        for i, st in oa["state"].items():
            assert all(torch.equal(v, ob["state"][i][k]) for k, v in st.items())
    with torch.random.fork_rng(devices=[]):  # the initial weights train_vae starts from (same seed)
        torch.manual_seed(tcfg.seed)
        fresh = VAETrainingModule(cfg.model.pretransform, tcfg).state_dict()
    still = sorted(k for k in disc if torch.equal(fresh[k], sa[k]))
    # 3 of 4 steps trained the discriminator: every tensor moved but the logit biases, whose hinge gradient is
    # mean(-1) over real + mean(+1) over fake = 0 exactly while no logit is saturated (equal batch sizes)
    assert still == sorted(k for k in disc if k.endswith(".out.bias")) and len(still) == 7
    assert all(torch.isfinite(sa[k]).all() for k in sa)
