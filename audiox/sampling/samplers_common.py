"""Helpers shared by the samplers: the denoiser contract, ODE derivative, ancestral split, noise resolution."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor
from tqdm.auto import trange

from audiox.errors import InputError
from audiox.sampling.noise import BrownianTreeNoise, GaussianNoise, NoiseSource


class Denoiser(Protocol):
    """``denoise(x (B, C, T), sigma (B,)) -> D(x, sigma) (B, C, T)``: the estimate of the clean sample."""

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor: ...


Callback = Callable[[dict[str, Any]], None]


def steps_range(n: int, progress: bool) -> Iterable[int]:
    """range(n), with a tqdm bar only when ``progress`` is true."""
    return trange(n, disable=not progress)


def batch_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """The scalar sigma repeated over the batch: (B,), like k-diffusion's ``sigma * s_in``."""
    return sigma * x.new_ones([x.shape[0]])


def to_d(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """Karras ODE derivative dx/dsigma = (x - D(x, sigma)) / sigma for a scalar sigma."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor]:
    """Split a step sigma_from -> sigma_to into a deterministic step to sigma_down and fresh noise of std sigma_up.

    sigma_down ** 2 + sigma_up ** 2 = sigma_to ** 2; eta = 1 is DDPM-like ancestral sampling, eta = 0 is an ODE step.

    Returns:
        (sigma_down, sigma_up), 0-dim tensors.
    """
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def gaussian_or_given(noise: NoiseSource | None, x: Tensor, seed: int | Sequence[int] | None, who: str) -> NoiseSource:
    """``noise`` if given, else :class:`GaussianNoise` from a generator seeded with ``seed`` on x's device."""
    if noise is not None:
        return noise
    if seed is None:
        raise InputError(f"{who}: stochastic sampler needs a noise source (noise=...) or a seed (seed=...)")
    if not isinstance(seed, int):
        raise InputError(f"{who}: seed must be an int (per-row seeds need a Brownian-tree sampler), got {seed!r}")
    generator = torch.Generator(device=x.device).manual_seed(int(seed))
    return GaussianNoise(x, generator)


def brownian_or_given(
    noise: NoiseSource | None, x: Tensor, sigmas: Tensor, seed: int | Sequence[int] | None, who: str
) -> NoiseSource:
    """``noise`` if given, else a :class:`BrownianTreeNoise` over [min positive sigma, max sigma] from ``seed``."""
    if noise is not None:
        return noise
    if seed is None:
        raise InputError(f"{who}: stochastic sampler needs a noise source (noise=...) or a seed (seed=...)")
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoise(x, positive.min(), sigmas.max(), seed)


def check_sigmas(sigmas: Tensor, who: str) -> None:
    """Sigmas must be a 1-D tensor of at least two values."""
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise InputError(f"{who}: sigmas must be a 1-D tensor of at least 2 values, got shape {tuple(sigmas.shape)}")


def churn_sigma(
    x: Tensor,
    sigma: Tensor,
    n_steps: int,
    s_churn: float,
    s_tmin: float,
    s_tmax: float,
    s_noise: float,
    noise: NoiseSource | None,
) -> tuple[Tensor, Tensor]:
    """Karras et al. (2022) Algorithm 2 churn: raise sigma to sigma_hat = sigma (1 + gamma) by adding noise.

    gamma = min(s_churn / n_steps, sqrt(2) - 1) inside [s_tmin, s_tmax], else 0. No random numbers are drawn when
    gamma = 0 (the default s_churn = 0); otherwise ``noise`` is asked once for the interval (sigma, sigma_hat).

    Returns:
        (x after churn (B, C, T), sigma_hat).
    """
    gamma = min(s_churn / n_steps, 2**0.5 - 1) if s_tmin <= float(sigma) <= s_tmax else 0.0
    sigma_hat = sigma * (gamma + 1)
    if gamma > 0:
        if noise is None:
            raise InputError("s_churn > 0 needs a noise source (noise=...) or a seed (seed=...)")
        x = x + noise(sigma, sigma_hat) * s_noise * (sigma_hat**2 - sigma**2) ** 0.5
    return x, sigma_hat
