"""The registry: names, dispatch (schedule, initial scaling, range samplers) and argument errors."""

from __future__ import annotations

import pytest
import torch
from tolerances import schedule_bound

from audiox.errors import InputError
from audiox.sampling import (
    SAMPLER_NAMES,
    get_sampler,
    get_sigmas_karras,
    get_sigmas_polyexponential,
    sample,
    sample_dpm_2,
    sample_dpmpp_3m_sde,
)

OFFICIAL = [
    "k-heun",
    "k-lms",
    "k-dpmpp-2s-ancestral",
    "k-dpm-2",
    "k-dpm-fast",
    "k-dpm-adaptive",
    "dpmpp-2m-sde",
    "dpmpp-3m-sde",
]
SHORT = [
    "euler",
    "heun",
    "dpm-2",
    "lms",
    "dpmpp-2s-ancestral",
    "dpmpp-2m",
    "dpmpp-2m-sde",
    "dpmpp-3m-sde",
    "dpm-fast",
    "dpm-adaptive",
]


def _denoise(x, sigma):
    return x / (1 + sigma.view(-1, 1, 1) ** 2)


def test_all_names_present_and_aliases_share_functions():
    assert set(OFFICIAL) | set(SHORT) == set(SAMPLER_NAMES)
    assert get_sampler("k-dpm-2") is get_sampler("dpm-2") is sample_dpm_2
    assert get_sampler("dpmpp-3m-sde") is sample_dpmpp_3m_sde
    for a, b in [
        ("k-heun", "heun"),
        ("k-lms", "lms"),
        ("k-dpm-fast", "dpm-fast"),
        ("k-dpm-adaptive", "dpm-adaptive"),
        ("k-dpmpp-2s-ancestral", "dpmpp-2s-ancestral"),
    ]:
        assert SAMPLER_NAMES[a] is SAMPLER_NAMES[b]


def test_unknown_name_is_one_line_listing_choices():
    with pytest.raises(InputError) as err:
        sample("xyz", _denoise, torch.zeros(1, 2, 3), steps=4, sigma_min=0.3, sigma_max=500.0)
    msg = str(err.value)
    assert msg.startswith("unknown sampler 'xyz'; expected one of: ") and "\n" not in msg
    assert all(name in msg for name in OFFICIAL + SHORT)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": 2.5}, "steps must be an integer >= 1"),
        ({"sigma_min": 0.0}, "sigma_min must be > 0"),
        ({"sigma_min": -1.0}, "sigma_min must be > 0"),
        ({"sigma_max": 0.2}, "sigma_max must be > sigma_min"),
        ({"rho": 0.0}, "rho must be > 0"),
        ({"schedule": "cosine"}, "schedule: unknown 'cosine'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    args = {"steps": 4, "sigma_min": 0.3, "sigma_max": 500.0, **kwargs}
    with pytest.raises(InputError, match=match):
        sample("k-dpm-2", _denoise, torch.zeros(1, 2, 3), **args)


def test_official_flow_scales_noise_by_first_sigma(official):
    exp = official.expected
    cfg = official.meta["settings"]["e2e"]
    infos = []
    sample(
        cfg["sampler_type"],
        _denoise,
        exp["e2e.initial_noise"],
        steps=cfg["steps"],
        sigma_min=cfg["sigma_min"],
        sigma_max=cfg["sigma_max"],
        callback=infos.append,
    )
    assert torch.equal(infos[0]["x"], exp["e2e.step_x"][0])  # the official x at step 0 is noise * sigmas[0]
    assert torch.equal(torch.stack([i["sigma_hat"] for i in infos]), exp["e2e.step_sigma_hat"])
    assert [i["i"] for i in infos] == exp["e2e.step_index"].tolist()


def test_karras_schedule_and_range_samplers_dispatch():
    noise = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    seen: list[float] = []

    def record(x, sigma):
        seen.append(float(sigma[0]))
        return _denoise(x, sigma)

    sample("euler", record, noise, steps=5, sigma_min=0.1, sigma_max=10.0, schedule="karras", rho=7.0)
    assert seen == get_sigmas_karras(5, 0.1, 10.0, rho=7.0)[:-1].tolist()  # the schedule's own values, passed on
    seen.clear()
    sample("lms", record, noise, steps=5, sigma_min=0.1, sigma_max=10.0, rho=2.0)
    assert seen == get_sigmas_polyexponential(5, 0.1, 10.0, rho=2.0)[:-1].tolist()
    for name in ("k-dpm-fast", "k-dpm-adaptive"):
        seen.clear()
        infos = []
        sample(name, record, noise, steps=7, sigma_min=0.1, sigma_max=10.0, callback=infos.append)
        assert torch.equal(infos[0]["x"], noise * get_sigmas_polyexponential(7, 0.1, 10.0)[0])
        # these samplers step in t = -ln sigma and map back with exp: the schedule's rounding bound
        b = schedule_bound(0.1, 10.0)
        assert seen[0] == pytest.approx(10.0, rel=b) and min(seen) >= 0.1 * (1 - b)
        if name == "k-dpm-fast":
            assert len(seen) == 7


def test_stochastic_samplers_via_registry_need_noise_or_seed():
    noise = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    args = {"steps": 4, "sigma_min": 0.3, "sigma_max": 50.0}
    for name in ("dpmpp-3m-sde", "dpmpp-2m-sde", "k-dpmpp-2s-ancestral"):
        with pytest.raises(InputError, match="noise source"):
            sample(name, _denoise, noise, **args)
        a = sample(name, _denoise, noise, seed=5, **args)
        assert torch.equal(a, sample(name, _denoise, noise, seed=5, **args))


def test_progress_bar_only_when_asked(capsys):
    noise = torch.randn(1, 2, 3, generator=torch.Generator().manual_seed(0))
    for name in ("euler", "dpm-fast", "dpm-adaptive"):
        sample(name, _denoise, noise, steps=3, sigma_min=0.1, sigma_max=10.0)
        assert capsys.readouterr().err == ""
        sample(name, _denoise, noise, steps=3, sigma_min=0.1, sigma_max=10.0, progress=True)
        err = capsys.readouterr().err
        assert "it" in err and ("3/3" in err or name == "dpm-adaptive"), err  # adaptive has no known total
