"""audiox: a clean-room PyTorch implementation of AudioX (anything-to-audio diffusion transformer).

Importing this package is cheap: models, weights and heavy libraries load only when used.
``from audiox import AudioXPipeline`` resolves lazily.
"""

from __future__ import annotations

from typing import Any

from audiox.errors import AudioXError, CheckpointError, ConfigError, InputError, MediaError

__version__ = "0.1.0"

__all__ = ["AudioOutput", "AudioXError", "AudioXPipeline", "CheckpointError", "ConfigError", "InputError",
           "MediaError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("AudioXPipeline", "AudioOutput"):
        import audiox.pipeline as pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'audiox' has no attribute {name!r}")
