"""LoRA through peft: only the adapters train, the adapter is saved in peft's format with the base probe, resume is
exact, generation applies it, merging equals the unmerged model within the rounding bound, another base is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from test_train_utils import make_corpus, read_losses, train_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import assert_refused, run_cli  # noqa: E402
from tolerances import layer_bound, network_products, rel_err  # noqa: E402

RANK = 4
N = 2  # steps before the interruption; the resume run ends at 2N


def _train(manifest: Path, out: Path, steps: int, *, base: str = "debug", resume: bool = False, **cfg_changes):
    from audiox.training.run import load_model_spec, train

    cfg = train_config(max_steps=steps, lora_rank=RANK, lora_alpha=8.0, checkpoint_every=N, **cfg_changes)
    model = load_model_spec(base, seed=0)
    summary = train(model, str(manifest), out, cfg, accelerator="cpu", devices=1, resume=resume, progress=False)
    return model, summary


def _random_adapter(model_dir: Path, out: Path, seed: int = 3) -> Path:
    """An adapter of the model at ``model_dir`` with random A and B (a trained one's B would be tiny)."""
    from audiox.checkpoint.lora import adapter_state, attach, base_probe, lora_config, save_adapter
    from audiox.checkpoint.official import load_model

    model = load_model(model_dir)
    probe = base_probe(model)
    config = lora_config(RANK, 8.0)
    g = torch.Generator().manual_seed(seed)
    attach(model.dit, config, generator=g)
    with torch.no_grad():
        for n, p in model.dit.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return save_adapter(out, config, adapter_state(model.dit), probe)


def test_lora_trains_adapters_only_and_exports_peft_format(tmp_path: Path, one_thread) -> None:
    from peft import PeftModel

    from audiox.checkpoint.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, KEY_PREFIX, base_name
    from audiox.models.presets import build_model

    manifest = make_corpus(tmp_path / "data", n_text=2)
    model, summary = _train(manifest, tmp_path / "run", 3, lr=1e-2)
    fresh = build_model("debug", seed=0)
    # every base tensor is bitwise the one it started from; only adapters were added
    own = {base_name(k): v for k, v in model.state_dict().items() if base_name(k) is not None}
    assert own.keys() == fresh.state_dict().keys()
    assert all(torch.equal(own[k], v) for k, v in fresh.state_dict().items())
    lora = {n: p for n, p in model.dit.named_parameters() if ".lora_" in n}
    assert all(p.requires_grad for p in lora.values())
    assert sum(p.requires_grad for p in model.parameters()) == len(lora)
    # rank x (in + out) per targeted linear: 2 blocks x 7 linears (self qkv/out, cross q/kv/out, ff in/out)
    linears = [m for n, m in model.dit.named_modules() if n.endswith(".base_layer")]
    assert len(linears) == 2 * 7
    assert summary["trainable"] == sum(RANK * (m.in_features + m.out_features) for m in linears)
    assert summary["parameters"] == sum(p.numel() for p in model.parameters())
    assert max(float(p.detach().abs().max()) for n, p in lora.items() if ".lora_B." in n) > 0  # B left zero: it trained

    folder = tmp_path / "run/export/lora"
    assert sorted(p.name for p in folder.iterdir()) == [ADAPTER_CONFIG, ADAPTER_WEIGHTS]
    cfg = json.loads((folder / ADAPTER_CONFIG).read_text())
    assert (cfg["peft_type"], cfg["r"], cfg["lora_alpha"]) == ("LORA", RANK, 8.0)
    ck = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert all(".lora_" in k or k == "ema.step" for k in ck["state_dict"])  # no frozen base in the checkpoint

    # peft itself reads the folder onto the base DiT; the exported values are the EMA's
    from safetensors.torch import load_file

    saved = load_file(str(folder / ADAPTER_WEIGHTS))
    assert all(k.startswith(KEY_PREFIX) for k in saved)
    peft_dit = PeftModel.from_pretrained(fresh.dit, str(folder))
    ema = _ema_params(tmp_path / "run")
    for k, v in saved.items():
        name = k.removeprefix(KEY_PREFIX).replace(".weight", ".default.weight")
        assert torch.equal(peft_dit.base_model.model.get_parameter(name), v)
        assert torch.equal(ema["model.model.model." + name], v)


def _ema_params(run: Path) -> dict[str, torch.Tensor]:
    """The adapter values of the EMA in a run's last checkpoint, by the DiT's module names under model.model.model."""
    ck = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    return {"model.model.model." + k.removeprefix("ema.ema_model."): v for k, v in ck["state_dict"].items()
            if k.startswith("ema.ema_model.")}


def test_lora_resume_matches_uninterrupted(tmp_path: Path, one_thread) -> None:
    # dropout draws from the global RNG inside peft: the step seeds it, so the resumed run draws the same masks
    manifest = make_corpus(tmp_path / "data", n_text=2)
    kw = dict(lora_dropout=0.2, accumulate_grad_batches=2, ema_beta=0.9, ema_update_after_step=0, lr=5e-3)
    full, _ = _train(manifest, tmp_path / "full", 2 * N, **kw)
    _train(manifest, tmp_path / "split", N, **kw)
    resumed, s_res = _train(manifest, tmp_path / "split", 2 * N, resume=True, **kw)
    assert s_res["steps"] == 2 * N
    # the same arithmetic on the same machine: bitwise equal (as tests/training/test_train_resume.py)
    a = {n: p for n, p in full.dit.named_parameters() if ".lora_" in n}
    b = {n: p for n, p in resumed.dit.named_parameters() if ".lora_" in n}
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_losses(tmp_path / "split") == read_losses(tmp_path / "full")
    assert _ema_params(tmp_path / "full").keys() == _ema_params(tmp_path / "split").keys()
    assert all(torch.equal(v, _ema_params(tmp_path / "split")[k]) for k, v in _ema_params(tmp_path / "full").items())
    ck_f = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)["optimizer_states"][0]["state"]
    ck_r = torch.load(tmp_path / "split/checkpoints/last.ckpt", weights_only=True)["optimizer_states"][0]["state"]
    assert all(torch.equal(ck_f[i][k], ck_r[i][k]) for i in ck_f for k in ck_f[i])
    # dropout is on: a run without it takes other steps
    plain, _ = _train(manifest, tmp_path / "plain", 2 * N, **{**kw, "lora_dropout": 0.0})
    c = {n: p for n, p in plain.dit.named_parameters() if ".lora_" in n}
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_merged_equals_unmerged_within_rounding(debug_model_dir: Path, tmp_path: Path) -> None:
    from audiox.checkpoint.lora import LoraSpec, load_adapters
    from audiox.checkpoint.official import load_model

    adapter = _random_adapter(debug_model_dir, tmp_path / "adapter")
    res = run_cli(["convert", str(debug_model_dir), str(tmp_path / "merged"), "--merge-lora", f"{adapter}:0.7"])
    assert res.code == 0, res.stderr
    unmerged = load_model(debug_model_dir)
    load_adapters(unmerged, [LoraSpec(adapter, 0.7)])
    merged, base = load_model(tmp_path / "merged"), load_model(debug_model_dir)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 8, 32, generator=g), torch.tensor([0.3, 0.8])
    ctx = torch.randn(2, 5, unmerged.dit.to_cond_embed[0].in_features, generator=g)
    with torch.no_grad():
        y_u, y_m, y_b = (m.dit(x, t, ctx) for m in (unmerged, merged, base))
    # Merging changes only the rounding: W + s B A is rounded once to float32, and the unmerged path sums x W^T and
    # s (x A^T) B^T separately. Both are correct evaluations of the same products, so layer_bound over the
    # unmerged DiT's products (adapters counted as linears on the path) bounds their difference.
    depth, k = network_products(unmerged.dit)
    bound = layer_bound(depth, k)
    assert rel_err(y_m, y_u) <= bound
    assert rel_err(y_b, y_u) > 100 * bound  # the adapter changes the output far beyond rounding
    assert not any(".lora_" in n or "base_layer" in n for n in merged.state_dict())


