"""Held-out reconstruction scores of trained VAEs (how docs/builtin.md measures its VAEs; issue 25's checks).

    python scripts/vae_check.py CORPUS VAE [VAE2 ...] [--preset builtin] [--n 24] [--no-latents]

Each VAE is a ``vae.safetensors`` (``audiox train-vae``) or a model folder (``audiox/assets/builtin``), of any
decoder type and hop (its own config builds it). For the first ``--n`` clips of the corpus's test split (padded to
the model window) it prints one JSON line per VAE with:

- ``stft``: the training loss's multi-resolution STFT term (spectral convergence + log-magnitude L1);
- ``logmel_l1``: mean absolute log-mel difference (the SynthBench classifier's features);
- ``tone_band``: for the pitched held-out clips (a labelled beep), the share of the clip's spectral energy within
  3 % of the beep's frequency, real vs reconstructed, and the strongest reconstructed frequency;
- ``tones``: the pure-tone round trip of :mod:`audiox.evaluation.vae_check` (pitch within 50 cents and at least
  half the energy within 3 %, at 220 / 440 / 880 Hz), with ``passed``;
- ``latents`` (unless ``--no-latents``): per-channel mean and std of the posterior means, the global std and the
  mean posterior std (:func:`audiox.evaluation.vae_check.latent_stats`).
"""

from __future__ import annotations

import argparse
import json

import torch

from audiox.data.manifest import read_manifest
from audiox.evaluation.features import to_mono
from audiox.evaluation.synthbench import SynthBench
from audiox.evaluation.vae_check import band_share, latent_stats, reconstruction_distances, tone_report
from audiox.media import fit_length, load_audio
from audiox.models.presets import config_from
from audiox.training.autoencoder import vae_from_file


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("corpus")
    p.add_argument("vaes", nargs="+")
    p.add_argument("--preset", default="builtin")
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--tone-seconds", type=float, default=2.048, help="length of each pure tone")
    p.add_argument("--no-latents", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
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
        vae, pre = vae_from_file(path)  # any decoder type: the file's own config
        vae.eval()
        hop = pre.config.downsampling_ratio
        _, dist = reconstruction_distances(vae, clips, cfg.sample_rate)
        with torch.no_grad():
            rec_tones = vae.decode(vae.encode(tones))[..., :window] if tones is not None else None
        row = {"vae": path, "n": len(clips), **{k: round(v, 4) for k, v in dist.items()}, "tone_band": []}
        for i, (e, hz) in enumerate(pitched):
            real, _ = band_share(to_mono(tones[i]), cfg.sample_rate, hz)
            got, peak = band_share(to_mono(rec_tones[i]), cfg.sample_rate, hz)
            row["tone_band"].append({"id": e.id, "hz": hz, "real": round(real, 3), "recon": round(got, 3),
                                     "recon_peak_hz": round(peak, 2)})
        length = round(a.tone_seconds * cfg.sample_rate) // hop * hop
        row["tones"] = tone_report(vae, cfg.sample_rate, length, channels=pre.config.io_channels)
        if not a.no_latents:
            row["latents"] = latent_stats(vae, clips)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
