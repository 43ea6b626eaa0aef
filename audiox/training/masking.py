"""Multi-modal masked training (the AudioX paper, arXiv 2503.10522 v2): configuration and the batch-level entry point.

AudioX v2's key idea masks "patches in video frames, tokens in text, or segments in audio" during training so that
the model learns robust cross-modal representations. The official release has none of it; the mechanism below
follows the paper and the authors' later research code (its mask types, defaults and final configurations), and
adds the release's whole-context CFG dropout.

Masking is never active at inference: :func:`apply_masking` with ``training=False`` returns its input object.
The seeded primitives live in :mod:`audiox.training.masking_ops` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from audiox.errors import ConfigError, InputError
from audiox.training.masking_ops import (
    TOKEN_MODES,
    _mask_words,
    cfg_dropout,
    count_for_ratio,
    drop_modalities,
    mask_audio_spans,
    mask_text_words,
    mask_video_patches,
    mask_video_tokens,
    text_word_mask_count,
)

__all__ = [
    "MODALITY_KEYS",
    "MaskingConfig",
    "apply_masking",
    "cfg_dropout",
    "count_for_ratio",
    "drop_modalities",
    "mask_audio_spans",
    "mask_text_words",
    "mask_video_patches",
    "mask_video_tokens",
    "text_word_mask_count",
]

# batch keys that apply_masking knows; every other key passes through untouched
MODALITY_KEYS = ("video", "video_tokens", "text", "audio_prompt")


@dataclass(frozen=True)
class MaskingConfig:
    """Training-time masking of the conditioning inputs. Every ratio and probability is in [0, 1].

    The v2 paper does not state its ratios; each default below names its source.
    """

    # master switch; False makes apply_masking the identity (CFG dropout included)
    enabled: bool = True
    # fraction of pixel patches zeroed per frame, before CLIP. The research code's helper for mask_type
    # "input-patch" defaults to r = 0.6 (the v2 ratio is unknown; its final configs set video masking to 0)
    video_patch_ratio: float = 0.6
    # patch side in pixels. The paper: "random 32x32 pixel patches (out of 49)" = one CLIP ViT-B/32 patch on
    # the 224x224 frames the official video conditioner receives
    video_patch_size: int = 32
    # fraction of video tokens masked after the encoder (batch key "video_tokens", pre-encoded features).
    # The research code's final configs use mask_ratio 0. Off by default because
    # "input-patch" and "input"/"input-pad" are alternative mask_types in the research code, not stacked
    video_token_ratio: float = 0.0
    # "zero" = research "input-pad" (masked tokens zeroed in place, shapes fixed); "drop" = research "input"
    # (MAE-style removal, which changes the projection's input size). "zero" chosen so the architecture does not
    # depend on the ratio ("input" changes the projection's input size, which then leaks into inference)
    video_token_mode: Literal["zero", "drop"] = "zero"
    # fraction of words masked per prompt. The paper gives no v2 number (final research configs: 0). Our choice:
    # 0.15, the BERT masking rate that the research code's docstring cites for this very function
    text_word_ratio: float = 0.15
    # replacement for masked words; "" removes them (tokenizer-agnostic choice). The research code
    # replaced them with T5's unk token; set "<unk>" to reproduce that
    text_mask_token: str = ""
    # (lo, hi) of the per-item fraction of the audio prompt zeroed. The research code's final configs:
    # mask_ratio_start 0.25, mask_ratio_end 0.75
    audio_span_ratio_range: tuple[float, float] = (0.25, 0.75)
    # number of contiguous spans the masked audio is split into. The paper: "one contiguous span"
    audio_n_spans: int = 1
    # per-item probability of replacing a whole modality by its empty input (all-zero video, "", all-zero audio).
    # No per-modality dropout exists in the official or research code; 0 keeps that, and the data's own
    # modality-absent samples (the release trains on text-only, video-only, ... items) still teach the empty features
    drop_video_prob: float = 0.0
    drop_text_prob: float = 0.0
    drop_audio_prob: float = 0.0
    # per-item probability of zeroing the whole cross-attention context (the CFG null condition).
    # The release's training wrapper (stable-audio-tools): cfg_dropout_prob 0.1, all modalities together
    cfg_dropout_prob: float = 0.1
    # which text an item shows (audiox.data.captions.pick_text; the data picks it, so it applies with masking off):
    # an item whose caption is a generic task prompt (video or image only) keeps it with task_prompt_prob, else
    # shows its description; a description is replaced by one of the clip's prompts in everyday words with
    # everyday_prob. The defaults (1, 0) show the manifest caption, as before (v2)
    task_prompt_prob: float = 1.0
    everyday_prob: float = 0.0

    def __post_init__(self) -> None:
        _validate(dataclasses.asdict(self), "masking")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, path: str = "masking") -> MaskingConfig:
        """Build from a JSON-style mapping; absent keys take the defaults.

        Args:
            d: field name -> value; ``audio_span_ratio_range`` may be a list.
            path: dotted prefix used in error messages (e.g. ``"training.masking"``).

        Raises:
            ConfigError: naming the dotted key, for an unknown key or a bad value.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in names:
                raise ConfigError(f"{path}.{key}: unknown key; expected one of {', '.join(names)}")
        values = {f.name: f.default for f in dataclasses.fields(cls)}
        values.update(d)
        rng = values["audio_span_ratio_range"]
        if isinstance(rng, list):
            values["audio_span_ratio_range"] = tuple(rng)
        _validate(values, path)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping that :meth:`from_dict` accepts."""
        d = dataclasses.asdict(self)
        d["audio_span_ratio_range"] = list(self.audio_span_ratio_range)
        return d


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _validate(v: Mapping[str, Any], path: str) -> None:
    """Raise ConfigError naming ``path.key`` for the first bad value in ``v``."""

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{path}.{key}: {msg}, got {v[key]!r}")

    if not isinstance(v["enabled"], bool):
        fail("enabled", "expected true or false")
    for key in ("video_patch_ratio", "video_token_ratio", "text_word_ratio", "drop_video_prob",
                "drop_text_prob", "drop_audio_prob", "cfg_dropout_prob", "task_prompt_prob", "everyday_prob"):
        if not _is_number(v[key]) or not 0.0 <= v[key] <= 1.0:
            fail(key, "expected a number in [0, 1]")
    for key in ("video_patch_size", "audio_n_spans"):
        if not isinstance(v[key], int) or isinstance(v[key], bool) or v[key] < 1:
            fail(key, "expected a positive integer")
    if v["video_token_mode"] not in TOKEN_MODES:
        fail("video_token_mode", f"expected one of {', '.join(TOKEN_MODES)}")
    if not isinstance(v["text_mask_token"], str) or len(v["text_mask_token"].split()) > 1:
        fail("text_mask_token", "expected a string without whitespace")
    rng = v["audio_span_ratio_range"]
    if (
        not isinstance(rng, tuple)
        or len(rng) != 2
        or not all(_is_number(x) and 0.0 <= x <= 1.0 for x in rng)
        or rng[0] > rng[1]
    ):
        fail("audio_span_ratio_range", "expected [lo, hi] with 0 <= lo <= hi <= 1")


def _row_ratio(mask: torch.Tensor) -> torch.Tensor:
    """(B, ...) bool -> (B,) float32 fraction of True per item (0 for empty items)."""
    n = math.prod(mask.shape[1:])
    return mask.reshape(mask.shape[0], -1).sum(1, dtype=torch.float32) / max(n, 1)


def _batch_size(batch: Mapping[str, Any]) -> tuple[int, torch.device]:
    sizes: dict[str, int] = {}
    device = torch.device("cpu")
    for key, ndim in (("video", 5), ("video_tokens", 3), ("audio_prompt", 3)):
        if key in batch:
            x = batch[key]
            if not isinstance(x, torch.Tensor) or x.ndim != ndim:
                raise InputError(f"batch[{key!r}]: expected a {ndim}-d tensor")
            if not sizes:
                device = x.device
            sizes[key] = x.shape[0]
    if "text" in batch:
        texts = batch["text"]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(s, str) for s in texts):
            raise InputError("batch['text']: expected a list of str")
        sizes["text"] = len(texts)
    if not sizes:
        raise InputError(f"batch: has none of the keys {', '.join(MODALITY_KEYS)}")
    if len(set(sizes.values())) > 1:
        raise InputError(f"batch: inconsistent batch sizes {sizes}")
    return next(iter(sizes.values())), device


def apply_masking(
    batch: Mapping[str, Any], cfg: MaskingConfig, generator: torch.Generator, *, training: bool
) -> dict[str, Any]:
    """Mask, then drop, the conditioning inputs of a training batch; draw the CFG dropout flags.

    Order of random draws (fixed, for reproducibility): video patches, video tokens, text words, audio spans,
    modality dropout (sorted names), CFG dropout. A step whose ratio is 0 draws nothing. A dropped modality becomes
    the empty input that the conditioners map to their learned empty features: all-zero video / video tokens,
    ``""`` text, all-zero audio prompt. The CFG flags are only reported: the caller zeroes the whole concatenated
    context for those items (the CFG null, distinct from the empty features).

    Args:
        batch: optional keys ``video`` (B, T, 3, H, W) float or uint8, ``video_tokens`` (B, N, D) pre-encoded
            video features, ``text`` list of B str, ``audio_prompt`` (B, C, T) waveform; other keys pass through.
        cfg: masking configuration.
        generator: source of randomness (a CPU generator works for data on any device).
        training: False at inference.

    Returns:
        ``batch`` itself when ``training`` is False or ``cfg.enabled`` is False. Otherwise a new dict with the
        masked inputs (new objects; the inputs are untouched) and ``mask_info``: realised per-item ratios
        (B,) float32 ``video_patch_ratio`` / ``video_token_ratio`` / ``text_word_ratio`` / ``audio_span_ratio``,
        masks ``video_patch_mask`` (B, T, H/p, W/p) / ``video_token_keep`` (B, N) / ``audio_span_mask`` (B, T)
        (True = masked, except ``keep``), ``dropped`` {modality: (B,) bool} and ``cfg_dropped`` (B,) bool,
        each entry present only for the modalities in ``batch``.
    """
    if not training or not cfg.enabled:
        return batch  # masking is never active at inference
    if "mask_info" in batch:
        raise InputError("batch: already has 'mask_info' (apply_masking applied twice?)")
    b, device = _batch_size(batch)
    out = dict(batch)
    info: dict[str, Any] = {}

    # 1. masking within each present modality
    if "video" in batch:
        v = batch["video"]
        if cfg.video_patch_ratio > 0:
            out["video"], m = mask_video_patches(v, cfg.video_patch_ratio, cfg.video_patch_size, generator)
        else:
            p = cfg.video_patch_size
            m = torch.zeros(b, v.shape[1], v.shape[3] // p, v.shape[4] // p, dtype=torch.bool, device=v.device)
        info["video_patch_mask"] = m
        info["video_patch_ratio"] = _row_ratio(m)
    if "video_tokens" in batch:
        tok = batch["video_tokens"]
        if cfg.video_token_ratio > 0:
            out["video_tokens"], keep = mask_video_tokens(tok, cfg.video_token_ratio, cfg.video_token_mode, generator)
        else:
            keep = torch.ones(tok.shape[:2], dtype=torch.bool, device=tok.device)
        info["video_token_keep"] = keep
        info["video_token_ratio"] = _row_ratio(~keep)
    if "text" in batch:
        results = [_mask_words(s, cfg.text_word_ratio, generator, cfg.text_mask_token) for s in batch["text"]]
        out["text"] = [r[0] for r in results]
        info["text_word_ratio"] = torch.tensor([k / n if n else 0.0 for _, k, n in results], device=device)
    if "audio_prompt" in batch:
        a = batch["audio_prompt"]
        if cfg.audio_span_ratio_range[1] > 0:
            out["audio_prompt"], m = mask_audio_spans(a, cfg.audio_span_ratio_range, cfg.audio_n_spans, generator)
        else:
            m = torch.zeros(b, a.shape[2], dtype=torch.bool, device=a.device)
        info["audio_span_mask"] = m
        info["audio_span_ratio"] = _row_ratio(m)

    # 2. whole-modality dropout to the empty inputs
    probs = {}
    if "video" in batch or "video_tokens" in batch:
        probs["video"] = cfg.drop_video_prob
    if "text" in batch:
        probs["text"] = cfg.drop_text_prob
    if "audio_prompt" in batch:
        probs["audio_prompt"] = cfg.drop_audio_prob
    dropped = drop_modalities(b, probs, generator, device=device)
    for key, ndim in (("video", 5), ("video_tokens", 3), ("audio_prompt", 3)):
        flags = dropped.get("video" if key == "video_tokens" else key)
        if key in batch and flags is not None and bool(flags.any()):
            out[key] = out[key].masked_fill(flags.to(out[key].device).view(b, *([1] * (ndim - 1))), 0)
    if "text" in batch:
        out["text"] = ["" if d else s for s, d in zip(out["text"], dropped["text"].tolist())]
    info["dropped"] = dropped

    # 3. CFG dropout flags for the whole context
    info["cfg_dropped"] = cfg_dropout(b, cfg.cfg_dropout_prob, generator, device=device)
    out["mask_info"] = info
    return out
