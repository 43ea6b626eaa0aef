"""A small SynthBench of a model in memory (for training runs): generate for held-out corpus entries and score."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch


def small_synthbench(corpus: str | Path, *, n: int = 24, steps: int = 25,
                     cases: tuple[str, ...] = ("text", "video", "image"),
                     ) -> Callable[[torch.nn.Module], dict[str, float]]:
    """A function that scores a model on the first ``n`` held-out entries of ``corpus``.

    Args:
        corpus: corpus folder (``audiox synth build``); its test split is held out from training.
        n: held-out entries.
        steps: sampler steps per clip (the other sampler settings: the release's defaults, seed 0).
        cases: SynthBench cases to run.

    Returns:
        ``run(model) -> {"{case}_sfx_accuracy", "{case}_music_accuracy", "{case}_event_f1": value}`` (the keys
        whose scores exist); the benchmark (classifier, entries) is built on the first call.
    """
    from audiox.evaluation.generators import pipeline_generator
    from audiox.evaluation.synthbench import SynthBench
    from audiox.pipeline.core import AudioXPipeline

    state: dict[str, SynthBench] = {}

    def run(model: torch.nn.Module) -> dict[str, float]:
        if "bench" not in state:
            state["bench"] = SynthBench(corpus, n=n, fd=False, pitch=False, cases=cases)
        was_training = model.training
        model.eval()  # the pipeline generates with an eval-mode model; the caller's mode is restored below
        try:
            result = state["bench"].run(pipeline_generator(AudioXPipeline(model), steps=steps, seed=0))
        finally:
            model.train(was_training)
        out: dict[str, float] = {}
        for case, pooled in result["summary"].items():
            for key in ("sfx_accuracy", "music_accuracy", "event_f1"):
                if pooled["overall"].get(key) is not None:
                    out[f"{case}_{key}"] = pooled["overall"][key]
        return out

    return run
