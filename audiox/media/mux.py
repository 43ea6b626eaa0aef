"""Put generated audio under a video: the video packets are copied, the audio is encoded as AAC (PyAV only).

Equivalent of the release's ``ffmpeg -ss start -t duration -i video -i wav -c:v copy -c:a aac -map 0:v:0
-map 1:a:0 -shortest out`` (its last step of video-to-audio generation), without a subprocess.

Cutting a copied stream can only begin on a keyframe. For ``start > 0`` the packets from the keyframe at or
before ``start`` are copied and shifted so that ``start`` becomes time 0; the frames before it get negative
timestamps, which the MP4 muxer hides with an edit list (as ``ffmpeg -ss ... -c:v copy`` does). The end is
cut after the last frame shown before ``start + length``, plus any reference frames that frame needs, so the
video may run up to a few frames past the audio.
"""

from __future__ import annotations

import logging
import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from audiox.errors import InputError, MediaError
from audiox.utils.files import atomic_write

log = logging.getLogger(__name__)

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
_LAYOUTS = {1: "mono", 2: "stereo"}
_AAC_BIT_RATE = 192_000
_AUDIO_CHUNK = 1024  # samples per frame handed to the AAC encoder
_END_MARGIN_S = 2.0  # demux this far past the cut in decode order, to find B-frames shown before it


def _video_duration(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    raise MediaError(f"{container.name}: video duration unknown")


def _copy_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: float, end: float
) -> list[av.Packet]:
    """Video packets (decode order) from the keyframe at or before ``start`` (s) to the last frame shown
    before ``end`` (s) and everything decoded before it."""
    tb = stream.time_base
    t0 = stream.start_time or 0
    if start > 0:
        container.seek(int(start / tb) + t0, stream=stream, backward=True, any_frame=False)
    packets: list[av.Packet] = []
    for packet in container.demux(stream):
        if packet.dts is None and packet.pts is None:
            continue  # flush packet
        if packet.size == 0:
            continue
        if not packets and not packet.is_keyframe:
            continue  # the cut must begin on a keyframe
        ts = packet.dts if packet.dts is not None else packet.pts
        if float((ts - t0) * tb) > end + _END_MARGIN_S:
            break
        packets.append(packet)
    shown = [i for i, p in enumerate(packets) if p.pts is not None and float((p.pts - t0) * tb) < end]
    return packets[: shown[-1] + 1] if shown else []


def _encode_audio(stream: av.audio.stream.AudioStream, audio: np.ndarray, sample_rate: int) -> list[av.Packet]:
    """Encode float32 ``(C, T)`` into AAC packets (timestamps in samples)."""
    layout = _LAYOUTS[audio.shape[0]]
    packets: list[av.Packet] = []
    for i in range(0, audio.shape[1], _AUDIO_CHUNK):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio[:, i : i + _AUDIO_CHUNK]), format="fltp", layout=layout
        )
        frame.sample_rate = sample_rate
        frame.pts = i
        frame.time_base = Fraction(1, sample_rate)
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets


