"""Image modes to 8-bit RGB for :func:`audiox.media.image.load_image_as_video`.

PIL's ``convert("RGB")`` clips instead of scaling for 16-bit and 32-bit modes (a 16-bit PNG comes out
almost white) and drops alpha, exposing whatever colour the transparent pixels happen to store. The rules
here, applied to the decoded image:

- 16-bit grey (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``) and 32-bit integer ``I`` with values in 0..65535
  (what 16-bit PNG/TIFF/PGM decode to): ``round(v / 257)``, so 65535 -> 255 and 32768 -> 128. ``I`` values
  outside 0..65535 are refused (their scale is unknown).
- 32-bit float ``F``: values in 0..1 are taken as a 0..1 scale (``round(v * 255)``); otherwise values in
  0..255 are taken as already 8-bit (``round(v)``); negative, larger or NaN/infinite values are refused.
  An ``F`` image whose maximum is <= 1 is always read as 0..1 (ambiguous for a near-black 0..255 image).
- Any image with transparency (``RGBA``, ``LA``, ``PA``, ``RGBa``, ``P`` or ``L``/``RGB`` with a
  transparent colour): alpha-composited onto white, ``round((c * a + 255 * (255 - a)) / 255)`` per channel,
  so transparent pixels become white whatever colour they store. White, because transparent images are
  mostly logos, icons and drawings made to be shown on a light page; on black, dark content would vanish.
  (The official code drops alpha.)
- Everything else (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``): PIL's conversion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from audiox.errors import MediaError

BACKGROUND = 255  # the grey level (of R, G and B) that transparent pixels are composited onto: white

_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def _grey_to_rgb(grey: np.ndarray) -> Image.Image:
    """``(H, W)`` uint8 -> RGB image."""
    return Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), "L").convert("RGB")


def _sixteen_bit(im: Image.Image, path: Path) -> Image.Image:
    values = np.asarray(im).astype(np.int64)  # uint16, big-endian uint16 or int32, as (H, W)
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi > 65535:
        raise MediaError(f"{path}: {im.mode} image with values {lo}..{hi}; only 0..65535 (16-bit) is supported")
    return _grey_to_rgb((values + 128) // 257)  # round(v / 257), halves up


def _float(im: Image.Image, path: Path) -> Image.Image:
    values = np.asarray(im, dtype=np.float64)
    if not np.isfinite(values).all():
        raise MediaError(f"{path}: float image with NaN or infinite values")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 255:
        raise MediaError(f"{path}: float image with values {lo:.4g}..{hi:.4g}; expected 0..1 or 0..255")
    scale = 255.0 if hi <= 1.0 else 1.0
    return _grey_to_rgb(np.floor(values * scale + 0.5))


def _composite(im: Image.Image) -> Image.Image:
    rgba = np.asarray(im.convert("RGBA"), dtype=np.int32)  # (H, W, 4)
    colour, alpha = rgba[..., :3], rgba[..., 3:]
    rgb = (colour * alpha + BACKGROUND * (255 - alpha) + 127) // 255  # round(c a / 255 + bg (1 - a / 255))
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def to_rgb(im: Image.Image, path: Path) -> Image.Image:
    """Convert a decoded PIL image to 8-bit RGB by the rules of this module.

    Args:
        im: any PIL image (loaded).
        path: the file it came from, for error messages.

    Returns:
        An ``RGB`` image of the same size.

    Raises:
        MediaError: ``I``/``F`` values outside the supported ranges, or a mode PIL cannot convert.
    """
    try:
        if im.mode == "RGB" and not im.has_transparency_data:
            return im
        if im.mode in _SIXTEEN_BIT or im.mode == "I":
            return _sixteen_bit(im, path)
        if im.mode == "F":
            return _float(im, path)
        if im.has_transparency_data:
            return _composite(im)
        return im.convert("RGB")
    except ValueError as e:  # PIL: "conversion from La to RGBA not supported", ...
        raise MediaError(f"{path}: image mode {im.mode} cannot be converted to RGB ({e})") from None
