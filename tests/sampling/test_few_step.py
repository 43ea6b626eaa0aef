"""The few-step preset of docs/fast_inference.md ("Few-step preset"): dpmpp-2m-sde, 16 steps, log-linear schedule.

On the debug model's DiT (fixed random weights, guided as in generation), with one Brownian tree for every step count,
the preset must land nearer the 250-step run of the same SDE than 4 steps do.
"""

from __future__ import annotations

import torch

from audiox.models.diffusion import DEFAULT_CFG_SCALE, make_denoiser
from audiox.pipeline.settings import FEW_STEP_PRESET
from audiox.sampling import SAMPLER_NAMES, sample

FAST = FEW_STEP_PRESET
SIGMA_MIN, SIGMA_MAX = 0.3, 80.0  # the built-in model's generation.json


def test_fast_preset_sampler_is_registered() -> None:
    assert FAST["sampler"] in SAMPLER_NAMES


def test_fast_preset_converges_towards_250_steps(pipe) -> None:
    p = pipe.model.config.model.diffusion.config
    g = torch.Generator().manual_seed(0)
    ctx = torch.randn(1, 8, p.cond_token_dim, generator=g)
    noise = torch.randn(1, p.io_channels, pipe.geometry.window_latents, generator=g)
    denoise = make_denoiser(pipe.model.dit, ctx, cfg_scale=DEFAULT_CFG_SCALE)

    def run(steps: int) -> torch.Tensor:
        return sample(FAST["sampler"], denoise, noise, steps=steps, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
                      rho=FAST["rho"], seed=1)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a width-64 DiT: one thread is fastest, and immune to a busy machine
    try:
        ref = run(250)
        fast, four = (float((run(n) - ref).norm() / ref.norm()) for n in (FAST["steps"], 4))
    finally:
        torch.set_num_threads(threads)
    assert fast < four, (fast, four)
