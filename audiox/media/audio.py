"""Audio file I/O: decode, resample, channel conversion, slicing, peak normalisation and atomic writing.

Decoding uses soundfile (libsndfile: wav, flac, ogg/vorbis, ...) and falls back to PyAV (FFmpeg) for
everything else (mp3, m4a/aac, opus, the audio track of a video file). Resampling uses soxr ("HQ").

Unlike the official ``load_and_process_audio`` (which ignores the file's sample rate, §4.2 of the spec),
:func:`load_audio` always resamples to the requested rate.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr
import torch

from audiox.errors import InputError, MediaError
from audiox.utils.files import atomic_write

log = logging.getLogger(__name__)

# Extra source audio decoded past the end of the requested slice, so that the resampler's filter tail
# sees the same input as when the whole file is decoded.
_TAIL_MARGIN_S = 1.0
_SUBTYPES_BY_SUFFIX = {".wav": "WAV", ".flac": "FLAC"}


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")


def _decode_soundfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int] | None:
    """Decode float32 ``(C, T)`` with libsndfile; ``None`` when libsndfile cannot open the file."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            n = f.frames if max_seconds is None else min(f.frames, int(math.ceil(max_seconds * rate)))
            data = f.read(frames=n, dtype="float32", always_2d=True)  # (T, C)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return np.ascontiguousarray(data.T), rate


def _decode_pyav(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV into float32 ``(C, T)`` at the stream's own rate."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"{path}: not a decodable media file ({e.__class__.__name__})") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        if not rate:
            raise MediaError(f"{path}: audio stream has no sample rate")
        resampler = av.AudioResampler(format="fltp")  # keep layout and rate, convert to planar float
        chunks: list[np.ndarray] = []
        n_decoded = 0
        limit = None if max_seconds is None else int(math.ceil(max_seconds * rate))
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()  # (C, n) for planar formats
                    chunks.append(arr)
                    n_decoded += arr.shape[1]
                if limit is not None and n_decoded >= limit:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.FFmpegError as e:
            raise MediaError(f"{path}: audio stream is not decodable ({e.__class__.__name__})") from None
    if not chunks:
        raise MediaError(f"{path}: audio stream has zero samples")
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), int(rate)


