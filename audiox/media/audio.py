"""Audio file I/O: decode, resample, channel conversion, slicing, peak normalisation and atomic writing.

Decoding uses soundfile (libsndfile: wav, flac, ogg/vorbis, ...) and falls back to PyAV (FFmpeg) for
everything else (mp3, m4a/aac, opus, the audio track of a video file). Resampling uses soxr ("HQ").

Unlike the official ``load_and_process_audio`` (which ignores the file's sample rate),
:func:`load_audio` always resamples to the requested rate. It refuses instead of guessing: NaN or infinite
samples, a peak above :data:`MAX_PEAK` (1e3, +60 dB), implausible sample rates and channel counts that cannot
be mapped raise :class:`MediaError`; keeping the first channels of a file with more than wanted (the official
behaviour) logs a warning.
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
# libsndfile reads in blocks of this many frames (see _decode_soundfile).
_BLOCK_FRAMES = 1 << 18
# Sample rates outside this range are a damaged header, not audio: refusing them also keeps soxr from
# producing (or allocating) an absurd number of samples.
_MIN_RATE, _MAX_RATE = 1_000, 1_000_000
# Full scale is 1.0. A float file may go a little over; a peak above this (+60 dB) is not audio but damage or a
# wrong scale (e.g. 1e30), which the model would turn into a diverged sampler.
MAX_PEAK = 1e3


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied (the file is not readable)")


def _check_rate(path: Path, rate: int) -> None:
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise MediaError(f"{path}: implausible sample rate {rate} Hz (expected {_MIN_RATE}..{_MAX_RATE})")


def _decode_soundfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int] | None:
    """Decode float32 ``(C, T)`` with libsndfile; ``None`` when libsndfile cannot open the file.

    The file is read in blocks until libsndfile stops delivering frames, so a header that states more
    frames than the file holds (a damaged or truncated file) costs no more memory than the real data.
    """
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    with f:
        rate = f.samplerate
        _check_rate(path, rate)
        limit = None if max_seconds is None else int(math.ceil(max_seconds * rate))
        blocks: list[np.ndarray] = []
        total = 0
        try:
            while limit is None or total < limit:
                want = _BLOCK_FRAMES if limit is None else min(_BLOCK_FRAMES, limit - total)
                block = f.read(frames=want, dtype="float32", always_2d=True)  # (n, C), n <= want
                if block.shape[0]:
                    blocks.append(block)
                    total += block.shape[0]
                if block.shape[0] < want:
                    break
        except (sf.LibsndfileError, RuntimeError, ValueError) as e:
            raise MediaError(f"{path}: audio is not decodable ({e.__class__.__name__})") from None
        channels = f.channels
    if not blocks:
        return np.zeros((channels, 0), np.float32), rate
    return np.ascontiguousarray(np.concatenate(blocks).T), rate


def _decode_pyav(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV into float32 ``(C, T)``.

    The output keeps the first frame's channel layout and rate; should a damaged or concatenated stream
    change format midway, later frames are converted to them.
    """
    import av

    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise MediaError(f"{path}: not a decodable media file ({e.__class__.__name__})") from None
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        chunks: list[np.ndarray] = []
        n_decoded = 0
        rate = layout = resampler = key = limit = None
        try:
            for frame in container.decode(stream):
                if rate is None:
                    rate, layout = frame.sample_rate, frame.layout
                    _check_rate(path, rate)
                    if not frame.layout.nb_channels:
                        raise MediaError(f"{path}: audio stream has no channels")
                    limit = None if max_seconds is None else int(math.ceil(max_seconds * rate))
                frame_key = (frame.format.name, frame.layout.name, frame.sample_rate)
                if frame_key != key:
                    if resampler is not None:
                        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
                    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)  # planar float
                    key = frame_key
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()  # (C, n) for planar formats
                    chunks.append(arr)
                    n_decoded += arr.shape[1]
                if limit is not None and n_decoded >= limit:
                    break
            if resampler is not None:
                chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        except av.DecoderNotFoundError:
            raise MediaError(f"{path}: no decoder for its audio codec") from None
        except (av.FFmpegError, ValueError) as e:
            raise MediaError(f"{path}: audio stream is not decodable ({e.__class__.__name__})") from None
    if not chunks:
        raise MediaError(f"{path}: audio stream has zero samples")
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), int(rate)