def check_muxable(video_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Check, before anything is generated, that the video stream of ``video_path`` can be copied into
    ``out_path``'s container (e.g. VP8 cannot go into MP4); writes nothing.

    Args:
        video_path: the input video.
        out_path: the video to be written (its suffix picks the container).

    Raises:
        MediaError: the suffix is unknown, the video does not open, or the container cannot hold its codec.
    """
    import io

    from audiox.media.video import _open

    out_path = Path(out_path)
    fmt = _FORMATS.get(out_path.suffix.lower())
    if fmt is None:
        raise MediaError(f"{out_path}: unknown video suffix {out_path.suffix!r}; expected one of {sorted(_FORMATS)}")
    video_path, container = _open(video_path)
    with container, av.open(io.BytesIO(), mode="w", format=fmt) as probe:
        stream = container.streams.video[0]
        try:
            probe.add_stream_from_template(stream)
        except (ValueError, av.FFmpegError):
            raise MediaError(f"{video_path}: its {stream.codec_context.name} video cannot be copied into "
                             f"{out_path.suffix} ({out_path}); convert the video first (e.g. to H.264)") from None


def mux_audio_into_video(
    video_path: str | os.PathLike,
    audio: torch.Tensor,
    sample_rate: int,
    out_path: str | os.PathLike,
    *,
    start: float = 0.0,
    duration: float | None = None,
) -> Path:
    """Write ``out_path`` (MP4/MOV) with the input's first video stream copied and ``audio`` as AAC.

    The output lasts ``min(video after start, audio, duration)`` seconds (``-shortest``); the audio is cut to
    that length and its sample 0 lines up with ``start`` in the input video. The write is atomic: a temp file
    in the same directory is renamed over ``out_path``; on error nothing is left behind.

    Args:
        video_path: input video; its first video stream is copied packet by packet (not re-encoded).
        audio: float ``(C, T)`` in [-1, 1], C = 1 or 2, T in samples at ``sample_rate``; ``(T,)`` is mono.
        sample_rate: audio rate in Hz.
        out_path: output file, suffix ``.mp4``, ``.m4v`` or ``.mov``.
        start: where in the input video (seconds) the output begins.
        duration: optional cap on the output length in seconds.

    Returns:
        ``Path(out_path)``.

    Raises:
        MediaError: missing/undecodable input, no video stream, ``start`` past the end, unknown suffix, or
            an FFmpeg failure while writing.
        InputError: bad audio shape, rate, ``start`` or ``duration``.
    """
    video_path, out_path = Path(video_path), Path(out_path)
    fmt = _FORMATS.get(out_path.suffix.lower())
    if fmt is None:
        raise MediaError(f"{out_path}: unknown video suffix {out_path.suffix!r}; expected one of {sorted(_FORMATS)}")
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2 or audio.shape[0] not in _LAYOUTS or audio.shape[1] == 0:
        raise InputError(f"audio: expected shape (1 or 2, T > 0), got {tuple(audio.shape)}")
    if sample_rate <= 0:
        raise InputError(f"sample_rate: must be > 0, got {sample_rate}")
    if start < 0:
        raise InputError(f"start: must be >= 0 seconds, got {start}")
    if duration is not None and duration <= 0:
        raise InputError(f"duration: must be > 0 seconds, got {duration}")
    if not out_path.parent.is_dir():
        raise MediaError(f"{out_path}: directory {out_path.parent} does not exist")

    from audiox.media.video import _open

    video_path, container = _open(video_path)
    with container:
        in_stream = container.streams.video[0]
        length = min(_video_duration(in_stream, container) - start, audio.shape[1] / sample_rate)
        if duration is not None:
            length = min(length, duration)
        if length <= 0:
            raise MediaError(f"{video_path}: start {start:.3f} s is past the end of the video")
        try:
            packets = _copy_packets(container, in_stream, start, start + length)
        except av.FFmpegError as e:
            raise MediaError(f"{video_path}: video stream is not readable ({e.__class__.__name__})") from None
        if not packets:
            raise MediaError(f"{video_path}: no video packets between {start:.3f} s and {start + length:.3f} s")
        n_samples = int(round(length * sample_rate))
        samples = audio[:, :n_samples].detach().float().clamp(-1.0, 1.0).cpu().numpy()

        try:
            atomic_write(out_path, lambda tmp: _write(tmp, fmt, in_stream, packets, samples, sample_rate, start))
        except (av.FFmpegError, ValueError) as e:  # ValueError: the container cannot hold the codec
            raise MediaError(f"{out_path}: could not write the video ({e.__class__.__name__})") from None
    log.debug("%s: %d video packets copied, %.3f s of audio", out_path, len(packets), n_samples / sample_rate)
    return out_path


def _write(
    tmp: str,
    fmt: str,
    in_stream: av.video.stream.VideoStream,
    packets: list[av.Packet],
    samples: np.ndarray,
    sample_rate: int,
    start: float,
) -> None:
    tb = in_stream.time_base
    shift = int(round(start / tb)) + (in_stream.start_time or 0)  # input ts of output time 0
    with av.open(tmp, mode="w", format=fmt) as out:
        v_out = out.add_stream_from_template(in_stream)
        a_out = out.add_stream("aac", rate=sample_rate, layout=_LAYOUTS[samples.shape[0]])
        a_out.bit_rate = _AAC_BIT_RATE
        a_packets = _encode_audio(a_out, samples, sample_rate)
        for p in packets:
            p.stream = v_out
            p.time_base = tb
            if p.pts is not None:
                p.pts -= shift
            if p.dts is not None:
                p.dts -= shift

        # Interleave by decode time, as a muxer expects.
        def when(p: av.Packet) -> float:
            ts = p.dts if p.dts is not None else p.pts
            return -math.inf if ts is None else float(ts * p.time_base)

        for p in sorted(packets + a_packets, key=when):
            out.mux(p)
