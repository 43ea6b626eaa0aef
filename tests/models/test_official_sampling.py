"""Stage 4 of the official fixture: end-to-end sampling with the fixture's samplers (k-dpm-2 and dpmpp-3m-sde
with stored noise here; names, steps, scales and sigmas are read from its meta.json).

Every stage is fed the official context (the stored stage-2 outputs; the official run asserted that this is its
context bit for bit), so the float16 T5 does not leak into the float32 sampling checks. Bounds are derived
(``tests/tolerances.py``): a teacher-forced denoiser call from the DiT's rounding bound and the guidance and
v-scalings on top; a free-running trajectory from its number of calls times the trajectory's own amplification,
measured by perturbing its start by what one call differs by.
"""

from __future__ import annotations

import pytest
import torch
from fixture_tools import official_ids
from tolerances import EPS32, RANDN_BOUND, Checks, Counted, rel_err, schedule_bound, trajectory_bound

from audiox.models.diffusion import make_denoiser, v_scalings
from audiox.sampling.noise import StoredNoise
from audiox.sampling.registry import sample
from audiox.sampling.schedules import get_sigmas_polyexponential


@pytest.fixture(scope="module")
def ids(official_model):
    return official_ids(official_model)


@pytest.fixture(scope="module")
def e2e_context(official, ids):
    """Context of the stage-4 call: video item 0, text item 0, empty audio (item 1) of stage 2 (official values)."""
    exp = official.expected
    vid, tid, aid = ids
    return torch.cat([exp[f"cond.{vid}.out"][:1], exp[f"cond.{tid}.out"][:1], exp[f"cond.{aid}.out"][1:]], dim=1)


def test_condition_batch_of_one(official, official_model, ids, e2e_context, bounds):
    """Our conditioning of the stage-4 inputs gives that context: each segment at its own stage's precision."""
    exp, inp = official.expected, official.inputs
    vid, tid, aid = ids
    batch = {
        vid: inp["video_uint8"].float(),
        tid: {"input_ids": exp[f"cond.{tid}.input_ids"][:1],
              "attention_mask": exp[f"cond.{tid}.attention_mask_tokenizer"][:1]},
        aid: torch.zeros(1, *inp["audio"].shape[1:]),
    }
    with torch.no_grad():
        cond = official_model.condition(batch, sample_audio=True, generator=torch.Generator().manual_seed(0))
    checks = Checks("condition_batch_of_one")
    for cid, key in ((vid, "video"), (tid, "t5")):
        a, b = cond.spans[cid]
        checks.close(cid, cond.cross_attn_cond[:, a:b], e2e_context[:, a:b], bounds[key])
    a, b = cond.spans[aid]
    assert torch.equal(cond.cross_attn_cond[:, a:b], e2e_context[:, a:b])  # silent audio: the empty feature, copied
    checks.verify()


def _settings(official, key):
    s = official.meta["settings"][key]
    return s["steps"], s["cfg_scale"], s["sigma_min"], s["sigma_max"], s["seed"]


def _sampler(official, key) -> str:
    """The official sampler name the fixture used (read, not assumed)."""
    return official.meta["settings"][key]["sampler_type"]


def _step_bound(dit, kv, per_branch, x, sigma, ref_denoised, cfg) -> float:
    """Bound of one guided denoiser call D = c_skip x + c_out (u + (c - u) s) against the official D.

    Each DiT branch carries the DiT bound (``per_branch``) relative to its own max; guidance multiplies by
    |1 - s| + |s|; c_out scales it; the skip term and the sum add 4 roundings. ``kv`` is the (cond, null) pair of
    :meth:`DiT.context_kv`.
    """
    _, c_out, c_in = v_scalings(sigma)
    with torch.no_grad():
        t = sigma.atan() / torch.pi * 2
        top = max(dit(x * c_in, t, context_kv=k).abs().max().item() for k in kv)
    return (abs(1 - cfg) + abs(cfg)) * per_branch * abs(c_out.item()) * top / ref_denoised.abs().max().item() \
        + 4 * EPS32


def test_dpm2_schedule_and_initial_noise(official):
    exp = official.expected
    steps, _, smin, smax, seed = _settings(official, "e2e")
    checks = Checks("e2e.schedule")
    checks.close("e2e.sigmas", get_sigmas_polyexponential(steps, smin, smax, rho=1.0), exp["e2e.sigmas"],
                 schedule_bound(smin, smax))
    noise = torch.randn(exp["e2e.initial_noise"].shape, generator=torch.Generator().manual_seed(seed))
    checks.close("e2e.initial_noise", noise, exp["e2e.initial_noise"], RANDN_BOUND)
    checks.verify()


