"""Video probing and frame sampling (PyAV decode, PIL resize), following the official code's ``read_video``.

Frame selection, with ``avg_fps`` the stream's average frame rate:

- ``seek_frame = int(start * avg_fps)``, ``interval = ceil(avg_fps / fps)``;
- frames ``seek_frame, seek_frame + interval, ...`` (at most ``N = int(seconds * fps)``) are kept;
- so 30 fps gives every 6th frame (exactly 5 fps) and 24 fps every 5th (4.8 fps, spanning 10.4 s);
- each frame is squashed to ``size x size`` (no aspect preservation, no crop) with PIL ``BILINEAR``, which
  antialiases when downscaling (the filter support widens with the scale factor), like torchvision's
  ``Resize(antialias=True)`` used by the official code;
- the result is padded to ``N`` by repeating the last frame.

Frames that end early are not padded blindly. When the decodable frames stop well before the duration the
file states (more than ``max(1 s, 10 %)`` short), the file is truncated or damaged and :class:`MediaError` is
raised. A valid video that is merely shorter than the requested clip is padded as the official code does,
with a logged warning saying how much. :func:`audiox.media.video_check.check_video` applies the same rule
without decoding every frame.

Frame indices come from counting decoded frames (in presentation order); seeking is only used to skip
far ahead, and the index of the first frame after a seek is recovered from its timestamp. Frames that
the container marks as discarded (MP4 edit lists) are not counted, as in FFmpeg.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
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
# Larger frames are refused before anything is decoded (a damaged GIF or MP4 header can state 20000 x 10000,
# 800 MB per frame). The limit is the one for images (audiox.media.image.MAX_IMAGE_PIXELS); 8K has 33 M.
MAX_FRAME_PIXELS = 89_478_485
# What PyAV, FFmpeg and PIL raise for damaged content while opening, demuxing or decoding; each becomes a
# MediaError (or, once frames were decoded, the end of the decodable frames).
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, MemoryError)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video file.

    Attributes:
        duration: seconds (video stream duration, else container duration).
        fps: average frame rate of the video stream, frames per second.
        n_frames: frame count estimate from the header, capped at ``round(duration * fps)`` (exact counts
            need a full decode); from :func:`check_video`, the number of frame packets the file holds.
        width, height: frame size in pixels.
        has_audio: whether the file has an audio stream.
        frames_end: seconds covered by the frames the file really holds (:func:`check_video` only; ``None``
            from :func:`probe_video`).
    """

    duration: float
    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool
    frames_end: float | None = None


def _open(path: str | os.PathLike) -> tuple[Path, av.container.InputContainer]:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="replace")
    except _AV_ERRORS as e:
        raise MediaError(f"{path}: not a decodable media file ({e.__class__.__name__})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: no video stream")
    codec = container.streams.video[0].codec_context
    if codec is None:
        container.close()
        raise MediaError(f"{path}: the video codec is unknown or not supported")
    if codec.width * codec.height > MAX_FRAME_PIXELS:
        container.close()
        raise MediaError(f"{path}: video frames are too large ({codec.width}x{codec.height} pixels; the limit is "
                         f"{MAX_FRAME_PIXELS})")
    return path, container


