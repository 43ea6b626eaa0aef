"""Train a spectral (inverse-STFT) VAE decoder on the latents of a packed folder, the encoder staying frozen.

    python scripts/train_spectral_decoder.py PACKED CORPUS --vae VAE.safetensors --out DIR [--max-minutes 60]

The packed folder holds the frozen encoder's posterior means of every training clip (``audiox preencode
--packed``); the corpus holds the clips themselves. Each step decodes random crops of those latents (plus a little
Gaussian noise, so the decoder tolerates a DiT's imperfect latents) and compares them with the real audio by the
multi-resolution STFT loss. The encoder never runs, so a step costs only the decoder.

``DIR/vae.safetensors`` is the input VAE file with its decoder replaced (its config says ``"type": "istft"``), ready
for ``audiox train --vae`` or ``scripts/assemble_builtin.py``. ``DIR/state.pt`` (written atomically every
``--save-every`` steps and at the end) resumes the run exactly with ``--resume``; ``DIR/metrics.csv`` logs the loss.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from audiox.config import DecoderConfig, IstftDecoderParams
from audiox.data.manifest import read_manifest
from audiox.data.packed import encoder_fingerprint, is_packed
from audiox.media import fit_length, load_audio
from audiox.models.autoencoder import AudioAutoencoder
from audiox.models.presets import config_from
from audiox.training.autoencoder import load_vae_weights, save_vae, stft_loss
from audiox.utils.files import atomic_write

log = logging.getLogger("train_spectral_decoder")
FFT_SIZES = (2048, 1024, 512, 256, 128)


def spectral_pretransform(pretransform, params: IstftDecoderParams):
    """``pretransform`` (a PretransformConfig) with its decoder replaced by an inverse-STFT decoder."""
    ae = pretransform.config
    dec = DecoderConfig(type="istft", config=params)
    return dataclasses.replace(pretransform, config=dataclasses.replace(ae, decoder=dec))


def load_pairs(packed: Path, meta: dict, corpus: Path, sample_size: int, sample_rate: int, channels: int):
    """(latents (n, D, N) fp32, audio (n, C, sample_size) fp32) of every item of a packed folder's ``meta``."""
    latents = load_file(str(packed / "audio.safetensors"))["latents"].float()
    by_id = {e.id: e for e in read_manifest(corpus / "manifest.jsonl")}
    audio = torch.stack([fit_length(load_audio(corpus / by_id[it["id"]].audio, sample_rate=sample_rate,
                                               channels=channels), sample_size) for it in meta["items"]])
    return latents, audio


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("packed", type=Path)
    p.add_argument("corpus", type=Path)
    p.add_argument("--vae", required=True, help="the VAE file whose encoder made the packed latents")
    p.add_argument("--model", default="builtin", help="preset or config.json of the model the VAE belongs to")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--pre-blocks", type=int, default=3)
    p.add_argument("--post-blocks", type=int, default=5)
    p.add_argument("--upsample", type=int, default=4)
    p.add_argument("--n-fft", type=int, default=1024)
    p.add_argument("--crop-frames", type=int, default=48, help="latent frames per crop")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--latent-noise", type=float, default=0.1, help="std of the Gaussian noise added to latents")
    p.add_argument("--max-minutes", type=float, default=60.0)
    p.add_argument("--max-steps", type=int, default=10**9)
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(a.threads)
    cfg = config_from(a.model)
    params = IstftDecoderParams(out_channels=cfg.audio_channels, latent_dim=cfg.model.pretransform.config.latent_dim,
                                channels=a.channels, pre_blocks=a.pre_blocks, post_blocks=a.post_blocks,
                                upsample=a.upsample, n_fft=a.n_fft)
    params.validate("decoder")
    src = AudioAutoencoder(cfg.model.pretransform.config)
    load_vae_weights(src, a.vae, cfg.model.pretransform)
    pre = spectral_pretransform(cfg.model.pretransform, params)
    if not is_packed(a.packed):
        raise SystemExit(f"{a.packed}: not a packed folder (make one with `audiox preencode --packed`)")
    meta = json.loads((a.packed / "meta.json").read_text())
    if meta["fingerprints"]["audio"] != encoder_fingerprint(src.encoder):
        raise SystemExit(f"{a.packed}: its latents come from another VAE encoder than {a.vae}'s")
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the global RNG alone
        torch.manual_seed(a.seed)
        vae = AudioAutoencoder(pre.config)
    vae.encoder.load_state_dict(src.encoder.state_dict())
    dec = vae.decoder
    log.info("decoder: %.2f M parameters", sum(t.numel() for t in dec.parameters()) / 1e6)

    latents, audio = load_pairs(a.packed, meta, a.corpus, cfg.sample_size, cfg.sample_rate, cfg.audio_channels)
    log.info("%d clips loaded", len(latents))
    ratio = cfg.model.pretransform.config.downsampling_ratio
    opt = torch.optim.AdamW(dec.parameters(), lr=a.lr, betas=(0.8, 0.99), weight_decay=0.01)
    gen = torch.Generator().manual_seed(a.seed)
    step = 0
    a.out.mkdir(parents=True, exist_ok=True)
    state_path, metrics_path = a.out / "state.pt", a.out / "metrics.csv"
    if a.resume:
        st = torch.load(state_path, weights_only=False)
        dec.load_state_dict(st["decoder"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        step = st["step"]
        log.info("resumed at step %d", step)

    def save() -> None:
        st = {"decoder": dec.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "step": step}
        atomic_write(state_path, lambda f: torch.save(st, f))
        save_vae(a.out / "vae.safetensors", vae, pre)

    n, frames = latents.shape[0], latents.shape[-1]
    crop = min(a.crop_frames, frames)
    start_t = time.monotonic()
    new_file = not metrics_path.exists() or not a.resume
    with open(metrics_path, "w" if new_file else "a", newline="") as fh:
        w = csv.writer(fh)
        if new_file:
            w.writerow(["step", "loss", "seconds"])
        dec.train()
        while step < a.max_steps and time.monotonic() - start_t < a.max_minutes * 60:
            idx = torch.randint(n, (a.batch_size,), generator=gen)
            off = torch.randint(frames - crop + 1, (a.batch_size,), generator=gen)
            z = torch.stack([latents[i, :, o:o + crop] for i, o in zip(idx.tolist(), off.tolist())])
            x = torch.stack([audio[i, :, o * ratio:(o + crop) * ratio] for i, o in zip(idx.tolist(), off.tolist())])
            z = z + a.latent_noise * torch.randn(z.shape, generator=gen)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = dec(z)
            loss = stft_loss(y.float(), x, FFT_SIZES)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(dec.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 25 == 0:
                w.writerow([step, round(loss.item(), 5), round(time.monotonic() - start_t, 1)])
                fh.flush()
            if step % 100 == 0:
                log.info("step %d loss %.4f (%.1f min)", step, loss.item(), (time.monotonic() - start_t) / 60)
            if step % a.save_every == 0:
                save()
    save()
    log.info("done: %d steps -> %s", step, a.out / "vae.safetensors")


if __name__ == "__main__":
    main()
