"""The sampler contract: callbacks, denoiser calls, randomness (none for deterministic samplers), noise injection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tolerances import EPS32, schedule_bound

from audiox.errors import InputError
from audiox.sampling import (
    StoredNoise,
    get_sigmas_polyexponential,
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
from audiox.sampling.samplers import lms_coefficients

N = 6
SIGMAS = get_sigmas_polyexponential(N, 0.05, 20.0)
# sampler -> denoiser calls for N steps ending at sigma = 0 (the last step is first order, one call)
SIGMA_SAMPLERS = {
    sample_euler: N,
    sample_heun: 2 * N - 1,
    sample_dpm_2: 2 * N - 1,
    sample_lms: N,
    sample_dpmpp_2m: N,
    sample_dpmpp_2s_ancestral: 2 * N - 1,
    sample_dpmpp_2m_sde: N,
    sample_dpmpp_3m_sde: N,
}
STOCHASTIC = (sample_dpmpp_2s_ancestral, sample_dpmpp_2m_sde, sample_dpmpp_3m_sde)


class Recorder:
    """Denoiser D(x, sigma) = x / (1 + sigma^2) that records the sigmas it is called with."""

    def __init__(self) -> None:
        self.sigmas: list[float] = []

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        assert sigma.shape == (x.shape[0],) and (sigma == sigma[0]).all()
        self.sigmas.append(float(sigma[0]))
        return x / (1 + sigma.view(-1, 1, 1) ** 2)


def _x() -> torch.Tensor:
    return 20.0 * torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))


def _never(sigma, sigma_next):
    raise AssertionError("a deterministic sampler asked for noise")


@pytest.mark.parametrize("fn", list(SIGMA_SAMPLERS), ids=lambda f: f.__name__)
def test_callback_once_per_step_before_update_and_call_count(fn):
    den, infos = Recorder(), []
    kwargs = {"seed": 0} if fn in STOCHASTIC else {}
    x0 = _x()
    out = fn(den, x0.clone(), SIGMAS, callback=infos.append, **kwargs)
    assert out.shape == x0.shape
    assert [info["i"] for info in infos] == list(range(N))
    assert torch.equal(infos[0]["x"], x0)
    for i, info in enumerate(infos):
        assert {"x", "i", "sigma", "sigma_hat", "denoised"} <= set(info)
        assert float(info["sigma"]) == float(SIGMAS[i]) == float(info["sigma_hat"])
        assert torch.equal(info["denoised"], info["x"] / (1 + info["sigma"] ** 2))  # Recorder's own arithmetic
    assert len(den.sigmas) == SIGMA_SAMPLERS[fn]


@pytest.mark.parametrize(
    "fn", [sample_euler, sample_heun, sample_dpm_2, sample_lms, sample_dpmpp_2m], ids=lambda f: f.__name__
)
def test_deterministic_samplers_draw_no_random_numbers(fn):
    state = torch.get_rng_state()
    a = fn(Recorder(), _x(), SIGMAS, noise=_never)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, fn(Recorder(), _x(), SIGMAS))


@pytest.mark.parametrize("fn", STOCHASTIC, ids=lambda f: f.__name__)
def test_stochastic_samplers_seeded_not_global(fn):
    state = torch.get_rng_state()
    a = fn(Recorder(), _x(), SIGMAS, seed=3)
    b = fn(Recorder(), _x(), SIGMAS, seed=3)
    c = fn(Recorder(), _x(), SIGMAS, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(InputError, match="needs a noise source .* or a seed"):
        fn(Recorder(), _x(), SIGMAS)
    if fn is sample_dpmpp_2s_ancestral:  # Gaussian default noise: one generator, so one int seed
        with pytest.raises(InputError, match="seed must be an int"):
            fn(Recorder(), _x(), SIGMAS, seed=[1, 2])
    else:  # Brownian default noise: one tree per row, and a row does not depend on its batch
        rows = fn(Recorder(), _x(), SIGMAS, seed=[7, 8])
        assert torch.equal(rows[1:], fn(Recorder(), _x()[1:], SIGMAS, seed=[8]))  # elementwise math, same tree
    # eta = 0 is an ODE solver: no noise needed, none drawn
    fn(Recorder(), _x(), SIGMAS, eta=0.0, noise=_never)


def test_dpm_2_midpoints_are_geometric():
    den = Recorder()
    sample_dpm_2(den, _x(), SIGMAS)
    s = SIGMAS.tolist()
    want = [v for i in range(N - 1) for v in (s[i], math.sqrt(s[i] * s[i + 1]))] + [s[N - 1]]
    # the midpoint is exp of the mean of two logs: the schedule's rounding bound
    np.testing.assert_allclose(den.sigmas, want, rtol=schedule_bound(*SIGMAS[SIGMAS > 0].tolist()))


def test_dpmpp_2m_sde_without_noise_is_dpmpp_2m():
    # the same update written two ways (exp/expm1 of log-sigma steps): a few ulps per step, N steps
    torch.testing.assert_close(
        sample_dpmpp_2m_sde(Recorder(), _x(), SIGMAS, eta=0.0), sample_dpmpp_2m(Recorder(), _x(), SIGMAS),
        rtol=8 * N * EPS32, atol=8 * N * EPS32 * float(_x().abs().max()),
    )


@pytest.mark.parametrize("fn", [sample_dpmpp_2m_sde, sample_dpmpp_3m_sde], ids=lambda f: f.__name__)
def test_sde_final_step_returns_denoised(fn):
    infos = []
    out = fn(Recorder(), _x(), SIGMAS, seed=0, callback=infos.append)
    assert torch.equal(out, infos[-1]["denoised"])


def test_dpmpp_3m_sde_noise_injection_matches_official_fixture(official):
    exp = official.expected
    sigmas, stored = exp["sde.sigmas"], exp["sde.injected_noise"]
    noise = StoredNoise(stored)
    x = exp["sde.initial_noise"] * sigmas[0]
    out = sample_dpmpp_3m_sde(lambda x, s: 0.5 * x, x, sigmas, noise=noise)
    assert torch.isfinite(out).all()
    # one noise call per step except the last one, to sigma = 0
    assert noise.calls == len(sigmas) - 2 == official.meta["sde_noise_calls"] == stored.shape[0]
    pairs = torch.tensor(noise.pairs, dtype=torch.float64)
    assert torch.equal(pairs, exp["sde.injected_noise_sigma_pairs"])
    assert torch.equal(pairs, torch.stack([sigmas[:-2], sigmas[1:-1]], dim=1).double())


def test_stored_noise_too_short_is_a_clear_error():
    with pytest.raises(InputError, match="StoredNoise exhausted"):
        sample_dpmpp_3m_sde(Recorder(), _x(), SIGMAS, noise=StoredNoise(torch.zeros(2, 2, 3, 5)))


def test_churn_uses_noise_only_in_its_sigma_window():
    noise = StoredNoise(torch.zeros(N, 2, 3, 5))
    infos = []
    sample_euler(Recorder(), _x(), SIGMAS, s_churn=1.0, s_tmin=1.0, s_tmax=10.0, noise=noise, callback=infos.append)
    inside = [i for i in range(N) if 1.0 <= float(SIGMAS[i]) <= 10.0]
    assert noise.calls == len(inside) > 0
    gamma = min(1.0 / N, 2**0.5 - 1)
    for (a, b), i in zip(noise.pairs, inside):
        # float32 sigmas against float64 arithmetic: pytest's default rel 1e-6 is 8 float32 ulps
        assert a == pytest.approx(float(SIGMAS[i])) and b == pytest.approx(a * (1 + gamma))
        assert float(infos[i]["sigma_hat"]) == pytest.approx(b)
    with pytest.raises(InputError, match="noise source .* or a seed"):
        sample_heun(Recorder(), _x(), SIGMAS, s_churn=1.0)


def test_lms_coefficients_integrate_lagrange_basis():
    s = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.0])
    for i in range(len(s) - 1):
        order = min(i + 1, 4)
        c = lms_coefficients(s, i, order)
        assert sum(c) == pytest.approx(s[i + 1] - s[i], rel=1e-12)  # the basis sums to 1
        # exact for a polynomial derivative of degree order - 1: f(sigma) = sigma^(order-1)
        past = [s[i - j] ** (order - 1) for j in range(order)]
        exact = (s[i + 1] ** order - s[i] ** order) / order
        assert sum(cj * fj for cj, fj in zip(c, past)) == pytest.approx(exact, rel=1e-10)
    with pytest.raises(ValueError, match="too high"):
        lms_coefficients(s, 1, 3)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9])
def test_dpm_fast_spends_exactly_n_calls(n):
    den, infos = Recorder(), []
    state = torch.get_rng_state()
    sample_dpm_fast(den, _x(), 0.05, 20.0, n, callback=infos.append, noise=_never)
    assert len(den.sigmas) == n
    assert torch.equal(torch.get_rng_state(), state)
    b = schedule_bound(0.05, 20.0)  # steps in t = -ln sigma, mapped back with exp
    assert den.sigmas[0] == pytest.approx(20.0, rel=b)
    assert [info["i"] for info in infos] == list(range(len(infos)))
    assert float(infos[0]["sigma"]) == pytest.approx(20.0, rel=b)


def test_dpm_adaptive_counts_and_callbacks():
    den, infos, info = Recorder(), [], {}
    out = sample_dpm_adaptive(den, _x(), 0.05, 20.0, callback=infos.append, info=info, noise=_never)
    assert torch.isfinite(out).all()
    assert info["nfe"] == len(den.sigmas) == 3 * info["steps"]  # order 3: three calls per attempt
    assert info["steps"] == info["n_accept"] + info["n_reject"] == len(infos)
    b = schedule_bound(0.05, 20.0)
    assert den.sigmas[0] == pytest.approx(20.0, rel=b) and min(den.sigmas) >= 0.05 * (1 - b)
    info2 = {}
    sample_dpm_adaptive(Recorder(), _x(), 0.05, 20.0, order=2, info=info2)
    assert info2["nfe"] == 2 * info2["steps"]


def test_dpm_range_samplers_validate_arguments():
    with pytest.raises(InputError, match="sigma_min must be > 0"):
        sample_dpm_fast(Recorder(), _x(), 0.0, 20.0, 5)
    with pytest.raises(InputError, match="sigma_max must be > sigma_min"):
        sample_dpm_adaptive(Recorder(), _x(), 1.0, 0.5)
    with pytest.raises(InputError, match="order must be 2 or 3"):
        sample_dpm_adaptive(Recorder(), _x(), 0.05, 20.0, order=1)
    with pytest.raises(InputError, match="n must be >= 1"):
        sample_dpm_fast(Recorder(), _x(), 0.05, 20.0, 0)
