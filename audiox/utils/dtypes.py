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
