"""Equivalence of each fast-path switch (:class:`audiox.pipeline.settings.RunOptions`, dtypes) with the reference.

Exact where the math is the same: the null context's cross-attention term is 0 (no bias in ``to_cond_embed`` and
``to_kv``, so k = v = 0, the attention output is 0 and x + 0 == x), and caching k/v computes the same products.
Otherwise within a bound derived from the dtype (``tolerances.layer_bound``).
"""

from __future__ import annotations

import pytest
import torch
from fixture_tools import official_context, official_ids
from tolerances import Checks, layer_bound, network_products, rel_err

from audiox.errors import ConfigError, InputError
from audiox.models.diffusion import make_denoiser
from audiox.models.dit import DiT
from audiox.models.presets import PRESETS, build_model, parse_config


def _random_dit(preset: str, seed: int = 0) -> tuple[DiT, object]:
    cfg = parse_config(PRESETS[preset]())
    dit = DiT(cfg.model.diffusion.config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the official init zeroes every branch output: make every weight matter
        for p in dit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return dit, cfg


@pytest.mark.parametrize("preset", ["debug", "builtin"])  # plain cross-attention; adaLN + global + input-concat
def test_null_cross_skip_is_exact(preset):
    dit, cfg = _random_dit(preset)
    p = cfg.model.diffusion.config
    g = torch.Generator().manual_seed(1)
    b = 2
    x = torch.randn(b, p.io_channels, cfg.latent_length, generator=g)
    ctx = torch.randn(b, 19, p.cond_token_dim, generator=g)
    extra = {}
    if p.global_cond_dim:
        extra["global_cond"] = torch.randn(b, p.global_cond_dim, generator=g)
    if p.input_concat_dim:
        extra["input_concat_cond"] = torch.randn(b, p.input_concat_dim, cfg.latent_length, generator=g)
    with torch.no_grad():
        null_kv = dit.context_kv(torch.zeros_like(ctx))
        assert all(not k.any() and not v.any() for k, v in null_kv)  # the premise: the null's k and v are 0
        outs = {}
        for skip in (False, True):
            for cache in (False, True):
                den = make_denoiser(dit, ctx, cfg_scale=5.0, extra=extra, skip_null_cross=skip, cache_context=cache)
                outs[skip, cache] = den(x, torch.tensor([2.0, 0.7]))
    ref = outs[False, False]  # the official order: null attended, k/v projected at every call
    assert ref.abs().max() > 0.1
    for key, out in outs.items():
        assert torch.equal(out, ref), key


def test_negative_prompt_is_not_skipped():
    """A negative prompt is a real context for the unconditional half: it must change the output."""
    dit, cfg = _random_dit("debug")
    p = cfg.model.diffusion.config
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, p.io_channels, cfg.latent_length, generator=g)
    ctx, neg = torch.randn(2, 1, 7, p.cond_token_dim, generator=g)
    with torch.no_grad():
        plain = make_denoiser(dit, ctx, cfg_scale=5.0)(x, torch.tensor([1.0]))
        negative = make_denoiser(dit, ctx, cfg_scale=5.0, negative_cond=neg)(x, torch.tensor([1.0]))
    assert rel_err(negative, plain) > 1e-3


def test_bf16_dit_within_dtype_bound(official, official_model, bounds):
    """The official-format DiT in bfloat16 against float32: its products store bf16 (EPS 2**-7) and sum in float32,
    on the same longest path and reductions as the DiT's float32 bound."""
    import copy

    dit32 = official_model.dit
    dit16 = copy.deepcopy(dit32).to(torch.bfloat16)
    inp = official.inputs
    ctx = official_context(official, official_ids(official_model))
    with torch.no_grad():
        ref = dit32(inp["dit_x"], inp["dit_t"], ctx)
        got = dit16(inp["dit_x"].bfloat16(), inp["dit_t"], ctx.bfloat16()).float()
    checks = Checks("fast_bf16_dit")
    checks.close("bf16_vs_fp32", got, ref, layer_bound(bounds["dit_depth"], bounds["dit_k"], store=torch.bfloat16))
    checks.verify()


@pytest.mark.parametrize("preset", ["debug", "builtin", "fixture"])  # Oobleck; istft; the official layout
def test_chunked_vae_decode_matches_whole(preset, request):
    """Chunks with 16 frames of context per side equal one whole decode: the same convolutions on the same inputs
    (the official decoder's receptive field is 8-12 latent frames per side: 8 leaves 3e-3), so only the kernels'
    summation order may differ (the VAE bound)."""
    model = request.getfixturevalue("official_model") if preset == "fixture" else build_model(preset, seed=0).eval()
    vae = model.pretransform.model
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, vae.latent_dim, 150, generator=g)
    with torch.no_grad():
        whole = vae.decode(z)
        for chunk in (40, 64, 149):
            got = vae.decode(z, chunk=chunk)
            assert got.shape == whole.shape
            checks = Checks(f"vae_chunk_{preset}")
            checks.close(f"chunk{chunk}", got, whole, layer_bound(*network_products(vae.decoder)))
            checks.verify()


