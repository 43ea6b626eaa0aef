from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pipe(debug_model_dir):
    from audiox.pipeline import AudioXPipeline

    return AudioXPipeline.from_pretrained(debug_model_dir, device="cpu")
