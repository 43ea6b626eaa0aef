"""Every stage of the official reference fixture, reproduced by our implementation.

Bounds are derived per stage from the fixture's own sizes (``fixture_tools.stage_bounds``, model in
``tests/tolerances.py``); each stage is fed the official output of the stage before it, so that every stage is
checked at its own precision (the float16 T5 does not leak into the float32 stages) and a mismatch points at one
stage.
"""

from __future__ import annotations

import pytest
import torch
from fixture_tools import official_context, official_ids
from tolerances import EPS32, RANDN_BOUND, Checks, cfg_bound


@pytest.fixture(scope="module")
def stage2(official, official_model):
    """One conditioner call on the fixture's two-item batch, with the stored VAE noise."""
    inp, exp = official.inputs, official.expected
    video = inp["video_uint8"]
    audio = inp["audio"]
    m = official_model
    vid, tid, aid = official_ids(m)
    batch = {
        vid: torch.cat([video, torch.zeros_like(video)]).float(),
        tid: {"input_ids": exp[f"cond.{tid}.input_ids"],
              "attention_mask": exp[f"cond.{tid}.attention_mask_tokenizer"]},
        aid: torch.cat([audio, torch.zeros_like(audio)]),
    }
    with torch.no_grad():
        out = m.conditioner(batch, sample_audio=True, audio_noise={aid: exp[f"cond.{aid}.eps"]})
        mean_out = m.conditioner.conditioners[aid](batch[aid], sample=False)
    return dict(out=out, mean=mean_out, ids=(vid, tid, aid), batch=batch)


