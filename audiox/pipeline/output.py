"""The result of a generation call, and saving it (audio file, optional MP4, JSON sidecar with the settings)."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
QUIET_PEAK_DBFS = -40.0  # peak normalisation of an output quieter than this amplifies mostly the decoder's noise floor


@dataclass
class AudioOutput:
    """Generated audio.

    Attributes:
        audio: (B, C, T) float32 waveform at ``sample_rate`` (not normalised).
        sample_rate: Hz.
        latents: (B, D, N) latents of the generated audio (all windows' new parts, in time order).
        settings: everything needed to reproduce the call (seed, sampler, inputs), written as a JSON sidecar.
        keeps_input_audio: the output contains the caller's audio unchanged (inpainting / continuation); saving
            then avoids peak normalisation so that the kept parts keep their level.
    """

    audio: torch.Tensor
    sample_rate: int
    latents: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)
    keeps_input_audio: bool = False

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    def save(self, path: str | os.PathLike, *, index: int = 0, normalize: bool | None = None,
             sidecar: bool = True, mux_video: str | os.PathLike | None = None, mux_out: str | os.PathLike | None = None,
             video_start: float = 0.0) -> Path:
        """Write item ``index`` as WAV/FLAC (by suffix), a ``.json`` sidecar with the settings, and optionally an MP4.

        Args:
            normalize: peak-normalise (the official behaviour). None: yes, unless the output keeps input audio,
                in which case it is only scaled down if it would clip.
            mux_video / mux_out: mux the audio into this video (video stream copied) and write ``mux_out``.
        """
        from audiox.media import mux_audio_into_video, save_audio

        audio = self.audio[index].float()
        peak = audio.abs().max().item()
        if normalize is None:
            normalize = not self.keeps_input_audio or peak > 1.0
        peak_dbfs = 20 * math.log10(peak) if peak > 0 else float("-inf")
        if normalize and peak_dbfs < QUIET_PEAK_DBFS:
            log.warning("%s: the generated audio is near-silent (peak %.1f dBFS); peak normalisation raises it by "
                        "%.0f dB, so what you hear is mostly the decoder's noise floor", path, peak_dbfs,
                        -peak_dbfs if peak > 0 else 0.0)
        out = save_audio(path, audio, self.sample_rate, normalize=normalize)
        if sidecar:
            meta = {**self.settings, "item": index, "sample_rate": self.sample_rate, "seconds": self.seconds,
                    "raw_peak_dbfs": round(peak_dbfs, 2) if peak > 0 else None, "normalized": bool(normalize)}
            text = json.dumps(meta, indent=2, default=str) + "\n"
            from audiox.checkpoint.io import atomic_write

            atomic_write(Path(out).with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
        if mux_video is not None:
            if mux_out is None:
                raise ValueError("mux_out is required with mux_video")
            audio_mux = audio / peak if normalize and peak > 0 else audio.clamp(-1, 1)
            mux_audio_into_video(mux_video, audio_mux, self.sample_rate, mux_out, start=video_start)
        return Path(out)
