"""v-objective preconditioning and classifier-free guidance around the DiT.

Noise levels sigma in (0, inf) map to the DiT's time t = atan(sigma) * 2 / pi (cosine schedule,
alpha = cos(pi t / 2), sigma_t = sin(pi t / 2)). The denoiser is
D(x, sigma) = c_skip x + c_out DiT(c_in x, t), c_skip = 1/(sigma^2+1), c_out = -sigma/sqrt(sigma^2+1),
c_in = 1/sqrt(sigma^2+1) (sigma_data = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from audiox.models.dit import DiT

KV = list[tuple[torch.Tensor, torch.Tensor]]

DEFAULT_CFG_SCALE = 7.0  # the released model's guidance default (its README); generation and training demos use it


def sigma_to_t(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.atan() / math.pi * 2


def v_scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(c_skip, c_out, c_in), each shaped like ``sigma``."""
    c_skip = 1 / (sigma**2 + 1)
    c_out = -sigma / (sigma**2 + 1) ** 0.5
    c_in = 1 / (sigma**2 + 1) ** 0.5
    return c_skip, c_out, c_in


def v_target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pair for time t (B,): noisy input alpha x0 + sigma eps and target v = alpha eps - sigma x0."""
    alpha = torch.cos(t * math.pi / 2)[:, None, None]
    sigma = torch.sin(t * math.pi / 2)[:, None, None]
    return alpha * x0 + sigma * noise, alpha * noise - sigma * x0


def cfg_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float, scale_phi: float = 0.0) -> torch.Tensor:
    """uncond + (cond - uncond) * scale, optionally rescaled towards the conditional std (phi in [0, 1]).

    Std is the unbiased std over the channel dim (dim 1) per (batch, frame), as in the release.
    """
    out = uncond + (cond - uncond) * scale
    if scale_phi != 0.0:
        std_c = cond.std(dim=1, keepdim=True)
        std_o = out.std(dim=1, keepdim=True)
        out = scale_phi * (out * (std_c / std_o)) + (1 - scale_phi) * out
    return out


NULLED_EXTRAS = ("global_cond", "input_concat_cond")  # zeroed in the unconditional branch, as by CFG dropout


def guided_forward(dit: DiT, x: torch.Tensor, t: torch.Tensor, cond_kv: KV | None, *, cfg_scale: float,
                   uncond_kv: KV | None = None, scale_phi: float = 0.0,
                   extra: dict[str, torch.Tensor] | None = None, attn_backend: str | None = None) -> torch.Tensor:
    """DiT output with classifier-free guidance, as ONE forward on the doubled batch [cond; uncond].

    Args:
        x: (B, C, T) DiT input; t: (B,) times.
        cond_kv: per-layer cross-attention k/v of the condition (:meth:`DiT.context_kv`), or None.
        cfg_scale: guidance scale; 1 runs the conditional branch only.
        uncond_kv: k/v of the unconditional branch; None: the official all-zero null context, whose
            cross-attention term is exactly zero, so the unconditional half skips cross-attention
            (``DiT.forward(cross_rows=B)``; the same numbers as attending to zeros, at lower cost).
        extra: global / prepend / input-concat conditions. The unconditional branch gets zeros for the global and
            input-concat ones (:data:`NULLED_EXTRAS`: training's CFG dropout zeroes them) and the same prepend.
        attn_backend: the DiT's attention backend for this call (None: the DiT's own).
    """
    extra = extra or {}
    nulled = [k for k in NULLED_EXTRAS if k in extra]
    if cfg_scale == 1.0 or (cond_kv is None and not nulled):
        return dit(x, t, context_kv=cond_kv, attn_backend=attn_backend, **extra)
    kv, rows = cond_kv, None
    if cond_kv is not None:
        if uncond_kv is None:
            rows = x.shape[0]
        else:
            kv = [(torch.cat([kc, ku]), torch.cat([vc, vu])) for (kc, vc), (ku, vu) in zip(cond_kv, uncond_kv)]
    doubled = {k: torch.cat([v, torch.zeros_like(v) if k in nulled else v]) for k, v in extra.items()}
    out = dit(torch.cat([x, x]), torch.cat([t, t]), context_kv=kv, cross_rows=rows, attn_backend=attn_backend,
              **doubled)
    cond, uncond = out.chunk(2)
    return cfg_combine(cond, uncond, cfg_scale, scale_phi)


def make_denoiser(dit: DiT, cross_attn_cond: torch.Tensor | None, *, cfg_scale: float,
                  scale_phi: float = 0.0, negative_cond: torch.Tensor | None = None,
                  extra: dict[str, torch.Tensor] | None = None, skip_null_cross: bool = True,
                  cache_context: bool = True, attn_backend: str | None = None,
                  ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A k-diffusion-style denoiser D(x (B, C, T), sigma (B,)) -> (B, C, T) with guidance.

    The context projections are computed once here and reused at every call (every sampler step).

    Args:
        cross_attn_cond: (B, M, Dc) condition tokens.
        cfg_scale: guidance scale (1 = no guidance; :data:`DEFAULT_CFG_SCALE` is the release's default).
        scale_phi: CFG rescale factor (0 = off).
        negative_cond: (B, M, Dc) context of the unconditional branch; default all zeros (the official null).
        extra: :meth:`Conditioning.extras` (global / prepend / input-concat conditions; see :func:`guided_forward`
            for their null).
        skip_null_cross: without ``negative_cond``, skip the null context's cross-attention in the unconditional
            half (exactly zero; False attends to the zeros as the official code does: the reference path).
        cache_context: project the contexts to k/v once here (False: at every call, as the official forward does;
            the same numbers at a higher cost).
        attn_backend: the DiT's attention backend, "sdpa" or "math" (None: the DiT's own ``attn_backend``).
    """
    param = next(dit.parameters())
    contexts: list[torch.Tensor] = []
    if cross_attn_cond is not None:
        contexts.append(cross_attn_cond.to(param.dtype))
        if cfg_scale != 1.0 and (negative_cond is not None or not skip_null_cross):
            contexts.append(torch.zeros_like(contexts[0]) if negative_cond is None else negative_cond.to(param.dtype))

    def project() -> list[KV | None]:
        kvs: list[KV | None] = [dit.context_kv(c) for c in contexts]
        return kvs + [None] * (2 - len(kvs))

    if cache_context:
        with torch.no_grad():
            cached = project()

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cond_kv, uncond_kv = cached if cache_context else project()
        sigma = sigma.to(x.dtype).reshape(-1)
        c_skip, c_out, c_in = (s[:, None, None] for s in v_scalings(sigma))
        v = guided_forward(dit, (x * c_in).to(param.dtype), sigma_to_t(sigma), cond_kv, cfg_scale=cfg_scale,
                           uncond_kv=uncond_kv, scale_phi=scale_phi, extra=extra,
                           attn_backend=attn_backend)
        return v.to(x.dtype) * c_out + x * c_skip

    return denoise
