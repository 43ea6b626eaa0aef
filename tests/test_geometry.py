"""One geometry, from the config alone: it agrees with the built conditioners of every kind of model we ship or load."""

from __future__ import annotations

import pytest

from audiox.errors import ConfigError
from audiox.pipeline.inputs import check_geometry, conditioner_ids


def _agrees(model) -> None:
    geo = model.config.geometry
    ids = conditioner_ids(model)
    conds = model.conditioner.conditioners
    check_geometry(model, geo)
    assert geo.sample_size == model.config.sample_size and geo.hop == model.config.downsampling_ratio
    if ids.video:
        assert (geo.video_frames, geo.video_size) == (conds[ids.video].frames, conds[ids.video].image_size)
    if ids.audio:
        assert geo.prompt_samples == conds[ids.audio].samples


@pytest.mark.parametrize("preset", ["debug", "builtin"])
def test_presets(preset):
    from audiox.models.presets import build_model

    _agrees(build_model(preset, seed=0))


def test_official_fixture(official_model):
    _agrees(official_model)
    geo = official_model.config.geometry
    assert (geo.video_frames, geo.video_size, geo.video_fps) == (50, 224, 5.0)  # 10 s at 5 fps, ViT-B/32


def test_mismatch_is_named(official_model):
    """Weights implying another CLIP size than the config are refused, naming the config key."""
    from dataclasses import replace

    geo = replace(official_model.config.geometry, video_size=112)
    with pytest.raises(ConfigError, match="clip_config.image_size"):
        check_geometry(official_model, geo)
