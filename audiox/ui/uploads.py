"""Uploads of the web page: where they may live, what they may be, and removing the ones that are refused.

Gradio writes an upload to ``<temp folder>/<content hash>/<name>`` and hands the handler a file payload. The
handler trusts nothing in it: the path must lie inside the app's temporary folder (an API client could name any
file), the file must be small and short enough and decode as the kind of media its input expects. A refused
upload is deleted at once, with its folder when that is left empty, so that nothing of it stays on the server.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError, InputError

log = logging.getLogger(__name__)

KINDS = ("video", "image", "audio")


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one uploaded file.

    Attributes:
        max_bytes: file size (Gradio refuses a larger upload before it is stored; this checks API payloads too).
        max_seconds: length of an uploaded video or audio clip.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 120.0


DEFAULT_UPLOAD_LIMITS = UploadLimits()


@dataclass(frozen=True)
class Upload:
    """One uploaded file: ``path`` on the server, ``name`` as the user called it (used in messages)."""

    path: Path
    name: str


def upload_path(value: Any, root: Path, what: str) -> Upload | None:
    """The file of an upload payload (``{"path": ..., "orig_name": ...}``, a video's ``{"video": {...}}``, or a
    path string), which must lie inside ``root``; None when no file was given.

    Args:
        value: the raw payload of a file input.
        root: the app's temporary folder (uploads are stored under it).
        what: the input's name in messages ("video", "image", "audio").
    """
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("video"), dict):
        value = value["video"]
    if isinstance(value, dict):
        path, name = value.get("path"), value.get("orig_name")
    else:
        path, name = value, None
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InputError(f"{what}: expected an uploaded file")
    p = Path(os.path.realpath(path))
    if not p.is_relative_to(Path(os.path.realpath(root))):
        raise InputError(f"{what}: only files uploaded to this page can be used")
    if not p.is_file():
        raise InputError(f"{what}: the upload is gone (refused earlier, or cleaned up); upload it again")
    return Upload(p, str(name) if name else p.name)


def check_upload(upload: Upload, kind: str, *, sample_rate: int, limits: UploadLimits) -> None:
    """Refuse an upload that is too large, too long, or not decodable media of ``kind``.

    Args:
        upload: the stored file.
        kind: "video", "image" or "audio".
        sample_rate: Hz, the rate audio is decoded at to measure its length.
        limits: size and length bounds.

    Raises:
        AudioXError: one line naming the upload (by the user's file name) and the problem.
    """
    from audiox.media import check_video, load_audio, load_image_as_video

    if kind not in KINDS:
        raise ValueError(f"unknown upload kind {kind!r}")
    size = upload.path.stat().st_size
    if size > limits.max_bytes:
        raise InputError(f"{upload.name}: the {kind} is {size / 2**20:.1f} MiB, more than the limit of "
                         f"{limits.max_bytes / 2**20:.0f} MiB")
    try:
        if kind == "video":
            seconds = check_video(upload.path).duration
        elif kind == "image":
            load_image_as_video(upload.path, n_frames=1, size=8)
            return
        else:
            clip = load_audio(upload.path, sample_rate=sample_rate, channels=1, duration=limits.max_seconds + 0.5)
            seconds = clip.shape[-1] / sample_rate
    except AudioXError as e:
        raise type(e)(_rename(str(e), upload)) from None
    if seconds > limits.max_seconds:
        raise InputError(f"{upload.name}: the {kind} is longer than the limit of {limits.max_seconds:g} s")


def accept_upload(value: Any, root: Path, kind: str, *, sample_rate: int, limits: UploadLimits) -> Upload | None:
    """:func:`upload_path` then :func:`check_upload`; a refused upload is deleted (:func:`discard`) before the
    error propagates. None when no file was given.

    Args:
        value: the raw payload of a file input.
        root: the app's temporary folder.
        kind: "video", "image" or "audio".
        sample_rate: Hz, the rate audio is measured at.
        limits: size and length bounds.
    """
    upload = upload_path(value, root, kind)
    if upload is not None:
        try:
            check_upload(upload, kind, sample_rate=sample_rate, limits=limits)
        except AudioXError:
            discard(upload, root)
            raise
    return upload


def _rename(message: str, upload: Upload) -> str:
    """A media message with the server's path of the upload replaced by the user's file name."""
    return message.replace(str(upload.path), upload.name)


def discard(upload: Upload | None, root: Path) -> None:
    """Delete a refused upload, and the folders above it inside ``root`` that it leaves empty."""
    if upload is None:
        return
    upload.path.unlink(missing_ok=True)
    root = Path(os.path.realpath(root))
    folder = upload.path.parent
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:  # not empty (another upload lives there) or gone
            break
        folder = folder.parent
    log.info("removed the refused upload %s", upload.name)
