"""Reading and writing state dicts: official ``.ckpt`` (``{"state_dict": ...}``) and ``.safetensors``.

Writes are atomic (:func:`audiox.utils.files.atomic_write`) and create the destination folder.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
from collections.abc import Callable
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
    by :func:`audiox.checkpoint.safe_load.safe_load` (weights only: no pickle runs code).
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
            from audiox.checkpoint.safe_load import mappable, safe_load

            meta = {MAPPED_META: "1"} if mappable(p) else {}  # the legacy (non-zip) format cannot be mapped
            obj = safe_load(p, mmap=bool(meta))
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


def check_finite(key: str, t: torch.Tensor, source: str | os.PathLike) -> None:
    """Refuse a floating tensor with NaN or infinite values, naming it (damaged or diverged weights would only
    show up later as a sampler that diverges). One pass over the tensor."""
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise CheckpointError(f"{source}: tensor {key} has {bad} non-finite values (NaN or infinity) among "
                              f"{t.numel()}; the weights are damaged")


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
    return atomic_write(path, lambda tmp: _write_or_name(path, lambda: save_file(tensors, tmp, metadata=meta)),
                        parents=True)


def write_ckpt(path: str | os.PathLike, sd: dict[str, torch.Tensor]) -> Path:
    """Official layout: ``torch.save({"state_dict": OrderedDict})``."""
    from collections import OrderedDict

    obj = {"state_dict": OrderedDict((k, v.contiguous()) for k, v in sd.items())}
    return atomic_write(path, lambda tmp: _write_or_name(path, lambda: torch.save(obj, tmp)), parents=True)


def _write_or_name(path: str | os.PathLike, write: Callable[[], None]) -> None:
    """Run ``write``; a failed write (safetensors' ``SafetensorError``, torch's ``RuntimeError``, an ``OSError``
    naming the hidden temporary file) becomes an ``OSError`` naming the final ``path`` (``error: PATH: No space
    left on device`` on the command line)."""
    from safetensors import SafetensorError

    try:
        write()
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    except (SafetensorError, RuntimeError) as e:
        code = re.search(r"code: (\d+)", str(e))  # safetensors: IoError(Os { code: 28, kind: StorageFull, ... })
        if code:
            raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from None
        if not any(w in str(e) for w in ("IoError", "PytorchStreamWriter", "write failed")):
            raise  # not a failed write
        raise OSError(errno.EIO, "write failed (is the disk full?)", str(path)) from None
