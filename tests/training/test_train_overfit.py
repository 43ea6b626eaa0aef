"""Acceptance: the debug model overfits two generated clips on CPU through the full Lightning path (on pre-encoded
features, which give the same losses as raw media, see test_train_data.py, at a third of the cost); and the
`audiox train` options end to end on raw media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_utils import make_corpus, read_losses, train_config

STEPS = 500
LOSS_FACTOR = 3.0  # mean loss of the first 20 steps / mean loss of the last 20 steps must exceed this
CLOSER = 5.0  # the untrained sample's distance / the trained sample's distance must exceed this


def _sample_distance(model, batch) -> float:
    """MSE between a 30-step Euler sample (seeded noise, log-linear sigmas 80 .. 0.03) and the clips' latents."""
    from audiox.models.diffusion import make_denoiser
    from audiox.sampling.samplers import sample_euler
    from audiox.sampling.schedules import get_sigmas_loglinear
    from audiox.training.module import context_from_features
    from audiox.training.preencode import encode_frozen

    model.eval()
    with torch.no_grad():
        f = encode_frozen(model, batch)
        cond = context_from_features(model, f, sample=False, generator=None)
        x0 = f["latents_raw"][:, :8] / model.pretransform.scale
        sigmas = get_sigmas_loglinear(30, 0.03, 80.0)
        x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)) * sigmas[0]
        denoise = make_denoiser(model.dit, cond.cross_attn_cond, cfg_scale=1.0, extra=cond.extras())
        out = sample_euler(denoise, x, sigmas)
    return float(((out - x0) ** 2).mean())


def test_debug_model_overfits_two_clips(tmp_path: Path, one_thread) -> None:
    from audiox.data.dataset import ManifestDataset, collate
    from audiox.models.presets import build_model, debug_config
    from audiox.training.preencode import encode_frozen, preencode
    from audiox.training.run import train

    manifest = make_corpus(tmp_path / "data", n_text=2, kinds=(0, 1))
    probe = build_model("debug", seed=0)
    ds = ManifestDataset(manifest, probe.config.geometry, random_crop=False)
    batch = collate([ds[(0, 0)], ds[(1, 0)]])
    with torch.no_grad():  # unit-variance latents: the latent scale of the (random) debug VAE, from the data
        scale = float(encode_frozen(probe, batch)["latents_raw"][:, :8].std())
    config = debug_config()
    config["model"]["pretransform"]["scale"] = scale

    # InverseLR: a fast exponential warm-up, then lr decaying as 1 / (1 + step / 100)
    cfg = train_config(max_steps=STEPS, lr=4e-3, schedule="inverse", warmup=0.9, inv_gamma=100.0, power=1.0,
                       use_ema=False, sample_posterior=False,
                       masking={"text_word_ratio": 0.0, "audio_span_ratio_range": [0.0, 0.0], "cfg_dropout_prob": 0.0})
    model = build_model(config, seed=0)
    preencode(model, manifest, tmp_path / "pre")
    summary = train(model, str(tmp_path / "pre"), tmp_path / "run", cfg, accelerator="cpu", devices=1, progress=False)
    assert summary["steps"] == STEPS and summary["skipped"] == 0

    losses = read_losses(tmp_path / "run")
    assert len(losses) == STEPS
    factor = np.mean(losses[:20]) / np.mean(losses[-20:])
    assert factor > LOSS_FACTOR, f"loss fell only {factor:.2f}x"

    trained = _sample_distance(model, batch)
    untrained = _sample_distance(build_model(config, seed=0), batch)
    assert untrained / trained > CLOSER, f"trained {trained:.4f} vs untrained {untrained:.4f}"
    print(f"overfit: loss {np.mean(losses[:20]):.4f} -> {np.mean(losses[-20:]):.4f} ({factor:.2f}x); sample MSE "
          f"trained {trained:.4f} vs untrained {untrained:.4f} ({untrained / trained:.1f}x closer)")

    # the exported EMA model loads back through the checkpoint loader
    from audiox.checkpoint.official import load_model

    exported = load_model(tmp_path / "run" / "export" / "native")
    assert exported.pretransform.scale == pytest.approx(scale)  # a float32 round trip of a float64: < 1 ulp


def test_cli_options_precision_checkpointing_demos_export(tmp_path: Path, one_thread) -> None:
    """`audiox train` flags end to end: bf16-mixed on CPU, activation checkpointing, accumulation, clipping,
    demos with spectrograms, official export, and a config file with overrides."""
    import argparse
    import json

    from audiox.checkpoint.official import load_model
    from audiox.commands import train as cmd

    manifest = make_corpus(tmp_path / "data", n_text=2, media=True)
    (tmp_path / "cfg.json").write_text(json.dumps({
        "batch_size": 2, "num_workers": 0, "gradient_checkpointing": True, "gradient_clip_val": 1.0,
        "demo_every": 2, "demo_steps": 3, "demo_count": 2, "log_every": 1, "warmup_steps": 2,
        "masking": {"video_patch_size": 8, "drop_video_prob": 0.3}}))
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    args = parser.parse_args(["--config", str(tmp_path / "cfg.json"), "--data", str(manifest), "--out",
                              str(tmp_path / "run"), "--max-steps", "2", "--accumulate", "2", "--precision",
                              "bf16-mixed", "--accelerator", "cpu", "--devices", "1", "--export-official",
                              "--no-progress"])
    assert cmd.run(args) == 0
    run = tmp_path / "run"
    assert json.loads((run / "train_config.json").read_text())["accumulate_grad_batches"] == 2
    losses = read_losses(run)
    assert len(losses) == 2 and all(np.isfinite(losses))
    demo = run / "demos" / "step-00000002"
    assert sorted(p.name for p in demo.iterdir()) == ["0.png", "0.wav", "1.png", "1.wav"]
    from PIL import Image

    with Image.open(demo / "0.png") as im:
        assert im.size[0] > 10 and im.size[1] > 10
    ck = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ck["global_step"] == 2 and ck["audiox"]["micro_step"] == 4
    native = load_model(run / "export" / "native")
    official = load_model(run / "export" / "official")
    ema = {k[len("ema.ema_model."):]: v for k, v in ck["state_dict"].items() if k.startswith("ema.ema_model.")}
    for k, v in native.dit.state_dict().items():  # the export holds the EMA weights, in both layouts
        assert torch.equal(v, ema[k]) and torch.equal(official.dit.state_dict()[k], v)

    # fine-tuning starts from an official-layout folder: its weights, not a fresh init
    import pytorch_lightning as pl

    start = {}

    class Grab(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            start.update({k: v.clone() for k, v in pl_module.model.dit.state_dict().items()})

    from audiox.training.run import load_model_spec, train

    model = load_model_spec(str(run / "export" / "official"))
    train(model, str(manifest), tmp_path / "ft", cmd.config_from_args(args).replace(max_steps=1),
          accelerator="cpu", devices=1, progress=False, export=False, callbacks=[Grab()])
    assert start and all(torch.equal(start[k], v) for k, v in official.dit.state_dict().items())
