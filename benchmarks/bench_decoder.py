"""Decoding speed of the spectral (inverse-STFT) VAE decoder against the Oobleck decoder, measured in the same run.

Both decoders are built with random weights for the same preset geometry and decode the same latents: one model
window (``--batch`` items). Prints one JSON line with the best-of-``--repeats`` seconds of each, the ratio
(Oobleck / spectral: above 1 means the spectral decoder is faster) and their parameter counts.

    python benchmarks/bench_decoder.py [--preset builtin] [--batch 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform

import torch
from bench_inference import _time  # best-of-N timing, shared (this folder is on sys.path when run as a script)

from audiox.config import DecoderConfig, IstftDecoderParams
from audiox.models.autoencoder import AudioAutoencoder
from audiox.models.presets import PRESETS, config_from


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="builtin", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = config_from(a.preset)
    ae = cfg.model.pretransform.config
    params = IstftDecoderParams(out_channels=ae.io_channels, latent_dim=ae.latent_dim)
    spectral_cfg = dataclasses.replace(ae, decoder=DecoderConfig(type="istft", config=params))
    torch.manual_seed(0)
    oobleck, spectral = AudioAutoencoder(ae).decoder.eval(), AudioAutoencoder(spectral_cfg).decoder.eval()
    z = torch.randn(a.batch, ae.latent_dim, cfg.sample_size // ae.downsampling_ratio)
    with torch.inference_mode():
        t_oob = _time(lambda: oobleck(z), a.repeats)
        t_spec = _time(lambda: spectral(z), a.repeats)
    print(json.dumps({
        "bench": "decoder", "preset": a.preset, "batch": a.batch, "threads": a.threads,
        "cpu": platform.processor() or platform.machine(), "window_s": cfg.sample_size / cfg.sample_rate,
        "oobleck_s": round(t_oob, 4), "spectral_s": round(t_spec, 4), "speedup": round(t_oob / t_spec, 2),
        "oobleck_params_m": round(sum(p.numel() for p in oobleck.parameters()) / 1e6, 2),
        "spectral_params_m": round(sum(p.numel() for p in spectral.parameters()) / 1e6, 2),
    }))


if __name__ == "__main__":
    main()
