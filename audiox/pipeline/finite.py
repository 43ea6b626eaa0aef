"""Non-finite values in a generation traced to their cause, so that a message blames what is at fault.

The conditions and the known latents are checked before sampling; when they are not finite, the message names the
model weights that are NaN or infinite, or else the input that gave them. Only a non-finite output from finite
conditions and finite weights is blamed on the sampler and its guidance scale (:func:`diverged`). The weights are
read only on these failure paths, never in a run that goes well.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from audiox.errors import AudioXError
from audiox.models.conditioners.multi import Conditioning


def _finite(x: torch.Tensor | None) -> bool:
    return x is None or bool(torch.isfinite(x).all())


def nonfinite_weights(module: nn.Module, prefix: str = "") -> str | None:
    """The first floating parameter or buffer of ``module`` with NaN or infinite values, named with its count
    (``"dit.blocks.0.attn.weight (12 of 4096 values)"``), or None when all are finite.

    Args:
        prefix: prepended to the names (the module's own path in the model).
    """
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        if t.is_floating_point() and not _finite(t):
            bad = int((~torch.isfinite(t)).sum())
            return f"{prefix}{name} ({bad} of {t.numel()} values)"
    return None


def weights_error(module: nn.Module, prefix: str = "") -> AudioXError | None:
    """An error naming the non-finite weights of ``module``, or None when they are all finite."""
    where = nonfinite_weights(module, prefix)
    if where is None:
        return None
    return AudioXError(f"model weights: {where} are NaN or infinite; the model is damaged (reload or re-download it)")


def _peak(x: Any) -> str:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or not x.numel():
        return ""
    return f" (peak |sample| {float(x.detach().abs().max()):.3g})"


def check_conditions(model: nn.Module, cond: Conditioning, inputs: dict[str, Any], names: dict[str, str]) -> None:
    """Refuse non-finite condition tokens before sampling, naming the conditioner's weights or its input.

    Args:
        model: the :class:`audiox.models.audiox.AudioXModel` that made ``cond``.
        cond: the assembled conditioning of one window.
        inputs: conditioner id -> the raw input it was given.
        names: conditioner id -> how its input is called in messages (``audio``, ``video``, ``text``).
    """
    extras_ok = all(_finite(v) for v in cond.extras().values())
    bad = [cid for cid, (s, e) in cond.spans.items() if not _finite(cond.cross_attn_cond[:, s:e])]
    if not bad and extras_ok:
        return
    conds = model.conditioner.conditioners
    for cid in bad or list(conds):
        err = weights_error(conds[cid], f"conditioner.conditioners.{cid}.")
        if err is not None:
            raise err
    if not bad:
        raise AudioXError("the conditions are not finite although every conditioner's weights are")
    cid = bad[0]
    raise AudioXError(f"{names.get(cid, cid)}: the {cid} conditioner gives non-finite features for it"
                      f"{_peak(inputs.get(cid))}; the input is out of range")


def check_encoded(model: nn.Module, latents: torch.Tensor, audio: torch.Tensor) -> None:
    """Refuse non-finite latents of the audio a window keeps (the clip to continue or inpaint), before sampling.

    Args:
        model: the :class:`audiox.models.audiox.AudioXModel` whose VAE encoded ``audio``.
        latents: the encoder's output; audio: what it encoded.
    """
    if _finite(latents):
        return
    err = weights_error(model.pretransform, "pretransform.")
    if err is not None:
        raise err
    raise AudioXError(f"audio: the clip to keep encodes to non-finite latents{_peak(audio)}; its samples are out "
                      "of range")


def diverged(model: nn.Module, run: Any) -> AudioXError:
    """The error for a non-finite output from finite conditions: the model's non-finite weights when it has any,
    else the sampler's divergence, with the settings that caused it.

    Args:
        model: the model that sampled and decoded; run: the resolved request (its steps, guidance and sampler).
    """
    err = weights_error(model)
    if err is not None:
        return err
    return AudioXError(f"the sampler diverged: the output has non-finite samples (cfg_scale {run.cfg_scale:g}, "
                       f"sampler {run.sampler}, {run.steps} steps); try a lower guidance scale")