def test_generate_applies_lora_and_refuses_another_base(debug_model_dir: Path, tmp_path: Path) -> None:
    from audiox.checkpoint.native import save_native
    from audiox.models.presets import build_model

    adapter = _random_adapter(debug_model_dir, tmp_path / "adapter")
    common = ["generate", "--model", str(debug_model_dir), "--text", "a hum", "--steps", "2", "--seed", "1",
              "--no-progress", "--threads", "1"]
    assert run_cli([*common, "-o", str(tmp_path / "plain.wav")]).code == 0
    res = run_cli([*common, "--lora", f"{adapter}:1.5", "-o", str(tmp_path / "lora.wav")])
    assert res.code == 0, res.stderr
    side = json.loads((tmp_path / "lora.json").read_text())
    assert f"LoRA {adapter} x 1.5" in json.dumps(side)
    import soundfile as sf

    assert not (sf.read(tmp_path / "plain.wav")[0] == sf.read(tmp_path / "lora.wav")[0]).all()

    other = tmp_path / "other"
    save_native(build_model("debug", seed=5), other)
    work = tmp_path / "work"
    work.mkdir()
    assert_refused(["generate", "--model", str(other), "--text", "a hum", "--steps", "2", "--lora", str(adapter),
                    "-o", str(work / "x.wav")], "trained on another base model", work)
    assert_refused([*common, "--lora", str(tmp_path / "missing"), "-o", str(work / "x.wav")], "not a folder", work)
    assert_refused([*common, "--lora", str(debug_model_dir), "-o", str(work / "x.wav")], "adapter_config.json", work)


