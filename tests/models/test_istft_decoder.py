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


def test_integrated_phase_holds_a_tone_between_bins() -> None:
    """``"phase": "integrate"``: one constant advance per bin gives a tone's exact STFT phase (up to one offset).

    A 440-Hz sinusoid lies between bins 28 and 29 of a 1024-point STFT at 16 kHz. Feeding its true per-hop advance
    (as the head's deviation from each bin's centre advance) must reproduce the phases ``torch.stft`` measures up
    to one common offset, and its magnitudes with those phases must resynthesise a tone that passes issue 25's
    check. Tolerance: the offsets agree to 1e-3 rad (float32 cumsum of ~640 advances of <= pi: ~640 * 1e-7 * pi).
    """
    import math

    from audiox.config import IstftDecoderParams
    from audiox.evaluation.vae_check import check_tone
    from audiox.models.istft_decoder import IstftDecoder

    sr, hz, frames = 16000, 440.0, 640
    dec = IstftDecoder(IstftDecoderParams(out_channels=1, latent_dim=4, channels=8, pre_blocks=0, post_blocks=0,
                                          phase="integrate"), ratio=1024)
    k = torch.arange(dec.n_fft // 2 + 1, dtype=torch.float64)
    advance = 2 * math.pi * (hz / sr - k / dec.n_fft) * dec.hop  # true advance minus the bin centre's
    advance = torch.remainder(advance + math.pi, 2 * math.pi) - math.pi
    h = torch.atanh((advance / math.pi).clamp(-0.9999, 0.9999)).float()[:, None].expand(-1, frames)
    phase = dec._integrated_phase(h[None, None])[0, 0]
    x = torch.sin(2 * math.pi * hz * torch.arange(frames * dec.hop, dtype=torch.float64) / sr).float()
    window = torch.hann_window(dec.n_fft)
    spec = torch.stft(x, dec.n_fft, dec.hop, window=window, return_complex=True)[:, :frames]
    offset = spec.angle()[27:30, 4:-4] - phase[27:30, 4:-4]  # the lobe's bins, away from the padded ends
    spread = torch.remainder(offset - offset[0, 0] + math.pi, 2 * math.pi) - math.pi
    assert spread.abs().max() < 1e-3  # one common offset
    y = torch.istft(torch.polar(spec.abs(), phase), dec.n_fft, dec.hop, window=window, length=frames * dec.hop)
    res = check_tone(y, sr, hz)
    assert res.passed and abs(res.cents) < 1 and res.share > 0.95
