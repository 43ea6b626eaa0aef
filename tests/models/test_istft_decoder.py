"""The spectral (inverse-STFT) VAE decoder: config, synthesis, files, and swapping it into a model folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiox.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ISTFT = {"type": "istft", "config": {"out_channels": 1, "latent_dim": 8, "channels": 16, "pre_blocks": 1,
                                     "post_blocks": 1, "upsample": 4, "n_fft": 64}}


def istft_config(decoder: dict | None = None) -> dict:
    """The debug preset (64x VAE, 8 latent channels, 8 kHz) with the spectral decoder in every VAE copy."""
    from audiox.models.presets import debug_config, with_decoder

    return with_decoder(debug_config(), decoder or ISTFT)


def test_decoder_shapes_and_config_errors() -> None:
    from audiox.config import AudioXConfig
    from audiox.models.presets import build_model
    from audiox.utils.strict import from_dict

    model = build_model(istft_config(), seed=0)
    vae = model.pretransform.model
    x = torch.randn(2, 1, 8192, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
    assert z.shape == (2, 8, 128) and y.shape == (2, 1, 8192) and torch.isfinite(y).all()
    bad = istft_config({**ISTFT, "type": "wavenet"})
    with pytest.raises(ConfigError, match=r"model\.pretransform\.config\.decoder\.type: unknown decoder type"):
        from_dict(AudioXConfig, bad)
    bad = istft_config({**ISTFT, "config": {**ISTFT["config"], "hops": 3}})
    with pytest.raises(ConfigError, match=r"decoder\.config\.hops: unknown key"):
        from_dict(AudioXConfig, bad)
    bad = istft_config({**ISTFT, "config": {**ISTFT["config"], "upsample": 3}})
    with pytest.raises(ConfigError, match=r"decoder\.config\.upsample"):
        from_dict(AudioXConfig, bad)


def test_inverse_stft_puts_a_partial_at_its_bin_frequency() -> None:
    """A head that outputs one loud bin with a frame-continuous phase synthesises that bin's frequency, whatever
    the latent frame rate (the failure of the small Oobleck decoder: partials on multiples of the frame rate)."""
    from audiox.config import IstftDecoderParams
    from audiox.models.istft_decoder import IstftDecoder

    p = IstftDecoderParams(out_channels=1, latent_dim=4, channels=8, pre_blocks=1, post_blocks=1, upsample=4,
                           n_fft=64)
    dec = IstftDecoder(p, ratio=64)  # hop 16: a bin k advances by 2*pi*k/4 per frame, a multiple of 2*pi for k=8
    bins = p.n_fft // 2 + 1
    with torch.no_grad():
        dec.head.weight.zero_()
        dec.head.bias.fill_(-10.0)
        dec.head.bias[8] = 3.0  # log-magnitude of bin 8
        dec.head.bias[bins:] = 0.0  # phases
        y = dec(torch.randn(1, 4, 40))[0, 0]
    assert y.shape == (40 * 64,)
    mid = y[256:-256]
    spec = torch.fft.rfft(mid * torch.hann_window(mid.shape[0])).abs()
    peak_hz = float(torch.fft.rfftfreq(mid.shape[0], 1 / 8000)[spec.argmax()])
    assert abs(peak_hz - 8 * 8000 / 64) < 8000 / mid.shape[0] * 1.5, peak_hz
    assert spec[spec.argmax()] > 100 * spec[: spec.argmax() - 20].max()


def test_vae_file_round_trip_and_decoder_swap(tmp_path: Path) -> None:
    from audiox.checkpoint.native import convert, save_native
    from audiox.checkpoint.official import load_model
    from audiox.errors import InputError
    from audiox.models.presets import build_model
    from audiox.training.autoencoder import save_vae, vae_from_file

    spectral = build_model(istft_config(), seed=1)
    vae_file = tmp_path / "vae.safetensors"
    save_vae(vae_file, spectral.pretransform.model, spectral.config.model.pretransform)
    vae, cfg = vae_from_file(vae_file)
    assert cfg.config.decoder.type == "istft"
    z = torch.randn(1, 8, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(vae.decode(z), spectral.pretransform.model.decode(z))

    base = build_model("debug", seed=0)
    for cond in base.audio_conditioners().values():  # as in a trained model: one VAE, shared
        cond.pretransform = base.pretransform
    # the spectral VAE must share the model's encoder to be swapped in: give it the base encoder
    spectral.pretransform.model.encoder.load_state_dict(base.pretransform.model.encoder.state_dict())
    save_vae(vae_file, spectral.pretransform.model, spectral.config.model.pretransform)
    save_native(base, tmp_path / "base")
    (tmp_path / "base" / "generation.json").write_text(json.dumps({"steps": 7}))
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "swap_decoder.py"), str(tmp_path / "base"),
                          str(vae_file), str(tmp_path / "out"), "--dtype", "fp32"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = load_model(tmp_path / "out")
    assert out.config.model.pretransform.config.decoder.type == "istft"
    assert json.loads((tmp_path / "out" / "generation.json").read_text()) == {"steps": 7}
    new, old = out.state_dict(), base.state_dict()
    for k, v in old.items():
        if ".decoder." not in k:
            assert torch.equal(new[k], v), k
    with torch.no_grad():
        assert torch.equal(out.pretransform.decode(z), spectral.pretransform.model.decode(z))
    with pytest.raises(InputError, match="no 'istft' VAE decoder"):
        convert(tmp_path / "out", tmp_path / "official", to="official")
