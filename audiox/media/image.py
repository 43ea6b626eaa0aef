"""Still images as constant videos for the video conditioner (spec §4.1, "Images").

The official code turns an image into float [0, 1] and the conditioner then divides by 255 again, so CLIP
sees an almost black frame. We do not reproduce that bug: :func:`load_image_as_video` returns uint8
0..255, exactly like :func:`audiox.media.video.read_video_frames`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from audiox.errors import InputError, MediaError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})


def is_image_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an image, judged by its suffix only (case-insensitive).

    Args:
        path: any path; the file need not exist.
    """
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image_as_video(path: str | os.PathLike, *, n_frames: int = 50, size: int = 224) -> torch.Tensor:
    """Load an image as RGB, squash it to ``size x size`` and repeat it ``n_frames`` times.

    The resize is PIL ``BILINEAR`` (antialiased when downscaling), as for video frames. Alpha is dropped;
    for animated images (GIF, WebP) the first frame is used.

    Args:
        path: an image file PIL can decode.
        n_frames: number of (identical) frames, 50 for 10 s at 5 fps.
        size: output side in pixels.

    Returns:
        uint8 tensor ``(n_frames, 3, size, size)`` with values 0..255.

    Raises:
        MediaError: missing file, or a file PIL cannot decode as an image.
        InputError: ``n_frames`` or ``size`` below 1.
    """
    if n_frames < 1:
        raise InputError(f"n_frames: must be >= 1, got {n_frames}")
    if size < 1:
        raise InputError(f"size: must be >= 1 pixels, got {size}")
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    try:
        with Image.open(path) as im:
            im.seek(0)
            rgb = im.convert("RGB")  # forces a full decode
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not an image") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"{path}: image is not decodable ({e.__class__.__name__})") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    frame = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, size, size)
    return frame.unsqueeze(0).repeat(n_frames, 1, 1, 1)  # (n_frames, 3, size, size)
