"""Issue 25's candidate VAEs side by side: parameters, encode / decode time per window, training throughput.

Each candidate is a VAE training config (``audiox train-vae --config``): the built-in model's VAE, or its decoder
replaced (``decoder``), or a whole new VAE (``autoencoder``). Weights are random (speed does not depend on them).
For each it prints one JSON line: encoder and decoder parameters (M), latent frames per 10.24-s window, the
best-of-``--repeats`` seconds to encode and to decode one window (batch 1), and training steps/s at the config's
batch and crop (a full VAE step when the encoder trains, the decoder alone on latents otherwise), timed over
``--steps`` steps after one warm-up step, AdamW as in training.

    python benchmarks/bench_vae_candidates.py configs/vae_spectral_decoder.json configs/vae_candidates/*.json \
        [--threads 1] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_inference import _time  # best-of-N timing, shared (this folder is on sys.path when run as a script)

from audiox.models.autoencoder import AudioAutoencoder
from audiox.models.presets import config_from
from audiox.training.autoencoder import VAETrainConfig, VAETrainingModule, training_pretransform


def _params(m: torch.nn.Module) -> float:
    return round(sum(p.numel() for p in m.parameters()) / 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--preset", default="builtin")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model_cfg = config_from(a.preset)
    window = model_cfg.sample_size
    for path in a.configs:
        tcfg = VAETrainConfig.load(path)
        pre = training_pretransform(model_cfg.model.pretransform, tcfg)
        ae = pre.config
        torch.manual_seed(0)
        vae = AudioAutoencoder(ae).eval()
        g = torch.Generator().manual_seed(0)
        x = 0.1 * torch.randn(1, ae.io_channels, window, generator=g)
        with torch.inference_mode():
            z = vae.encode(x)
            t_enc = _time(lambda v=vae, x=x: v.encode(x), a.repeats)
            t_dec = _time(lambda v=vae, z=z: v.decode(z), a.repeats)
        # a new decoder alone trains on stored latents (the recipe); a new VAE (or the model's) trains in full
        full = tcfg.autoencoder is not None or (tcfg.decoder is None and tcfg.train_encoder)
        module = VAETrainingModule(pre, tcfg)
        module.train()
        opt = torch.optim.AdamW(module.vae.parameters() if full else module.vae.decoder.parameters(),
                                lr=tcfg.lr)
        audio = 0.1 * torch.randn(tcfg.batch_size, ae.io_channels, tcfg.crop, generator=g)
        lat = torch.randn(tcfg.batch_size, ae.latent_dim, tcfg.crop // ae.downsampling_ratio, generator=g)
        times = []
        for step in range(a.steps + 1):
            t0 = time.perf_counter()
            out = module.losses(audio, g) if full else module.decoder_losses(lat, audio)
            out["loss"].backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step:
                times.append(time.perf_counter() - t0)
        step_s = sorted(times)[len(times) // 2]
        print(json.dumps({
            "config": Path(path).stem, "threads": a.threads, "hop": ae.downsampling_ratio,
            "latent_channels": ae.latent_dim, "latent_frames": window // ae.downsampling_ratio,
            "encoder_params_m": _params(vae.encoder), "decoder_params_m": _params(vae.decoder),
            "encode_s": round(t_enc, 4), "decode_s": round(t_dec, 4),
            "train": "full" if full else "decoder",
            "batch": tcfg.batch_size, "crop": tcfg.crop, "step_s": round(step_s, 3),
            "steps_per_s": round(1 / step_s, 2)}), flush=True)


if __name__ == "__main__":
    main()