def _check_finite(audio: np.ndarray, rate: int, path: Path) -> None:
    """Refuse NaN/infinite samples (a float WAV can hold them); ``audio`` is ``(C, T)`` at ``rate`` Hz."""
    bad = ~np.isfinite(audio)
    if bad.any():
        n_bad = int(bad.sum())
        first = int(np.argmax(bad.any(axis=0)))
        were = "sample is" if n_bad == 1 else "samples are"
        raise MediaError(f"{path}: {n_bad} {were} NaN or infinite (first at {first / rate:.3f} s)")


def check_peak(peak: float, where: str, at: str = "") -> None:
    """Refuse audio whose peak ``|x|`` is above :data:`MAX_PEAK`.

    Args:
        peak: the largest absolute sample value.
        where: the file or argument named in the message.
        at: where the peak is, for the message (e.g. ``" at 0.500 s"``).
    """
    if peak > MAX_PEAK:
        raise MediaError(f"{where}: samples reach {peak:.3g}{at}, {20 * math.log10(peak):.0f} dB above full scale; "
                         f"audio is expected within -1..1 (at most {MAX_PEAK:g} is accepted)")


def _check_level(audio: np.ndarray, rate: int, path: Path) -> None:
    """:func:`check_peak` of finite ``(C, T)`` audio at ``rate`` Hz, naming the time of the peak."""
    if audio.size:
        flat = int(np.argmax(np.abs(audio)))
        peak = float(np.abs(audio.reshape(-1)[flat]))
        if peak > MAX_PEAK:
            check_peak(peak, str(path), f" at {flat % audio.shape[1] / rate:.3f} s")


def _convert_channels(audio: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """``(C_in, T) -> (channels, T)``: mono is repeated, ``channels=1`` averages, otherwise the first N are kept.

    Keeping the first ``channels`` of more (e.g. the front pair of a 5.1 file) is the official behaviour; it
    is logged as a warning because the dropped channels may carry content. Fewer channels than wanted
    (other than mono) cannot be mapped and raise :class:`MediaError`.
    """
    c_in = audio.shape[0]
    if c_in == channels:
        return audio
    if c_in == 1:
        return np.repeat(audio, channels, axis=0)
    if c_in > 1 and channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if c_in > channels:
        log.warning("%s: the audio has %d channels; keeping the first %d and dropping %d", path, c_in, channels,
                    c_in - channels)
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
            otherwise the first ``channels`` channels are kept (the official code keeps the first 2), with a
            logged warning naming how many were dropped.
        start: slice start in seconds, applied after resampling (sample ``round(start * sample_rate)``).
        duration: slice length in seconds (``round(duration * sample_rate)`` samples), or ``None`` for the rest
            of the file. The result is shorter when the file ends first; use :func:`fit_length` to pad.

    Returns:
        float32 tensor ``(channels, T)`` with T in samples at ``sample_rate``; every value is finite.

    Raises:
        MediaError: missing or unreadable file, undecodable content, no audio stream, zero samples, a sample
            rate outside 1 kHz..1 MHz, NaN or infinite samples or a peak above :data:`MAX_PEAK` (checked in the
            decoded part, before resampling), a channel count that cannot
            be mapped (e.g. 2 channels wanted from 3 is fine, 3 from 2 is not), or ``start`` past the end.
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
    try:
        decoded = _decode_soundfile(path, max_seconds)
        if decoded is None:
            log.debug("%s: not a libsndfile format, decoding with PyAV", path)
            decoded = _decode_pyav(path, max_seconds)
    except MemoryError:
        raise MediaError(f"{path}: the audio is too large to decode into memory") from None
    audio, rate = decoded
    if audio.shape[1] == 0:
        raise MediaError(f"{path}: audio has zero samples")
    _check_finite(audio, rate, path)  # before resampling: soxr would smear a NaN over its filter length
    _check_level(audio, rate, path)

    if rate != sample_rate:
        audio = soxr.resample(audio.T, rate, sample_rate, quality="HQ").T  # soxr works on (T, C)
        if audio.shape[1] == 0:
            raise MediaError(f"{path}: audio is too short to resample ({decoded[0].shape[1]} samples at {rate} Hz)")
    audio = _convert_channels(audio, channels, path)  # |x| <= MAX_PEAK: neither the filter nor a mean overflows

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
