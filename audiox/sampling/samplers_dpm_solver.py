"""DPM-Solver (Lu et al. 2022, arXiv:2206.00927) in k-diffusion 0.1.1's form: fixed-budget "fast" and adaptive.

Both integrate in t = -ln sigma with the noise-prediction eps(x, t) = (x - D(x, sigma)) / sigma, from sigma_max down
to sigma_min (not to 0: the result keeps sigma_min's residual noise). They take sigma_min / sigma_max instead of a
schedule. With the default eta = 0 they are deterministic and draw no random numbers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm.auto import tqdm

from audiox.errors import InputError
from audiox.sampling.noise import NoiseSource
from audiox.sampling.samplers_common import Callback, Denoiser, ancestral_step, batch_sigma, gaussian_or_given


def _t(sigma: Tensor) -> Tensor:
    return sigma.log().neg()


def _sigma(t: Tensor) -> Tensor:
    return t.neg().exp()


class _Eps:
    """eps(x, t) = (x - D(x, sigma(t))) / sigma(t), counting calls and ticking the progress bar."""

    def __init__(self, denoise: Denoiser, bar: tqdm) -> None:
        self.denoise = denoise
        self.bar = bar
        self.nfe = 0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        sigma = _sigma(t)
        eps = (x - self.denoise(x, batch_sigma(sigma, x))) / sigma
        self.nfe += 1
        self.bar.update(1)
        return eps


def _stage(eps_fn: _Eps, x: Tensor, t: Tensor, h: Tensor, eps: Tensor, r: float) -> Tensor:
    """eps at s = t + r h of the first-order (DDIM) prediction from t."""
    s = t + r * h
    return eps_fn(x - _sigma(s) * (r * h).expm1() * eps, s)


def _update_1(x: Tensor, t_next: Tensor, h: Tensor, eps: Tensor) -> Tensor:
    """DPM-Solver-1 (DDIM) update."""
    return x - _sigma(t_next) * h.expm1() * eps


def _update_2(x: Tensor, t_next: Tensor, h: Tensor, eps: Tensor, eps_r1: Tensor, r1: float) -> Tensor:
    """DPM-Solver-2 update from eps at t and eps_r1 at t + r1 h."""
    return _update_1(x, t_next, h, eps) - _sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)


def _update_3(eps_fn: _Eps, x: Tensor, t: Tensor, t_next: Tensor, eps: Tensor, eps_r1: Tensor) -> Tensor:
    """DPM-Solver-3 update (r1 = 1/3, r2 = 2/3) given eps at t and at t + h/3; evaluates eps at t + 2h/3."""
    r1, r2 = 1 / 3, 2 / 3
    h = t_next - t
    s2 = t + r2 * h
    u2 = (
        x
        - _sigma(s2) * (r2 * h).expm1() * eps
        - _sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps)
    )
    eps_r2 = eps_fn(u2, s2)
    return _update_1(x, t_next, h, eps) - _sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)


def _dpm_step(eps_fn: _Eps, order: int, x: Tensor, t: Tensor, t_next: Tensor, eps: Tensor) -> Tensor:
    h = t_next - t
    if order == 1:
        return _update_1(x, t_next, h, eps)
    if order == 2:
        return _update_2(x, t_next, h, eps, _stage(eps_fn, x, t, h, eps, 0.5), 0.5)
    return _update_3(eps_fn, x, t, t_next, eps, _stage(eps_fn, x, t, h, eps, 1 / 3))


def _check_range(sigma_min: float, sigma_max: float, who: str) -> None:
    if not sigma_min > 0:
        raise InputError(f"{who}: sigma_min must be > 0, got {sigma_min}")
    if not sigma_max > sigma_min:
        raise InputError(f"{who}: sigma_max must be > sigma_min, got sigma_max={sigma_max}, sigma_min={sigma_min}")


def _noisy_target(t: Tensor, t_next: Tensor, t_end: Tensor, eta: float) -> tuple[Tensor, Tensor]:
    """Deterministic target t_next_ and added-noise std for an ancestral step (eta > 0)."""
    sigma_down, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
    t_next_ = torch.minimum(t_end, _t(sigma_down))
    return t_next_, (_sigma(t_next) ** 2 - _sigma(t_next_) ** 2) ** 0.5


@torch.no_grad()
def sample_dpm_fast(
    denoise: Denoiser,
    x: Tensor,
    sigma_min: float,
    sigma_max: float,
    n: int,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    eta: float = 0.0,
    s_noise: float = 1.0,
    seed: int | None = None,
) -> Tensor:
    """DPM-Solver-fast: orders 3, 3, ..., then 2/1 on uniform steps in t, using exactly n denoiser calls (Lu et al.).

    With n // 3 + 1 = m steps: orders [3] * (m - 2) + [2, 1] when n % 3 == 0, else [3] * (m - 1) + [n % 3].

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigma_max.
        sigma_min: final sigma (> 0).
        sigma_max: starting sigma.
        n: number of denoiser calls (>= 1).
        noise: noise source for eta > 0; None -> Gaussian from ``seed``.
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar over denoiser calls.
        eta: ancestral noise fraction (0 = deterministic, the default).
        s_noise: scale of the added noise.
        seed: seed of the default Gaussian noise source (eta > 0 only).
    """
    _check_range(sigma_min, sigma_max, "sample_dpm_fast")
    if n < 1:
        raise InputError(f"sample_dpm_fast: n must be >= 1, got {n}")
    if eta:
        noise = gaussian_or_given(noise, x, seed, "sample_dpm_fast")
    dtype = torch.promote_types(x.dtype, torch.float32)
    t_start = _t(torch.tensor(sigma_max, dtype=dtype, device=x.device))
    t_end = _t(torch.tensor(sigma_min, dtype=dtype, device=x.device))
    m = n // 3 + 1
    orders = [3] * (m - 2) + [2, 1] if n % 3 == 0 else [3] * (m - 1) + [n % 3]
    ts = torch.linspace(float(t_start), float(t_end), m + 1, dtype=dtype, device=x.device)
    with tqdm(total=n, disable=not progress) as bar:
        eps_fn = _Eps(denoise, bar)
        for i, order in enumerate(orders):
            t, t_next = ts[i], ts[i + 1]
            t_next_, sigma_up = _noisy_target(t, t_next, t_end, eta) if eta else (t_next, None)
            eps = eps_fn(x, t)
            if callback is not None:
                sigma = _sigma(t)
                callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma, "denoised": x - sigma * eps})
            x = _dpm_step(eps_fn, order, x, t, t_next_, eps)
            if eta:
                x = x + sigma_up * s_noise * noise(_sigma(t), _sigma(t_next))
    return x


class _PIDStepSize:
    """PID step-size controller on inverse errors, with an arctan limiter (k-diffusion's ``PIDStepSizeController``)."""

    def __init__(self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float, accept_safety: float):
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.inv_errs: list[float] = []

    def propose(self, error: float) -> bool:
        """Rescale h from the new error; return whether the step that produced it is accepted."""
        inv = 1 / (error + 1e-8)
        if not self.inv_errs:
            self.inv_errs = [inv, inv, inv]
        self.inv_errs[0] = inv
        e0, e1, e2 = self.inv_errs
        factor = 1 + math.atan(e0**self.b1 * e1**self.b2 * e2**self.b3 - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.inv_errs = [e0, e0, e1]
        self.h *= factor
        return accept


@torch.no_grad()
def sample_dpm_adaptive(
    denoise: Denoiser,
    x: Tensor,
    sigma_min: float,
    sigma_max: float,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    order: int = 3,
    rtol: float = 0.01,
    atol: float = 0.01,
    h_init: float = 0.05,
    pcoeff: float = 0.0,
    icoeff: float = 1.0,
    dcoeff: float = 0.0,
    accept_safety: float = 0.81,
    eta: float = 0.0,
    s_noise: float = 1.0,
    seed: int | None = None,
    info: dict[str, int] | None = None,
) -> Tensor:
    """DPM-Solver-12 / -23 with adaptive step size (Lu et al. 2022, Algorithm 4 / 5, PID-controlled).

    Each attempt computes a low- and a high-order solution from t (DPM-Solver-1/2 for order 2, 2/3 for order 3,
    sharing denoiser calls) and accepts the high-order one when the scaled difference is small enough.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigma_max.
        sigma_min: final sigma (> 0).
        sigma_max: starting sigma.
        noise: noise source for eta > 0; None -> Gaussian from ``seed``.
        callback: called once per attempted step (accepted or not), before the update, with
            {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar over denoiser calls.
        order: 2 or 3.
        rtol: relative tolerance (the official AudioX call uses 0.01).
        atol: absolute tolerance (0.01 in the official call).
        h_init: first step size in t.
        pcoeff: proportional PID coefficient.
        icoeff: integral PID coefficient.
        dcoeff: derivative PID coefficient.
        accept_safety: accept a step when the step-size factor is at least this.
        eta: ancestral noise fraction (0 = deterministic, the default).
        s_noise: scale of the added noise.
        seed: seed of the default Gaussian noise source (eta > 0 only).
        info: if given, filled with counters {"steps", "nfe", "n_accept", "n_reject"}.
    """
    _check_range(sigma_min, sigma_max, "sample_dpm_adaptive")
    if order not in (2, 3):
        raise InputError(f"sample_dpm_adaptive: order must be 2 or 3, got {order}")
    if eta:
        noise = gaussian_or_given(noise, x, seed, "sample_dpm_adaptive")
    stats = {"steps": 0, "nfe": 0, "n_accept": 0, "n_reject": 0} if info is None else info
    stats.update(steps=0, nfe=0, n_accept=0, n_reject=0)
    dtype = torch.promote_types(x.dtype, torch.float32)
    s = _t(torch.tensor(sigma_max, dtype=dtype, device=x.device))
    t_end = _t(torch.tensor(sigma_min, dtype=dtype, device=x.device))
    pid = _PIDStepSize(abs(h_init), pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
    x_prev = x
    with tqdm(disable=not progress) as bar:
        eps_fn = _Eps(denoise, bar)
        while s < t_end - 1e-5:
            t = torch.minimum(t_end, s + pid.h)
            t_, sigma_up = _noisy_target(s, t, t_end, eta) if eta else (t, None)
            eps = eps_fn(x, s)
            if callback is not None:
                sigma = _sigma(s)
                callback({"x": x, "i": stats["steps"], "sigma": sigma, "sigma_hat": sigma, "denoised": x - sigma * eps})
            h = t_ - s
            if order == 2:
                x_low = _update_1(x, t_, h, eps)
                x_high = _update_2(x, t_, h, eps, _stage(eps_fn, x, s, h, eps, 0.5), 0.5)
            else:
                eps_r1 = _stage(eps_fn, x, s, h, eps, 1 / 3)
                x_low = _update_2(x, t_, h, eps, eps_r1, 1 / 3)
                x_high = _update_3(eps_fn, x, s, t_, eps, eps_r1)
            delta = (rtol * torch.maximum(x_low.abs(), x_prev.abs())).clamp_min(atol)
            error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
            if pid.propose(float(error)):
                x_prev = x_low
                x = x_high
                if eta:
                    x = x + sigma_up * s_noise * noise(_sigma(s), _sigma(t))
                s = t
                stats["n_accept"] += 1
            else:
                stats["n_reject"] += 1
            stats["steps"] += 1
            stats["nfe"] = eps_fn.nfe
    return x
