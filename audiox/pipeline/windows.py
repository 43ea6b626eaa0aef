"""Window planning for long outputs, inpainting and continuation, and crossfaded assembly.

A generation is a canvas of ``total`` samples. Windows of the model's length cover it with an overlap; the
overlap (already generated) and any caller-given audio are "known" regions that a window keeps, through latent
replacement in the denoiser. Audio segments are joined with equal-power crossfades.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    start: int  # sample offset in the canvas
    length: int  # samples the model generates (the model window)


def plan_windows(total: int, window: int, overlap: int) -> list[Window]:
    """Windows covering ``total`` samples: first at 0, hop = window - overlap, the last may extend past the end."""
    if total <= window:
        return [Window(0, window)]
    hop = window - overlap
    n = 1 + math.ceil((total - window) / hop)
    return [Window(i * hop, window) for i in range(n)]


def known_latent_mask(known: torch.Tensor, start: int, n_latents: int, ratio: int) -> torch.Tensor:
    """(N,) bool: latent frame j of a window at ``start`` is known when all its samples are known (a frame that
    reaches past the canvas is not). Reads only the window's samples.

    Args:
        known: (total,) bool per canvas sample.
    """
    out = torch.zeros(n_latents, dtype=torch.bool)
    seg = known[start: start + n_latents * ratio]
    whole = seg.shape[0] // ratio
    out[:whole] = seg[: whole * ratio].reshape(whole, ratio).all(dim=1)
    return out


def known_run_end(known: torch.Tensor, start: int, chunk: int = 1 << 16) -> int:
    """End (exclusive) of the run of known samples that begins at ``start`` (``start`` itself when that sample is
    unknown or past the end). Reads the mask ``chunk`` samples at a time, so its cost is the run's length, not the
    canvas's.

    Args:
        known: (total,) bool per canvas sample.
    """
    idx = start
    while idx < known.shape[0]:
        part = known[idx: idx + chunk]
        gaps = (~part).nonzero()
        if gaps.numel():
            return idx + int(gaps[0, 0])
        idx += part.shape[0]
    return idx


def crossfade_paste(canvas: torch.Tensor, segment: torch.Tensor, start: int, fade: int) -> None:
    """Write ``segment`` (B, C, L) into ``canvas`` (B, C, T) at ``start``; the first ``fade`` samples are
    crossfaded (equal power) with what the canvas already holds there. Writes past the end are dropped."""
    end = min(canvas.shape[-1], start + segment.shape[-1])
    seg = segment[..., : end - start]
    fade = max(0, min(fade, seg.shape[-1]))
    if fade:
        t = torch.linspace(0, 1, fade, dtype=canvas.dtype)
        w_in, w_out = torch.sin(t * math.pi / 2), torch.cos(t * math.pi / 2)
        canvas[..., start:start + fade] = canvas[..., start:start + fade] * w_out + seg[..., :fade] * w_in
    canvas[..., start + fade:end] = seg[..., fade:]


def restore_known(audio: torch.Tensor, reference: torch.Tensor, known: torch.Tensor, fade: int) -> torch.Tensor:
    """Put the caller's audio back in the known regions; the last ``fade`` samples of each known region before a
    generated one are a crossfade (inside the known side, where the generation already follows the original).

    Args:
        audio: (B, C, T) generated canvas; reference: (B, C, T) caller audio; known: (T,) bool.
    """
    if not bool(known.any()):
        return audio
    w = known_weight(known, fade).to(audio.dtype)
    return audio * (1 - w) + reference * w


def known_weight(known: torch.Tensor, fade: int) -> torch.Tensor:
    """(T,) weight: 0 on unknown samples, 1 on known ones at least ``fade`` samples from an unknown one, and a
    sin^2 ramp in between."""
    n = known.shape[0]
    if fade <= 0 or bool(known.all()):
        return known.float()
    idx = torch.arange(n)
    far = 4 * n
    prev_unknown = torch.cummax(torch.where(~known, idx, torch.full_like(idx, -far)), 0).values
    next_unknown = torch.cummin(torch.where(~known, idx, torch.full_like(idx, far)).flip(0), 0).values.flip(0)
    dist = torch.minimum(idx - prev_unknown, next_unknown - idx).float()
    w = torch.sin((dist / fade).clamp(max=1) * math.pi / 2) ** 2
    return torch.where(known, w, torch.zeros_like(w))
