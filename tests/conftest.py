"""Shared test fixtures. The official reference folder comes from AUDIOX_OFFICIAL_FIXTURE."""

from __future__ import annotations

import os

import pytest
import torch
from fixture_tools import OfficialFixture, fixture_dir, load_tiny_t5, stage_bounds

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def official(tmp_path_factory) -> OfficialFixture:
    return OfficialFixture(fixture_dir(), tmp_path_factory.mktemp("official-fixture"))


@pytest.fixture(scope="session")
def bounds(official) -> dict[str, float]:
    """The fixture's derived rel_err bound per stage (``fixture_tools.stage_bounds``)."""
    return stage_bounds(official)


@pytest.fixture(scope="session")
def official_model(official):
    """The fixture's official checkpoint loaded with our loader (float32), with the tiny T5 attached."""
    from audiox.checkpoint.official import load_model
    from audiox.models.conditioners.text import T5Conditioner

    model = load_model(official.file("model.ckpt"), config=official.root / "config.json")
    t5 = load_tiny_t5(official)
    for cid in model.conditioner.ids_of_type("t5"):
        cond: T5Conditioner = model.conditioner.conditioners[cid]
        cond.set_encoder(t5)
    return model


@pytest.fixture(scope="session")
def debug_model_dir(tmp_path_factory):
    """A tiny random model (debug preset) saved in the native format."""
    from audiox.checkpoint.native import save_native
    from audiox.models.presets import build_model

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


@pytest.fixture
def one_thread():
    """torch on one thread for the test (bitwise-reproducible reductions in training runs)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
