from __future__ import annotations

import pytest

from audiox.checkpoint.native import save_native
from audiox.models.presets import build_model


@pytest.fixture(scope="session")
def debug_model_dir(tmp_path_factory):
    """A tiny random model (debug preset) saved in the native format."""
    import torch

    folder = tmp_path_factory.mktemp("debug-model")
    model = build_model("debug", seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # the official init zeroes the residual outputs: make every input matter
        for p in model.dit.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    save_native(model, folder, force=True)
    return folder


@pytest.fixture(scope="session")
def pipe(debug_model_dir):
    from audiox.pipeline import AudioXPipeline

    return AudioXPipeline.from_pretrained(debug_model_dir, device="cpu")
