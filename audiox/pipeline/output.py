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

from audiox.errors import AudioXError

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

    def sidecar(self, index: int = 0, *, normalize: bool | None = None) -> dict[str, Any]:
        """The JSON sidecar of item ``index`` (what :meth:`save` writes beside the audio): the settings (the resolved
        request) and the item's length, raw peak and whether it is peak-normalised (``normalize``: see :meth:`save`).
        """
        peak = self.audio[index].float().abs().max().item()
        if normalize is None:
            normalize = not self.keeps_input_audio or peak > 1.0
        peak_dbfs = 20 * math.log10(peak) if peak > 0 else float("-inf")
        return {**self.settings, "item": index, "sample_rate": self.sample_rate, "seconds": self.seconds,
                "raw_peak_dbfs": round(peak_dbfs, 2) if peak > 0 else None, "normalized": bool(normalize)}

    def save(self, path: str | os.PathLike, *, index: int = 0, normalize: bool | None = None,
             sidecar: bool = True, mux_video: str | os.PathLike | None = None, mux_out: str | os.PathLike | None = None,
             video_start: float = 0.0) -> Path:
        """Write item ``index`` as WAV/FLAC (by suffix), a ``.json`` sidecar with the settings, and optionally an MP4.

        The files are written as one unit (:func:`audiox.utils.files.write_together`): all or none of them
        replace what was there.

        Args:
            normalize: peak-normalise (the official behaviour). None: yes, unless the output keeps input audio,
                in which case it is only scaled down if it would clip.
            mux_video / mux_out: mux the audio into this video (video stream copied) and write ``mux_out``.
        """
        from audiox.media import mux_audio_into_video, save_audio
        from audiox.utils.files import write_together

        audio = self.audio[index].float()
        if not bool(torch.isfinite(audio).all()):
            raise AudioXError(f"{path}: the audio to save has non-finite samples; nothing was written")
        meta = self.sidecar(index, normalize=normalize)
        normalize, peak = meta["normalized"], audio.abs().max().item()
        peak_dbfs = 20 * math.log10(peak) if peak > 0 else float("-inf")
        if normalize and peak_dbfs < QUIET_PEAK_DBFS:
            log.warning("%s: the generated audio is near-silent (peak %.1f dBFS); peak normalisation raises it by "
                        "%.0f dB, so what you hear is mostly the decoder's noise floor", path, peak_dbfs,
                        -peak_dbfs if peak > 0 else 0.0)
        out = Path(path)
        writes = [(out, lambda tmp: save_audio(tmp, audio, self.sample_rate, normalize=normalize))]
        if sidecar:
            try:
                text = json.dumps(meta, indent=2, default=str, allow_nan=False) + "\n"  # strict JSON
            except ValueError:
                raise AudioXError(f"{path}: a setting is not a finite number; nothing was written") from None
            writes.append((out.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text, encoding="utf-8")))
        if mux_video is not None:
            if mux_out is None:
                raise ValueError("mux_out is required with mux_video")
            audio_mux = audio / peak if normalize and peak > 0 else audio.clamp(-1, 1)
            writes.append((Path(mux_out), lambda tmp: mux_audio_into_video(mux_video, audio_mux, self.sample_rate,
                                                                           tmp, start=video_start)))
        write_together(writes)
        return out
