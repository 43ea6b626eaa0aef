"""Video conditioner: CLIP vision tower per frame, a temporal transformer per token position, a projection.

Key-compatible with ``conditioner.conditioners.video_prompt.*``. An image is a still video (the frame
repeated). An all-zero video means "no video" and maps to the learned ``empty_visual_feat``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiox.config import ClipConditionerParams
from audiox.errors import ConfigError, InputError
from audiox.models.conditioners.features import FeatureMasking, all_zero, grad_enabled

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# CLIP ViT-B/32 geometry (openai/clip-vit-base-patch32 vision tower)
DEFAULT_CLIP_VISION = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, patch_size=32,
    image_size=224, projection_dim=512, hidden_act="quick_gelu", layer_norm_eps=1e-5, num_channels=3,
)


def build_clip_vision(overrides: dict[str, Any] | None = None) -> nn.Module:
    """An HF ``CLIPVisionModelWithProjection`` built from a config (no download); weights come from model.ckpt."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    kw = {**DEFAULT_CLIP_VISION, **(overrides or {})}
    config = CLIPVisionConfig(**kw)
    config._attn_implementation = "sdpa"
    return CLIPVisionModelWithProjection(config)


class _PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class _TemporalAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(dim_head)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class _TemporalFeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim),
                                 nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TemporalTransformer(nn.Module):
    """Pre-norm transformer over time: (N, T, D) -> (N, T, D), final LayerNorm."""

    def __init__(self, dim: int, depth: int = 4, heads: int = 16, dim_head: int = 64, mlp_dim: int = 3072) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            nn.ModuleList([_PreNorm(dim, _TemporalAttention(dim, heads, dim_head)),
                           _PreNorm(dim, _TemporalFeedForward(dim, mlp_dim))])
            for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class VideoConditioner(nn.Module):
    """Frames (B, T, 3, H, W), uint8 or float in 0..255 -> tokens (B, num_tokens, cond_dim), mask (B, 1).

    Halves (see :mod:`audiox.models.conditioners.features`): :meth:`frozen_features` (CLIP) and :meth:`tokens`.

    Args:
        params: conditioner config (fps x duration = T frames).
        cond_dim: output token width (768 in the release; equals the CLIP width).
        clip_overrides: CLIP vision config fields differing from ViT-B/32 (e.g. inferred from a checkpoint).
    """

    role = "video"
    feature_keys = ("video_features", "video_empty")

    def __init__(self, params: ClipConditionerParams, cond_dim: int, *, clip_overrides: dict | None = None) -> None:
        super().__init__()
        num_tokens = params.num_tokens
        clip = build_clip_vision({**(params.clip_config or {}), **(clip_overrides or {})})
        c = clip.config
        width = c.hidden_size
        self.frames = params.video_fps * params.duration
        self.image_size = c.image_size
        self.tokens_per_frame = (c.image_size // c.patch_size) ** 2 + 1
        self.num_tokens = num_tokens
        self.cond_dim = cond_dim
        if width != cond_dim:
            raise ConfigError(f"video conditioner: CLIP width {width} != conditioning.cond_dim {cond_dim}")
        # Registration order matches the official state-dict order.
        self.empty_visual_feat = nn.Parameter(torch.zeros(1, num_tokens, cond_dim))
        self.Temp_pos_embedding = nn.Parameter(torch.randn(1, self.frames, width))
        self.visual_encoder_model = clip
        self.proj = nn.Linear(self.frames * self.tokens_per_frame, num_tokens)
        self.Temp_transformer = TemporalTransformer(width, params.temporal_depth, params.temporal_heads,
                                                    params.temporal_dim_head, params.temporal_mlp_dim)
        self.frame_dim = params.frame_dim
        if params.frame_dim:  # extension: per-frame features for the input-concat route
            self.frame_proj = nn.Linear(width, params.frame_dim)
        self.register_buffer("clip_mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def clip_features(self, frames: torch.Tensor, *, grad: bool = False) -> torch.Tensor:
        """(N, 3, H, W) in 0..255 -> CLIP last_hidden_state before post_layernorm (N, tokens_per_frame, width).

        Args:
            frames: (N, 3, H, W) frames, uint8 or float, values 0..255.
            grad: keep gradients when the CLIP has trainable parameters (training).
        """
        x = frames.to(self.clip_mean.device, torch.float32) / 255.0
        x = (x - self.clip_mean) / self.clip_std
        vision = self.visual_encoder_model.vision_model
        with grad_enabled(vision, grad):
            return vision(pixel_values=x.to(vision.embeddings.patch_embedding.weight.dtype)).last_hidden_state

    def frozen_features(self, video: torch.Tensor, *, grad: bool = False, clip_batch: int = 0,
                        ) -> dict[str, torch.Tensor]:
        """The frozen half: frames -> CLIP hidden states of every frame (what pre-encoding stores).

        Args:
            video: (B, T, 3, H, W), T = fps x duration frames, H = W = CLIP image size, values 0..255.
            grad: keep gradients when the CLIP has trainable parameters (training).
            clip_batch: frames per CLIP call (0 = all at once); bounds memory for long batches.

        Returns:
            ``video_features`` (B, T, Q, W), Q = tokens_per_frame (zeros for an all-zero video: its CLIP pass is
            skipped, since :meth:`tokens` replaces it by the learned empty feature), and ``video_empty`` (B,) bool.
        """
        b, t = video.shape[:2]
        if t != self.frames or tuple(video.shape[2:]) != (3, self.image_size, self.image_size):
            raise InputError(f"video must be (B, {self.frames}, 3, {self.image_size}, {self.image_size}), "
                             f"got {tuple(video.shape)}")
        empty = all_zero(video)
        keep = (~empty).nonzero().flatten()  # empty videos take the learned empty feature: their CLIP pass is skipped
        if len(keep) == b:  # no empty video (the usual case): no zero tensor to fill
            feats = self._clip_frames(video, clip_batch, grad)
            return {"video_features": feats, "video_empty": empty.to(feats.device)}
        vision = self.visual_encoder_model.vision_model
        cfg = vision.config
        w = vision.embeddings.patch_embedding.weight
        out = torch.zeros(b, t, (cfg.image_size // cfg.patch_size) ** 2 + 1, cfg.hidden_size, dtype=w.dtype,
                          device=w.device)
        if len(keep):
            out[keep.to(out.device)] = self._clip_frames(video[keep.to(video.device)], clip_batch, grad).to(out.dtype)
        return {"video_features": out, "video_empty": empty.to(out.device)}

    def _clip_frames(self, video: torch.Tensor, clip_batch: int, grad: bool) -> torch.Tensor:
        """CLIP hidden states of every frame: (B, T, 3, H, W) -> (B, T, Q, W), ``clip_batch`` frames per call."""
        b, t = video.shape[:2]
        flat = video.reshape(b * t, *video.shape[2:])
        step = clip_batch or flat.shape[0]
        h = torch.cat([self.clip_features(flat[i:i + step], grad=grad) for i in range(0, flat.shape[0], step)])
        return h.view(b, t, *h.shape[1:])

    def tokens(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainable half: temporal transformer, projection to ``num_tokens``, the learned empty feature.

        Args:
            features: ``video_features`` (B, T, Q, W) and ``video_empty`` (B,) bool, as :meth:`frozen_features`.
            masking: training only: ``keep`` (B, T x Q) zeroes the other CLIP tokens; ``dropped`` items are empty.

        Returns:
            tokens (B, num_tokens, W) (``empty_visual_feat`` for empty items) and mask (B, 1) of ones.
        """
        y, _, _ = self.tokens_and_frames(features, masking=masking, frames=False)
        return y, torch.ones(y.shape[0], 1, device=y.device)

    def tokens_and_frames(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
                          frames: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """:meth:`tokens` and, when ``frames`` and ``frame_dim`` > 0, the per-frame features.

        Returns:
            tokens (B, num_tokens, W); frames (B, frame_dim, T): ``frame_proj`` of each frame's class token after
            the temporal transformer, zero for empty (absent or dropped) videos, or None; empty (B,) bool.
        """
        feats, empty = features["video_features"], features["video_empty"]
        b, t, q, w = feats.shape
        if masking is not None and masking.keep is not None:
            feats = feats.masked_fill(~masking.keep.to(feats.device).view(b, t, q, 1), 0)
        if masking is not None and masking.dropped is not None:
            empty = empty | masking.dropped.to(empty.device)
        empty = empty.to(feats.device)
        want_frames = frames and bool(self.frame_dim)
        if bool(empty.any()) and self.frame_dim:  # extension models skip the empty items' encoding: it is unused
            keep = (~empty).nonzero().flatten()
            dtype = self.Temp_pos_embedding.dtype
            y = self.empty_visual_feat.to(dtype).expand(b, -1, -1).clone()
            per_frame = feats.new_zeros(b, self.frame_dim, t, dtype=dtype) if want_frames else None
            if len(keep):
                y_k, f_k = self._encode(feats[keep], want_frames)
                y = y.index_copy(0, keep, y_k.to(y.dtype))
                if per_frame is not None:
                    per_frame = per_frame.index_copy(0, keep, f_k.to(per_frame.dtype))
            return y, per_frame, empty
        y, per_frame = self._encode(feats, want_frames)
        y = torch.where(empty.view(b, 1, 1), self.empty_visual_feat.to(y.dtype), y)
        if per_frame is not None:
            per_frame = per_frame.masked_fill(empty.view(b, 1, 1), 0.0)
        return y, per_frame, empty

    def _encode(self, feats: torch.Tensor, frames: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CLIP features (B, T, Q, W) -> tokens (B, num_tokens, W) and, when ``frames``, (B, frame_dim, T)."""
        b, t, q, w = feats.shape
        pos = self.Temp_pos_embedding
        h = feats.to(pos.dtype).transpose(1, 2).reshape(b * q, t, w)  # (b q) t w
        h = self.Temp_transformer(h + pos)
        h = h.view(b, q, t, w).transpose(1, 2).reshape(b, t * q, w)  # b (t q) w, contiguous
        # Official quirk: raw row-major reinterpretation, not a transpose.
        y = self.proj(h.reshape(b * w, t * q)).reshape(b, self.num_tokens, w)
        per_frame = self.frame_proj(h.view(b, t, q, w)[:, :, 0]).transpose(1, 2) if frames else None  # (B, F, T)
        return y, per_frame

    def forward(self, video: torch.Tensor, *, clip_batch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens(frozen_features(video))``: (B, T, 3, H, W) 0..255 -> tokens (B, num_tokens, W), mask (B, 1)."""
        return self.tokens(self.frozen_features(video, clip_batch=clip_batch))
