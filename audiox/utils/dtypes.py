"""The short dtype names of the command line and of stored files (``fp32``, ``fp16``, ``bf16``) and their torch dtypes.

torch is imported only by :func:`torch_dtype`, so argument parsers can list :data:`DTYPE_NAMES` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audiox.errors import InputError

if TYPE_CHECKING:
    import torch

DTYPE_NAMES = ("fp32", "fp16", "bf16")


def torch_dtype(name: Any, *, what: str = "dtype") -> torch.dtype:
    """The torch dtype of a short name.

    Args:
        name: one of :data:`DTYPE_NAMES`.
        what: how errors name the value (e.g. ``--dtype``).

    Raises:
        InputError: an unknown name.
    """
    import torch

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if not isinstance(name, str) or name not in dtypes:
        raise InputError(f"{what}: unknown {name!r}; expected one of {', '.join(DTYPE_NAMES)}")
    return dtypes[name]


def cpu_bf16_instructions(cpuinfo: str | None = None) -> list[str]:
    """The CPU's bfloat16 instruction sets that oneDNN uses for bf16 matrix products (``amx_bf16``,
    ``avx512_bf16``); empty where none is found or ``/proc/cpuinfo`` is unreadable (non-Linux).

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (read when None).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return [f for f in ("amx_bf16", "avx512_bf16") if f in flags]


def fast_dtype(device: str) -> str:
    """The dtype name of the fast path on ``device``: bf16 on CUDA and on CPUs with bf16 instructions
    (:func:`cpu_bf16_instructions`; a bf16 step there was 2.1x / 3.5x an fp32 one with AVX-512 bf16 / AMX), else
    fp32 (bf16 emulated without them is slower than fp32)."""
    if device.startswith("cuda"):
        return "bf16"
    return "bf16" if device == "cpu" and cpu_bf16_instructions() else "fp32"
