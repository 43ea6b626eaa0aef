"""Generation pipeline: ``AudioXPipeline`` and ``AudioOutput``."""

from audiox.pipeline.core import AudioXPipeline, SamplerSettings
from audiox.pipeline.output import AudioOutput

__all__ = ["AudioOutput", "AudioXPipeline", "SamplerSettings"]
