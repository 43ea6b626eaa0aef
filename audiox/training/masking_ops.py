"""Seeded masking primitives for multi-modal masked training (the AudioX paper, arXiv 2503.10522 v2).

Every function is pure: it returns new tensors (or strings) and never modifies its input in place. Every random
draw goes through the explicit ``generator`` argument; nothing touches the global RNG. Random numbers are drawn on
``generator.device`` and then moved to the data's device, so a CPU generator works for CUDA data (and the masks for
a given seed are the same whatever device the data lives on).

Counts are rounded half-up (``floor(x + 0.5)``), not with Python's banker's ``round``, so e.g. ratio 0.5 of 49
patches masks 25 patches; the realised count per item is exact, not a random variable.

Notation: B batch, T frames (video) or samples (audio), C channels, H/W pixels, N tokens, D features.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from audiox.errors import InputError

__all__ = [
    "TOKEN_MODES",
    "cfg_dropout",
    "count_for_ratio",
    "drop_modalities",
    "mask_audio_spans",
    "mask_text_words",
    "mask_video_patches",
    "mask_video_tokens",
    "text_word_mask_count",
]

TOKEN_MODES = ("zero", "drop")


def count_for_ratio(ratio: float, n: int) -> int:
    """Number of elements to mask out of ``n`` for ``ratio``: ``floor(ratio * n + 0.5)`` (half-up rounding).

    Args:
        ratio: fraction in [0, 1].
        n: number of maskable elements (>= 0).
    """
    return min(n, int(math.floor(ratio * n + 0.5)))


def text_word_mask_count(ratio: float, n_words: int) -> int:
    """Number of words to mask: ``count_for_ratio``, but never all words unless ``ratio == 1``.

    Args:
        ratio: fraction in [0, 1].
        n_words: number of whitespace-separated words (>= 0).
    """
    k = count_for_ratio(ratio, n_words)
    if ratio < 1.0 and n_words > 0:
        k = min(k, n_words - 1)
    return k


def _check_ratio(name: str, ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= float(ratio) <= 1.0:
        raise InputError(f"{name}: expected a number in [0, 1], got {ratio!r}")


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise InputError(f"generator: expected a torch.Generator, got {type(generator).__name__}")


def _random_subset_mask(rows: int, n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """(rows, n) bool on ``generator.device`` with exactly ``k`` True per row, uniformly chosen."""
    scores = torch.rand(rows, n, generator=generator, device=generator.device)
    mask = torch.zeros(rows, n, dtype=torch.bool, device=generator.device)
    if k > 0:
        idx = scores.topk(k, dim=1).indices
        mask.scatter_(1, idx, True)  # fills a fresh local tensor, not an input
    return mask


def mask_video_patches(
    frames: torch.Tensor, ratio: float, patch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero random square pixel patches, independently per frame (``input-patch`` style, before the encoder).

    Exactly ``count_for_ratio(ratio, (H // p) * (W // p))`` patches are zeroed in every frame.

    Args:
        frames: (B, T, C, H, W) video frames, float or uint8; H and W must be multiples of ``patch_size``.
        ratio: fraction of patches to zero per frame, in [0, 1].
        patch_size: patch side in pixels (32 = one CLIP ViT-B/32 patch on 224x224 frames, a 7x7 grid).
        generator: source of randomness.

    Returns:
        ``(frames_masked, mask)``: frames_masked has the shape and dtype of ``frames``; mask is
        (B, T, H // p, W // p) bool, True where the patch was zeroed.
    """
    _check_generator(generator)
    _check_ratio("ratio", ratio)
    if frames.ndim != 5:
        raise InputError(f"frames: expected shape (B, T, C, H, W), got {tuple(frames.shape)}")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise InputError(f"patch_size: expected a positive int, got {patch_size!r}")
    b, t, _, h, w = frames.shape
    if h % patch_size or w % patch_size:
        raise InputError(f"frames: H x W = {h} x {w} is not a multiple of patch_size {patch_size}")
    gh, gw = h // patch_size, w // patch_size
    k = count_for_ratio(ratio, gh * gw)
    mask = _random_subset_mask(b * t, gh * gw, k, generator).view(b, t, gh, gw).to(frames.device)
    pixel_mask = mask.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)  # (B, T, H, W)
    out = frames.masked_fill(pixel_mask[:, :, None], 0)  # (B, T, C, H, W), a new tensor
    return out, mask


