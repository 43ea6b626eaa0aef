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

The loading is ``audiox.training.run.warm_start(extend=True)`` (what ``train --init`` does, plus the extension).
The zero extension is only right where the new entries are appended inputs; the script prints every tensor it
extends so that can be checked. Used for the v3 built-in model (docs/builtin.md): the text ladder's DiT first,
then v2's video tower.
"""

from __future__ import annotations

import argparse

from audiox.checkpoint.native import save_native
from audiox.models.presets import build_model
from audiox.training.run import warm_start


def graft(model, sources: list[str]) -> tuple[list[str], list[str]]:
    """Fill ``model`` from ``sources`` (the first that has a tensor wins) with ``warm_start(extend=True)``.

    Returns:
        (extended names, fresh names: left as the preset initialised them).
    """
    reports = [warm_start(model, src, extend=True) for src in reversed(sources)]  # the first source is loaded last
    winner = {k: r for r in reports for k in r["loaded"]}  # the last report holding a name is the source it kept
    extended = sorted(k for k, r in winner.items() if k in r["extended"])
    return extended, [k for k in model.state_dict() if k not in winner]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("sources", nargs="+")
    p.add_argument("--preset", default="builtin-v3")
    a = p.parse_args()
    model = build_model(a.preset, seed=0)
    extended, fresh = graft(model, a.sources)
    for k in extended:
        print("extended", k)
    for k in fresh:
        print("fresh", k)
    save_native(model, a.out, force=True)
    print(f"wrote {a.out}: {len(extended)} tensors extended, {len(fresh)} fresh")


if __name__ == "__main__":
    main()
