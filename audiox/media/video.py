"""Video probing and frame sampling (PyAV decode, PIL resize), following the official ``read_video`` (spec §4.1).

Frame selection, with ``avg_fps`` the stream's average frame rate:

- ``seek_frame = int(start * avg_fps)``, ``interval = ceil(avg_fps / fps)``;
- frames ``seek_frame, seek_frame + interval, ...`` (at most ``N = int(seconds * fps)``) are kept;
- so 30 fps gives every 6th frame (exactly 5 fps) and 24 fps every 5th (4.8 fps, spanning 10.4 s);
- each frame is squashed to ``size x size`` (no aspect preservation, no crop) with PIL ``BILINEAR``, which
  antialiases when downscaling (the filter support widens with the scale factor), like torchvision's
  ``Resize(antialias=True)`` used by the official code;
- the result is padded to ``N`` by repeating the last frame.

Frame indices come from counting decoded frames (in presentation order); seeking is only used to skip
far ahead, and the index of the first frame after a seek is recovered from its timestamp. Frames that
the container marks as discarded (MP4 edit lists) are not counted, as in FFmpeg.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from audiox.errors import InputError, MediaError

log = logging.getLogger(__name__)

# Seek only when the first wanted frame is further than this from the start; land this far before it.
_SEEK_MIN_S = 3.0
_SEEK_PREROLL_S = 1.0


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video file.

    Attributes:
        duration: seconds (video stream duration, else container duration).
        fps: average frame rate of the video stream, frames per second.
        n_frames: frame count estimate from the header, capped at ``round(duration * fps)`` (exact counts
            need a full decode).
        width, height: frame size in pixels.
        has_audio: whether the file has an audio stream.
    """

    duration: float
    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool


def _open(path: str | os.PathLike) -> tuple[Path, av.container.InputContainer]:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"{path}: not a decodable media file ({e.__class__.__name__})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: no video stream")
    return path, container


def _stream_fps(path: Path, stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise MediaError(f"{path}: video stream has no frame rate")
    return float(rate)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's duration, frame rate, frame count, size and whether it has audio (no decoding).

    Args:
        path: a video file FFmpeg can open.

    Returns:
        :class:`VideoInfo`.

    Raises:
        MediaError: missing, empty or undecodable file, or no video stream.
    """
    path, container = _open(path)
    with container:
        stream = container.streams.video[0]
        fps = _stream_fps(path, stream)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = stream.frames / fps if stream.frames else 0.0
        from_duration = int(round(duration * fps))
        n_frames = min(stream.frames, from_duration) if stream.frames else from_duration
        return VideoInfo(
            duration=duration,
            fps=fps,
            n_frames=n_frames,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            has_audio=bool(container.streams.audio),
        )


def _frame_index(frame: av.VideoFrame, stream: av.video.stream.VideoStream, fps: float) -> int | None:
    """Index of a decoded frame recovered from its timestamp (used only for the first frame after a seek)."""
    if frame.pts is None or stream.time_base is None:
        return None
    t0 = stream.start_time or 0
    return int(round(float((frame.pts - t0) * stream.time_base) * fps))


def _select_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: list[int],
    fps: float,
    size: int,
) -> dict[int, np.ndarray]:
    """Decode until the last wanted index; return ``{index: (size, size, 3) uint8}`` for those found."""
    wanted_set = set(wanted)
    last = wanted[-1]
    first_index = 0
    if wanted[0] / fps > _SEEK_MIN_S and stream.time_base is not None:
        target = (wanted[0] / fps - _SEEK_PREROLL_S) / stream.time_base + (stream.start_time or 0)
        container.seek(int(target), stream=stream, backward=True, any_frame=False)
        first_index = -1  # recovered from the first frame's timestamp
    found: dict[int, np.ndarray] = {}
    index = first_index
    for frame in container.decode(stream):
        if index == -1:
            recovered = _frame_index(frame, stream, fps)
            if recovered is None or recovered > wanted[0] or recovered < 0:
                log.debug("seek landed at frame %s, after frame %d: decoding from the start", recovered, wanted[0])
                container.seek(0, stream=stream, backward=True, any_frame=False)
                return _select_frames_from_start(container, stream, wanted_set, last, size)
            index = recovered
        if index in wanted_set:
            found[index] = _to_uint8(frame, size)
        if index >= last:
            break
        index += 1
    return found


def _select_frames_from_start(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: set[int],
    last: int,
    size: int,
) -> dict[int, np.ndarray]:
    found: dict[int, np.ndarray] = {}
    for index, frame in enumerate(container.decode(stream)):
        if index in wanted:
            found[index] = _to_uint8(frame, size)
        if index >= last:
            break
    return found


def _to_uint8(frame: av.VideoFrame, size: int) -> np.ndarray:
    """Decoded frame -> RGB uint8 ``(size, size, 3)``, squashed with PIL bilinear (antialiased)."""
    image = frame.to_image()  # RGB24
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def read_video_frames(
    path: str | os.PathLike,
    *,
    fps: float = 5.0,
    seconds: float = 10.0,
    start: float = 0.0,
    size: int = 224,
) -> torch.Tensor:
    """Sample ``int(seconds * fps)`` RGB frames from a video as the official ``read_video`` does.

    Args:
        path: a video file FFmpeg can decode.
        fps: target sampling rate in frames per second (5 for AudioX).
        seconds: clip length in seconds (10 for AudioX; longer clips serve windowed generation).
        start: clip start in seconds.
        size: output frames are ``size x size`` pixels (squashed, not cropped).

    Returns:
        uint8 tensor ``(N, 3, size, size)`` with ``N = int(seconds * fps)``; when the video has fewer frames
        after ``start`` the last one is repeated.

    Raises:
        MediaError: missing/empty/undecodable file, no video stream, zero frames, or ``start`` past the end.
        InputError: non-positive ``fps``/``seconds``/``size`` or negative ``start``.
    """
    if fps <= 0:
        raise InputError(f"fps: must be > 0, got {fps}")
    if seconds <= 0:
        raise InputError(f"seconds: must be > 0, got {seconds}")
    if start < 0:
        raise InputError(f"start: must be >= 0 seconds, got {start}")
    if size < 1:
        raise InputError(f"size: must be >= 1 pixels, got {size}")
    n = int(seconds * fps)
    if n < 1:
        raise InputError(f"seconds * fps: must give at least one frame, got {seconds} s at {fps} fps")

    path, container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        avg_fps = _stream_fps(path, stream)
        seek_frame = int(start * avg_fps)
        interval = max(1, math.ceil(avg_fps / fps))
        wanted = [seek_frame + k * interval for k in range(n)]
        try:
            found = _select_frames(container, stream, wanted, avg_fps, size)
            frames = [found[i] for i in wanted if i in found]
        except av.FFmpegError as e:
            raise MediaError(f"{path}: video stream is not decodable ({e.__class__.__name__})") from None
    if not frames:
        if seek_frame == 0:
            raise MediaError(f"{path}: video stream has zero frames")
        raise MediaError(f"{path}: start {start:.3f} s is past the end of the video")
    if len(frames) < n:
        log.debug("%s: %d of %d frames, repeating the last one", path, len(frames), n)
        frames.extend([frames[-1]] * (n - len(frames)))
    video = torch.from_numpy(np.stack(frames))  # (N, size, size, 3)
    return video.permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)
