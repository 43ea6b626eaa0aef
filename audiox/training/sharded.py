"""Sharded training (FSDP2, ``torch.distributed.fsdp.fully_shard``) through Lightning's ``ModelParallelStrategy``,
and its checkpoints: checked before they load, converted to one model file.

``audiox train --strategy fsdp`` gives Lightning a ``ModelParallelStrategy`` with one data-parallel dimension of
every rank (no tensor parallelism); :meth:`AudioXTrainingModule.configure_model` then calls :func:`shard_dit`, so
each DiT block (and its EMA copy) keeps 1/world of its weights, gradients and AdamW moments on each rank and
gathers a block's weights only while it runs. The rest of the model (frozen encoders, conditioner projections) is
small and stays whole on every rank; its trainable gradients are averaged like DDP's
(:func:`average_replicated_grads`). It runs on CPU (gloo) and GPU (nccl).

A checkpoint is a folder (``torch.distributed.checkpoint``): one ``__R_0.distcp`` per rank with that rank's
shards, ``.metadata`` (the layout) and ``meta.pt`` (step, loops, the ``audiox`` record), written by rank 0 last.
``last.ckpt`` is swapped in by :func:`link_folder`; a kill between its two renames leaves no ``last.ckpt`` but a
complete ``.last.ckpt.partial`` (and the previous one as ``.last.ckpt.old``): :func:`recover_last` finishes the
swap before ``--resume`` reads it.
Its loaders unpickle ``.metadata`` and the small non-tensor entries without the weights-only check, so
:func:`check_sharded` reads every pickle they will read with a restricted loader first. Such a folder can be
resumed on any number of ranks (the reader reassembles the shards). :func:`load_sharded_model` rebuilds the
model (EMA weights by default) in one process, for ``audiox convert`` and the export at the end of a run.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiox.errors import AudioXError, CheckpointError, ConfigError

log = logging.getLogger(__name__)

META = "meta.pt"  # Lightning's non-tensor part of a sharded checkpoint
LAYOUT = ".metadata"  # torch.distributed.checkpoint's layout file
SHARDED_STRATEGIES = ("fsdp",)


def is_sharded(path: str | os.PathLike) -> bool:
    """``path`` is a sharded (``torch.distributed.checkpoint``) checkpoint folder."""
    p = Path(path)
    return p.is_dir() and (p / LAYOUT).is_file()


def fsdp_strategy(accelerator: str, devices: Any, num_nodes: int) -> Any:
    """Lightning's ``ModelParallelStrategy`` with every rank in one data-parallel (sharding) dimension.

    Args:
        accelerator: ``cpu``, ``gpu``/``cuda`` or ``auto``; gloo on CPU, nccl on GPUs.
        devices: processes per node (an int; ``auto``: the GPUs, or 1 on CPU).
        num_nodes: machines.

    Raises:
        ConfigError: an accelerator the strategy cannot use, or devices that are not a count.
    """
    from pytorch_lightning.strategies import ModelParallelStrategy

    acc = str(accelerator)
    if acc not in ("auto", "cpu", "gpu", "cuda"):
        raise ConfigError(f"--strategy fsdp: runs on cpu or cuda GPUs, not on --accelerator {acc}")
    gpu = acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available())
    if devices == "auto":
        devices = torch.cuda.device_count() if gpu else 1
    elif isinstance(devices, (list, tuple)):
        devices = len(devices)
    if isinstance(devices, bool) or not isinstance(devices, int):
        raise ConfigError(f"--strategy fsdp: --devices must be a count of processes per node, got {devices!r}")
    if gpu and not torch.cuda.is_available():
        raise ConfigError("--strategy fsdp: --accelerator gpu requested but this machine has no CUDA device")
    return ModelParallelStrategy(data_parallel_size=devices * num_nodes, tensor_parallel_size=1,
                                 process_group_backend="nccl" if gpu else "gloo")


def shard_dit(dit: nn.Module, mesh: Any) -> None:
    """Apply ``fully_shard`` to each DiT block, to each block's context projection (it runs before the block, once
    per forward: :meth:`DiT.context_kv`) and to the DiT itself (its remaining weights), in place; ``context_kv``
    gathers the DiT's own weights like ``forward`` (samplers call it on its own).

    Args:
        dit: the DiT (or its EMA copy, sharded the same way so that averaging stays shard-local).
        mesh: the data-parallel device mesh (1-D).
    """
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for blk in dit.transformer.layers:
        fully_shard(blk.cross_attn.to_kv, mesh=mesh)
        fully_shard(blk, mesh=mesh)
    fully_shard(dit, mesh=mesh)
    register_fsdp_forward_method(dit, "context_kv")  # samplers call it outside forward (demos)


def reshard(module: nn.Module) -> None:
    """Return every FSDP2 unit in ``module`` to its shards (FSDP2 keeps a root that ran outside training
    gathered)."""
    from torch.distributed.fsdp import FSDPModule

    for m in module.modules():
        if isinstance(m, FSDPModule):
            m.reshard()


def average_replicated_grads(params: list[nn.Parameter]) -> None:
    """Average over the ranks the gradients of the trainable parameters that are not sharded (DDP's arithmetic:
    the sum of the ranks' gradients divided by their count)."""
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor

    world = dist.get_world_size()
    for p in params:
        if p.grad is not None and not isinstance(p, DTensor):
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients of sharded and whole parameters together so that their global 2-norm is at most
    ``max_norm`` (``torch.nn.utils.clip_grad_norm_``'s rule); returns the norm before clipping."""
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in params if p.grad is not None]
    sq = torch.zeros((), dtype=torch.float64)
    for g in grads:
        n = torch.linalg.vector_norm(g, dtype=torch.float32)
        n = n.full_tensor() if isinstance(n, DTensor) else n
        sq += n.double().cpu() ** 2
    total = sq.sqrt().float()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device))
    return total


