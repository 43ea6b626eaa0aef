"""Still images as constant videos for the video conditioner (the official code's image input, done right).

The official code turns an image into float [0, 1] and the conditioner then divides by 255 again, so CLIP
sees an almost black frame. We do not reproduce that bug: :func:`load_image_as_video` returns uint8
0..255, exactly like :func:`audiox.media.video.read_video_frames`.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from audiox.errors import InputError, MediaError
from audiox.media.image_modes import to_rgb

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
# Larger images are refused: PIL's default decompression-bomb threshold (about 9459 x 9459), here a hard
# limit (PIL itself only warns between 1x and 2x of it). An 8K frame has 33 M pixels.
MAX_IMAGE_PIXELS = 89_478_485
# What PIL's decoders raise for damaged or hostile content (its fuzzers see all of these).
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, KeyError, TypeError,
               ZeroDivisionError, MemoryError)


def is_image_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an image, judged by its suffix only (case-insensitive).

    Args:
        path: any path; the file need not exist.
    """
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image_as_video(path: str | os.PathLike, *, n_frames: int = 50, size: int = 224) -> torch.Tensor:
    """Load an image as RGB, squash it to ``size x size`` and repeat it ``n_frames`` times.

    The image is converted to 8-bit RGB by :func:`audiox.media.image_modes.to_rgb`: 16-bit grey is scaled
    (``v / 257``), float images are read as 0..1 or 0..255, and transparency is composited onto white. The
    resize is PIL ``BILINEAR`` (antialiased when downscaling), as for video frames. For animated images
    (GIF, WebP) the first frame is used.

    Args:
        path: an image file PIL can decode.
        n_frames: number of (identical) frames, 50 for 10 s at 5 fps.
        size: output side in pixels.

    Returns:
        uint8 tensor ``(n_frames, 3, size, size)`` with values 0..255.

    Raises:
        MediaError: missing file, a file PIL cannot decode as an image, an image with zero width or height or
            more than :data:`MAX_IMAGE_PIXELS` pixels, or pixel values that cannot be mapped to 8 bits.
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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # PIL warns from 1x its limit
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaError(f"{path}: image is too large ({width}x{height} pixels; the limit is "
                                     f"{MAX_IMAGE_PIXELS})")
                if width == 0 or height == 0:
                    raise MediaError(f"{path}: image has zero size ({width}x{height} pixels)")
                im.seek(0)
                im.load()  # a full decode
                rgb = to_rgb(im, path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(f"{path}: image is too large (more than {MAX_IMAGE_PIXELS} pixels)") from None
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not an image") from None
    except _PIL_ERRORS as e:
        raise MediaError(f"{path}: image is not decodable ({e.__class__.__name__})") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    frame = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, size, size)
    return frame.unsqueeze(0).repeat(n_frames, 1, 1, 1)  # (n_frames, 3, size, size)
