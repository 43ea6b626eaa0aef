"""Media I/O: audio load/resample/save, video frame sampling, images as videos, audio-video muxing.

Depends only on torch, numpy, PyAV, soundfile, soxr, PIL, :mod:`audiox.errors` and :mod:`audiox.utils`; never on
models (the layers are checked by ``tests/test_layering.py``).

Submodules import their heavy dependencies at module top, so this package imports them lazily: the names
below resolve on first access (``from audiox.media import load_audio`` imports ``audiox.media.audio`` only).

- :mod:`audiox.media.audio`: ``load_audio``, ``save_audio``, ``peak_normalize``, ``fit_length``
- :mod:`audiox.media.video`: ``read_video_frames``, ``probe_video``, ``VideoInfo``
- :mod:`audiox.media.video_check`: ``check_video`` (cheap validity check before a model is loaded)
- :mod:`audiox.media.image`: ``load_image_as_video``, ``is_image_path``
- :mod:`audiox.media.mux`: ``mux_audio_into_video``, ``check_muxable`` (before a model is loaded)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_audio": "audio",
    "save_audio": "audio",
    "peak_normalize": "audio",
    "fit_length": "audio",
    "read_video_frames": "video",
    "probe_video": "video",
    "VideoInfo": "video",
    "check_video": "video_check",
    "load_image_as_video": "image",
    "is_image_path": "image",
    "IMAGE_SUFFIXES": "image",
    "mux_audio_into_video": "mux",
    "check_muxable": "mux",
    "save_spectrogram": "spectrogram",
    "spectrogram_db": "spectrogram",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audiox.media' has no attribute {name!r}")
    return getattr(importlib.import_module(f"audiox.media.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
