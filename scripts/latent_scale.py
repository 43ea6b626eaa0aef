"""Per-channel latent statistics of a packed folder: what ``pretransform.scale`` should be.

    python scripts/latent_scale.py PACKED [--json]

Reads ``audio.safetensors`` (the VAE posterior means of every item, as the model's encoder made them, before any
scale) and prints the global std, the per-channel mean and std, and the per-channel stds as a JSON list (``--json``
prints only that list, ready for a config's ``pretransform.scale``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import load_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("packed", type=Path)
    p.add_argument("--json", action="store_true", help="print only the per-channel stds as a JSON list")
    a = p.parse_args()
    lat = load_file(str(a.packed / "audio.safetensors"))["latents"].float()  # (n, D, N)
    per = lat.transpose(0, 1).reshape(lat.shape[1], -1)
    std = [round(float(s), 4) for s in per.std(dim=1)]
    if a.json:
        print(json.dumps(std))
        return
    print(f"items {lat.shape[0]}, channels {lat.shape[1]}, frames {lat.shape[2]}")
    print(f"global std {float(lat.std()):.4f}")
    print("channel mean " + " ".join(f"{float(m):+.2f}" for m in per.mean(dim=1)))
    print("channel std  " + " ".join(f"{s:.2f}" for s in std))
    print(json.dumps(std))


if __name__ == "__main__":
    main()
