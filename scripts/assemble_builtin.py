"""Assemble a model folder from trained non-VAE weights and a VAE (after ``transfer_weights.py unpack``).

    python scripts/assemble_builtin.py WEIGHTS.safetensors VAE.safetensors OUT_DIR [--dtype fp16]

Builds the ``builtin`` preset, loads every non-VAE tensor from WEIGHTS (all must be present), installs the VAE and
writes a native folder (config.json + model.safetensors), cast to ``--dtype``.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from safetensors.torch import load_file

from audiox.checkpoint.native import convert, save_native
from audiox.models.presets import build_model
from audiox.training.autoencoder import install_vae


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("weights")
    p.add_argument("vae")
    p.add_argument("out")
    p.add_argument("--preset", default="builtin")
    p.add_argument("--dtype", default="fp16")
    a = p.parse_args()
    model = build_model(a.preset, seed=0)
    install_vae(model, a.vae)
    sd = load_file(a.weights)
    own = {k: v for k, v in model.state_dict().items() if "pretransform." not in k}
    missing = sorted(set(own) - set(sd))
    extra = sorted(set(sd) - set(own))
    if missing or extra:
        raise SystemExit(f"weights do not match the preset: missing {missing[:3]}, unexpected {extra[:3]}")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(sd[k].to(v.dtype))
    with tempfile.TemporaryDirectory() as tmp:
        save_native(model, tmp, force=True)
        path = convert(tmp, a.out, to="native", dtype=a.dtype, force=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