@pytest.mark.parametrize("argv, expect", [
    (["--lora", "0"], "--lora: must be >= 1"),
    (["--lora", "4", "--lora-dropout", "1.5"], "--lora-dropout"),
    (["--lora-alpha", "8"], "only used with --lora"),
    (["--lora", "4", "--lora-targets", "nothing_here"], "selects no DiT module"),
])
def test_train_lora_flags_refused(tmp_path: Path, argv: list[str], expect: str) -> None:
    manifest = make_corpus(tmp_path / "data", n_text=1)
    assert_refused(["train", "--model", "debug", "--data", str(manifest), "--out", str(tmp_path / "r"),
                    "--accelerator", "cpu", "--max-steps", "1", "--no-progress", *argv], expect, tmp_path)


@pytest.mark.parametrize("lora_rank", [0, RANK])
def test_frozen_parts_hold_no_gradients_or_optimizer_state(tmp_path: Path, one_thread, lora_rank: int) -> None:
    """After a step, only the trainable tensors have gradients and AdamW moments; the EMA copies only them too
    (a frozen tensor is shared with the model, not duplicated)."""
    import pytorch_lightning as pl

    from audiox.models.presets import build_model
    from audiox.training.module import AudioXTrainingModule

    manifest = make_corpus(tmp_path / "data", n_text=2)
    cfg = train_config(max_steps=1, lora_rank=lora_rank, gradient_checkpointing=True)
    module = AudioXTrainingModule(build_model("debug", seed=0), cfg)
    from audiox.training.data import make_dataloader, open_dataset

    ds = open_dataset(str(manifest), module.model.config.geometry, cfg)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(module, make_dataloader(ds, cfg))
    params = dict(module.model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable == set(module.trainable) and trainable
    if lora_rank:
        assert all(".lora_" in n for n in trainable)
    else:  # the default parts: the DiT and the conditioners' trainable halves; VAE, CLIP and text encoder frozen
        assert not any("pretransform." in n or "visual_encoder_model" in n for n in trainable)
    opt = trainer.optimizers[0]
    in_opt = {id(p) for grp in opt.param_groups for p in grp["params"]}
    assert in_opt == {id(params[n]) for n in trainable}
    assert {id(p) for p in opt.state} <= in_opt and len(opt.state) == len(trainable)
    assert all(p.grad is None for n, p in params.items() if n not in trainable)
    # the EMA owns new storage only for the DiT's trainable tensors
    dit = dict(module.model.dit.named_parameters())
    ema = dict(module.ema.ema_model.named_parameters())
    owned = {n for n, p in ema.items() if p is not dit[n]}
    assert owned == {n for n, p in dit.items() if p.requires_grad}


def test_base_probe_survives_casts_and_tells_bases_apart() -> None:
    from audiox.checkpoint.lora import base_probe, parse_spec, probe_mismatch
    from audiox.models.presets import build_model

    a = build_model("debug", seed=0)
    probe = base_probe(a)
    for dtype in (torch.bfloat16, torch.float16):  # generation may load the base in another dtype
        assert probe_mismatch(probe, base_probe(build_model("debug", seed=0).to(dtype))) is None
    assert probe_mismatch(probe, base_probe(build_model("debug", seed=1))) is not None
    assert parse_spec("runs/x/export/lora:0.5") == parse_spec("runs/x/export/lora:.5")
    assert parse_spec("runs/x/export/lora:0.5").scale == 0.5 and parse_spec("a:b").folder == Path("a:b")


def test_page_names_the_adapters(debug_model_dir: Path, tmp_path: Path) -> None:
    """``audiox ui --lora`` builds its pipeline with the adapters; the page shows them in a read-only field."""
    import gradio as gr

    from audiox.pipeline import AudioXPipeline
    from audiox.ui.app import build_app

    adapter = _random_adapter(debug_model_dir, tmp_path / "adapter")
    pipe = AudioXPipeline.from_pretrained(debug_model_dir, device="cpu", lora=[(adapter, 0.5)])
    demo = build_app(pipe)
    boxes = [b for b in demo.blocks.values() if isinstance(b, gr.Textbox) and b.label == "LoRA adapters"]
    assert len(boxes) == 1 and boxes[0].value == "adapter x 0.5" and not boxes[0].interactive
