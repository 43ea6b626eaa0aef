"""Training diagnostics: the condition gap, cross-attention statistics, the periodic small SynthBench, the plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from test_train_utils import make_corpus, train_config

from audiox.data.dataset import collate


def _v2_debug() -> dict:
    from audiox.models.presets import debug_config

    cfg = debug_config()
    for c in cfg["model"]["conditioning"]["configs"]:
        if c["type"] == "clip":
            c["config"]["frame_dim"] = 8
    d = cfg["model"]["diffusion"]
    d["global_cond_ids"] = ["text_prompt", "video_prompt", "audio_prompt"]
    d["input_concat_ids"] = ["video_prompt"]
    d["config"].update(global_cond_dim=96, global_cond_type="adaLN", input_concat_dim=8)
    return cfg


def test_measure_gap_is_zero_for_a_model_that_ignores_its_conditions(tmp_path: Path, one_thread) -> None:
    """A fresh DiT (zero-initialised residual outputs and modulation) predicts the same for every condition of
    items without a video (whose per-frame features enter the input directly): the gap is exactly 0. Once its
    weights move, the conditions change the loss. Attention shares are a distribution; entropy is within [0, ln M]."""
    from audiox.data.dataset import ManifestDataset
    from audiox.models.presets import build_model
    from audiox.training.diagnostics import GAP_TIMES, measure
    from audiox.training.module import AudioXTrainingModule

    manifest = make_corpus(tmp_path / "data", n_text=3)

    model = build_model(_v2_debug(), seed=0)
    ds = ManifestDataset(manifest, model.config.geometry, random_crop=False)
    batch = collate([ds[(i, 0)] for i in range(len(ds))])
    module = AudioXTrainingModule(model, train_config(use_ema=False)).eval()
    fresh = measure(module, batch)
    for t in GAP_TIMES:
        assert fresh[f"gap_t{t}"] == 0.0 and fresh[f"loss_true_t{t}"] > 0
    with torch.no_grad():
        for p in model.dit.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    moved = measure(module, batch)
    assert all(moved[f"gap_t{t}"] != 0.0 for t in GAP_TIMES)
    layers = [k for k in moved if k.startswith("entropy_L")]
    assert len(layers) == len(model.dit.transformer.layers)
    assert all(0.0 <= moved[k] <= moved["entropy_max"] + 1e-5 for k in layers)
    m = model.config.model.diffusion
    assert math.isclose(moved["entropy_max"], math.log(sum(
        e - s for s, e in model.condition_features(
            model.conditioner.frozen_features({"video_prompt": batch["video"].float(), "text_prompt": batch["text"],
                                               "audio_prompt": batch["audio_prompt"]})).spans.values())))
    shares = sum(moved[f"attn_{cid}"] for cid in m.cross_attention_cond_ids)
    assert abs(shares - 1.0) < 1e-4  # softmax rows sum to 1 (float32)


def test_training_writes_diagnostics_and_bench(tmp_path: Path, one_thread) -> None:
    from audiox.models.presets import build_model
    from audiox.training.preencode import preencode
    from audiox.training.run import train

    manifest = make_corpus(tmp_path / "data", n_text=2, media=True)
    model = build_model(_v2_debug(), seed=0)
    preencode(model, manifest, tmp_path / "pre")
    seen = []

    def bench(m: torch.nn.Module) -> dict[str, float]:
        seen.append(m.training)
        return {"text_sfx_accuracy": 0.25 * len(seen)}

    cfg = train_config(max_steps=4, diagnostics_every=2, diagnostics_items=3, bench_every=2)
    summary = train(model, str(tmp_path / "pre"), tmp_path / "run", cfg, accelerator="cpu", devices=1,
                    progress=False, held_out=str(tmp_path / "pre"), bench=bench)
    assert summary["steps"] == 4
    diag = [json.loads(x) for x in (tmp_path / "run" / "diagnostics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in diag] == [1, 2, 4]
    assert all(math.isfinite(r["gap_t0.9"]) and r["loss_null_t0.5"] > 0 for r in diag)
    rows = [json.loads(x) for x in (tmp_path / "run" / "bench.jsonl").read_text().splitlines()]
    assert rows == [{"step": 2, "text_sfx_accuracy": 0.25}, {"step": 4, "text_sfx_accuracy": 0.5}]
    assert seen == [False, False]  # the benchmark gets the exported model in eval mode
    for png in ("diagnostics.png", "bench.png"):
        assert (tmp_path / "run" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (next((tmp_path / "run" / "logs").glob("*/metrics.csv"))).read_text().splitlines()[0]
    assert "diag/gap_t0.9" in header and "bench/text_sfx_accuracy" in header
