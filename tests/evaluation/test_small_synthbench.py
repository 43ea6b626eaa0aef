"""The small SynthBench that training runs call (``audiox.pipeline.bench``) scores a model held in memory."""

from __future__ import annotations

import torch


def test_small_synthbench_scores_a_model_in_memory(heldout_corpus) -> None:
    from audiox.models.presets import build_model
    from audiox.pipeline.bench import small_synthbench

    run = small_synthbench(heldout_corpus, n=3, steps=2, cases=("text", "image"))
    model = build_model("debug", seed=0)
    scores = run(model)
    assert scores and all(k.startswith(("text_", "image_")) for k in scores)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert any(k.endswith("_accuracy") for k in scores)
    again = run(model)  # the same entries, seed and model: the same scores
    assert again == scores
    # generated in eval mode, and left as it was found (in training mode here): no side effect on the caller's model
    assert model.training and all(torch.isfinite(p).all() for p in model.parameters())