def test_loading_in_target_dtype(debug_model_dir):
    """The dtype plan: DiT, video encoder and VAE decoder in bf16 straight from the file (equal to casting the
    float32 load); VAE encoder and text projection in float32."""
    from audiox.checkpoint.official import dtype_plan, load_model

    ref = load_model(debug_model_dir)
    got = load_model(debug_model_dir, dtype=lambda cfg: dtype_plan(cfg, torch.bfloat16, torch.bfloat16))
    sd_ref, sd = ref.state_dict(), got.state_dict()
    assert sd.keys() == sd_ref.keys()
    clip = [c.id for c in got.config.model.conditioning.configs if c.type == "clip"]
    n16 = n_dec = 0
    for k, v in sd.items():
        if not v.is_floating_point() or k.endswith("inv_freq"):
            continue
        fast = k.startswith("model.") or any(k.startswith(f"conditioner.conditioners.{c}.") for c in clip)
        decoder = ".model.decoder." in k and "pretransform" in k
        want = torch.bfloat16 if fast or decoder else torch.float32
        assert v.dtype == want, k
        assert torch.equal(v, sd_ref[k].to(want)), k
        n16, n_dec = n16 + fast, n_dec + decoder
    assert n16 > 10 and n_dec > 5
    assert next(got.pretransform.model.encoder.parameters()).dtype == torch.float32


def test_run_options_name_the_bad_key():
    from audiox.pipeline.settings import RunOptions

    with pytest.raises(ConfigError, match="attention"):
        RunOptions(attention="flash3")
    with pytest.raises(InputError, match="vae_chunk"):
        RunOptions(vae_chunk=0)


def test_cpu_bf16_instructions_from_cpuinfo():
    from audiox.utils.dtypes import cpu_bf16_instructions

    amx = "processor : 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n"
    zen4 = "flags : fpu avx512f avx512_bf16\n"
    old = "flags : fpu avx2 fma\n"
    assert cpu_bf16_instructions(amx) == ["amx_bf16", "avx512_bf16"]
    assert cpu_bf16_instructions(zen4) == ["avx512_bf16"]
    assert cpu_bf16_instructions(old) == []


def test_vae_conv2d_layout_matches_official(official, official_model, bounds):
    """The VAE run as 2-D channels-last convolutions against the official fixture's encoder and decoder outputs:
    the same products in another summation order, so the VAE's float32 bound applies."""
    from audiox.models.autoencoder import set_conv2d

    vae = official_model.pretransform.model
    inp, exp = official.inputs, official.expected
    checks = Checks("fast_vae_conv2d")
    set_conv2d(official_model, True)
    try:
        with torch.no_grad():
            checks.close("encoder_out", vae.encode_raw(inp["audio"]), exp["ae.encoder_out"], bounds["vae"])
            checks.close("decoded", vae.decode(exp["ae.latents_mean"]), exp["ae.decoded_from_mean"], bounds["vae"])
    finally:
        set_conv2d(official_model, False)
    checks.verify()


def test_per_call_switches_equal_the_model_defaults():
    """The DiT's attention backend and activation checkpointing, given per call, are the same as the model's own
    attributes set to those values (so a pipeline or a training module need not write them onto a shared model);
    checkpointing also gives the same gradients."""
    dit, cfg = _random_dit("debug")
    p = cfg.model.diffusion.config
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, p.io_channels, cfg.latent_length, generator=g)
    ctx = torch.randn(2, 7, p.cond_token_dim, generator=g)
    t = torch.tensor([0.3, 0.8])
    with torch.no_grad():
        dit.attn_backend = "math"
        own = dit(x, t, ctx)
        dit.attn_backend = "sdpa"
        assert torch.equal(dit(x, t, ctx, attn_backend="math"), own)
    dit.train()
    grads = []
    for checkpointing in (False, True):
        dit.zero_grad()
        out = dit(x, t, ctx, checkpointing=checkpointing)
        out.square().mean().backward()
        grads.append([q.grad.clone() for q in dit.parameters() if q.grad is not None])
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(*grads)) and len(grads[0]) > 10
    assert dit.attn_backend == "sdpa" and dit.gradient_checkpointing is False
