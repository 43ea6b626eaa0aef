"""The generation seed: one range, one way to draw a fresh one, one generator made from it.

A generation's randomness all comes from one ``torch.Generator`` made once from its seed (:func:`generator`) and
passed down to every draw: the initial noise, the audio prompt's posterior draw and the samplers' noise (the
Brownian tree's integer entropy is drawn from it by :func:`audiox.sampling.noise.tree_entropy`). The seed is
recorded in the output's sidecar, so the same seed reproduces the output bit for bit.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SEED_MAX = 2**64 - 1
"""Seeds are integers 0 .. SEED_MAX (what ``torch.Generator.manual_seed`` takes)."""


def fresh_seed() -> int:
    """A new seed, uniform over 0 .. :data:`SEED_MAX` (from the operating system's randomness)."""
    return secrets.randbelow(SEED_MAX + 1)


def generator(seed: int) -> torch.Generator:
    """The CPU generator of a generation with this seed (0 .. :data:`SEED_MAX`, already checked)."""
    import torch

    return torch.Generator().manual_seed(seed)
