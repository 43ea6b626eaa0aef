"""The one way audiox reads a ``torch.save`` file: ``torch.load(weights_only=True)``, so no pickle runs code.

Every checkpoint the project reads goes through :func:`safe_load`: official ``model.ckpt`` files, ``--init`` and
``--vae`` weights, the Lightning checkpoints of ``train`` / ``train-vae --resume`` (Lightning's own loading too:
:class:`audiox.training.callbacks.AtomicCheckpointIO`), and the ``aisfx`` embedding network. The weights-only
unpickler builds tensors, plain containers and numbers, and the classes in :data:`SAFE_GLOBALS`; any other object
(a ``__reduce__`` that names ``os.system``, say) stops the load before it is called.

Our own checkpoints need no extra class: the training state that is not a tensor (step, data position, counters,
configs, loop and scheduler state) is stored as ints, floats, strings, lists and dicts. The only extra globals
are numpy's scalar reconstructor and dtypes, which the ``aisfx`` wheel's weights hold (its dataset table has
``numpy.int64`` entries).

Every failure is one :class:`~audiox.errors.CheckpointError` line naming the file: a folder, a missing, truncated
or empty file, a file that is not a torch checkpoint, and a file holding an object that is not allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from audiox.errors import CheckpointError

__all__ = ["mappable", "safe_globals", "safe_load"]

_GLOBAL = re.compile(r"(?:GLOBAL|global|but got <class) '?([\w.]+)")
_UNPICKLER = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")


def safe_globals() -> list[Any]:
    """The classes and functions, beyond torch's defaults, that the weights-only unpickler may build.

    numpy's scalar reconstructor (saved under its numpy 1 name ``numpy.core.multiarray.scalar``), ``numpy.dtype``
    and the integer and float dtype classes: a numpy scalar is rebuilt from its dtype and raw bytes, no code runs.
    """
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    dtypes = [getattr(np.dtypes, n) for n in ("Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType",
                                               "UInt16DType", "UInt32DType", "UInt64DType", "Float16DType",
                                               "Float32DType", "Float64DType", "BoolDType") if hasattr(np, "dtypes")]
    return [(core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtypes]


def mappable(path: str | os.PathLike) -> bool:
    """Whether ``torch.load(mmap=True)`` can map the file: the zip format (not the legacy one, nor a damaged zip)."""
    import zipfile

    return zipfile.is_zipfile(path)


def _first_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def safe_load(path: str | os.PathLike, *, name: str = "checkpoint", map_location: Any = "cpu",
              mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with :func:`safe_globals` allowed; failures are one line.

    Args:
        path: a file written by ``torch.save``.
        name: what the file is, for messages (e.g. ``--resume checkpoint``).
        map_location: as for ``torch.load``.
        mmap: map the file instead of reading it when it can be (:func:`mappable`): tensors are read on first use;
            the unpickling, and so the check of every object, still happens here.

    Returns:
        The loaded object.

    Raises:
        CheckpointError: ``PATH: <name> ...`` for a folder, a missing, empty, truncated or foreign file, or an
            object the weights-only unpickler refuses (named).
    """
    import pickle
    import warnings

    import torch

    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p}: {name} is a folder, not a checkpoint file")
    if not p.is_file():
        raise CheckpointError(f"{p}: {name} {'is not a regular file' if p.exists() else 'not found'}")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: {name} is empty")
    try:
        with torch.serialization.safe_globals(safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the refusal below says it all
            return torch.load(p, map_location=map_location, weights_only=True, mmap=mmap and mappable(p))
    except pickle.UnpicklingError as e:
        found, why = _GLOBAL.search(str(e)), _UNPICKLER.search(str(e))
        if found:
            raise CheckpointError(f"{p}: {name} refused: it holds {found.group(1)}, which is neither a tensor nor "
                                  "a plain value; nothing in it was run") from None
        detail = why.group(1).strip()[:80] if why else "bad pickle"
        raise CheckpointError(f"{p}: cannot read {name}: not a torch checkpoint of tensors and plain values "
                              f"({detail}); nothing in it was run") from None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read {name}: {e.strerror or _first_line(e)}") from None
    except (RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            UnicodeDecodeError) as e:
        detail = "damaged zip archive" if "zip archive" in str(e) else f"{type(e).__name__}: {_first_line(e, 80)}"
        raise CheckpointError(f"{p}: cannot read {name}: truncated or not a torch checkpoint ({detail})") from None
