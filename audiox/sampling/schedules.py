"""Noise schedules: pure functions ``(n, sigma_min, sigma_max, ...) -> sigmas (n + 1,)``, descending, zero appended.

The formulas follow k-diffusion 0.1.1 operation by operation (float32 ``linspace`` on the requested device), so the
official AudioX schedule (``get_sigmas_polyexponential`` with rho = 1) is reproduced to float rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _append_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def get_sigmas_polyexponential(
    n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, device: torch.device | str | None = None
) -> Tensor:
    """Polynomial-in-log-sigma schedule (k-diffusion ``get_sigmas_polyexponential``).

    sigma_k = exp(ramp_k ** rho * (ln sigma_max - ln sigma_min) + ln sigma_min), with ramp going 1 -> 0 over n
    points. rho = 1 is log-linear: the official AudioX schedule.

    Args:
        n: number of sampling steps (non-zero sigmas).
        sigma_min: last non-zero sigma, > 0.
        sigma_max: first sigma, > sigma_min.
        rho: exponent of the ramp; > 1 puts more steps near sigma_min.
        device: device of the result.

    Returns:
        (n + 1,) float32 sigmas from sigma_max down to sigma_min, then 0.
    """
    ramp = torch.linspace(1, 0, n, device=device) ** rho
    log_min, log_max = math.log(sigma_min), math.log(sigma_max)
    return _append_zero(torch.exp(ramp * (log_max - log_min) + log_min))


def get_sigmas_loglinear(
    n: int, sigma_min: float, sigma_max: float, device: torch.device | str | None = None
) -> Tensor:
    """Log-linear schedule: :func:`get_sigmas_polyexponential` with rho = 1 (the AudioX default).

    Args:
        n: number of sampling steps.
        sigma_min: last non-zero sigma, > 0.
        sigma_max: first sigma.
        device: device of the result.

    Returns:
        (n + 1,) float32 sigmas, zero appended.
    """
    return get_sigmas_polyexponential(n, sigma_min, sigma_max, rho=1.0, device=device)


def get_sigmas_karras(
    n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: torch.device | str | None = None
) -> Tensor:
    """Schedule of Karras et al. (2022), eq. 5: linear in sigma ** (1 / rho).

    Args:
        n: number of sampling steps.
        sigma_min: last non-zero sigma, > 0.
        sigma_max: first sigma.
        rho: schedule exponent (7 in the paper).
        device: device of the result.

    Returns:
        (n + 1,) float32 sigmas, zero appended.
    """
    ramp = torch.linspace(0, 1, n, device=device)
    inv_min = sigma_min ** (1 / rho)
    inv_max = sigma_max ** (1 / rho)
    return _append_zero((inv_max + ramp * (inv_min - inv_max)) ** rho)
