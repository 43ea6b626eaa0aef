"""The built-in model shipped in the package: found by default, within its size budget, and every task runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiox.pipeline.core import builtin_model_dir


@pytest.fixture(scope="module")
def builtin_pipe():
    from audiox.pipeline import AudioXPipeline

    return AudioXPipeline.from_pretrained(None)


def test_builtin_model_is_shipped_within_60_mb() -> None:
    folder = builtin_model_dir()
    assert folder is not None, "audiox/assets/builtin/config.json is missing"
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert 10e6 < weights <= 60e6, weights
    gen = json.loads((folder / "generation.json").read_text())
    assert gen["steps"] >= 10
    assert (folder / "examples" / "video.mp4").is_file() and (folder / "examples" / "image.png").is_file()


def test_builtin_text_to_audio_is_deterministic_and_not_silent(builtin_pipe) -> None:
    a = builtin_pipe("Heavy rain falls while a siren wails.", steps=6, seed=3)
    b = builtin_pipe("Heavy rain falls while a siren wails.", steps=6, seed=3)
    assert a.sample_rate == 16000 and a.audio.shape == (1, 1, 163840)
    assert torch.equal(a.audio, b.audio)
    rms = a.audio.pow(2).mean().sqrt()
    assert torch.isfinite(a.audio).all() and 1e-3 < rms < 1.0, float(rms)


def test_demo_with_the_builtin_model_writes_every_task(tmp_path: Path) -> None:
    from audiox.cli import main

    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "3"]) == 0
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    for task in ("text_to_audio", "text_to_music", "video_to_audio", "image_to_audio", "inpainting",
                 "continuation"):
        assert {f"{task}.wav", f"{task}.png"} <= names, task
    assert "video_to_audio.mp4" in names and "video_to_audio_real.wav" not in names  # no --video given
