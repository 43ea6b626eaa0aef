"""Line plots as PNG with PIL only (no matplotlib): stacked panels sharing one x axis, a legend per panel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def line_plot(x: Sequence[float], panels: Sequence[tuple[str, dict[str, Sequence[float]]]], path: str | Path, *,
              xlabel: str = "", width: int = 900, panel_height: int = 300) -> Path:
    """Write a PNG with one panel per ``(title, {series name: y values})``; y values align with ``x``.

    Non-finite values are left out of a line. The file is written atomically.

    Args:
        x: the shared x values (e.g. training steps).
        panels: (title, series) per panel, top to bottom.
        path: the PNG to write.
        xlabel: x-axis label under the last panel.
    """
    from PIL import Image, ImageDraw

    from audiox.utils.files import atomic_write

    left, right, top, bottom = 70, 200, 28, 34
    img = Image.new("RGB", (width, panel_height * len(panels)), "white")
    draw = ImageDraw.Draw(img)
    xs = [float(v) for v in x]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    for p, (title, series) in enumerate(panels):
        y0 = p * panel_height
        plot_w, plot_h = width - left - right, panel_height - top - bottom
        vals = [float(v) for ys in series.values() for v in ys if math.isfinite(float(v))]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        draw.rectangle([left, y0 + top, left + plot_w, y0 + top + plot_h], outline=(0, 0, 0))
        draw.text((left, y0 + 6), title, fill=(0, 0, 0))
        for frac in (0.0, 0.5, 1.0):
            yv = lo + (hi - lo) * frac
            yy = y0 + top + plot_h * (1 - frac)
            draw.line([left - 4, yy, left, yy], fill=(0, 0, 0))
            draw.text((4, yy - 6), f"{yv:.4g}", fill=(0, 0, 0))
        for frac in (0.0, 0.5, 1.0):
            xx = left + plot_w * frac
            draw.text((xx - 10, y0 + top + plot_h + 4), f"{x_lo + (x_hi - x_lo) * frac:.4g}", fill=(0, 0, 0))

        for i, (name, ys) in enumerate(series.items()):
            color = COLORS[i % len(COLORS)]
            pts = [(left + plot_w * (xv - x_lo) / (x_hi - x_lo), y0 + top + plot_h * (1 - (float(yv) - lo) / (hi - lo)))
                   for xv, yv in zip(xs, ys) if math.isfinite(float(yv))]
            if len(pts) > 1:
                draw.line(pts, fill=color, width=2)
            for pt in pts[-1:] if len(pts) > 1 else pts:
                draw.ellipse([pt[0] - 2, pt[1] - 2, pt[0] + 2, pt[1] + 2], fill=color)
            ly = y0 + top + 14 * i
            draw.line([width - right + 10, ly + 6, width - right + 30, ly + 6], fill=color, width=3)
            draw.text((width - right + 36, ly), name, fill=(0, 0, 0))
    if xlabel:
        draw.text((left + (width - left - right) // 2, img.height - 14), xlabel, fill=(0, 0, 0))
    out = Path(path)
    atomic_write(out, lambda tmp: img.save(tmp, format="PNG"), parents=True)
    return out
