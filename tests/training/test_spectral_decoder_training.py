"""``audiox train-vae --latents``: a new (inverse-STFT) decoder learns on packed latents, resumes exactly, and the
encoder that made the latents is checked and kept."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from test_train_utils import make_corpus

DECODER = {"type": "istft", "config": {"out_channels": 1, "latent_dim": 8, "channels": 16, "pre_blocks": 1,
                                       "post_blocks": 1, "upsample": 4, "n_fft": 64}}


def test_spectral_decoder_trains_resumes_exactly_and_checks_the_encoder(tmp_path: Path, one_thread, capsys) -> None:
    from audiox.cli import main
    from audiox.models.presets import build_model
    from audiox.training.autoencoder import save_vae, vae_from_file
    from audiox.training.packed import PackedDataset, pack

    model = build_model("debug", seed=0).eval()
    manifest = make_corpus(tmp_path / "data", n_text=3)
    pack(model, manifest, tmp_path / "pack", batch_size=3)
    # a corpus without video or images packs without video.mp4
    assert len(PackedDataset(tmp_path / "pack")) == 3 and not (tmp_path / "pack" / "video.mp4").exists()
    vae_file = tmp_path / "vae.safetensors"
    save_vae(vae_file, model.pretransform.model, model.config.model.pretransform)
    (tmp_path / "cfg.json").write_text(json.dumps({
        "decoder": DECODER, "crop": 2048, "batch_size": 2, "lr": 5e-4, "weight_decay": 0.01, "grad_clip": 1.0,
        "latent_noise": 0.1, "l1_weight": 0.0, "kl_weight": 0.0, "fft_sizes": [512, 256, 128]}))
    common = ["train-vae", "--model", "debug", "--data", str(manifest), "--latents", str(tmp_path / "pack"),
              "--init", str(vae_file), "--config", str(tmp_path / "cfg.json"), "--save-every", "3",
              "--accelerator", "cpu", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a"), "--max-steps", "6"]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--max-steps", "3"]) == 0
    half = load_file(tmp_path / "b" / "vae.safetensors")
    assert main([*common, "--out", str(tmp_path / "b"), "--max-steps", "6", "--resume"]) == 0
    a, b = load_file(tmp_path / "a" / "vae.safetensors"), load_file(tmp_path / "b" / "vae.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # resumed == uninterrupted, bitwise
    dec = [k for k in a if ".decoder." in k]
    assert dec and any(not torch.equal(a[k], half[k]) for k in dec)  # the second half trained
    init = {f"pretransform.model.{k}": v for k, v in model.pretransform.model.state_dict().items()}
    enc = [k for k in a if ".encoder." in k]
    assert enc and all(torch.equal(a[k], init[k]) for k in enc)  # the encoder is the init one, untouched
    vae, cfg = vae_from_file(tmp_path / "a" / "vae.safetensors")
    assert cfg.config.decoder.type == "istft" and vae.decoder.__class__.__name__ == "IstftDecoder"
    # another encoder than the one that made the packed latents is refused with a one-line reason
    other = build_model("debug", seed=5)
    save_vae(tmp_path / "other.safetensors", other.pretransform.model, other.config.model.pretransform)
    capsys.readouterr()
    bad = [c if c != str(vae_file) else str(tmp_path / "other.safetensors") for c in common]
    assert main([*bad, "--out", str(tmp_path / "c"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "another VAE encoder" in err and len(err.splitlines()) == 1
    # the refusals of the mode, before anything loads
    base = ["train-vae", "--model", "debug", "--data", str(manifest), "--out", str(tmp_path / "d")]
    assert main([*base, "--latents", str(tmp_path / "pack")]) == 2
    assert "--latents: needs --init" in capsys.readouterr().err
    assert main([*base, "--latents", str(tmp_path / "data"), "--init", str(vae_file)]) == 2
    assert "not a packed folder" in capsys.readouterr().err
    assert main([*base, "--latent-noise", "0.1"]) == 2
    assert "--latent-noise: only with --latents" in capsys.readouterr().err
