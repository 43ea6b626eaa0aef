"""Stage 4 of the official fixture: end-to-end sampling with k-dpm-2 and dpmpp-3m-sde (stored noise).

Tolerances (fixture README): teacher-forced denoiser per step <= 1e-4 relative; free-running latents and audio
<= 1e-2 relative (a random network under CFG amplifies float re-association noise along the trajectory).
"""

from __future__ import annotations

import pytest
import torch
from fixture_tools import rel_err

from audiox.models.diffusion import make_denoiser
from audiox.sampling.noise import StoredNoise
from audiox.sampling.registry import sample
from audiox.sampling.schedules import get_sigmas_polyexponential

STEP_TOL = 1e-4
FREE_TOL = 1e-2


@pytest.fixture(scope="module")
def e2e_context(official, official_model):
    """Context of the stage-4 call: video item 0, text item 0, empty audio (item 1) of stage 2."""
    exp = official.expected
    inp = official.inputs
    m = official_model
    vid, tid, aid = (m.conditioner.ids_of_type(t)[0] for t in ("clip", "t5", "audio_autoencoder"))
    batch = {
        vid: inp["video_uint8"].float(),
        tid: {"input_ids": exp[f"cond.{tid}.input_ids"][:1],
              "attention_mask": exp[f"cond.{tid}.attention_mask_tokenizer"][:1]},
        aid: torch.zeros(1, *inp["audio"].shape[1:]),
    }
    with torch.no_grad():
        cond = m.condition(batch, sample_audio=True, generator=torch.Generator().manual_seed(0))
    ref = torch.cat([exp[f"cond.{vid}.out"][:1], exp[f"cond.{tid}.out"][:1], exp[f"cond.{aid}.out"][1:]], dim=1)
    assert rel_err(cond.cross_attn_cond, ref) <= 1e-4
    return cond.cross_attn_cond


def _settings(official, key):
    s = official.meta["settings"][key]
    return s["steps"], s["cfg_scale"], s["sigma_min"], s["sigma_max"], s["seed"]


def _sampler(official, key) -> str:
    """The official sampler name the fixture used (k-dpm-2 and dpmpp-3m-sde here; read, not assumed)."""
    return official.meta["settings"][key]["sampler_type"]


def test_dpm2_schedule_and_initial_noise(official):
    exp = official.expected
    steps, _, smin, smax, seed = _settings(official, "e2e")
    sigmas = get_sigmas_polyexponential(steps, smin, smax, rho=1.0)
    assert rel_err(sigmas, exp["e2e.sigmas"]) <= 1e-6
    noise = torch.randn(exp["e2e.initial_noise"].shape, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(noise, exp["e2e.initial_noise"])


def test_dpm2_teacher_forced_steps(official, official_model, e2e_context):
    exp = official.expected
    steps, cfg, _, _, _ = _settings(official, "e2e")
    denoise = make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg)
    for i in range(steps):
        sigma = exp["e2e.step_sigma_hat"][i].reshape(1)
        d = denoise(exp["e2e.step_x"][i], sigma)
        assert rel_err(d, exp["e2e.step_denoised"][i]) <= STEP_TOL, f"step {i}"


def test_dpm2_free_running(official, official_model, e2e_context):
    exp = official.expected
    steps, cfg, smin, smax, _ = _settings(official, "e2e")
    denoise = make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg)
    seen = []
    lat = sample(_sampler(official, "e2e"), denoise, exp["e2e.initial_noise"], steps=steps, sigma_min=smin,
                 sigma_max=smax, rho=1.0, callback=lambda info: seen.append(info["i"]))
    assert seen == exp["e2e.step_index"].tolist()
    assert rel_err(lat, exp["e2e.latents"]) <= FREE_TOL
    audio = official_model.decode(lat)
    assert audio.shape == exp["e2e.audio"].shape
    assert rel_err(audio, exp["e2e.audio"]) <= FREE_TOL


def test_dpmpp_3m_sde_with_stored_noise(official, official_model, e2e_context):
    exp = official.expected
    steps, cfg, smin, smax, seed = _settings(official, "sde")
    denoise = make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg)
    sigmas = exp["sde.sigmas"]
    assert rel_err(get_sigmas_polyexponential(steps, smin, smax, rho=1.0), sigmas) <= 1e-6
    init = torch.randn(exp["sde.initial_noise"].shape, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(init, exp["sde.initial_noise"])
    noise = StoredNoise(exp["sde.injected_noise"])
    lat = sample(_sampler(official, "sde"), denoise, init, steps=steps, sigma_min=smin, sigma_max=smax, rho=1.0,
                 noise=noise)
    assert noise.calls == official.meta["sde_noise_calls"]
    pairs = torch.tensor(noise.pairs, dtype=torch.float64)
    assert torch.allclose(pairs, exp["sde.injected_noise_sigma_pairs"], rtol=1e-6)
    assert rel_err(lat, exp["sde.latents"]) <= FREE_TOL
