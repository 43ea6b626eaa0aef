"""Inpainting ranges drawn on the page: the audio input's spectrogram, on which two clicks mark a range.

A click on the picture gives an x position in pixels; :func:`add_click` turns the first click of a pair into a
pending start and the second into a ``START-END`` range appended to the ranges text box (which can also be typed
in). :func:`draw_picker` renders the clip's spectrogram with the ranges shaded.
"""

from __future__ import annotations

from pathlib import Path

from audiox.ui.generate import split_ranges

PICKER_HEIGHT = 160  # pixels


def draw_picker(audio: str | Path, ranges: str | None, out: Path, *, sample_rate: int,
                max_seconds: float) -> tuple[Path, float]:
    """Write the spectrogram of ``audio`` with ``ranges`` shaded; returns (PNG path, clip length in seconds).

    Args:
        audio: the uploaded or recorded clip.
        ranges: the ranges text (``"1-2, 3-4"``); ranges that do not parse are left out of the picture.
        out: the PNG to write.
        sample_rate: Hz the clip is decoded at.
        max_seconds: decode at most this much.
    """
    from PIL import Image, ImageDraw

    from audiox.media import load_audio, save_spectrogram

    clip = load_audio(audio, sample_rate=sample_rate, channels=1, duration=max_seconds)
    seconds = clip.shape[-1] / sample_rate
    save_spectrogram(out, clip, sample_rate, height=PICKER_HEIGHT)
    with Image.open(out) as im:
        pic = im.convert("RGBA")
    shade = Image.new("RGBA", pic.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(shade)
    for start, end in parse_loose(ranges):
        x0, x1 = (round(min(t, seconds) / seconds * (pic.width - 1)) for t in (start, end))
        draw.rectangle([x0, 0, x1, pic.height - 1], fill=(255, 255, 255, 90), outline=(255, 255, 255, 255), width=2)
    Image.alpha_composite(pic, shade).convert("RGB").save(out, format="PNG")
    return out, seconds


def parse_loose(ranges: str | None) -> list[tuple[float, float]]:
    """The ranges of the text box that parse (for drawing; the request checks them strictly)."""
    from audiox.errors import InputError
    from audiox.pipeline.inputs import parse_range_text

    out = []
    for item in split_ranges(ranges) or []:
        try:
            start, end = parse_range_text(item)
        except InputError:
            continue
        if 0 <= start < end:
            out.append((start, end))
    return out


def add_click(ranges: str | None, pending: float | None, x: float, width: int,
              seconds: float) -> tuple[str, float | None]:
    """One click on the picture: the first of a pair starts a range, the second ends it.

    Args:
        ranges: the ranges text so far.
        pending: the start (seconds) of a range whose end is not clicked yet, or None.
        x: the click's position in pixels from the left; width: the picture's width in pixels.
        seconds: the clip's length.

    Returns:
        (new ranges text, new pending start).
    """
    t = round(min(max(x / max(width - 1, 1), 0.0), 1.0) * seconds, 2)
    if pending is None:
        return ranges or "", t
    start, end = sorted((pending, t))
    if end - start < 0.01:
        return ranges or "", None
    items = (split_ranges(ranges) or []) + [f"{start:g}-{end:g}"]
    return ", ".join(items), None
