"""Reading and writing state dicts: official ``.ckpt`` (``{"state_dict": ...}``) and ``.safetensors``.

Writes are atomic (:func:`audiox.utils.files.atomic_write`) and create the destination folder.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import torch

from audiox.checkpoint.locate import SAFETENSORS_SUFFIXES, TORCH_SUFFIXES, WEIGHT_SUFFIXES
from audiox.errors import CheckpointError
from audiox.utils.files import atomic_write

ALIASES_META = "audiox.aliases"  # safetensors metadata: JSON {alias key: stored key} for tied weights
MAPPED_META = "audiox.memory_mapped"  # set by read_state_dict when the tensors are views of a read-only file mapping


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a flat state dict and its string metadata (safetensors only, plus :data:`MAPPED_META`).

    ``.ckpt`` files are memory-mapped (then ``meta[MAPPED_META] == "1"``: see :func:`release_pages`) and loaded
    with ``weights_only=True``.
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
            meta = {MAPPED_META: "1"}
            try:
                obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                obj, meta = torch.load(p, map_location="cpu", weights_only=True), {}
            sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
            if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
                raise CheckpointError(f"{p}: not a state dict (expected a mapping of tensors or {{'state_dict': ...}})")
            return dict(sd), meta
    except CheckpointError:
        raise
    except Exception as e:  # corrupt file: one line naming it
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        raise CheckpointError(f"{p}: cannot read checkpoint ({type(e).__name__}: {detail})") from None
    raise CheckpointError(f"{p}: unknown checkpoint format {suffix!r}; expected {', '.join(WEIGHT_SUFFIXES)}")


def release_pages(t: torch.Tensor) -> None:
    """Let the kernel drop the resident pages of ``t``, a view of a private read-only file mapping whose data is no
    longer needed (copied or cast): they count as resident memory until the whole file is unmapped. Pages are read
    back from the file if anything touches them again, so neighbours sharing a page are unaffected. Linux only
    (elsewhere nothing happens); never call it on ordinary (anonymous) memory, which it would zero.
    """
    import ctypes
    import mmap

    if not t.is_cpu or not hasattr(mmap, "MADV_DONTNEED") or t.numel() == 0:
        return
    page = mmap.PAGESIZE
    start = t.data_ptr() // page * page
    end = -(-(t.data_ptr() + t.numel() * t.element_size()) // page) * page
    _libc().madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), mmap.MADV_DONTNEED)


@functools.cache
def _libc():
    """The C library of this process (opened once: :func:`release_pages` runs for every tensor of a checkpoint)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


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
