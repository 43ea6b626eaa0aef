"""Native format (``config.json`` + ``model.safetensors``) and lossless conversion to and from the official one.

The native file holds the official key names. A duplicated VAE that equals the main one is stored once and
named in the metadata (``audiox.shared_vae``); converting back restores both copies. Keys are written back in
the model's own order, so an official -> native -> official round trip reproduces the key list, dtypes and
values exactly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import torch

from audiox.checkpoint.io import read_state_dict, write_ckpt, write_safetensors
from audiox.checkpoint.locate import find_weights
from audiox.checkpoint.official import (
    FLOAT32_KEYS,
    SHARED_VAE_META,
    build_meta_model,
    check_keys,
    expand_shared,
    identical_vae_ids,
    infer_clip_overrides,
    vae_prefix,
)
from audiox.config import config_to_json, load_config
from audiox.errors import CheckpointError, InputError
from audiox.utils.checks import same_place
from audiox.utils.dtypes import torch_dtype
from audiox.utils.files import atomic_write

FORMAT_META = "format"
NATIVE_FORMAT = "audiox-native"


def _source_files(src: Path, config: Path | None) -> tuple[Path, Path]:
    weights = find_weights(src) if src.is_dir() else src
    cfg = config or (src if src.is_dir() else src.parent) / "config.json"
    return weights, cfg


def _cast(sd: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    if dtype is None:
        return sd
    return {k: v.to(dtype) if v.is_floating_point() and not any(p.match(k) for p in FLOAT32_KEYS) else v
            for k, v in sd.items()}


def _check_out(dst: Path, names: list[str], force: bool, *, source: Path | None = None,
               keep: Path | None = None) -> None:
    """Refuse an output that is a file, the source folder, or holds ``names`` (unless ``force``); writes nothing.

    Args:
        source: the folder of the source weights (never written into).
        keep: an input file that may already sit in ``dst`` (the config that is copied there).
    """
    if dst.exists() and not dst.is_dir():
        raise InputError(f"{dst}: output must be a folder")
    if source is not None and same_place(dst, source):
        raise InputError(f"{dst}: is the source folder; choose another output folder")
    clash = [n for n in names if (dst / n).exists() and not (keep is not None and same_place(dst / n, keep))]
    if clash and not force:
        raise InputError(f"{dst / clash[0]} already exists; pass --force to overwrite")


def _prepare_out(dst: Path, names: list[str], force: bool) -> None:
    _check_out(dst, names, force)
    dst.mkdir(parents=True, exist_ok=True)


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, to: Literal["native", "official"] = "native",
            dtype: str | None = None, config: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Convert a model folder (or weights file) to the native or official layout in folder ``dst``.

    Args:
        src: official folder (config.json + model.ckpt / model.safetensors), native folder, or a weights file.
        dst: output folder, not the source folder; existing files are kept unless ``force``.
        to: "native" (model.safetensors, duplicate VAE stored once) or "official" (model.ckpt, both copies).
        dtype: "fp32", "fp16" or "bf16" to cast floating tensors (rotary ``inv_freq`` stays float32); None keeps.
        config: config.json path when it is not beside the weights.

    Returns:
        The written weights file.
    """
    cast_to = torch_dtype(dtype) if dtype is not None else None
    if to not in ("native", "official"):
        raise InputError(f"unknown target format {to!r}; expected native or official")
    weights, cfg_path = _source_files(Path(src), Path(config) if config else None)
    out = Path(dst)
    names = ["config.json", "model.safetensors" if to == "native" else "model.ckpt"]
    _check_out(out, names, force, source=weights.parent, keep=cfg_path)  # before any weights are read
    cfg = load_config(cfg_path)
    decoder = cfg.model.pretransform.config.decoder.type
    if to == "official" and decoder != "oobleck":
        raise InputError(f"{cfg_path}: the official code has no {decoder!r} VAE decoder; convert to native instead")
    sd, meta = read_state_dict(weights)
    sd = expand_shared(sd, meta)
    model = build_meta_model(cfg, infer_clip_overrides(sd, cfg))
    order = list(model.state_dict().keys())
    check_keys({k: v.shape for k, v in model.state_dict().items()}, sd, str(weights))
    sd = _cast({k: sd[k] for k in order}, cast_to)
    out.mkdir(parents=True, exist_ok=True)
    if to == "native":
        shared = identical_vae_ids(sd, cfg)
        drop = tuple(vae_prefix(c) for c in shared)
        kept = {k: v for k, v in sd.items() if not k.startswith(drop)}
        meta_out = {FORMAT_META: NATIVE_FORMAT, SHARED_VAE_META: ",".join(shared)}
        path = write_safetensors(out / "model.safetensors", kept, meta_out)
    else:
        path = write_ckpt(out / "model.ckpt", sd)
    if cfg_path.resolve() != (out / "config.json").resolve():
        atomic_write(out / "config.json", lambda tmp: shutil.copyfile(cfg_path, tmp))
    return path


def save_native(model, dst: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a loaded :class:`AudioXModel` as a native folder (config.json + model.safetensors)."""
    out = Path(dst)
    _prepare_out(out, ["config.json", "model.safetensors"], force)
    sd = model.state_dict()
    shared = [cid for cid, c in model.audio_conditioners().items() if c.pretransform is model.pretransform]
    drop = tuple(vae_prefix(c) for c in shared)
    kept = {k: v.detach().cpu() for k, v in sd.items() if not k.startswith(drop)}
    if not kept:
        raise CheckpointError("model has no tensors to save")
    meta_out = {FORMAT_META: NATIVE_FORMAT, SHARED_VAE_META: ",".join(shared)}
    text = config_to_json(model.config)
    atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(text))
    return write_safetensors(out / "model.safetensors", kept, meta_out)
