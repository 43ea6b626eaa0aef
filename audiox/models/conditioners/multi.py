"""MultiConditioner: one conditioner per id (``conditioner.conditioners.{id}``) and the routing of their outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from audiox.config import ConditioningConfig, DiffusionConfig
from audiox.errors import ConfigError
from audiox.models.conditioners.audio import AudioConditioner
from audiox.models.conditioners.features import FeatureMasking, Role
from audiox.models.conditioners.number import NumberConditioner
from audiox.models.conditioners.text import T5Conditioner
from audiox.models.conditioners.video import VideoConditioner

FRAMES = "/frames"  # output key suffix of a video conditioner's per-frame features
SENTENCE = "/sentence"  # output key suffix of a text conditioner's frozen sentence embedding (its global condition)


def build_conditioner(cond_type: str, params: Any, cond_dim: int, *, clip_overrides: dict | None = None) -> nn.Module:
    """One conditioner from its typed config. Unknown types are rejected by the config parser already."""
    if cond_type == "clip":
        return VideoConditioner(params, cond_dim, clip_overrides=clip_overrides)
    if cond_type == "t5":
        return T5Conditioner(params, cond_dim)
    if cond_type == "audio_autoencoder":
        return AudioConditioner(params, cond_dim)
    if cond_type == "number":
        return NumberConditioner(params, cond_dim)
    if cond_type == "sentence_encoder":
        from audiox.models.conditioners.sentence import SentenceEncoderConditioner

        return SentenceEncoderConditioner(params, cond_dim)
    raise ConfigError(f"conditioner type {cond_type!r} is not supported")


@dataclass
class Conditioning:
    """Assembled DiT conditioning for a batch.

    Attributes:
        cross_attn_cond: (B, M, Dc) concatenated condition tokens in ``cross_attention_cond_ids`` order.
        spans: id -> (start, end) token range of each condition inside ``cross_attn_cond``.
    """

    cross_attn_cond: torch.Tensor | None
    spans: dict[str, tuple[int, int]]
    global_cond: torch.Tensor | None = None  # (B, Dg)
    prepend_cond: torch.Tensor | None = None  # (B, P, Dp)
    input_concat_cond: torch.Tensor | None = None  # (B, Ci, T)

    def extras(self) -> dict[str, torch.Tensor]:
        """The non-cross-attention conditions, as DiT keyword arguments (empty for AudioX)."""
        return {k: v for k, v in (("global_cond", self.global_cond), ("prepend_cond", self.prepend_cond),
                                  ("input_concat_cond", self.input_concat_cond)) if v is not None}

    def zeros_except(self, keep: dict[str, torch.Tensor]) -> torch.Tensor:
        """An all-zero context (the official CFG null) with the given id ranges replaced (negative prompts)."""
        assert self.cross_attn_cond is not None
        out = torch.zeros_like(self.cross_attn_cond)
        for cid, tokens in keep.items():
            s, e = self.spans[cid]
            out[:, s:e] = tokens.to(out.dtype)
        return out


class MultiConditioner(nn.Module):
    def __init__(self, cfg: ConditioningConfig, *, clip_overrides: dict | None = None) -> None:
        super().__init__()
        self.cond_dim = cfg.cond_dim
        self.types = {c.id: c.type for c in cfg.configs}
        self.conditioners = nn.ModuleDict({
            c.id: build_conditioner(c.type, c.config, cfg.cond_dim, clip_overrides=clip_overrides)
            for c in cfg.configs
        })

    def ids_of_type(self, *cond_types: str) -> list[str]:
        """The ids whose config type is one of ``cond_types`` (``"t5"``: for what one encoder type needs)."""
        return [cid for cid, t in self.types.items() if t in cond_types]

    def ids_for(self, role: Role) -> list[str]:
        """The ids of the conditioners that take ``role``'s input (their class's ``role``), in conditioner order."""
        return [cid for cid, c in self.conditioners.items() if getattr(c, "role", None) == role]

    def frozen_features(self, inputs: dict[str, Any], *, grad: bool = False, vae_conv2d: bool | None = None,
                        ) -> dict[str, dict[str, torch.Tensor]]:
        """Every conditioner's frozen half.

        Args:
            inputs: id -> input: video (B, T, 3, H, W) 0..255; text list[str] or {"input_ids", "attention_mask"};
                audio (B, C, L) at the model rate; numbers list[float]. Every id must be present (use an all-zero
                tensor or "" for a missing modality).
            grad: keep gradients through encoders that have trainable parameters (training).
            vae_conv2d: the Oobleck layout of the audio-prompt encoders for this call (None: their own).

        Returns:
            id -> that conditioner's features (see each ``frozen_features``).
        """
        out = {}
        for cid, cond in self.conditioners.items():
            if cid not in inputs:
                raise ConfigError(f"conditioning input {cid!r} is missing (a missing modality is passed as its "
                                  "empty value: zeros or \"\")")
            if isinstance(cond, AudioConditioner):
                out[cid] = cond.frozen_features(inputs[cid], grad=grad, conv2d=vae_conv2d)
            else:
                out[cid] = cond.frozen_features(inputs[cid], grad=grad)
        return out

    def tokens(self, features: dict[str, dict[str, torch.Tensor]], *,
               masking: dict[str, FeatureMasking] | None = None, sample_audio: bool = True,
               generator: torch.Generator | None = None, audio_noise: dict[str, torch.Tensor] | None = None,
               ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every conditioner's trainable half, in conditioner order (the order of the posterior draws).

        Args:
            features: id -> features, as :meth:`frozen_features` returns (or pre-encoding stored).
            masking: id -> training masking of that conditioner's features (None at inference).
            sample_audio: sample the audio conditioners' VAE posterior (official) or use its mean.
            generator / audio_noise: posterior noise source; audio_noise maps id -> (B, D, N) noise.

        Returns:
            id -> (tokens (B, M_id, Dc), mask); video conditioners with ``frame_dim`` also give
            ``id + FRAMES`` -> (per-frame features (B, frame_dim, T), mask (B, T)).
        """
        out = {}
        for cid, cond in self.conditioners.items():
            m = (masking or {}).get(cid)
            if isinstance(cond, AudioConditioner):
                out[cid] = cond.tokens(features[cid], masking=m, sample=sample_audio, generator=generator,
                                       noise=(audio_noise or {}).get(cid))
            elif isinstance(cond, VideoConditioner) and cond.frame_dim:
                tokens, frames, _ = cond.tokens_and_frames(features[cid], masking=m)
                out[cid] = (tokens, torch.ones(tokens.shape[0], 1, device=tokens.device))
                out[cid + FRAMES] = (frames, torch.ones(frames.shape[0], frames.shape[2], device=frames.device))
            else:
                out[cid] = cond.tokens(features[cid], masking=m)
            if getattr(cond, "sentence_dim", 0):
                sent = cond.sentence(features[cid], masking=m)
                out[cid + SENTENCE] = (sent, torch.ones(sent.shape[0], 1, device=sent.device))
        return out

    def forward(self, inputs: dict[str, Any], *, sample_audio: bool = True, generator: torch.Generator | None = None,
                audio_noise: dict[str, torch.Tensor] | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``tokens(frozen_features(inputs))``: id -> (tokens, mask); see those two methods."""
        return self.tokens(self.frozen_features(inputs), sample_audio=sample_audio, generator=generator,
                           audio_noise=audio_noise)


def pooled(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, M, D) tokens and their (B, M) mask -> (B, D) mean of the valid tokens (of all, when the mask is not
    per token). An item without a valid token pools to zero."""
    if mask.dim() == 2 and mask.shape[1] == tokens.shape[1] and mask.shape[1] > 1:
        w = mask.to(tokens.dtype)[..., None]
        return (tokens * w).sum(1) / w.sum(1).clamp_min(1.0)
    return tokens.mean(1)


def assemble(outputs: dict[str, tuple[torch.Tensor, torch.Tensor]], diffusion: DiffusionConfig) -> Conditioning:
    """Route conditioner outputs: cross-attention tokens concatenated in ``cross_attention_cond_ids`` order;
    global conditions (a text conditioner's sentence embedding where it gives one, else a conditioner's tokens
    pooled over its valid ones: :func:`pooled`) concatenated along
    features (B, Dg); prepend tokens along the sequence; input-concat conditions along channels (a video
    conditioner contributes its per-frame features)."""
    tokens, spans, pos = [], {}, 0
    for cid in diffusion.cross_attention_cond_ids:
        t = outputs[cid][0]  # the official DiT takes no key mask: padding tokens are zeroed instead
        tokens.append(t)
        spans[cid] = (pos, pos + t.shape[1])
        pos += t.shape[1]
    ctx = torch.cat(tokens, dim=1) if tokens else None
    glob = [outputs[c + SENTENCE][0] if c + SENTENCE in outputs else
            pooled(*outputs[c]) if outputs[c][0].dim() == 3 else outputs[c][0] for c in diffusion.global_cond_ids]
    prepend = [outputs[c][0] for c in diffusion.prepend_cond_ids]
    concat = [outputs[c + FRAMES][0] if c + FRAMES in outputs else outputs[c][0] for c in diffusion.input_concat_ids]
    return Conditioning(ctx, spans,
                        global_cond=torch.cat(glob, dim=-1) if glob else None,
                        prepend_cond=torch.cat(prepend, dim=1) if prepend else None,
                        input_concat_cond=torch.cat(concat, dim=1) if concat else None)
