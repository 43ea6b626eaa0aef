"""The fast path end to end: its exact switches change no bit of the output; ``--fast`` on the command line."""

from __future__ import annotations

import json

import pytest
import torch
from tolerances import layer_bound, network_products, rel_err

from audiox.pipeline.settings import FEW_STEP_PRESET, RunOptions

REPO_MEDIA = "v2a-sample-1.mp4"
FEW = dict(steps=3, sampler="dpmpp-3m-sde", cfg_scale=4.0, seconds=2.0, seed=5)


def test_exact_switches_change_no_bit(debug_model_dir):
    """k/v once per window and the skipped null cross-attention are the same arithmetic as the official order
    (see tests/models/test_fast_path.py), so a whole generation (text + image + audio prompt, an SDE sampler,
    guidance) is bit-identical with and without them."""
    from audiox.pipeline import AudioXPipeline

    base = dict(attention="sdpa", vae_chunk=None, vae_conv2d=False)
    outs = []
    for opts in (RunOptions(cache_context=False, skip_null_cross=False, **base), RunOptions(**base)):
        pipe = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu", options=opts)
        clip = torch.sin(torch.arange(8000) / 8000 * 2 * torch.pi * 300)[None] * 0.3
        image = torch.full((3, 32, 32), 200.0)
        outs.append(pipe("a bell rings", image=image, audio=clip, **FEW))
    assert outs[0].audio.abs().max() > 0
    assert torch.equal(outs[0].latents, outs[1].latents)
    assert torch.equal(outs[0].audio, outs[1].audio)


@pytest.mark.parametrize("negative", [None, "wind"])  # a negative prompt keeps its cross-attention
def test_fast_options_close_to_reference(debug_model_dir, negative):
    """All switches (SDPA, conv2d VAE, chunked decoding) against the reference order: only rounding differs, so
    the outputs agree within the DiT's float32 bound per denoiser call (3 calls) plus the VAE's."""
    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.settings import DEFAULT_RUN, REFERENCE_RUN

    pipes = [AudioXPipeline.from_pretrained(debug_model_dir, device="cpu", options=o)
             for o in (REFERENCE_RUN, DEFAULT_RUN)]
    a, b = (p("a bell rings", negative_text=negative, **FEW) for p in pipes)
    bound = FEW["steps"] * _call_bound(pipes[0], FEW["cfg_scale"])
    assert rel_err(b.latents, a.latents) <= bound
    assert rel_err(b.audio, a.audio) <= bound + layer_bound(*network_products(pipes[0].model.pretransform))


def _call_bound(pipe, cfg_scale: float) -> float:
    """Float32 bound of one guided denoiser call (tolerances.layer_bound over the DiT's longest path: 7 products on
    the way in, 10 per block, 2 out), amplified by guidance (|1 - s| + |s|) as in tolerances.cfg_bound."""
    p = pipe.model.config.model.diffusion.config
    k = max(4 * p.embed_dim, p.cond_token_dim, pipe.geometry.window_latents + 1, 128)  # + the context length
    return (abs(1 - cfg_scale) + abs(cfg_scale)) * layer_bound(7 + 10 * p.depth + 2, k)


def test_cli_fast_preset(debug_model_dir, tmp_path, capsys):
    from audiox.cli import main
    from audiox.utils.dtypes import fast_dtype

    wav = tmp_path / "fast.wav"
    code = main(["generate", "--model", str(debug_model_dir), "--text", "a bell", "--fast", "--seconds", "1",
                 "--seed", "2", "--no-progress", "-o", str(wav)])
    assert code == 0, capsys.readouterr().err
    meta = json.loads(wav.with_suffix(".json").read_text())
    assert meta["steps"] == FEW_STEP_PRESET["steps"] and meta["sampler"] == FEW_STEP_PRESET["sampler"]
    assert meta["rho"] == FEW_STEP_PRESET["rho"]
    assert meta["dtype"] == {"bf16": "bfloat16", "fp32": "float32"}[fast_dtype("cpu")]
    wav2 = tmp_path / "steps.wav"
    code = main(["generate", "--model", str(debug_model_dir), "--text", "a bell", "--fast", "--steps", "2",
                 "--dtype", "fp32", "--seconds", "1", "--no-progress", "-o", str(wav2)])
    assert code == 0
    meta = json.loads(wav2.with_suffix(".json").read_text())
    assert meta["steps"] == 2 and meta["dtype"] == "float32"  # explicit flags override the preset


def test_compiled_dit_matches_eager(debug_model_dir):
    """``RunOptions(compile=True)``: inductor fuses the same operations (slow first call: ~1 min on 2 cores), so
    only float32 rounding differs: within the bound of one guided call per Euler step."""
    from audiox.pipeline import AudioXPipeline

    kw = dict(steps=2, sampler="euler", cfg_scale=3.0, seconds=1.0, seed=1)
    pipe = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu")
    eager = pipe("a bell", **kw)
    compiled = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu",
                                              options=RunOptions(compile=True))("a bell", **kw)
    assert rel_err(compiled.latents, eager.latents) <= kw["steps"] * _call_bound(pipe, kw["cfg_scale"])
