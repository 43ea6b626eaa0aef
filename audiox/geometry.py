"""The lengths a model works in (window, latent hop, video frames, audio-prompt samples), from its config alone.

One :class:`Geometry` serves generation (:mod:`audiox.pipeline`), the training datasets and pre-encoding
(:mod:`audiox.data`, :mod:`audiox.training`); it is ``AudioXConfig.geometry``. Pre-encoded folders store it as a
dict (:meth:`Geometry.to_dict`), so its field names are part of their format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audiox.config import AudioXConfig

CLIP_IMAGE_SIZE = 224  # ViT-B/32, the released video encoder


@dataclass(frozen=True)
class Geometry:
    """What one generated window and its conditions look like.

    Args:
        sample_rate: Hz. channels: audio channels.
        sample_size: samples per generated window. hop: samples per latent frame (the VAE's downsampling ratio).
        video_fps / video_frames / video_size: the video prompt: frames per second, frames per window (fps x the
            conditioner's duration) and the square frame side in pixels; ``video_frames=0`` when the model has no
            video conditioner.
        prompt_samples: audio-prompt length in samples (0 = no audio-prompt conditioner).
    """

    sample_rate: int
    channels: int
    sample_size: int
    hop: int
    video_fps: float = 5.0
    video_frames: int = 0
    video_size: int = CLIP_IMAGE_SIZE
    prompt_samples: int = 0

    @property
    def window_latents(self) -> int:
        """Latent frames per window."""
        return self.sample_size // self.hop

    @property
    def window_seconds(self) -> float:
        """Seconds per window (whole latent frames)."""
        return self.window_latents * self.hop / self.sample_rate

    @property
    def video_seconds(self) -> float:
        """Seconds of video one window's prompt covers (0 without a video conditioner)."""
        return self.video_frames / self.video_fps if self.video_frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def geometry_of(cfg: AudioXConfig) -> Geometry:
    """The geometry of a parsed model config: the first video (``clip``) and audio-prompt conditioner count."""
    kw: dict[str, Any] = {}
    for c in cfg.model.conditioning.configs:
        if c.type == "clip" and "video_frames" not in kw:
            p = c.config
            kw.update(video_fps=float(p.video_fps), video_frames=p.video_fps * p.duration,
                      video_size=int((p.clip_config or {}).get("image_size", CLIP_IMAGE_SIZE)))
        elif c.type == "audio_autoencoder" and "prompt_samples" not in kw:
            p = c.config
            kw["prompt_samples"] = p.latent_seq_len * p.pretransform_config.config.downsampling_ratio
    return Geometry(sample_rate=cfg.sample_rate, channels=cfg.audio_channels, sample_size=cfg.sample_size,
                    hop=cfg.downsampling_ratio, **kw)
