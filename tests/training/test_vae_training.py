"""VAE training: loss falls on a few clips; the trained VAE installs into a model and is shared; resume is exact."""

from __future__ import annotations

import math

import soundfile as sf
import torch

from audiox.data.manifest import ManifestEntry, write_manifest
from audiox.models.presets import build_model, debug_config, get_preset
from audiox.training.autoencoder import (
    CropDataset,
    VAETrainConfig,
    VAETrainingModule,
    install_vae,
    load_corpus_audio,
    save_vae,
)


def _corpus(tmp_path, sr: int = 8000) -> str:
    (tmp_path / "audio").mkdir()
    entries = []
    for i, hz in enumerate((220.0, 330.0, 440.0)):
        t = torch.arange(sr) / sr
        sf.write(tmp_path / "audio" / f"c{i}.wav", (0.4 * torch.sin(2 * math.pi * hz * t)).numpy(), sr)
        entries.append(ManifestEntry(id=f"c{i}", split="train", kind="sfx", task="t2a", audio=f"audio/c{i}.wav",
                                     video=None, image=None, caption="a tone", audio_prompt=None, sample_rate=sr,
                                     seconds=1.0, labels={"pitch_hz": hz}))
    write_manifest(tmp_path / "manifest.jsonl", entries)
    return str(tmp_path / "manifest.jsonl")


def _fit(module: VAETrainingModule, clips: list, tcfg: VAETrainConfig) -> tuple[float, float]:
    """Train ``module`` for ``tcfg.max_steps`` on seeded crops; the STFT loss on 4 fixed crops before and after."""
    ds = CropDataset(clips, tcfg.crop, tcfg.max_steps * tcfg.batch_size, 0)
    opt = module.configure_optimizers()
    fixed = torch.stack([ds[i] for i in range(4)])
    with torch.no_grad():
        before = module.losses(fixed, torch.Generator().manual_seed(0))["stft"].item()
    for step in range(tcfg.max_steps):
        batch = torch.stack([ds[step * 4 + j] for j in range(4)])
        loss = module.losses(batch, torch.Generator().manual_seed(step))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = module.losses(fixed, torch.Generator().manual_seed(0))["stft"].item()
    return before, after


def test_vae_loss_falls_and_installs(tmp_path):
    cfg = get_preset("debug")
    clips = load_corpus_audio(_corpus(tmp_path), cfg.sample_rate, cfg.audio_channels)
    assert len(clips) == 3 and clips[0].shape == (1, 8000)
    tcfg = VAETrainConfig(crop=1024, batch_size=4, lr=3e-3, max_steps=25, fft_sizes=(512, 128, 32))
    module = VAETrainingModule(cfg.model.pretransform, tcfg)
    before, after = _fit(module, clips, tcfg)
    assert after < 0.7 * before, (before, after)  # stated factor: the spectral loss falls by >= 30 %
    path = save_vae(tmp_path / "vae.safetensors", module.vae, cfg.model.pretransform)
    model = build_model(debug_config(), seed=1)
    install_vae(model, path)
    assert model.conditioner.conditioners["audio_prompt"].pretransform is model.pretransform
    for k, v in module.vae.state_dict().items():
        assert torch.equal(model.pretransform.model.state_dict()[k], v)


def test_vae_installs_into_a_model_with_another_latent_scale_but_not_another_geometry(tmp_path):
    import pytest

    from audiox.errors import CheckpointError

    cfg = get_preset("debug")
    module = VAETrainingModule(cfg.model.pretransform, VAETrainConfig())
    path = save_vae(tmp_path / "vae.safetensors", module.vae, cfg.model.pretransform)
    scaled = debug_config()
    for pt in (scaled["model"]["pretransform"], scaled["model"]["conditioning"]["configs"][2]["config"]
               ["pretransform_config"]):
        pt["scale"] = 2.0
    model = build_model(scaled, seed=0)
    install_vae(model, path)  # the scale is the model's view of the latents, not part of the VAE weights
    assert model.pretransform.scale == 2.0
    other = debug_config()
    other["model"]["pretransform"]["config"]["decoder"]["config"]["channels"] = 8
    with pytest.raises(CheckpointError, match="VAE config differs"):
        install_vae(build_model(other, seed=0), path)


def test_vae_with_a_spectral_decoder_trains_jointly(tmp_path):
    """``train-vae`` on a config whose decoder is ``"istft"``: encoder and spectral decoder learn together."""
    from audiox.models.presets import config_from, with_decoder

    dec = {"type": "istft", "config": {"out_channels": 1, "latent_dim": 8, "channels": 32, "pre_blocks": 1,
                                       "post_blocks": 1, "upsample": 4, "n_fft": 64}}
    cfg = config_from(with_decoder(debug_config(), dec))
    clips = load_corpus_audio(_corpus(tmp_path), cfg.sample_rate, cfg.audio_channels)
    tcfg = VAETrainConfig(crop=1024, batch_size=4, lr=3e-3, max_steps=25, fft_sizes=(512, 128, 32))
    with torch.random.fork_rng(devices=[]):  # seeded weights, global RNG left alone
        torch.manual_seed(0)
        module = VAETrainingModule(cfg.model.pretransform, tcfg)
    before, after = _fit(module, clips, tcfg)
    assert after < 0.7 * before, (before, after)  # the same stated factor as the Oobleck decoder's test
    enc = [p for n, p in module.vae.named_parameters() if n.startswith("encoder.")]
    assert enc and all(p.grad is not None for p in enc)  # the encoder trained too
    path = save_vae(tmp_path / "vae.safetensors", module.vae, cfg.model.pretransform)
    model = build_model(cfg, seed=1)
    install_vae(model, path)
    assert model.pretransform.model.decoder.__class__.__name__ == "IstftDecoder"


def test_train_vae_resumed_from_last_ckpt_equals_an_uninterrupted_run(tmp_path, capsys):
    """``audiox train-vae --resume``: weights, optimizer, step and crop draws come back; the result is bitwise equal."""
    from safetensors.torch import load_file

    from audiox.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        common = ["train-vae", "--model", "debug", "--data", _corpus(tmp_path), "--crop", "1024", "--batch-size", "2",
                  "--save-every", "2", "--accelerator", "cpu", "--no-progress"]
        assert main([*common, "--out", str(tmp_path / "a"), "--max-steps", "4"]) == 0
        assert main([*common, "--out", str(tmp_path / "b"), "--max-steps", "2"]) == 0
        capsys.readouterr()
        assert main([*common, "--out", str(tmp_path / "b"), "--max-steps", "4"]) == 2  # a run is there: refused
        assert "already holds a run" in capsys.readouterr().err
        assert main([*common, "--out", str(tmp_path / "b"), "--max-steps", "4", "--resume"]) == 0
    finally:
        torch.set_num_threads(threads)
    a, b = load_file(tmp_path / "a" / "vae.safetensors"), load_file(tmp_path / "b" / "vae.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "checkpoints" / "last.ckpt").is_file()