def _stream_fps(path: Path, stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise MediaError(f"{path}: video stream has no frame rate")
    return float(rate)


def _tag_seconds(value: str | None) -> float | None:
    """A Matroska per-stream ``DURATION`` tag (``HH:MM:SS.nnnnnnnnn``) in seconds, else ``None``."""
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", value.strip()) if value else None
    if match is None:
        return None
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def _stated_duration(
    stream: av.video.stream.VideoStream, container: av.container.InputContainer, fps: float
) -> float | None:
    """Seconds the file says its video lasts, ``None`` when it does not say.

    In order: the stream's duration; Matroska's per-stream ``DURATION`` tag; the container's duration, but
    only when the video is the file's only stream (otherwise it may be a longer audio track's); the
    header's frame count over ``fps``.
    """
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif (tag := _tag_seconds(stream.metadata.get("DURATION"))) is not None:
        seconds = tag
    elif container.duration and len(container.streams) == 1:
        seconds = container.duration / av.time_base
    elif stream.frames:
        seconds = stream.frames / fps
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _truncation_error(path: Path, frames_end: float, stated: float | None) -> MediaError | None:
    """The error for a file whose frames end well before its stated duration, else ``None``.

    Valid files end a little early: the stated duration may include the last frame's display time, B-frame
    and edit-list offsets, or (container duration) an audio track that runs on a bit, and with a variable
    frame rate ``frames / average fps`` differs from the timestamps by a few frames. A truncated or damaged
    file loses far more. So a shortfall is an error only beyond ``max(1 s, 10 %)`` of the stated duration;
    1 s covers the slack of short clips, 10 % the rounding of long ones.
    """
    if stated is None or frames_end >= stated - max(1.0, 0.1 * stated):
        return None
    return MediaError(
        f"{path}: only {frames_end:.1f} s of its {stated:.1f} s decode (the file is truncated or damaged)"
    )


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's duration, frame rate, frame count, size and whether it has audio (no decoding).

    Args:
        path: a video file FFmpeg can open.

    Returns:
        :class:`VideoInfo` (``frames_end`` is ``None``).

    Raises:
        MediaError: missing, empty or undecodable file, no video stream, or frames of more than
            :data:`MAX_FRAME_PIXELS` pixels.
    """
    path, container = _open(path)
    with container:
        stream = container.streams.video[0]
        fps = _stream_fps(path, stream)
        duration = _stated_duration(stream, container, fps) or (container.duration or 0) / av.time_base
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


def _decode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, errors: list[Exception]
) -> Iterator[av.VideoFrame]:
    """``container.decode(stream)`` that ends at the first decode error, which is appended to ``errors``."""
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except _AV_ERRORS as e:
            errors.append(e)
            return
        yield frame


def _select_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: list[int],
    fps: float,
    size: int,
    errors: list[Exception],
) -> tuple[dict[int, np.ndarray], int]:
    """Decode until the last wanted index.

    Returns ``{index: (size, size, 3) uint8}`` for the wanted frames found, and the number of frames the
    stream delivered (last index decoded + 1; all of them when it ends before the last wanted index).
    """
    wanted_set = set(wanted)
    last = wanted[-1]
    if wanted[0] / fps <= _SEEK_MIN_S or stream.time_base is None:
        return _select_frames_from_start(container, stream, wanted_set, last, size, errors)
    target = (wanted[0] / fps - _SEEK_PREROLL_S) / stream.time_base + (stream.start_time or 0)
    try:
        container.seek(int(target), stream=stream, backward=True, any_frame=False)
    except _AV_ERRORS as e:  # nothing was read yet: decode from the start instead
        log.debug("seek to frame %d failed (%s): decoding from the start", wanted[0], e.__class__.__name__)
        return _select_frames_from_start(container, stream, wanted_set, last, size, errors)
    found: dict[int, np.ndarray] = {}
    index = -1  # recovered from the first frame's timestamp
    for frame in _decode(container, stream, errors):
        if index == -1:
            recovered = _frame_index(frame, stream, fps)
            if recovered is None or recovered > wanted[0] or recovered < 0:
                log.debug("seek landed at frame %s, after frame %d: decoding from the start", recovered, wanted[0])
                break
            index = recovered
        if index in wanted_set:
            found[index] = _to_uint8(frame, size)
        if index >= last:
            break
        index += 1
    if index == -1:  # landed after the wanted frame, or no frame after the seek: count from the start
        errors.clear()
        container.seek(0, stream=stream, backward=True, any_frame=False)
        return _select_frames_from_start(container, stream, wanted_set, last, size, errors)
    return found, index + 1


def _select_frames_from_start(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: set[int],
    last: int,
    size: int,
    errors: list[Exception],
) -> tuple[dict[int, np.ndarray], int]:
    found: dict[int, np.ndarray] = {}
    n_seen = 0
    for index, frame in enumerate(_decode(container, stream, errors)):
        n_seen = index + 1
        if index in wanted:
            found[index] = _to_uint8(frame, size)
        if index >= last:
            break
    return found, n_seen


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
    cover: float | None = None,
) -> torch.Tensor:
    """Sample ``int(seconds * fps)`` RGB frames from a video as the official ``read_video`` does.

    Args:
        path: a video file FFmpeg can decode.
        fps: target sampling rate in frames per second (5 for AudioX).
        seconds: clip length in seconds (10 for AudioX; longer clips serve windowed generation).
        start: clip start in seconds.
        size: output frames are ``size x size`` pixels (squashed, not cropped).
        cover: the seconds after ``start`` the caller needs real frames for, e.g. the requested output length
            when ``seconds`` adds a window of context (default: ``seconds``); the padding warning counts only
            these.

    Returns:
        uint8 tensor ``(N, 3, size, size)`` with ``N = int(seconds * fps)``; when a valid video has fewer
        frames after ``start`` the last one is repeated, with a logged warning when the video is shorter
        than the clip by more than one output frame (a smaller shortfall is the frame interval's rounding).

    Raises:
        MediaError: missing/empty/undecodable file, no video stream, frames larger than
            :data:`MAX_FRAME_PIXELS`, zero frames, frames that end well before
            the stated duration (truncated or damaged; only checked when the clip needs frames past the
            decodable ones), or ``start`` past the end.
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
    errors: list[Exception] = []
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        avg_fps = _stream_fps(path, stream)
        stated = _stated_duration(stream, container, avg_fps)
        seek_frame = int(start * avg_fps)
        interval = max(1, math.ceil(avg_fps / fps))
        wanted = [seek_frame + k * interval for k in range(n)]
        try:
            found, n_seen = _select_frames(container, stream, wanted, avg_fps, size, errors)
        except _AV_ERRORS as e:
            raise MediaError(f"{path}: video stream is not decodable ({e.__class__.__name__})") from None
    frames = [found[i] for i in wanted if i in found]
    if len(frames) == n:
        return _to_tensor(frames)
    if errors:
        log.debug("%s: decoding stopped after %d frames (%s)", path, n_seen, errors[0].__class__.__name__)
    frames_end = n_seen / avg_fps
    error = _truncation_error(path, frames_end, stated)
    if error is not None:
        raise error
    if not frames:
        if n_seen == 0:
            if errors:
                raise MediaError(f"{path}: video stream is not decodable ({errors[0].__class__.__name__})")
            raise MediaError(f"{path}: video stream has zero frames")
        raise MediaError(f"{path}: start {start:.3f} s is past the end of the video ({frames_end:.3f} s)")
    have = max(0.0, frames_end - start)
    need = seconds if cover is None else min(cover, seconds)
    if have + 1.0 / fps < need:
        log.warning("%s: the video has %.1f s after the start; %.1f s of the %.1f s requested are filled with its "
                    "last frame", path, have, need - have, need)
    else:  # the video covers the clip; the official frame interval (ceil) runs a little past its end
        log.debug("%s: %d of %d frames, repeating the last one", path, len(frames), n)
    frames.extend([frames[-1]] * (n - len(frames)))
    return _to_tensor(frames)


def _to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    """``N x (size, size, 3)`` uint8 -> ``(N, 3, size, size)``."""
    video = torch.from_numpy(np.stack(frames))  # (N, size, size, 3)
    return video.permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)