def _convert_channels(audio: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """``(C_in, T) -> (channels, T)``: mono is repeated, ``channels=1`` averages, otherwise the first N are kept."""
    c_in = audio.shape[0]
    if c_in == channels:
        return audio
    if c_in == 1:
        return np.repeat(audio, channels, axis=0)
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if c_in > channels:
        return audio[:channels]
    raise MediaError(f"{path}: cannot make {channels} channels from {c_in}")


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int,
    channels: int,
    start: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Decode an audio file (or the audio track of a video), resample it, fix the channels and slice it.

    Args:
        path: any format libsndfile or FFmpeg can decode.
        sample_rate: output rate in Hz; the file is resampled with soxr (HQ) when its rate differs.
        channels: output channel count. Mono input is repeated; for ``channels=1`` the channels are averaged;
            otherwise the first ``channels`` channels are kept (the official code keeps the first 2).
        start: slice start in seconds, applied after resampling (sample ``round(start * sample_rate)``).
        duration: slice length in seconds (``round(duration * sample_rate)`` samples), or ``None`` for the rest
            of the file. The result is shorter when the file ends first; use :func:`fit_length` to pad.

    Returns:
        float32 tensor ``(channels, T)`` with T in samples at ``sample_rate``.

    Raises:
        MediaError: missing file, undecodable content, no audio stream, zero samples, or ``start`` past the end.
        InputError: a non-positive rate, channel count or duration, or a negative start.
    """
    if sample_rate <= 0:
        raise InputError(f"sample_rate: must be > 0, got {sample_rate}")
    if channels < 1:
        raise InputError(f"channels: must be >= 1, got {channels}")
    if start < 0:
        raise InputError(f"start: must be >= 0 seconds, got {start}")
    if duration is not None and duration <= 0:
        raise InputError(f"duration: must be > 0 seconds, got {duration}")
    path = Path(path)
    _check_exists(path)
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")

    max_seconds = None if duration is None else start + duration + _TAIL_MARGIN_S
    decoded = _decode_soundfile(path, max_seconds)
    if decoded is None:
        log.debug("%s: not a libsndfile format, decoding with PyAV", path)
        decoded = _decode_pyav(path, max_seconds)
    audio, rate = decoded
    if audio.shape[1] == 0:
        raise MediaError(f"{path}: audio has zero samples")

    if rate != sample_rate:
        audio = soxr.resample(audio.T, rate, sample_rate, quality="HQ").T  # soxr works on (T, C)
    audio = _convert_channels(audio, channels, path)

    first = int(round(start * sample_rate))
    if first >= audio.shape[1]:
        raise MediaError(
            f"{path}: start {start:.3f} s is past the end of the audio ({audio.shape[1] / sample_rate:.3f} s)"
        )
    last = audio.shape[1] if duration is None else first + int(round(duration * sample_rate))
    return torch.from_numpy(np.ascontiguousarray(audio[:, first:last], dtype=np.float32))


def peak_normalize(audio: torch.Tensor) -> torch.Tensor:
    """Divide by the peak ``max|x|`` (when it is > 0) and clamp to [-1, 1], as the official post-processing.

    Args:
        audio: any shape, e.g. ``(C, T)``; the peak is taken over all elements.

    Returns:
        A new float tensor of the same shape.
    """
    audio = audio.float()
    peak = audio.abs().max() if audio.numel() else torch.tensor(0.0)
    if peak > 0:
        audio = audio / peak
    return audio.clamp(-1.0, 1.0)


def fit_length(audio: torch.Tensor, n_samples: int, *, align: Literal["left", "right"] = "left") -> torch.Tensor:
    """Crop or zero-pad the last (time) axis to exactly ``n_samples``.

    Args:
        audio: ``(..., T)``.
        n_samples: target length in samples (>= 0).
        align: ``"left"`` keeps the start (pads/crops at the end); ``"right"`` keeps the end (pads/crops at
            the start; the official audio prompt left-pads short clips this way).

    Returns:
        ``(..., n_samples)``.
    """
    if n_samples < 0:
        raise InputError(f"n_samples: must be >= 0, got {n_samples}")
    if align not in ("left", "right"):
        raise InputError(f"align: expected 'left' or 'right', got {align!r}")
    t = audio.shape[-1]
    if t >= n_samples:
        return audio[..., :n_samples] if align == "left" else audio[..., t - n_samples :]
    pad = (0, n_samples - t) if align == "left" else (n_samples - t, 0)
    return torch.nn.functional.pad(audio, pad)


def save_audio(
    path: str | os.PathLike,
    audio: torch.Tensor,
    sample_rate: int,
    *,
    normalize: bool = False,
    subtype: str = "PCM_16",
) -> Path:
    """Write ``audio`` as WAV or FLAC (chosen by suffix), atomically (temp file + ``os.replace``).

    For ``PCM_16`` the samples are clamped to [-1, 1] and converted as the official code does
    (``(x * 32767).to(int16)``, truncating toward zero). Other subtypes (``"PCM_24"``, ``"FLOAT"``, ...) are
    handed to libsndfile as float32; PCM subtypes are clamped first.

    Args:
        path: output file; suffix ``.wav`` or ``.flac``.
        audio: ``(C, T)`` float tensor (T in samples); a 1-D ``(T,)`` tensor is written as mono.
        sample_rate: in Hz.
        normalize: peak-normalise first (see :func:`peak_normalize`).
        subtype: a libsndfile subtype valid for the format.

    Returns:
        The written path.

    Raises:
        MediaError: unknown suffix, subtype invalid for the format, missing directory, or a libsndfile failure.
        InputError: bad audio shape or sample rate.
    """
    path = Path(path)
    fmt = _SUBTYPES_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise MediaError(f"{path}: unknown audio suffix {path.suffix!r}; expected one of .wav, .flac")
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2 or audio.shape[0] == 0:
        raise InputError(f"audio: expected shape (C, T), got {tuple(audio.shape)}")
    if sample_rate <= 0:
        raise InputError(f"sample_rate: must be > 0, got {sample_rate}")
    if not sf.check_format(fmt, subtype):
        raise MediaError(f"{path}: subtype {subtype!r} is not valid for {fmt}")
    x = audio.detach().float().cpu()
    if normalize:
        x = peak_normalize(x)
    if subtype == "PCM_16":
        data: np.ndarray = (x.clamp(-1.0, 1.0) * 32767).to(torch.int16).numpy().T  # (T, C)
    else:
        if subtype.startswith("PCM"):
            x = x.clamp(-1.0, 1.0)
        data = x.numpy().T
    if not path.parent.is_dir():
        raise MediaError(f"{path}: directory {path.parent} does not exist")
    try:
        atomic_write(path, lambda tmp: sf.write(tmp, np.ascontiguousarray(data), sample_rate, subtype=subtype,
                                                format=fmt))
    except sf.LibsndfileError as e:
        raise MediaError(f"{path}: could not write the audio ({e.__class__.__name__})") from None
    return path
