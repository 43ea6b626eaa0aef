"""Start a phase-integrating spectral decoder from a trained free-phase one (issue 25's candidate "c1").

    python scripts/vae_phase_init.py SRC OUT.safetensors

``SRC`` is a VAE file (``audiox train-vae``) or a model folder (``audiox/assets/builtin``) whose decoder is a
spectral ``"istft"`` one with ``"phase": "free"``. ``OUT`` gets the same weights under a config with
``"phase": "integrate"`` and the phase half of the head zeroed (every bin starts at its centre frequency's
advance), ready for ``audiox train-vae --init OUT --latents PACKED`` with the same decoder section: the encoder,
hence the packed latents and the DiT trained on them, stay valid.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from audiox.training.autoencoder import save_vae, vae_from_file, with_decoder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("out")
    a = p.parse_args()
    vae, cfg = vae_from_file(a.src)
    dec = cfg.config.decoder
    if dec.type != "istft" or dec.config.phase != "free":
        raise SystemExit(f"error: {a.src}: expected a free-phase spectral decoder, got {dec.type}")
    new = with_decoder(cfg, dataclasses.replace(dec, config=dataclasses.replace(dec.config, phase="integrate")))
    head = vae.decoder.head
    half = head.out_features // 2  # (log-magnitudes, then phases) for one output channel
    if dec.config.out_channels != 1:
        raise SystemExit("error: only mono decoders are handled")
    with torch.no_grad():
        head.weight[half:].zero_()
        head.bias[half:].zero_()
    save_vae(a.out, vae, new)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
