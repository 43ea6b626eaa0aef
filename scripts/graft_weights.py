"""Start a larger model from trained smaller ones: a model folder for ``audiox train --init``.

    python scripts/graft_weights.py OUT_DIR --preset builtin-v3 SOURCE [SOURCE ...]

Builds the preset and fills each tensor from the first SOURCE (a model folder or a .safetensors file) that has it:

- same name and shape: copied;
- same name, the source smaller along some axes (a layer that now takes more inputs, e.g. the adaLN MLP of v3
  takes the video and audio-prompt vectors after the sentence embedding; the input projection takes the video's
  per-frame features after the latent channels): the source fills the leading block and the rest is zero, so the
  new inputs start switched off and the grafted model computes exactly what the source did until training turns
  them on;
- otherwise the preset's fresh initialisation is kept (and listed).

The zero extension is only right where the new entries are appended inputs; the script prints every tensor it
extends so that can be checked. Used for the v3 built-in model (docs/builtin.md): the text ladder's DiT first,
then v2's video tower.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from audiox.checkpoint.io import read_state_dict
from audiox.checkpoint.locate import find_weights
from audiox.checkpoint.native import save_native
from audiox.checkpoint.official import expand_shared
from audiox.models.presets import build_model


def _source(path: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    sd, meta = read_state_dict(find_weights(p) if p.is_dir() else p)
    return expand_shared(sd, meta)  # a native folder stores the audio prompt's VAE copy once


def graft(own: dict[str, torch.Tensor], sources: list[dict[str, torch.Tensor]]) -> tuple[dict, list, list]:
    """Returns (state dict, extended names, fresh names)."""
    out, extended, fresh = {}, [], []
    for k, v in own.items():
        src = next((s[k] for s in sources if k in s and s[k].dim() == v.dim()
                    and all(a <= b for a, b in zip(s[k].shape, v.shape))), None)
        if src is None:
            out[k] = v.clone()
            fresh.append(k)
        elif tuple(src.shape) == tuple(v.shape):
            out[k] = src.to(v.dtype).clone()
        else:
            t = torch.zeros_like(v)
            t[tuple(slice(0, n) for n in src.shape)] = src.to(v.dtype)
            out[k] = t
            extended.append(f"{k}: {tuple(src.shape)} -> {tuple(v.shape)}")
    return out, extended, fresh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("sources", nargs="+")
    p.add_argument("--preset", default="builtin-v3")
    a = p.parse_args()
    model = build_model(a.preset, seed=0)
    own = {k: v for k, v in model.state_dict().items()}
    sd, extended, fresh = graft(own, [_source(s) for s in a.sources])
    for line in extended:
        print("extended", line)
    for k in fresh:
        print("fresh", k)
    model.load_state_dict(sd)
    save_native(model, a.out, force=True)
    print(f"wrote {a.out}: {len(sd)} tensors, {len(extended)} extended, {len(fresh)} fresh")


if __name__ == "__main__":
    main()