def test_autoencoder_stage(official, official_model, bounds):
    from audiox.models.autoencoder import vae_sample

    inp, exp = official.inputs, official.expected
    vae = official_model.pretransform.model
    checks = Checks("autoencoder")
    with torch.no_grad():
        enc = vae.encode_raw(inp["audio"])
        checks.close("ae.encoder_out", enc, exp["ae.encoder_out"], bounds["vae"])
        # The mean path is channels [:D] of the encoder output: a copy, exact on every CPU.
        assert torch.equal(vae.encode(inp["audio"], sample=False), enc[:, : enc.shape[1] // 2])
        assert torch.equal(exp["ae.latents_mean"], exp["ae.encoder_out"][:, : enc.shape[1] // 2])
        # Bottleneck alone, fed the official encoder output: softplus (exp, log1p), + 1e-4, a product and a sum,
        # each within an ulp or two of its result: 8 roundings.
        got = vae_sample(exp["ae.encoder_out"], sample=True, noise=exp["ae.latents_sampled_eps"])
        checks.close("ae.bottleneck_sample", got, exp["ae.latents_sampled"], 8 * EPS32)
        got = vae.encode(inp["audio"], sample=True, noise=exp["ae.latents_sampled_eps"])
        checks.close("ae.latents_sampled", got, exp["ae.latents_sampled"], bounds["vae"])
        # The same draw from an explicit generator seeded like the official run (no global seeding).
        g = torch.Generator().manual_seed(official.meta["seeds"]["ae_sampled_manual_seed"])
        eps = torch.randn(exp["ae.latents_sampled_eps"].shape, generator=g)
        checks.close("ae.latents_sampled_eps(randn)", eps, exp["ae.latents_sampled_eps"], RANDN_BOUND)
        g = torch.Generator().manual_seed(official.meta["seeds"]["ae_sampled_manual_seed"])
        checks.close("ae.latents_sampled(generator)", vae.encode(inp["audio"], sample=True, generator=g),
                     exp["ae.latents_sampled"], bounds["vae"] + RANDN_BOUND)
        # Decoder fed the official latents.
        dec = vae.decode(exp["ae.latents_mean"])
    checks.close("ae.decoded_from_mean", dec, exp["ae.decoded_from_mean"], bounds["vae"])
    checks.verify()


def test_video_conditioner(official, official_model, stage2, bounds):
    exp = official.expected
    vid = stage2["ids"][0]
    tokens, mask = stage2["out"][vid]
    checks = Checks("video")
    checks.close(f"cond.{vid}.out", tokens, exp[f"cond.{vid}.out"], bounds["video"])
    cond = official_model.conditioner.conditioners[vid]
    assert torch.equal(tokens[1], cond.empty_visual_feat[0])  # all-zero video -> learned empty feature (a copy)
    assert torch.equal(mask, exp[f"cond.{vid}.mask"])
    # Localisation slice: CLIP features (before post_layernorm).
    frames = stage2["batch"][vid][0, :2]
    with torch.no_grad():
        clip = cond.clip_features(frames)
    checks.close("clip_last_hidden", clip, exp[f"cond.{vid}.clip_last_hidden_item0_frames0to1"], bounds["clip"])
    checks.verify()


def test_text_conditioner_fp16(official, stage2, bounds):
    """T5 runs in float16 as in the release: float16 kernels differ between CPUs (fp16 epsilon 9.8e-4)."""
    tid = stage2["ids"][1]
    tokens, mask = stage2["out"][tid]
    checks = Checks("text")
    checks.close(f"cond.{tid}.out", tokens, official.expected[f"cond.{tid}.out"], bounds["t5"])
    assert torch.equal(mask, official.expected[f"cond.{tid}.mask"])
    assert (tokens[~mask] == 0).all()  # padding rows are exactly zero
    checks.verify()


def test_audio_conditioner(official, official_model, stage2, bounds):
    exp = official.expected
    aid = stage2["ids"][2]
    tokens, mask = stage2["out"][aid]
    checks = Checks("audio")
    checks.close(f"cond.{aid}.out", tokens, exp[f"cond.{aid}.out"], bounds["audio"])
    assert torch.equal(tokens[1], official_model.conditioner.conditioners[aid].empty_audio_feat[0])
    assert mask.shape == exp[f"cond.{aid}.mask"].shape  # official quirk: (B, cond_dim)
    checks.close(f"cond.{aid}.out_meanpath", stage2["mean"][0], exp[f"cond.{aid}.out_meanpath"], bounds["audio"])
    checks.verify()


def test_audio_conditioner_uses_its_own_vae(official, official_model):
    """The fixture's two VAE copies differ, so they must not be shared."""
    aid = official_model.conditioner.ids_of_type("audio_autoencoder")[0]
    assert official_model.conditioner.conditioners[aid].pretransform is not official_model.pretransform


def test_context_assembly(official, official_model, stage2):
    """Assembly is concatenation: fed the official conditioner outputs it must give the official context exactly."""
    from audiox.models.conditioners.multi import assemble

    exp = official.expected
    stored = {i: (exp[f"cond.{i}.out"], stage2["out"][i][1]) for i in stage2["ids"]}
    cond = assemble(stored, official_model.config.model.diffusion)
    assert torch.equal(cond.cross_attn_cond, official_context(official, stage2["ids"]))


def test_dit_stage(official, official_model, stage2, bounds):
    from audiox.models.diffusion import cfg_combine, guided_forward

    inp, exp = official.inputs, official.expected
    dit = official_model.dit
    ctx = official_context(official, stage2["ids"])
    x, t = inp["dit_x"], inp["dit_t"]
    captured = {}
    hooks = [blk.register_forward_hook(lambda mod, a, out, i=i: captured.__setitem__(i, out[:, :8].clone()))
             for i, blk in enumerate(dit.transformer.layers)]
    with torch.no_grad():
        out_cond = dit(x, t, ctx)
        hidden = dict(captured)
        out_uncond = dit(x, t, torch.zeros_like(ctx))
        kv_c, kv_u = dit.context_kv(ctx), dit.context_kv(torch.zeros_like(ctx))
        scale, phi = official.meta["settings"]["dit_cfg_scale"], official.meta["settings"]["dit_scale_phi"]
        out_cfg = guided_forward(dit, x, t, kv_c, cfg_scale=scale, uncond_kv=kv_u)
        out_resc = guided_forward(dit, x, t, kv_c, cfg_scale=scale, uncond_kv=kv_u, scale_phi=phi)
        temb = dit.embed_timestep(t)
        ce = dit.to_cond_embed(ctx)
    for h in hooks:
        h.remove()
    checks = Checks("dit")
    checks.close("dit.out_cond", out_cond, exp["dit.out_cond"], bounds["dit"])
    checks.close("dit.out_uncond", out_uncond, exp["dit.out_uncond"], bounds["dit"])
    # CFG amplifies each branch's error by |1 - s| + |s|; rescaling adds the errors of two standard deviations.
    b_cfg = cfg_bound(bounds["dit"], scale, exp["dit.out_cond"], exp["dit.out_uncond"], exp["dit.out_cfg"])
    checks.close("dit.out_cfg", out_cfg, exp["dit.out_cfg"], b_cfg)
    checks.close("dit.out_cfg_rescaled", out_resc, exp["dit.out_cfg_rescaled"], b_cfg * (1 + 2 * phi))
    checks.close("cfg_combine", cfg_combine(out_cond, out_uncond, scale), exp["dit.out_cfg"], b_cfg)
    checks.close("dit.timestep_embed", temb, exp["dit.timestep_embed"], bounds["timestep"])
    ref_ce = exp["dit.cond_embed_tokens0to7_and_256to263"]
    checks.close("dit.cond_embed", torch.cat([ce[:, 0:8], ce[:, 256:264]], 1), ref_ce, bounds["cond_embed"])
    for i in range(len(dit.transformer.layers)):
        key = f"dit.hidden_after_layer{i}_tokens0to7"
        if key in exp:
            checks.close(key, hidden[i], exp[key], bounds[f"dit_layer{i}"])
    checks.verify()


def test_dit_math_backend_matches_sdpa(official, official_model, stage2, bounds):
    """Equivalence test: PyTorch SDPA against the explicit-softmax reference attention (two correct evaluations of
    the same math, so the DiT's rounding bound applies)."""
    dit = official_model.dit
    inp = official.inputs
    ctx = official_context(official, stage2["ids"])
    with torch.no_grad():
        a = dit(inp["dit_x"], inp["dit_t"], ctx)
        dit.attn_backend = "math"
        try:
            b = dit(inp["dit_x"], inp["dit_t"], ctx)
        finally:
            dit.attn_backend = "sdpa"
    checks = Checks("dit_backends")
    checks.close("sdpa_vs_math", a, b, bounds["dit"])
    checks.verify()
