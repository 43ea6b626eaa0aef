"""Noise schedules: the official fixture's sigmas, and the formulas' defining properties."""

from __future__ import annotations

import math

import torch
from tolerances import EPS32, schedule_bound

from audiox.sampling.schedules import get_sigmas_karras, get_sigmas_loglinear, get_sigmas_polyexponential


def test_polyexponential_reproduces_official_fixture_sigmas(official):
    e2e, sde = official.meta["settings"]["e2e"], official.meta["settings"]["sde"]
    for key, cfg in (("e2e.sigmas", e2e), ("sde.sigmas", sde)):
        want = official.expected[key]
        got = get_sigmas_polyexponential(cfg["steps"], cfg["sigma_min"], cfg["sigma_max"], rho=1.0)
        assert got.shape == want.shape == (cfg["steps"] + 1,)
        assert got.dtype == torch.float32
        rel = ((got - want).abs() / want.abs().clamp_min(1e-12)).max().item()
        assert rel <= schedule_bound(cfg["sigma_min"], cfg["sigma_max"]), (key, rel)
        assert got[-1] == 0


def test_loglinear_is_geometric():
    s = get_sigmas_loglinear(8, 0.3, 500.0)
    assert torch.equal(s, get_sigmas_polyexponential(8, 0.3, 500.0, rho=1.0))
    ratios = s[1:-1] / s[:-2]
    expected = (0.3 / 500.0) ** (1 / 7)
    b = schedule_bound(0.3, 500.0)  # per value; a ratio of two values carries both
    torch.testing.assert_close(ratios, torch.full_like(ratios, expected), rtol=2 * b + EPS32, atol=0)
    assert math.isclose(s[0].item(), 500.0, rel_tol=b) and math.isclose(s[-2].item(), 0.3, rel_tol=b)


def test_polyexponential_rho_bends_towards_sigma_min():
    lin = get_sigmas_polyexponential(10, 0.01, 10.0, rho=1.0)
    bent = get_sigmas_polyexponential(10, 0.01, 10.0, rho=2.0)
    torch.testing.assert_close(bent[[0, -2]], lin[[0, -2]], rtol=2 * schedule_bound(0.01, 10.0), atol=0)
    assert (bent[1:-2] < lin[1:-2]).all()  # ramp ** 2 < ramp on (0, 1): more steps near sigma_min
    assert (bent[:-2] > bent[1:-1]).all()


def test_karras_endpoints_and_rho_spacing():
    s = get_sigmas_karras(12, 0.002, 80.0, rho=7.0)
    assert s.shape == (13,) and s[-1] == 0
    # (a + ramp (b - a)) ** rho with a, b the rho-th roots: the base carries ~4 ulps, the power multiplies by rho
    b = (1 + 4 * 7) * EPS32
    assert math.isclose(s[0].item(), 80.0, rel_tol=b) and math.isclose(s[-2].item(), 0.002, rel_tol=b)
    steps = s[:-1] ** (1 / 7)
    diffs = steps[1:] - steps[:-1]
    # each root is within ~(b + 1 ulp) of the exact base; a difference of two carries both, against its own size
    rtol = 2 * (b + EPS32) * float(steps.max()) / float(diffs.abs().min())
    torch.testing.assert_close(diffs, torch.full_like(diffs, diffs.mean().item()), rtol=rtol, atol=0)


def test_single_step_schedule():
    s = get_sigmas_polyexponential(1, 0.3, 500.0)  # one step: sigma_max straight to 0
    assert s.shape == (2,) and s[1] == 0 and math.isclose(s[0].item(), 500.0, rel_tol=schedule_bound(0.3, 500.0))
