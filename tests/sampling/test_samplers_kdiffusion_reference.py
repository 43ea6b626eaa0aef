"""Equivalence with k-diffusion 0.1.1 (the version the official AudioX code pins), on stored reference outputs.

``reference/kdiffusion_0_1_1.safetensors`` holds the outputs of k-diffusion 0.1.1's own samplers (PyPI wheel,
torch 2.13 CPU, torchsde 0.2.6) for the inputs stored beside them: x0 (2, 4, 16), a log-linear schedule 80 -> 0.03
over 12 steps, the denoiser below, and stored noise (``noises``) fed to its ``noise_sampler``.

Bounds are derived per case (``tests/tolerances.py``): each denoiser call may differ between kernel sets by the
rounding of the denoiser's own arithmetic (``DEN_ROUNDINGS`` ulps; tanh is vectorised differently per kernel
set), and the test measures how much the trajectory amplifies that, by running it again from a start perturbed by
that much. Well-conditioned samplers stay within a few ulps; the adaptive ones amplify more, because their step
sizes follow the error estimate (on an AMD Zen 4: 9.7e-4 for ``dpm_adaptive_o3_eta1``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tolerances import EPS32, TREE_BOUND, Checks, Counted, trajectory_bound

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

REF = load_file(str(Path(__file__).parent / "reference" / "kdiffusion_0_1_1.safetensors"))
SIGMAS = REF["sigmas"]
# den's arithmetic: two divisions, two sums, a square, tanh, two products and the final sum, about an ulp each.
DEN_ROUNDINGS = 10


def den(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.view(-1, 1, 1)
    return torch.tanh(x / (1 + s)) * 0.8 + 0.1 * x / (1 + s**2)


def _stored() -> StoredNoise:
    return StoredNoise(REF["noises"])


X = REF["x0"] * SIGMAS[0]
X80 = REF["x0"] * 80.0
# Each case: its start and the sampler as a function of (denoiser, start).
CASES = {
    "euler": (X, lambda d, x: sample_euler(d, x, SIGMAS)),
    "heun": (X, lambda d, x: sample_heun(d, x, SIGMAS)),
    "dpm_2": (X, lambda d, x: sample_dpm_2(d, x, SIGMAS)),
    "lms": (X, lambda d, x: sample_lms(d, x, SIGMAS)),
    "dpmpp_2m": (X, lambda d, x: sample_dpmpp_2m(d, x, SIGMAS)),
    "dpmpp_2s_ancestral": (X, lambda d, x: sample_dpmpp_2s_ancestral(d, x, SIGMAS, noise=_stored())),
    "dpmpp_2m_sde": (X, lambda d, x: sample_dpmpp_2m_sde(d, x, SIGMAS, noise=_stored())),
    "dpmpp_2m_sde_heun": (X, lambda d, x: sample_dpmpp_2m_sde(d, x, SIGMAS, noise=_stored(), solver_type="heun")),
    "dpmpp_3m_sde": (X, lambda d, x: sample_dpmpp_3m_sde(d, x, SIGMAS, noise=_stored())),
    "dpmpp_3m_sde_eta0.5": (X, lambda d, x: sample_dpmpp_3m_sde(d, x, SIGMAS, noise=_stored(), eta=0.5, s_noise=0.9)),
    "dpm_fast_3": (X80, lambda d, x: sample_dpm_fast(d, x, 0.03, 80.0, 3)),
    "dpm_fast_7": (X80, lambda d, x: sample_dpm_fast(d, x, 0.03, 80.0, 7)),
    "dpm_fast_10": (X80, lambda d, x: sample_dpm_fast(d, x, 0.03, 80.0, 10)),
    "dpm_fast_10_eta1": (X80, lambda d, x: sample_dpm_fast(d, x, 0.03, 80.0, 10, eta=1.0, noise=_stored())),
    "dpm_adaptive_o3": (X80, lambda d, x: sample_dpm_adaptive(d, x, 0.03, 80.0)),
    "dpm_adaptive_o2": (X80, lambda d, x: sample_dpm_adaptive(d, x, 0.03, 80.0, order=2, rtol=0.05, atol=0.0078)),
    "dpm_adaptive_o3_eta1": (X80, lambda d, x: sample_dpm_adaptive(d, x, 0.03, 80.0, eta=1.0, noise=_stored())),
    "dpmpp_3m_sde_brownian_99": (X, lambda d, x: sample_dpmpp_3m_sde(d, x, SIGMAS, seed=99)),
}


def _check(name: str, run, start: torch.Tensor, ref: torch.Tensor) -> None:
    counted = Counted(den)
    out = run(counted, start)
    bound = trajectory_bound(lambda x: {"out": run(den, x)}, start, counted.calls, DEN_ROUNDINGS * EPS32)["out"]
    checks = Checks("kdiffusion")
    checks.close(name, out, ref, bound)
    checks.verify()


@pytest.mark.parametrize("key", list(CASES))
def test_matches_kdiffusion_0_1_1(key):
    start, run = CASES[key]
    _check(key, run, start, REF[key])


def test_churn_matches_kdiffusion_given_the_same_draws():
    # k-diffusion draws randn_like(x) at every step; the churn only uses the draws of steps inside [s_tmin, s_tmax]
    inside = [i for i in range(len(SIGMAS) - 1) if 0.5 <= float(SIGMAS[i]) <= 30.0]

    def run(den, x):
        noise = StoredNoise(REF["heun_churn_draws"][inside])
        return sample_heun(den, x, SIGMAS, s_churn=2.0, s_tmin=0.5, s_tmax=30.0, noise=noise)

    _check("heun_churn", run, X, REF["heun_churn"])


def test_brownian_tree_noise_equals_kdiffusion_for_the_same_seed():
    positive = SIGMAS[SIGMAS > 0]
    tree = BrownianTreeNoise(X, positive.min(), SIGMAS.max(), seed=1234)
    got = torch.stack([tree(SIGMAS[i], SIGMAS[i + 1]) for i in range(len(SIGMAS) - 2)])
    checks = Checks("kdiffusion")
    checks.close("brownian_1234", got, REF["brownian_1234"], TREE_BOUND)
    checks.verify()


def draw_tree_seed(generator: torch.Generator) -> int:
    """k-diffusion's Brownian-tree seed when it is given none: randint(0, 2**63 - 1) from the (global) RNG, right
    when the SDE sampler starts (for replaying an official run; audiox's own is ``noise.tree_entropy``)."""
    return int(torch.randint(0, 2**63 - 1, [], generator=generator, device=generator.device))


def test_tree_seed_is_drawn_like_kdiffusion():
    gen = torch.Generator().manual_seed(77)
    torch.randn(3, generator=gen)
    assert draw_tree_seed(gen) == int(REF["tree_seed_after_seed77_randn3"])