def test_dpm2_teacher_forced_steps(official, official_model, e2e_context, bounds):
    exp = official.expected
    steps, cfg, _, _, _ = _settings(official, "e2e")
    dit = official_model.dit
    denoise = make_denoiser(dit, e2e_context, cfg_scale=cfg)
    with torch.no_grad():
        kv = (dit.context_kv(e2e_context), dit.context_kv(torch.zeros_like(e2e_context)))
    checks = Checks("e2e.teacher_forced")
    for i in range(steps):
        sigma = exp["e2e.step_sigma_hat"][i].reshape(1)
        x, ref = exp["e2e.step_x"][i], exp["e2e.step_denoised"][i]
        bound = _step_bound(dit, kv, bounds["dit"], x, sigma, ref, cfg)
        checks.close(f"e2e.step_denoised[{i}]", denoise(x, sigma), ref, bound)
    checks.verify()


@pytest.fixture(scope="module")
def per_call(official, official_model, e2e_context, bounds) -> float:
    """What one guided call differs by on this machine: the largest teacher-forced difference over the fixture's
    recorded steps (the kernel-set spread, measured here), and at least one ulp per product on the DiT's path."""
    exp = official.expected
    cfg = _settings(official, "e2e")[1]
    denoise = make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg)
    measured = max(rel_err(denoise(exp["e2e.step_x"][i], exp["e2e.step_sigma_hat"][i].reshape(1)),
                           exp["e2e.step_denoised"][i]) for i in range(exp["e2e.step_x"].shape[0]))
    return max(measured, bounds["dit_depth"] * EPS32)


def test_dpm2_free_running(official, official_model, e2e_context, bounds, per_call):
    exp = official.expected
    steps, cfg, smin, smax, _ = _settings(official, "e2e")
    denoise = Counted(make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg))
    seen = []
    lat = sample(_sampler(official, "e2e"), denoise, exp["e2e.initial_noise"], steps=steps, sigma_min=smin,
                 sigma_max=smax, rho=1.0, callback=lambda info: seen.append(info["i"]))
    assert seen == exp["e2e.step_index"].tolist()
    with torch.no_grad():
        audio = official_model.decode(lat)

    def run(init):
        out = sample(_sampler(official, "e2e"), denoise, init, steps=steps, sigma_min=smin, sigma_max=smax, rho=1.0)
        with torch.no_grad():
            return {"latents": out, "audio": official_model.decode(out)}

    calls = denoise.calls
    bound = trajectory_bound(run, exp["e2e.initial_noise"], calls, per_call)
    checks = Checks("e2e.free_running")
    checks.close("e2e.latents", lat, exp["e2e.latents"], bound["latents"])
    checks.close("e2e.audio", audio, exp["e2e.audio"], bound["audio"] + bounds["vae"])
    checks.verify()


def test_dpmpp_3m_sde_with_stored_noise(official, official_model, e2e_context, per_call):
    exp = official.expected
    steps, cfg, smin, smax, seed = _settings(official, "sde")
    denoise = Counted(make_denoiser(official_model.dit, e2e_context, cfg_scale=cfg))
    sigmas = exp["sde.sigmas"]
    checks = Checks("sde")
    checks.close("sde.sigmas", get_sigmas_polyexponential(steps, smin, smax, rho=1.0), sigmas,
                 schedule_bound(smin, smax))
    init = torch.randn(exp["sde.initial_noise"].shape, generator=torch.Generator().manual_seed(seed))
    checks.close("sde.initial_noise", init, exp["sde.initial_noise"], RANDN_BOUND)
    init = exp["sde.initial_noise"]  # the official start, so that the trajectory is checked on its own

    def run(start):
        noise = StoredNoise(exp["sde.injected_noise"])
        out = sample(_sampler(official, "sde"), denoise, start, steps=steps, sigma_min=smin, sigma_max=smax,
                     rho=1.0, noise=noise)
        return {"latents": out, "noise": noise}

    first = run(init)
    noise = first["noise"]
    assert noise.calls == official.meta["sde_noise_calls"]
    pairs = torch.tensor(noise.pairs, dtype=torch.float64)
    checks.close("sde.injected_noise_sigma_pairs", pairs, exp["sde.injected_noise_sigma_pairs"],
                 schedule_bound(smin, smax))
    calls = denoise.calls
    bound = trajectory_bound(lambda s: {"latents": run(s)["latents"]}, init, calls, per_call)
    checks.close("sde.latents", first["latents"], exp["sde.latents"], bound["latents"])
    checks.verify()

