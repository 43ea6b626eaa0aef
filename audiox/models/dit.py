"""Diffusion transformer ("continuous transformer" DiT), key-compatible with the official ``model.model.*``.

Sequence: [timestep token, latent frames...]. Pre-norm blocks: self-attention with partial rotary embeddings,
cross-attention over condition tokens with grouped kv heads, SwiGLU feed-forward.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from audiox.config import DiTParams
from audiox.nn.attention import LayerNormNoBias, attention
from audiox.nn.rotary import RotaryEmbedding, apply_rotary


class FourierFeatures(nn.Module):
    """t (B, 1) -> [cos(2 pi t W^T), sin(2 pi t W^T)] (B, 2 * out/2), cos first; W learned (out/2, in)."""

    def __init__(self, in_features: int, out_features: int, std: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * t @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, freqs: torch.Tensor, backend: str) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, freqs), apply_rotary(k, freqs)
        out = attention(q, k, v, backend=backend)  # (B, H, N, Dh)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    """q from x (H heads), k|v from the context (Hkv = dim_context / head_dim heads, repeat-interleaved)."""

    def __init__(self, dim: int, dim_context: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim_context, dim_context * 2, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def context_kv(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project the context (B, M, Dc) once to k, v (B, Hkv, M, Dh); reusable across sampler steps."""
        b, m, _ = ctx.shape
        k, v = self.to_kv(ctx).chunk(2, dim=-1)
        return (k.reshape(b, m, -1, self.head_dim).transpose(1, 2),
                v.reshape(b, m, -1, self.head_dim).transpose(1, 2))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], backend: str) -> torch.Tensor:
        b, n, d = x.shape
        q = self.to_q(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        out = attention(q, kv[0], kv[1], backend=backend)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class GLU(nn.Module):
    """``proj`` to 2*hidden, value * SiLU(gate) (value = first half)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.ff = nn.Sequential(GLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class TransformerBlock(nn.Module):
    """Args: dim, heads; dim_context: context width (0 = no cross-attention); adaln: modulate the self-attention
    and feed-forward by the global embedding c (B, dim): LN(x) * (1 + scale) + shift, residual * (1 + gate), all
    six from one zero-initialised ``Linear(SiLU(c))``, so a fresh block behaves exactly like an unmodulated one."""

    def __init__(self, dim: int, heads: int, dim_context: int, adaln: bool = False) -> None:
        super().__init__()
        self.pre_norm = LayerNormNoBias(dim)
        self.self_attn = SelfAttention(dim, heads)
        self.has_cross = dim_context > 0
        if self.has_cross:
            self.cross_attend_norm = LayerNormNoBias(dim)
            self.cross_attn = CrossAttention(dim, dim_context, heads)
        self.ff_norm = LayerNormNoBias(dim)
        self.ff = FeedForward(dim)
        if adaln:
            self.to_scale_shift_gate = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))

    def forward(self, x: torch.Tensor, freqs: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None,
                backend: str, c: torch.Tensor | None = None, cross_rows: int | None = None) -> torch.Tensor:
        """Args: x (B, N, D); kv: (k, v) of :meth:`CrossAttention.context_kv` for the first ``cross_rows`` rows of
        x (all rows when None); the other rows get no cross-attention term (see :meth:`DiT.forward`)."""
        if c is None:  # the DiT passes c only to adaLN blocks
            x = x + self.self_attn(self.pre_norm(x), freqs, backend)
        else:
            scale_a, shift_a, gate_a, scale_f, shift_f, gate_f = self.to_scale_shift_gate(c)[:, None].chunk(6, -1)
            x = x + (1 + gate_a) * self.self_attn(self.pre_norm(x) * (1 + scale_a) + shift_a, freqs, backend)
        if kv is not None:
            if cross_rows is None:
                x = x + self.cross_attn(self.cross_attend_norm(x), kv, backend)
            else:
                head = x[:cross_rows]
                x = torch.cat([head + self.cross_attn(self.cross_attend_norm(head), kv, backend), x[cross_rows:]])
        if c is None:
            return x + self.ff(self.ff_norm(x))
        return x + (1 + gate_f) * self.ff(self.ff_norm(x) * (1 + scale_f) + shift_f)


class ContinuousTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_in: int, dim_out: int, dim_context: int,
                 adaln: bool = False) -> None:
        super().__init__()
        # Registration order matches the official state-dict order.
        self.layers = nn.ModuleList([TransformerBlock(dim, heads, dim_context, adaln) for _ in range(depth)])
        self.project_in = nn.Linear(dim_in, dim, bias=False)
        self.project_out = nn.Linear(dim, dim_out, bias=False)
        # Official: max(head_dim / 2, 32) dims; capped at head_dim so that narrow test models work.
        self.rotary_pos_emb = RotaryEmbedding(min(max(dim // heads // 2, 32), dim // heads))


class DiT(nn.Module):
    """The AudioX diffusion transformer.

    ``forward(x (B, C, T), t (B,), cross_attn_cond (B, M, Dc)) -> v-prediction (B, C, T)``.
    """

    def __init__(self, p: DiTParams) -> None:
        super().__init__()
        self.params = p
        d, c = p.embed_dim, p.io_channels
        self.cond_dim = d if p.project_cond_tokens else p.cond_token_dim
        self.timestep_features = FourierFeatures(1, p.timestep_features_dim)
        self.to_timestep_embed = nn.Sequential(
            nn.Linear(p.timestep_features_dim, d), nn.SiLU(), nn.Linear(d, d))
        if p.cond_token_dim > 0:
            self.to_cond_embed = nn.Sequential(
                nn.Linear(p.cond_token_dim, self.cond_dim, bias=False), nn.SiLU(),
                nn.Linear(self.cond_dim, self.cond_dim, bias=False))
        if p.global_cond_dim > 0:  # present in the AudioX checkpoint, unused when global_cond_ids is empty
            gd = d if p.project_global_cond else p.global_cond_dim
            self.to_global_embed = nn.Sequential(
                nn.Linear(p.global_cond_dim, gd, bias=False), nn.SiLU(), nn.Linear(gd, gd, bias=False))
        if p.prepend_cond_dim > 0:
            self.to_prepend_embed = nn.Sequential(
                nn.Linear(p.prepend_cond_dim, d, bias=False), nn.SiLU(), nn.Linear(d, d, bias=False))
        dim_in = c + p.input_concat_dim
        self.adaln = p.global_cond_type == "adaLN"
        self.transformer = ContinuousTransformer(d, p.depth, p.num_heads, dim_in, c, self.cond_dim, self.adaln)
        self.preprocess_conv = nn.Conv1d(dim_in, dim_in, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(c, c, 1, bias=False)
        self.attn_backend = "sdpa"
        self.gradient_checkpointing = False
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Official init for training from scratch: zero residual outputs and 1x1 convs, then scale all by 0.5."""
        for blk in self.transformer.layers:
            nn.init.zeros_(blk.self_attn.to_out.weight)
            if blk.has_cross:
                nn.init.zeros_(blk.cross_attn.to_out.weight)
            nn.init.zeros_(blk.ff.ff[2].weight)
            nn.init.zeros_(blk.ff.ff[2].bias)
        nn.init.zeros_(self.preprocess_conv.weight)
        nn.init.zeros_(self.postprocess_conv.weight)
        with torch.no_grad():
            for prm in self.parameters():
                prm.mul_(0.5)
        for blk in self.transformer.layers:  # adaLN: zero modulation = the unmodulated block
            if hasattr(blk, "to_scale_shift_gate"):
                nn.init.zeros_(blk.to_scale_shift_gate[1].weight)
                nn.init.zeros_(blk.to_scale_shift_gate[1].bias)

    def embed_timestep(self, t: torch.Tensor) -> torch.Tensor:
        """t (B,) in [0, 1] -> (B, D)."""
        return self.to_timestep_embed(self.timestep_features(t[:, None].to(self.timestep_features.weight.dtype)))

    def context_kv(self, cross_attn_cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer cross-attention keys/values for a context (B, M, Dc). Constant over sampler steps."""
        ctx = self.to_cond_embed(cross_attn_cond)
        return [blk.cross_attn.context_kv(ctx) for blk in self.transformer.layers]

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor | None = None, *,
                context_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                global_cond: torch.Tensor | None = None, prepend_cond: torch.Tensor | None = None,
                input_concat_cond: torch.Tensor | None = None, cross_rows: int | None = None,
                attn_backend: str | None = None, checkpointing: bool | None = None) -> torch.Tensor:
        """Args:
            x: (B, C, T) noisy latents (already scaled by c_in).
            t: (B,) diffusion time in [0, 1].
            cross_attn_cond: (B, M, Dc) condition tokens (video | text | audio); no mask, as in the release.
            context_kv: precomputed :meth:`context_kv` output; replaces ``cross_attn_cond`` when given.
            global_cond: (B, Dg) added to the timestep embedding (Stable-Audio-style timing; unused by AudioX); with
                ``global_cond_type`` "adaLN" their sum also modulates every block.
            prepend_cond: (B, P, Dp) tokens prepended before the timestep token.
            input_concat_cond: (B, Ci, T') concatenated to x along channels (resized to T, nearest).
            cross_rows: only the first ``cross_rows`` rows of the batch attend to the context (whose k/v then have
                ``cross_rows`` rows); the others have the all-zero null context, whose cross-attention term is
                exactly zero (``to_cond_embed`` and ``to_kv`` have no bias, so k = v = 0 and the output is 0): the
                guidance's unconditional half skips it (:func:`audiox.models.diffusion.guided_forward`).
            attn_backend: "sdpa" or "math" for this call (:func:`audiox.nn.attention.attention`); None: the
                model's own ``attn_backend``. A caller with its own choice passes it here rather than setting it on
                a model others may share.
            checkpointing: recompute each block's activations in the backward pass (in training mode only); None:
                the model's own ``gradient_checkpointing``.

        Returns:
            (B, C, T) v-prediction.
        """
        if context_kv is None and cross_attn_cond is not None:
            context_kv = self.context_kv(cross_attn_cond)
        temb = self.embed_timestep(t)  # (B, D)
        if global_cond is not None:
            temb = self.to_global_embed(global_cond.to(temb.dtype)) + temb
        c = temb if self.adaln else None  # adaLN: timestep + global embedding modulate every block
        if input_concat_cond is not None:
            if input_concat_cond.shape[2] != x.shape[2]:
                input_concat_cond = F.interpolate(input_concat_cond, (x.shape[2],), mode="nearest")
            x = torch.cat([x, input_concat_cond.to(x.dtype)], dim=1)
        x = self.preprocess_conv(x) + x
        h = self.transformer.project_in(x.transpose(1, 2))  # (B, T, D)
        prefix = [temb[:, None, :].to(h.dtype)]  # [prepend tokens..., timestep/global token]
        if prepend_cond is not None:
            prefix.insert(0, self.to_prepend_embed(prepend_cond.to(h.dtype)))
        n_prefix = sum(p.shape[1] for p in prefix)
        h = torch.cat([*prefix, h], dim=1)  # (B, P + 1 + T, D)
        freqs = self.transformer.rotary_pos_emb(h.shape[1], h.device)
        backend = self.attn_backend if attn_backend is None else attn_backend
        recompute = self.training and (self.gradient_checkpointing if checkpointing is None else checkpointing)
        for i, blk in enumerate(self.transformer.layers):
            kv = context_kv[i] if context_kv is not None else None
            if recompute:
                h = checkpoint(blk, h, freqs, kv, backend, c, cross_rows, use_reentrant=False)
            else:
                h = blk(h, freqs, kv, backend, c, cross_rows)
        out = self.transformer.project_out(h).transpose(1, 2)[:, :, n_prefix:]  # (B, C, T)
        return self.postprocess_conv(out) + out
