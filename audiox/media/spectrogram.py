"""Log-magnitude spectrogram images (PNG) with numpy + PIL only (no matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def spectrogram_db(audio: torch.Tensor, *, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """(C, T) or (T,) audio -> (freq, frames) magnitude in dB (channels averaged), max 0 dB."""
    x = audio.float().reshape(-1, audio.shape[-1]).mean(0)
    if x.shape[0] < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.shape[0]))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    db = 20 * torch.log10(spec.clamp_min(1e-8))
    return (db - db.max()).numpy()


def _colormap(v: np.ndarray) -> np.ndarray:
    """[0, 1] -> RGB uint8 with a dark-blue -> magenta -> yellow ramp."""
    stops = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                      [250, 193, 39], [252, 255, 164]], dtype=np.float64)
    pos = np.clip(v, 0, 1) * (len(stops) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    return (stops[lo] * (1 - frac) + stops[lo + 1] * frac).astype(np.uint8)


def save_spectrogram(path: str | os.PathLike, audio: torch.Tensor, sample_rate: int, *, floor_db: float = -80.0,
                     height: int = 256) -> Path:
    """Write a PNG spectrogram of ``audio`` (C, T): time left to right, low frequencies at the bottom.

    The file is written atomically; missing folders above it are created.
    """
    from PIL import Image

    from audiox.utils.files import atomic_write

    n_fft = 1024 if sample_rate >= 16000 else 512
    db = spectrogram_db(audio, n_fft=n_fft, hop=n_fft // 4)
    img = _colormap((db - floor_db) / -floor_db)[::-1]
    width = min(max(2 * img.shape[1], 512), 2048)
    pil = Image.fromarray(np.ascontiguousarray(img)).resize((width, height), Image.BILINEAR)
    return atomic_write(path, lambda tmp: pil.save(tmp, format="PNG"), parents=True)