def mask_video_tokens(
    tokens: torch.Tensor, ratio: float, mode: Literal["zero", "drop"], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask random tokens per item (after the video encoder).

    ``"zero"`` (``input-pad``) zeroes exactly ``count_for_ratio(ratio, N)`` tokens per item and keeps the shape;
    ``"drop"`` (``input``, MAE-style) removes them and returns the kept tokens in their original order.

    Args:
        tokens: (B, N, D) token features.
        ratio: fraction of tokens to mask per item, in [0, 1].
        mode: ``"zero"`` or ``"drop"``.
        generator: source of randomness.

    Returns:
        ``(tokens_out, keep_mask)``: tokens_out is (B, N, D) for ``"zero"`` and (B, N - k, D) for ``"drop"``;
        keep_mask is (B, N) bool, True for kept tokens.
    """
    _check_generator(generator)
    _check_ratio("ratio", ratio)
    if mode not in TOKEN_MODES:
        raise InputError(f"mode: unknown {mode!r}; expected one of {', '.join(TOKEN_MODES)}")
    if tokens.ndim != 3:
        raise InputError(f"tokens: expected shape (B, N, D), got {tuple(tokens.shape)}")
    b, n, d = tokens.shape
    k = count_for_ratio(ratio, n)
    keep = ~_random_subset_mask(b, n, k, generator).to(tokens.device)  # (B, N)
    if mode == "zero":
        return tokens.masked_fill(~keep[:, :, None], 0), keep
    return tokens[keep].view(b, n - k, d), keep  # boolean indexing keeps row-major (original) order


def _mask_words(
    text: str, ratio: float, generator: torch.Generator, mask_token: str
) -> tuple[str, int, int]:
    words = text.split()
    k = text_word_mask_count(ratio, len(words))
    if k == 0:
        return text, 0, len(words)
    chosen = set(torch.randperm(len(words), generator=generator, device=generator.device)[:k].tolist())
    if mask_token:
        kept = [mask_token if i in chosen else wd for i, wd in enumerate(words)]
    else:
        kept = [wd for i, wd in enumerate(words) if i not in chosen]
    return " ".join(kept), k, len(words)


def mask_text_words(
    texts: list[str], ratio: float, generator: torch.Generator, mask_token: str = ""
) -> list[str]:
    """Remove (or replace by ``mask_token``) random words of each text, keeping word order.

    Words are whitespace-separated; a masked text is re-joined with single spaces (an unmasked one is returned
    as is). Exactly ``text_word_mask_count(ratio, n_words)`` words are masked per text: never all of them unless
    ``ratio == 1``. Texts with nothing to mask draw no random numbers.

    Args:
        texts: B prompts.
        ratio: fraction of words to mask per text, in [0, 1].
        generator: source of randomness.
        mask_token: replacement word; ``""`` removes masked words (e.g. ``"<unk>"`` reproduces T5-unk masking).

    Returns:
        A new list of B strings.
    """
    _check_generator(generator)
    _check_ratio("ratio", ratio)
    if not isinstance(texts, (list, tuple)) or not all(isinstance(s, str) for s in texts):
        raise InputError("texts: expected a list of str")
    return [_mask_words(s, ratio, generator, mask_token)[0] for s in texts]


def _composition(total: int, parts: int, min_part: int, generator: torch.Generator) -> list[int]:
    """Uniformly random split of ``total`` into ``parts`` ordered integers, each >= ``min_part``."""
    free = total - parts * min_part  # >= 0 by the caller's construction
    if parts == 1:
        return [total]
    # stars and bars: choose parts - 1 bar positions among free + parts - 1 slots
    bars = torch.randperm(free + parts - 1, generator=generator, device=generator.device)[: parts - 1]
    bars = sorted(bars.tolist())
    edges = [-1, *bars, free + parts - 1]
    return [edges[i + 1] - edges[i] - 1 + min_part for i in range(parts)]


def _random_spans(length: int, total: int, n_spans: int, generator: torch.Generator) -> list[tuple[int, int]]:
    """``n_spans`` (start, end) spans of random lengths summing to ``total``, separated by >= 1 unmasked sample."""
    if total == 0:
        return []
    n = min(n_spans, total, length - total + 1)  # every span >= 1 long, every inner gap >= 1
    lengths = _composition(total, n, 1, generator)
    # n + 1 gaps summing to length - total; the n - 1 inner ones are >= 1
    outer_free = length - total - (n - 1)
    gaps = _composition(outer_free, n + 1, 0, generator)  # extra gap lengths, each >= 0
    spans, pos = [], 0
    for i in range(n):
        pos += gaps[i] + (1 if i > 0 else 0)
        spans.append((pos, pos + lengths[i]))
        pos += lengths[i]
    return spans


def mask_audio_spans(
    audio: torch.Tensor, ratio_range: tuple[float, float], n_spans: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero random contiguous spans of each waveform (before the VAE encoder).

    Per item: draw a ratio r ~ U[lo, hi], mask ``count_for_ratio(r, T)`` samples split into ``n_spans``
    non-overlapping spans (random lengths >= 1, random placement, at least one unmasked sample between two spans,
    so they stay distinct runs). If the masked total is too small or too large for that, fewer spans are used:
    ``min(n_spans, total, T - total + 1)`` (a fully masked item is one span).

    Args:
        audio: (B, C, T) waveform, T in samples.
        ratio_range: (lo, hi) with 0 <= lo <= hi <= 1: range of the total masked fraction of T.
        n_spans: number of spans per item (>= 1).
        generator: source of randomness.

    Returns:
        ``(audio_masked, mask)``: audio_masked is (B, C, T); mask is (B, T) bool, True on masked samples
        (the same for all channels).
    """
    _check_generator(generator)
    if not isinstance(ratio_range, (tuple, list)) or len(ratio_range) != 2:
        raise InputError(f"ratio_range: expected (lo, hi), got {ratio_range!r}")
    lo, hi = ratio_range
    _check_ratio("ratio_range[0]", lo)
    _check_ratio("ratio_range[1]", hi)
    if lo > hi:
        raise InputError(f"ratio_range: lo {lo} > hi {hi}")
    if isinstance(n_spans, bool) or not isinstance(n_spans, int) or n_spans < 1:
        raise InputError(f"n_spans: expected a positive int, got {n_spans!r}")
    if audio.ndim != 3:
        raise InputError(f"audio: expected shape (B, C, T), got {tuple(audio.shape)}")
    b, _, length = audio.shape
    ratios = lo + (hi - lo) * torch.rand(b, generator=generator, device=generator.device, dtype=torch.float64)
    mask = torch.zeros(b, length, dtype=torch.bool)
    for i, r in enumerate(ratios.tolist()):
        for start, end in _random_spans(length, count_for_ratio(r, length), n_spans, generator):
            mask[i, start:end] = True
    mask = mask.to(audio.device)
    return audio.masked_fill(mask[:, None, :], 0), mask


def drop_modalities(
    batch_size: int,
    probs: dict[str, float],
    generator: torch.Generator,
    *,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Independent Bernoulli draws per modality and item; True means "replace by the empty input".

    Modalities are drawn in sorted-name order, so the result does not depend on the dict's insertion order.

    Args:
        batch_size: B (>= 0).
        probs: modality name -> drop probability in [0, 1].
        generator: source of randomness.
        device: device of the returned flags (default: ``generator.device``).

    Returns:
        modality name -> (B,) bool.
    """
    _check_generator(generator)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise InputError(f"batch_size: expected an int >= 0, got {batch_size!r}")
    out = {}
    for name in sorted(probs):
        _check_ratio(f"probs[{name!r}]", probs[name])
        u = torch.rand(batch_size, generator=generator, device=generator.device, dtype=torch.float64)
        out[name] = (u < probs[name]).to(device if device is not None else generator.device)
    return out


def cfg_dropout(
    batch_size: int, prob: float, generator: torch.Generator, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Per-item Bernoulli(prob) flags for classifier-free-guidance dropout of the whole context.

    Where True, the caller replaces the entire concatenated cross-attention context (all modalities at once) with
    zeros, the null condition used by CFG at inference in the release.

    Args:
        batch_size: B (>= 0).
        prob: drop probability in [0, 1] (official training default 0.1).
        generator: source of randomness.
        device: device of the returned flags (default: ``generator.device``).

    Returns:
        (B,) bool.
    """
    return drop_modalities(batch_size, {"context": prob}, generator, device=device)["context"]
