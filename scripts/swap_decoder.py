"""Copy a native model folder with its VAE replaced by a VAE file whose decoder may be of another type.

    python scripts/swap_decoder.py MODEL_DIR VAE.safetensors OUT_DIR [--dtype fp16]

The VAE file (``audiox train-vae``, e.g. with ``--latents`` and a new decoder) must share the model's encoder
configuration and latent geometry; its decoder section replaces the model's (in the main VAE and in every audio
conditioner that shares it), every other tensor is copied. ``generation.json`` and ``examples/`` travel along.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from audiox.checkpoint.io import read_state_dict
from audiox.checkpoint.native import convert, save_native
from audiox.checkpoint.official import load_model
from audiox.models.presets import build_model, with_decoder
from audiox.training.autoencoder import VAE_CONFIG_META, install_vae


def swapped_config(config: dict, vae_pretransform: dict) -> dict:
    """The model config (official JSON layout) with the decoder of ``vae_pretransform`` in every VAE copy."""
    pre = config["model"]["pretransform"]["config"]
    for key in ("encoder", "latent_dim", "downsampling_ratio", "io_channels", "bottleneck"):
        if pre.get(key) != vae_pretransform["config"].get(key):
            raise SystemExit(f"the VAE file's {key} differs from the model's: only the decoder may change")
    return with_decoder(config, vae_pretransform["config"]["decoder"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model", type=Path)
    p.add_argument("vae")
    p.add_argument("out", type=Path)
    p.add_argument("--dtype", default="fp16")
    a = p.parse_args()
    _, meta = read_state_dict(a.vae)
    if VAE_CONFIG_META not in meta:
        raise SystemExit(f"{a.vae}: no VAE config in its metadata (not written by save_vae)")
    config = swapped_config(json.loads((a.model / "config.json").read_text()), json.loads(meta[VAE_CONFIG_META]))
    old = load_model(a.model, require_text_encoder=False)
    model = build_model(config, seed=0)
    keep = {k: v for k, v in old.state_dict().items() if "pretransform.model.decoder." not in k}
    missing, unexpected = model.load_state_dict(keep, strict=False)
    if unexpected or any("pretransform.model.decoder." not in k for k in missing):
        raise SystemExit(f"weights do not match: unexpected {unexpected[:3]}, missing {missing[:3]}")
    install_vae(model, a.vae)
    with tempfile.TemporaryDirectory() as tmp:
        save_native(model, tmp, force=True)
        path = convert(tmp, a.out, to="native", dtype=a.dtype, force=True)
    for extra in ("generation.json", "examples"):
        src = a.model / extra
        if src.is_dir():
            shutil.copytree(src, a.out / extra, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy(src, a.out / extra)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
