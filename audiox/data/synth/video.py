"""Synchronised scenes rendered with numpy: 25 fps H.264 MP4 (PyAV, deterministic settings) and PNG stills.

- Sound effects: one object per class; its shape and colour tell the class. It flashes (and the whole frame
  brightens) on the frame of each sound event, ``round(t * fps)``, and bounces so that it touches its rest
  position at each event. Continuous sources (rain, siren, ...) are lit while they sound.
- Music: a central disc pulses on every beat (the drums icon too); the background is warm (major) or cool
  (minor); one icon per instrument (own shape and colour) sits along the bottom.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SHAPES = ("circle", "square", "diamond", "triangle", "ring", "cross", "hbar", "vbar", "star", "hexagon")

# sound-effect class -> (shape, RGB); every pair is unique
SFX_LOOK: dict[str, tuple[str, tuple[int, int, int]]] = {
    "bell": ("triangle", (250, 210, 60)), "chime": ("star", (170, 240, 255)),
    "camera_shutter": ("square", (200, 200, 210)), "phone_ring": ("hbar", (60, 220, 120)),
    "alarm_clock": ("ring", (255, 70, 70)), "paper_crumple": ("hexagon", (235, 225, 200)),
    "laser": ("vbar", (255, 40, 200)), "explosion": ("star", (255, 120, 20)),
    "coin": ("circle", (255, 200, 0)), "jump": ("diamond", (120, 255, 60)),
    "impact": ("square", (150, 90, 50)), "power_up": ("cross", (80, 140, 255)),
    "speech": ("circle", (240, 170, 150)), "beep": ("diamond", (0, 255, 255)),
    "footsteps": ("hexagon", (120, 80, 200)), "knocking": ("hbar", (180, 120, 60)),
    "siren": ("triangle", (255, 30, 30)), "rain": ("vbar", (60, 120, 255)),
    "wind": ("ring", (200, 230, 240)), "engine": ("cross", (110, 110, 110)),
}
# instrument -> (shape, RGB) for the music icons
INSTRUMENT_LOOK: dict[str, tuple[str, tuple[int, int, int]]] = {
    "piano": ("square", (245, 245, 245)), "electric piano": ("square", (120, 200, 255)),
    "marimba": ("hbar", (200, 120, 60)), "organ": ("vbar", (170, 60, 200)),
    "acoustic guitar": ("circle", (210, 150, 80)), "electric guitar": ("star", (255, 40, 80)),
    "bass": ("hexagon", (40, 80, 160)), "violin": ("diamond", (160, 70, 30)),
    "cello": ("diamond", (100, 40, 20)), "harp": ("triangle", (240, 220, 120)),
    "strings": ("ring", (200, 160, 100)), "trumpet": ("cross", (255, 200, 40)),
    "saxophone": ("triangle", (230, 160, 20)), "clarinet": ("vbar", (30, 30, 30)),
    "flute": ("hbar", (200, 200, 230)), "drums": ("ring", (255, 90, 40)),
}


def _mask(shape: str, size: int) -> np.ndarray:
    """Boolean ``(2*size+1, 2*size+1)`` mask of a shape of radius ``size`` pixels."""
    y, x = np.mgrid[-size:size + 1, -size:size + 1] / max(size, 1)
    r = np.hypot(x, y)
    if shape == "circle":
        return r <= 1
    if shape == "square":
        return np.maximum(abs(x), abs(y)) <= 0.85
    if shape == "diamond":
        return abs(x) + abs(y) <= 1
    if shape == "triangle":
        return (y <= 0.8) & (abs(x) <= (y + 1) / 2)
    if shape == "ring":
        return (r <= 1) & (r >= 0.6)
    if shape == "cross":
        return ((abs(x) <= 0.3) & (abs(y) <= 1)) | ((abs(y) <= 0.3) & (abs(x) <= 1))
    if shape == "hbar":
        return (abs(x) <= 1) & (abs(y) <= 0.4)
    if shape == "vbar":
        return (abs(x) <= 0.4) & (abs(y) <= 1)
    if shape == "star":
        return r <= 0.55 + 0.45 * np.cos(5 * np.arctan2(y, x))
    if shape == "hexagon":
        return np.maximum(abs(x) * 0.866 + abs(y) * 0.5, abs(y)) <= 0.9
    raise ValueError(f"shape: unknown {shape!r}")


def _yuv(rgb: np.ndarray) -> tuple[int, int, int]:
    """BT.601 limited-range (8-bit integer form) Y, U, V of one RGB colour."""
    r, g, b = (int(v) for v in rgb)
    return (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16, ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128,
            ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128)


class _Canvas:
    """One frame, either ``(H, W, 3)`` RGB or planar YUV 4:2:0 ``(H * 3 // 2, W)`` painted directly (no conversion).

    Args:
        size: side in pixels (even).
        fmt: ``"rgb24"`` or ``"yuv420p"``.
    """

    def __init__(self, size: int, fmt: str) -> None:
        if fmt == "rgb24":
            self.data = np.empty((size, size, 3), dtype=np.uint8)
            self.planes = [(self.data, 1)]
        elif fmt == "yuv420p":
            self.data = np.empty((size * 3 // 2, size), dtype=np.uint8)
            a, q = size * size, size * size // 4
            flat = self.data.reshape(-1)
            chroma = [flat[a + i * q: a + (i + 1) * q].reshape(size // 2, size // 2) for i in (0, 1)]
            self.planes = [(self.data[:size], 1), (chroma[0], 2), (chroma[1], 2)]
        else:
            raise ValueError(f"fmt: unknown {fmt!r}")
        self.fmt = fmt

    def _values(self, rgb: np.ndarray) -> list[np.ndarray | int]:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        return [rgb] if self.fmt == "rgb24" else list(_yuv(rgb))

    def fill(self, rgb: np.ndarray) -> None:
        """Paint the whole frame one colour."""
        for (plane, _), value in zip(self.planes, self._values(rgb)):
            plane[:] = value

    def stamp(self, mask: np.ndarray, cx: float, cy: float, rgb: np.ndarray) -> None:
        """Paint ``rgb`` where ``mask`` is set, centred at pixel ``(cx, cy)``; clipped at the borders."""
        for (plane, step), value in zip(self.planes, self._values(rgb)):
            m = mask if step == 1 else mask[::step, ::step]
            h, w = plane.shape[:2]
            k = m.shape[0] // 2
            x0, y0 = int(round(cx / step)) - k, int(round(cy / step)) - k
            xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + m.shape[1]), min(h, y0 + m.shape[0])
            if xa < xb and ya < yb:
                plane[ya:yb, xa:xb][m[ya - y0:yb - y0, xa - x0:xb - x0]] = value


def _flash_curve(n_frames: int, fps: int, times: list[float], decay_frames: float = 1.5) -> np.ndarray:
    """Per-frame flash level in [0, 1]: 1 on ``round(t * fps)`` of each time, decaying afterwards."""
    f = np.arange(n_frames)
    out = np.zeros(n_frames)
    for t in times:
        k = int(round(t * fps))
        if 0 <= k < n_frames:
            out = np.maximum(out, np.where(f >= k, np.exp(-(f - k) / decay_frames), 0.0))
    return out


def sfx_scene(labels: dict[str, Any], rng: np.random.Generator, *, size: int) -> dict[str, Any]:
    """Lay out the objects of a sound-effect clip (positions are drawn here; the result goes into the labels).

    Args:
        labels: labels from :func:`audiox.data.synth.sfx.make_sfx`.
        rng: random generator.
        size: frame side in pixels.
    """
    names = [c["class"] for c in labels["classes"]]
    cols = len(names)
    objects = []
    for i, name in enumerate(names):
        shape, colour = SFX_LOOK[name]
        cx = (i + 0.5) * size / cols + float(rng.uniform(-0.05, 0.05)) * size
        cy = float(rng.uniform(0.55, 0.75)) * size
        objects.append({"class": name, "shape": shape, "colour": list(colour), "x": round(cx, 1), "y": round(cy, 1)})
    grey = int(rng.integers(20, 60))
    return {"objects": objects, "background": [grey, grey, grey + 10], "radius": max(4, size // (4 * max(cols, 2)))}


def render_sfx(labels: dict[str, Any], scene: dict[str, Any], *, size: int, fps: int, seconds: float,
               fmt: str = "rgb24") -> np.ndarray:
    """Frames of a sound-effect scene: ``(F, size, size, 3)`` RGB or ``(F, size * 3 // 2, size)`` YUV 4:2:0 uint8.

    Args:
        labels: clip labels (``events``).
        scene: layout from :func:`sfx_scene`.
        size: frame side in pixels.
        fps: frames per second.
        seconds: clip length in s.
        fmt: ``"rgb24"`` or ``"yuv420p"``.
    """
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    radius = scene["radius"]
    canvas = _Canvas(size, fmt)
    frames = np.empty((n, *canvas.data.shape), dtype=np.uint8)
    flash_all = _flash_curve(n, fps, [e["t"] for e in labels["events"]])
    curves = []
    for obj in scene["objects"]:
        evs = [e for e in labels["events"] if e["class"] == obj["class"]]
        times = [e["t"] for e in evs]
        flash = _flash_curve(n, fps, times)
        level = np.full(n, 0.75)
        lift = np.zeros(n)
        if len(evs) == 1 and evs[0]["dur"] > 1.5:  # continuous: lit while sounding, dim otherwise
            on = (t >= evs[0]["t"]) & (t < evs[0]["t"] + evs[0]["dur"])
            level = np.where(on, 0.7, 0.2)
        else:  # bounce between consecutive events, touching the rest position at each one
            for a, b in zip(times[:-1], times[1:]):
                seg = (t > a) & (t < b)
                lift[seg] = np.sin(np.pi * (t[seg] - a) / (b - a)) * min(1.0, (b - a)) * size * 0.25
        curves.append((np.clip(level + 0.45 * flash, 0, 1), flash, lift))
    bg = np.array(scene["background"], dtype=np.float32)
    masks: dict[tuple[str, int], np.ndarray] = {}
    for f in range(n):
        canvas.fill(bg + 90 * flash_all[f])
        for obj, (level, flash, lift) in zip(scene["objects"], curves):
            r = int(round(radius * (1 + 0.35 * flash[f])))
            key = (obj["shape"], r)
            if key not in masks:
                masks[key] = _mask(obj["shape"], r)
            canvas.stamp(masks[key], obj["x"], obj["y"] - lift[f], np.array(obj["colour"]) * level[f] + 120 * flash[f])
        frames[f] = canvas.data
    return frames


def music_scene(labels: dict[str, Any], rng: np.random.Generator, *, size: int) -> dict[str, Any]:
    """Colours and icon layout of a music clip: warm palette for major, cool for minor.

    Args:
        labels: labels from :func:`audiox.data.synth.music.make_music`.
        rng: random generator.
        size: frame side in pixels.
    """
    warm = labels["mode"] == "major"
    hue = float(rng.uniform(0.0, 50.0) if warm else rng.uniform(180.0, 250.0))
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue / 360.0, 0.7, 0.45)
    bg = [int(r * 255), int(g * 255), int(b * 255)]
    disc = [min(255, c + 110) for c in bg]
    icons = []
    names = labels["instruments"]
    for i, name in enumerate(names):
        shape, colour = INSTRUMENT_LOOK[name]
        icons.append({"instrument": name, "shape": shape, "colour": list(colour),
                      "x": round((i + 0.5) * size / len(names), 1), "y": round(size * 0.86, 1)})
    return {"palette": "warm" if warm else "cool", "hue_deg": round(hue, 1), "background": bg, "disc": disc,
            "icons": icons}


def render_music(labels: dict[str, Any], scene: dict[str, Any], *, size: int, fps: int, seconds: float,
                 fmt: str = "rgb24") -> np.ndarray:
    """Frames of a music scene pulsing on ``labels["beat_times"]`` (shapes as :func:`render_sfx`).

    Args:
        labels: clip labels.
        scene: layout from :func:`music_scene`.
        size: frame side in pixels.
        fps: frames per second.
        seconds: clip length in s.
        fmt: ``"rgb24"`` or ``"yuv420p"``.
    """
    n = int(round(seconds * fps))
    pulse = _flash_curve(n, fps, labels["beat_times"], decay_frames=2.0)
    bg = np.array(scene["background"], dtype=np.float32)
    disc = np.array(scene["disc"], dtype=np.float32)
    icon_r = max(3, size // (3 * max(len(scene["icons"]), 3)))
    icon_masks = [(_mask(ic["shape"], icon_r), ic) for ic in scene["icons"]]
    canvas = _Canvas(size, fmt)
    frames = np.empty((n, *canvas.data.shape), dtype=np.uint8)
    masks: dict[int, np.ndarray] = {}
    for f in range(n):
        canvas.fill(bg + 60 * pulse[f])
        r = int(round(size * 0.18 * (1 + 0.4 * pulse[f])))
        if r not in masks:
            masks[r] = _mask("circle", r)
        canvas.stamp(masks[r], size / 2, size * 0.42, disc + 80 * pulse[f])
        for mask, ic in icon_masks:
            boost = 80 * pulse[f] if ic["instrument"] == "drums" else 0.0
            canvas.stamp(mask, ic["x"], ic["y"], np.array(ic["colour"]) + boost)
        frames[f] = canvas.data
    return frames


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range conversion (8-bit integer form) of ``(H, W, 3)`` uint8 RGB to planar 4:2:0.

    Args:
        rgb: RGB image with even height and width.

    Returns:
        ``(H * 3 // 2, W)`` uint8: the Y plane, then U and V (each ``H/2 x W/2``, stored as ``H/4`` rows of ``W``).
    """
    h, w, _ = rgb.shape
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16

    def box(c: np.ndarray) -> np.ndarray:  # 2x2 sums
        return c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]

    r, g, b = box(r), box(g), box(b)
    u = ((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128
    v = ((112 * r - 94 * g - 18 * b + 512) >> 10) + 128
    planes = [y.astype(np.uint8), u.reshape(h // 4, w).astype(np.uint8), v.reshape(h // 4, w).astype(np.uint8)]
    return np.concatenate(planes, axis=0)


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode uint8 frames, ``(F, H, W, 3)`` RGB or ``(F, H * 3 // 2, W)`` YUV 4:2:0, as H.264 MP4, byte-reproducibly.

    Reproducibility: our own RGB->YUV conversion and :data:`audiox.media.h264.REPRODUCIBLE` (bitexact muxing, one
    thread, a constant quantiser with the floating-point-driven decisions off).

    Args:
        path: output file.
        frames: RGB or YUV 4:2:0 frames.
        fps: frames per second.
    """
    from audiox.media.h264 import REPRODUCIBLE, H264Writer

    yuv_in = frames.ndim == 3
    height, width = (frames.shape[1] * 2 // 3, frames.shape[2]) if yuv_in else frames.shape[1:3]
    writer = H264Writer(path, fps=fps, width=width, height=height, settings=REPRODUCIBLE)
    for frame in frames:
        # convert here, not in swscale: its SIMD paths depend on buffer alignment, which can change the rounding
        writer.add(frame if yuv_in else rgb_to_yuv420p(frame), format="yuv420p")
    writer.close()


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 image as PNG (no metadata).

    Args:
        path: output file.
        image: RGB image.
    """
    from PIL import Image

    Image.fromarray(image).save(str(path), format="PNG", optimize=False, compress_level=6)
