"""A cheap up-front check of a video file (:func:`check_video`), to run before a model is loaded.

It reads the video packets without decoding them (their timestamps say how far the frames reach) and
decodes one frame at the start and one at the last keyframe, so a 10-s clip takes a few tens of
milliseconds instead of the full decode :func:`audiox.media.video.read_video_frames` does. Truncation is
judged by the same rule (:func:`audiox.media.video._truncation_error`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av

from audiox.errors import MediaError
from audiox.media.video import _AV_ERRORS, VideoInfo, _decode, _open, _stated_duration, _stream_fps, _truncation_error

log = logging.getLogger(__name__)


def _demux_end(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream, fps: float
) -> tuple[int, float, int | None]:
    """Read the video packets without decoding: ``(count, seconds they cover, pts of the last keyframe)``.

    Packets the container marks as discarded (edit lists) are not counted. A read error ends the packets.
    """
    t0, tb = stream.start_time or 0, stream.time_base
    count, end_ts, last_key = 0, None, None
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            count += 1
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None:
                end = ts + (packet.duration or 0)
                end_ts = end if end_ts is None else max(end_ts, end)
                if packet.is_keyframe:
                    last_key = ts
    except _AV_ERRORS as e:
        log.debug("%s: reading packets stopped after %d (%s)", path, count, e.__class__.__name__)
    if end_ts is None or tb is None:
        return count, count / fps, None
    return count, max(0.0, float((end_ts - t0) * tb)), last_key


def _decode_keyframes(path: Path, last_key: int | None) -> tuple[bool, bool, list[Exception]]:
    """Decode one frame from the start, and one from the last keyframe (``last_key``, a pts) on.

    Returns whether each decoded, and the decode errors met. Decoding stops at the first frame, so this costs
    a few frames whatever the keyframe interval.
    """
    errors: list[Exception] = []
    _, container = _open(path)
    with container:
        stream = container.streams.video[0]
        first = next(_decode(container, stream, errors), None) is not None
        if last_key is None or not first:
            return first, first, errors
        container.seek(last_key, stream=stream, backward=True, any_frame=False)
        return first, next(_decode(container, stream, errors), None) is not None, errors


def check_video(path: str | os.PathLike) -> VideoInfo:
    """Check cheaply that a video is usable, before anything expensive (a model) is loaded.

    Reads every video packet without decoding (their timestamps give how far the frames reach), then decodes
    one frame at the start and one at the last keyframe. About 0.05 s for a 10-s 720p clip.

    Args:
        path: a video file.

    Returns:
        :class:`VideoInfo`; ``n_frames`` is the packet count and ``frames_end`` how far the frames reach, in
        seconds (a valid file shorter than a requested clip is padded by :func:`read_video_frames`).

    Raises:
        MediaError: missing, empty or undecodable file, no video stream, frames larger than
            :data:`audiox.media.video.MAX_FRAME_PIXELS`, zero frames, a first or last
            keyframe that does not decode, or frames that end well before the stated duration (truncated or
            damaged; same rule as :func:`read_video_frames`).
    """
    path, container = _open(path)
    with container:
        stream = container.streams.video[0]
        fps = _stream_fps(path, stream)
        stated = _stated_duration(stream, container, fps)
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        count, frames_end, last_key = _demux_end(path, container, stream, fps)
    if count == 0:
        error = _truncation_error(path, 0.0, stated)
        raise error or MediaError(f"{path}: video stream has zero frames")
    error = _truncation_error(path, frames_end, stated)
    if error is not None:
        raise error
    try:
        first, last_ok, errors = _decode_keyframes(path, last_key)
    except _AV_ERRORS as e:
        raise MediaError(f"{path}: video stream is not decodable ({e.__class__.__name__})") from None
    if not first:
        why = errors[0].__class__.__name__ if errors else "no frame decodes"
        raise MediaError(f"{path}: video stream is not decodable ({why})")
    if not last_ok:
        raise MediaError(f"{path}: the last keyframe does not decode (the file is truncated or damaged)")
    return VideoInfo(stated or frames_end, fps, count, width, height, has_audio, frames_end)