# ------------------------------------------------------------------------------------------- checkpoints
_TORCH_TYPES = (torch.dtype, torch.layout, torch.memory_format)
_PLAIN = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("pathlib", "PosixPath"),
          ("pathlib", "PurePosixPath"), ("pathlib", "WindowsPath"), ("pathlib", "PureWindowsPath"),
          ("torch.serialization", "_get_layout")}  # _get_layout: a layout from its name


class _LayoutUnpickler(pickle.Unpickler):
    """Reads ``.metadata``: only torch.distributed.checkpoint's record classes and torch's plain types."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("torch.distributed.checkpoint.") and "." not in name:
            obj = super().find_class(module, name)
            if isinstance(obj, type):  # the layout's dataclasses and enums
                return obj
        if module == "torch" and "." not in name:
            obj = getattr(torch, name, None)
            if isinstance(obj, _TORCH_TYPES) or obj is torch.Size:
                return obj
        if (module, name) in _PLAIN:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint layout")


def swap_names(dst: Path) -> tuple[Path, Path]:
    """The folders :func:`link_folder` swaps ``dst`` through: ``(.NAME.partial, .NAME.old)`` beside it."""
    return dst.with_name(f".{dst.name}.partial"), dst.with_name(f".{dst.name}.old")


def link_folder(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of the flat folder ``src`` (hard links when possible): built beside it as
    ``.NAME.partial``, then swapped in by two renames (the old one goes via ``.NAME.old``). A kill between the
    renames leaves no ``dst``: :func:`recover_last` finishes the swap."""
    tmp, old = swap_names(dst)
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir()
    for f in src.iterdir():
        try:
            os.link(f, tmp / f.name)
        except OSError:
            shutil.copyfile(f, tmp / f.name)
    if dst.is_dir():
        os.rename(dst, old)
    elif dst.exists():
        dst.unlink()
    os.rename(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


def recover_last(last: Path, name: str = "--resume") -> bool:
    """Finish a :func:`link_folder` swap of ``last`` that a kill interrupted between its two renames: with no
    ``last``, the complete (:func:`check_sharded`) ``.NAME.partial`` (the newer) or else ``.NAME.old`` is renamed to
    ``last``. Every rank may call it at once: a rename onto a folder another rank already moved there fails and
    is ignored. Returns whether ``last`` exists now."""
    if last.exists() or last.is_symlink():
        return True
    for cand in swap_names(last):
        if cand.is_symlink() or not is_sharded(cand):
            continue
        try:
            check_sharded(cand, name)
            os.rename(cand, last)
            log.warning("%s: its swap was interrupted; the complete %s is the last checkpoint again", last, cand.name)
        except (AudioXError, OSError):  # incomplete, or moved (or replaced) by another rank meanwhile
            pass
        if last.exists():
            return True
    return False


def check_sharded(path: str | os.PathLike, name: str = "--resume") -> dict[str, Any]:
    """Check a sharded checkpoint folder before any loader unpickles it; returns its ``meta.pt`` record
    (:func:`_checked_layout` does the work)."""
    return _checked_layout(path, name)[0]


def _checked_layout(path: str | os.PathLike, name: str) -> tuple[dict[str, Any], Any]:
    """:func:`check_sharded`'s checks; returns the ``meta.pt`` record and the checked ``.metadata`` layout.

    Reads ``.metadata`` with a loader that builds only layout records, ``meta.pt`` and every non-tensor entry
    (the bytes the checkpoint reader would ``torch.load``) with the weights-only loader, and checks that every
    shard file the layout names exists and is long enough.

    Raises:
        CheckpointError / ConfigError: one line naming the folder.
    """
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata, Metadata

    from audiox.checkpoint.safe_load import safe_load

    p = Path(path)
    where = f"{p}: {name} checkpoint"
    if not (p / META).is_file():
        raise ConfigError(f"{where}: a sharded checkpoint without {META} (its writing did not finish)")
    try:
        with open(p / LAYOUT, "rb") as f:
            layout = _LayoutUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: {LAYOUT} is not a checkpoint layout ({str(e)[:80]})") from None
    if not isinstance(layout, Metadata) or not isinstance(layout.storage_data, dict):
        raise CheckpointError(f"{where}: {LAYOUT} is not a checkpoint layout")
    for index, info in layout.storage_data.items():
        f = p / str(info.relative_path)
        if f.parent != p or not f.is_file() or f.stat().st_size < info.offset + info.length:
            raise CheckpointError(f"{where}: shard {info.relative_path} is missing or truncated")
        if isinstance(layout.state_dict_metadata.get(index.fqn), BytesStorageMetadata):
            if getattr(info, "transform_descriptors", None):
                raise CheckpointError(f"{where}: entry {index.fqn} is stored transformed; not read")
            with open(f, "rb") as fh:
                fh.seek(info.offset)
                data = fh.read(info.length)
            try:
                torch.load(io.BytesIO(data), weights_only=True)
            except Exception as e:  # noqa: BLE001 - the weights-only loader refuses with many types
                raise CheckpointError(f"{where}: entry {index.fqn} is not plain data ({str(e)[:80]})") from None
    meta = safe_load(p / META, name=f"{name} checkpoint")
    if not isinstance(meta, dict) or "global_step" not in meta:
        raise ConfigError(f"{where}: {META} is not a Lightning checkpoint record")
    return meta, layout


def sharded_resume_record(path: str | os.PathLike, name: str = "--resume") -> dict[str, Any]:
    """A sharded checkpoint as :func:`audiox.training.checks.check_resume` returns a file: its ``meta.pt`` record
    with ``state_dict`` (meta tensors of the stored shapes, for the name and shape check) and
    ``optimizer_states`` (the names of the stored optimizer entries)."""
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    meta, layout = _checked_layout(path, name)
    sd = {k.removeprefix("state_dict."): torch.empty(tuple(v.size), device="meta")
          for k, v in layout.state_dict_metadata.items()
          if k.startswith("state_dict.") and isinstance(v, TensorStorageMetadata)}
    optim = sorted({k.split(".", 1)[0] for k in layout.state_dict_metadata if k.startswith("optimizer_")})
    step = meta.get("global_step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ConfigError(f"{path}: {name} checkpoint: global_step must be an integer >= 0, got {step!r:.40}")
    if not sd or not optim:
        raise ConfigError(f"{path}: {name} checkpoint holds no model or no optimizer state")
    return {**meta, "state_dict": sd, "optimizer_states": optim}


def load_sharded_state(path: str | os.PathLike, name: str = "--resume") -> tuple[dict[str, torch.Tensor],
                                                                                 dict[str, Any]]:
    """The whole module state dict (``model.*``, ``ema.*``) of a sharded checkpoint, in this process (no process
    group), and its ``meta.pt`` record; checked first (:func:`check_sharded`)."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    meta, layout = _checked_layout(path, name)
    keys = {k for k, v in layout.state_dict_metadata.items()
            if k.startswith("state_dict.") and isinstance(v, TensorStorageMetadata)}
    loaded: dict[str, Any] = {}  # read here alone, even where a process group exists (rank 0 exporting)
    _load_state_dict(state_dict=loaded, storage_reader=FileSystemReader(str(path)), no_dist=True,
                     planner=_EmptyStateDictLoadPlanner(keys=keys))
    sd = loaded.get("state_dict", loaded)
    flat = {k.removeprefix("state_dict."): v for k, v in _flatten(sd).items()}
    return flat, meta


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def load_sharded_model(path: str | os.PathLike, *, use_ema: bool = True, name: str = "checkpoint") -> nn.Module:
    """The model of a sharded training checkpoint (``audiox train --strategy fsdp``), in eval mode, with the EMA
    DiT weights when ``use_ema`` and the checkpoint has them.

    Raises:
        CheckpointError / ConfigError: not such a checkpoint, or tensors that do not fit its model config.
    """
    from audiox.checkpoint.official import check_keys
    from audiox.models.presets import build_model

    sd, meta = load_sharded_state(path, name)
    record = meta.get("audiox")
    if not isinstance(record, dict) or not isinstance(record.get("model_config"), dict):
        raise ConfigError(f"{path}: {name}: no audiox model config (not written by `audiox train`)")
    model = build_model(record["model_config"])
    weights = {k.removeprefix("model."): v for k, v in sd.items() if k.startswith("model.")}
    check_keys({k: v.shape for k, v in model.state_dict().items()}, weights, f"{path}: {name}")
    model.load_state_dict(weights)
    ema = {k.removeprefix("ema.ema_model."): v for k, v in sd.items() if k.startswith("ema.ema_model.")}
    if use_ema and ema:
        model.dit.load_state_dict(ema)
    return model.eval()
