"""Equivalence with k-diffusion 0.1.1 (the version the official AudioX code pins), on stored reference outputs.

``reference/kdiffusion_0_1_1.safetensors`` holds the outputs of k-diffusion 0.1.1's own samplers (PyPI wheel,
torch 2.13 CPU, torchsde 0.2.6) for the inputs stored beside them: x0 (2, 4, 16), a log-linear schedule 80 -> 0.03
over 12 steps, the denoiser below, and stored noise (``noises``) fed to its ``noise_sampler``. Elementwise float32
math with the same operation order reproduces them bit for bit; LMS integrates its coefficients differently
(Gauss-Legendre instead of scipy's quad), hence the 1e-6 relative tolerance everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audiox.sampling import (
    BrownianTreeNoise,
    StoredNoise,
    sample_dpm_2,
    sample_dpm_adaptive,
    sample_dpm_fast,
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_euler,
    sample_heun,
    sample_lms,
)
from audiox.sampling.noise import draw_tree_seed

REF = load_file(str(Path(__file__).parent / "reference" / "kdiffusion_0_1_1.safetensors"))
SIGMAS = REF["sigmas"]
TOL = 1e-6


def den(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.view(-1, 1, 1)
    return torch.tanh(x / (1 + s)) * 0.8 + 0.1 * x / (1 + s**2)


def _stored() -> StoredNoise:
    return StoredNoise(REF["noises"])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


X = REF["x0"] * SIGMAS[0]
X80 = REF["x0"] * 80.0
CASES = {
    "euler": lambda: sample_euler(den, X, SIGMAS),
    "heun": lambda: sample_heun(den, X, SIGMAS),
    "dpm_2": lambda: sample_dpm_2(den, X, SIGMAS),
    "lms": lambda: sample_lms(den, X, SIGMAS),
    "dpmpp_2m": lambda: sample_dpmpp_2m(den, X, SIGMAS),
    "dpmpp_2s_ancestral": lambda: sample_dpmpp_2s_ancestral(den, X, SIGMAS, noise=_stored()),
    "dpmpp_2m_sde": lambda: sample_dpmpp_2m_sde(den, X, SIGMAS, noise=_stored()),
    "dpmpp_2m_sde_heun": lambda: sample_dpmpp_2m_sde(den, X, SIGMAS, noise=_stored(), solver_type="heun"),
    "dpmpp_3m_sde": lambda: sample_dpmpp_3m_sde(den, X, SIGMAS, noise=_stored()),
    "dpmpp_3m_sde_eta0.5": lambda: sample_dpmpp_3m_sde(den, X, SIGMAS, noise=_stored(), eta=0.5, s_noise=0.9),
    "dpm_fast_3": lambda: sample_dpm_fast(den, X80, 0.03, 80.0, 3),
    "dpm_fast_7": lambda: sample_dpm_fast(den, X80, 0.03, 80.0, 7),
    "dpm_fast_10": lambda: sample_dpm_fast(den, X80, 0.03, 80.0, 10),
    "dpm_fast_10_eta1": lambda: sample_dpm_fast(den, X80, 0.03, 80.0, 10, eta=1.0, noise=_stored()),
    "dpm_adaptive_o3": lambda: sample_dpm_adaptive(den, X80, 0.03, 80.0),
    "dpm_adaptive_o2": lambda: sample_dpm_adaptive(den, X80, 0.03, 80.0, order=2, rtol=0.05, atol=0.0078),
    "dpm_adaptive_o3_eta1": lambda: sample_dpm_adaptive(den, X80, 0.03, 80.0, eta=1.0, noise=_stored()),
    "dpmpp_3m_sde_brownian_99": lambda: sample_dpmpp_3m_sde(den, X, SIGMAS, seed=99),
}


@pytest.mark.parametrize("key", list(CASES))
def test_matches_kdiffusion_0_1_1(key):
    assert _rel(CASES[key](), REF[key]) <= TOL


def test_churn_matches_kdiffusion_given_the_same_draws():
    # k-diffusion draws randn_like(x) at every step; the churn only uses the draws of steps inside [s_tmin, s_tmax]
    inside = [i for i in range(len(SIGMAS) - 1) if 0.5 <= float(SIGMAS[i]) <= 30.0]
    noise = StoredNoise(REF["heun_churn_draws"][inside])
    out = sample_heun(den, X, SIGMAS, s_churn=2.0, s_tmin=0.5, s_tmax=30.0, noise=noise)
    assert _rel(out, REF["heun_churn"]) <= TOL


def test_brownian_tree_noise_equals_kdiffusion_for_the_same_seed():
    positive = SIGMAS[SIGMAS > 0]
    tree = BrownianTreeNoise(X, positive.min(), SIGMAS.max(), seed=1234)
    got = torch.stack([tree(SIGMAS[i], SIGMAS[i + 1]) for i in range(len(SIGMAS) - 2)])
    assert torch.equal(got, REF["brownian_1234"])


def test_tree_seed_is_drawn_like_kdiffusion():
    gen = torch.Generator().manual_seed(77)
    torch.randn(3, generator=gen)
    assert draw_tree_seed(gen) == int(REF["tree_seed_after_seed77_randn3"])
