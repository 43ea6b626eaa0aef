"""Held-out reconstruction scores of trained VAE files for a preset (how docs/builtin.md measures its VAEs).

    python scripts/vae_check.py CORPUS VAE.safetensors [VAE2.safetensors ...] [--preset builtin] [--n 24]

For the first ``--n`` clips of the corpus's test split (padded to the model window) it prints, per VAE (of
any decoder type: each file's own config builds it), one JSON
line with:

- ``stft``: the training loss's multi-resolution STFT term (spectral convergence + log-magnitude L1);
- ``logmel_l1``: mean absolute log-mel difference (the SynthBench classifier's features);
- ``tone_band``: for the pitched held-out clips (a labelled beep), the share of the clip's spectral energy within
  3 % of the beep's frequency, real vs reconstructed, and the strongest reconstructed frequency.
"""

from __future__ import annotations

import argparse
import json

import torch

from audiox.data.manifest import read_manifest
from audiox.evaluation.features import log_mel, to_mono
from audiox.evaluation.synthbench import SynthBench
from audiox.media import fit_length, load_audio
from audiox.models.presets import config_from
from audiox.training.autoencoder import VAETrainConfig, stft_loss, vae_from_file


def band_share(x: torch.Tensor, sample_rate: int, hz: float) -> tuple[float, float]:
    """(share of the energy of mono ``x`` (T,) within 3 % of ``hz``, frequency of its strongest bin)."""
    mag = torch.fft.rfft(x).abs().pow(2)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / sample_rate)
    band = (freqs > hz * 0.97) & (freqs < hz * 1.03)
    return float(mag[band].sum() / mag.sum().clamp_min(1e-12)), float(freqs[mag.argmax()])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("corpus")
    p.add_argument("vaes", nargs="+")
    p.add_argument("--preset", default="builtin")
    p.add_argument("--n", type=int, default=24)
    a = p.parse_args()
    cfg = config_from(a.preset)
    entries = [e for e in read_manifest(f"{a.corpus}/manifest.jsonl") if e.split == "test"]
    window = cfg.sample_size

    def load(e) -> torch.Tensor:
        x = load_audio(f"{a.corpus}/{e.audio}", sample_rate=cfg.sample_rate, channels=cfg.audio_channels)
        return fit_length(x, window)

    clips = torch.stack([load(e) for e in entries[: a.n]])
    pitched = [(e, hz) for e in entries if (hz := SynthBench.pitched_target(e))][:4]
    tones = torch.stack([load(e) for e, _ in pitched]) if pitched else None
    for path in a.vaes:
        vae, _ = vae_from_file(path)  # any decoder type: the file's own config
        with torch.no_grad():
            rec = torch.cat([vae.decode(vae.encode(clips[i:i + 4]))[..., :window] for i in range(0, len(clips), 4)])
            rec_tones = vae.decode(vae.encode(tones))[..., :window] if tones is not None else None
        mel = sum((log_mel(r, cfg.sample_rate) - log_mel(c, cfg.sample_rate)).abs().mean().item()
                  for r, c in zip(rec, clips)) / len(clips)
        row = {"vae": path, "n": len(clips), "stft": round(stft_loss(rec, clips, VAETrainConfig().fft_sizes).item(), 4),
               "logmel_l1": round(mel, 4), "tone_band": []}
        for i, (e, hz) in enumerate(pitched):
            real, _ = band_share(to_mono(tones[i]), cfg.sample_rate, hz)
            got, peak = band_share(to_mono(rec_tones[i]), cfg.sample_rate, hz)
            row["tone_band"].append({"id": e.id, "hz": hz, "real": round(real, 3), "recon": round(got, 3),
                                     "recon_peak_hz": round(peak, 2)})
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
