"""Noise sources for stochastic samplers: ``noise(sigma, sigma_next) -> Tensor`` shaped like the sample.

A sampler asks for one standard-normal tensor per noise injection and passes the sigma interval it covers. All
sources here are explicit about their randomness: a seed or a ``torch.Generator``; none touches the global RNG.

- :class:`GaussianNoise`: fresh ``randn`` per call (k-diffusion's ``default_noise_sampler``, made explicit).
- :class:`BrownianTreeNoise`: increments of one Brownian path (torchsde ``BrownianTree``), k-diffusion's
  ``BrownianTreeNoiseSampler``. Noise over an interval depends only on the interval, not on the call order, so a
  result is stable when the step count changes.
- :class:`StoredNoise`: replays given tensors in order (for reference checks against stored official runs).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, Protocol

import torch
from torch import Tensor

from audiox.errors import InputError


class NoiseSource(Protocol):
    """A callable giving unit-variance Gaussian noise for the sigma interval (sigma, sigma_next)."""

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        """Return a (B, C, T) tensor of N(0, 1) noise (shaped like the sample) for the given interval."""
        ...


class GaussianNoise:
    """Independent standard normal noise at every call, drawn from an explicit generator.

    Args:
        like: tensor whose shape, dtype and device the noise takes, e.g. x (B, C, T).
        generator: the RNG; the noise is drawn on its device and moved to ``like.device``.
    """

    def __init__(self, like: Tensor, generator: torch.Generator) -> None:
        self.shape = like.shape
        self.dtype = like.dtype
        self.device = like.device
        self.generator = generator

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        return torch.randn(self.shape, generator=self.generator, dtype=self.dtype,
                           device=self.generator.device).to(self.device)


class StoredNoise:
    """Returns ``tensors[j]`` at its j-th call; raises :class:`InputError` once they are used up.

    The (sigma, sigma_next) pair of every call is recorded in ``pairs`` (floats) for inspection.

    Args:
        tensors: (N, ...) stack of noise tensors, each shaped like the sample, e.g. (N, B, C, T).
    """

    def __init__(self, tensors: Tensor) -> None:
        if tensors.ndim < 1:
            raise InputError("StoredNoise: tensors must have a leading (N, ...) dimension")
        self.tensors = tensors
        self.pairs: list[tuple[float, float]] = []

    @property
    def calls(self) -> int:
        """Number of tensors handed out so far."""
        return len(self.pairs)

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        j = len(self.pairs)
        if j >= self.tensors.shape[0]:
            raise InputError(
                f"StoredNoise exhausted: all {self.tensors.shape[0]} stored tensors were used, but the sampler asked "
                f"for another (call {j + 1}, sigma={float(sigma):g} -> sigma_next={float(sigma_next):g})"
            )
        self.pairs.append((float(sigma), float(sigma_next)))
        return self.tensors[j]


class BrownianTreeNoise:
    """Normalised increments of a Brownian motion W over a time t(sigma), built with torchsde's BrownianTree.

    noise(sigma, sigma_next) = (W(t(sigma_next)) - W(t(sigma))) / sqrt(|t(sigma_next) - t(sigma)|), which is N(0, 1)
    per element. Disjoint intervals give independent noise; a sub-interval's noise is consistent with the whole
    interval's, whatever the call order. Reproducible from ``seed`` alone.

    Args:
        x: tensor whose shape, dtype and device the noise takes, e.g. (B, C, T).
        sigma_min: smallest sigma that will be queried (> 0 for ``time='log_sigma'``).
        sigma_max: largest sigma that will be queried.
        seed: int seed of one tree for the whole batch, or a sequence of B ints (one tree per batch row, so that
            a row's noise does not depend on the batch it is in).
        time: ``'sigma'`` (t = sigma, k-diffusion's default; the same seed gives k-diffusion's exact noise) or
            ``'log_sigma'`` (t = -ln sigma, uniform resolution over a log-spaced schedule).
    """

    def __init__(
        self,
        x: Tensor,
        sigma_min: float | Tensor,
        sigma_max: float | Tensor,
        seed: int | Sequence[int],
        *,
        time: Literal["sigma", "log_sigma"] = "sigma",
    ) -> None:
        import torchsde  # heavy import, only needed here

        if time not in ("sigma", "log_sigma"):
            raise InputError(f"BrownianTreeNoise: unknown time {time!r}; expected 'sigma' or 'log_sigma'")
        self.time = time
        t0, t1 = sorted((float(self._t(sigma_min)), float(self._t(sigma_max))))
        if isinstance(seed, Sequence):
            seeds = [int(s) for s in seed]
            if len(seeds) != x.shape[0]:
                raise InputError(f"BrownianTreeNoise: got {len(seeds)} seeds for a batch of {x.shape[0]}")
            w0 = torch.zeros_like(x[0])
            self.batched = True
        else:
            seeds = [int(seed)]
            w0 = torch.zeros_like(x)
            self.batched = False
        self.trees = [torchsde.BrownianTree(t0, w0, t1, entropy=s) for s in seeds]

    def _t(self, sigma: float | Tensor) -> Tensor:
        s = torch.as_tensor(sigma)
        return -s.log() if self.time == "log_sigma" else s

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        ta, tb = self._t(sigma), self._t(sigma_next)
        lo, hi = sorted((float(ta), float(tb)))
        with warnings.catch_warnings():
            # torchsde rounds the tree's end points to its tolerance (1e-6) and clamps queries that fall just
            # outside, e.g. a float32 sigma_min of 0.0019999998 vs a rounded 0.002; the clamp is what we want.
            warnings.filterwarnings("ignore", message="Should have t", category=UserWarning)
            w = torch.stack([tree(lo, hi) for tree in self.trees])
        w = w if self.batched else w[0]
        sign = 1.0 if float(tb) >= float(ta) else -1.0
        return w * sign / (tb - ta).abs().sqrt()


TREE_ENTROPY_END = 2**31 - 1
"""Brownian-tree entropies are drawn from [0, TREE_ENTROPY_END) (the range of every recorded generation so far)."""


def tree_entropy(generator: torch.Generator) -> int:
    """The integer entropy of a :class:`BrownianTreeNoise` (torchsde takes an int, not a generator), drawn from the
    generation's one generator: the only place a tree's seed is derived.

    Args:
        generator: the generation's RNG (CPU or the device's); one integer is drawn from it.

    Returns:
        An int in [0, :data:`TREE_ENTROPY_END`).
    """
    return int(torch.randint(0, TREE_ENTROPY_END, (1,), generator=generator, device=generator.device))
