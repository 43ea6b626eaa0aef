"""Issue 25's candidate VAEs are configs: ``decoder`` or a whole ``autoencoder`` section of a VAE training config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiox.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = sorted((ROOT / "configs" / "vae_candidates").glob("*.json"))


def test_there_are_candidates() -> None:
    assert len(CANDIDATES) >= 4


@pytest.mark.parametrize("path", CANDIDATES, ids=lambda p: p.stem)
def test_candidate_builds_with_its_hop_and_latent_size(path: Path) -> None:
    from audiox.models.autoencoder import AudioAutoencoder
    from audiox.models.presets import get_preset
    from audiox.training.autoencoder import VAETrainConfig, training_pretransform

    tcfg = VAETrainConfig.load(path)
    pre = training_pretransform(get_preset("builtin").model.pretransform, tcfg)
    ae = pre.config
    if tcfg.autoencoder is not None:
        assert pre.scale == 1.0  # a new encoder's latents are unmeasured
    assert tcfg.crop % ae.downsampling_ratio == 0
    torch.manual_seed(0)
    vae = AudioAutoencoder(ae).eval()
    x = 0.1 * torch.randn(1, 1, 4096, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
    assert z.shape == (1, ae.latent_dim, 4096 // ae.downsampling_ratio)
    assert y.shape == (1, 1, 4096) and torch.isfinite(y).all()


def test_a_bad_candidate_names_its_key(tmp_path: Path) -> None:
    from audiox.training.autoencoder import VAETrainConfig

    data = json.loads((ROOT / "configs" / "vae_candidates" / "c4_h256_integrate.json").read_text())
    data["autoencoder"]["downsampling_ratio"] = 512  # strides 2*4*4*8 = 256
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"bad\.json: autoencoder\.downsampling_ratio: 512 != product"):
        VAETrainConfig.load(bad)
    data["autoencoder"]["downsampling_ratio"] = 256
    data["autoencoder"]["decoder"]["config"]["phase"] = "random"
    bad.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"autoencoder\.decoder\.config\.phase: expected 'free' or 'integrate'"):
        VAETrainConfig.load(bad)
