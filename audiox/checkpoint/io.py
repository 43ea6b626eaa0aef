"""Reading and writing state dicts: official ``.ckpt`` (``{"state_dict": ...}``) and ``.safetensors``.

Writes are atomic (:func:`audiox.utils.files.atomic_write`) and create the destination folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from audiox.checkpoint.locate import SAFETENSORS_SUFFIXES, TORCH_SUFFIXES, WEIGHT_SUFFIXES
from audiox.errors import CheckpointError
from audiox.utils.files import atomic_write

ALIASES_META = "audiox.aliases"  # safetensors metadata: JSON {alias key: stored key} for tied weights


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a flat state dict and its string metadata (safetensors only; empty for .ckpt).

    ``.ckpt`` files are memory-mapped and loaded with ``weights_only=True``.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    suffix = p.suffix.lower()
    try:
        if suffix in SAFETENSORS_SUFFIXES:
            from safetensors import safe_open

            with safe_open(str(p), framework="pt") as f:
                meta = dict(f.metadata() or {})
                sd = {k: f.get_tensor(k) for k in f.keys()}
            for alias, target in json.loads(meta.get(ALIASES_META, "{}")).items():
                sd[alias] = sd[target]  # tied weights, stored once
            return sd, meta
        if suffix in TORCH_SUFFIXES:
            try:
                obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                obj = torch.load(p, map_location="cpu", weights_only=True)
            sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
            if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
                raise CheckpointError(f"{p}: not a state dict (expected a mapping of tensors or {{'state_dict': ...}})")
            return dict(sd), {}
    except CheckpointError:
        raise
    except Exception as e:  # corrupt file: one line naming it
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        raise CheckpointError(f"{p}: cannot read checkpoint ({type(e).__name__}: {detail})") from None
    raise CheckpointError(f"{p}: unknown checkpoint format {suffix!r}; expected {', '.join(WEIGHT_SUFFIXES)}")


def write_safetensors(path: str | os.PathLike, sd: dict[str, torch.Tensor], metadata: dict[str, str] | None = None,
                      ) -> Path:
    """Write a flat state dict; tensors that are the same view (tied weights) are stored once, as aliases."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for k, v in sd.items():
        ident = (v.device, v.data_ptr(), v.dtype, tuple(v.shape), v.stride(), v.storage_offset())
        if v.numel() and ident in seen:
            aliases[k] = seen[ident]
            continue
        seen[ident] = k
        tensors[k] = v.contiguous()
    meta = dict(metadata or {})
    if aliases:
        meta[ALIASES_META] = json.dumps(aliases)
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta), parents=True)


def write_ckpt(path: str | os.PathLike, sd: dict[str, torch.Tensor]) -> Path:
    """Official layout: ``torch.save({"state_dict": OrderedDict})``."""
    from collections import OrderedDict

    obj = {"state_dict": OrderedDict((k, v.contiguous()) for k, v in sd.items())}
    return atomic_write(path, lambda tmp: torch.save(obj, tmp), parents=True)
