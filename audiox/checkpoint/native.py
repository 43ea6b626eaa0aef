"""Native format (``config.json`` + ``model.safetensors``) and lossless conversion to and from the official one.

The native file holds the official key names. A duplicated VAE that equals the main one is stored once and
named in the metadata (``audiox.shared_vae``); converting back restores both copies. Keys are written back in
the model's own order, so an official -> native -> official round trip reproduces the key list, dtypes and
values exactly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
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

FORMAT_META = "format"
NATIVE_FORMAT = "audiox-native"
GENERATION_DEFAULTS = "generation.json"  # a model folder's sampler defaults, beside its weights


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

    The files are written to a hidden folder beside ``dst`` and moved into place once all are complete
    (:func:`staged_folder`): a failure (a full disk) leaves neither ``dst`` nor the hidden folder.
    """
    cast_to = torch_dtype(dtype) if dtype is not None else None
    if to not in ("native", "official"):
        raise InputError(f"unknown target format {to!r}; expected native or official")
    weights, cfg_path = _source_files(Path(src), Path(config) if config else None)
    out = Path(dst)
    names = ["config.json", "model.safetensors" if to == "native" else "model.ckpt"]
    # the model's sampler defaults (audiox.pipeline.settings.read_defaults) travel with it: without them a
    # converted model would sample with the generic defaults (e.g. sigma_max 500 instead of the built-in 80)
    defaults = weights.parent / GENERATION_DEFAULTS
    carry = defaults.is_file() and defaults.resolve() != (out / GENERATION_DEFAULTS).resolve()
    _check_out(out, names + [GENERATION_DEFAULTS] * carry, force, source=weights.parent, keep=cfg_path)
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
    name = names[1]
    with staged_folder(out) as stage:
        if to == "native":
            shared = identical_vae_ids(sd, cfg)
            drop = tuple(vae_prefix(c) for c in shared)
            kept = {k: v for k, v in sd.items() if not k.startswith(drop)}
            meta_out = {FORMAT_META: NATIVE_FORMAT, SHARED_VAE_META: ",".join(shared)}
            write_safetensors(stage / name, kept, meta_out)
        else:
            write_ckpt(stage / name, sd)
        if cfg_path.resolve() != (out / "config.json").resolve():
            shutil.copyfile(cfg_path, stage / "config.json")
        if carry:
            shutil.copyfile(defaults, stage / GENERATION_DEFAULTS)
    return out / name


@contextlib.contextmanager
def staged_folder(dst: Path) -> Iterator[Path]:
    """A hidden folder beside ``dst`` to write into; on success its files land in ``dst``, on failure nothing does.

    The stage (``.NAME.RANDOM.partial``) is renamed to ``dst`` when ``dst`` does not exist, or its files are moved
    over those of ``dst`` one by one (``os.replace``). On any exception, Ctrl-C included, the stage and the
    folders created above it are removed, and an ``OSError`` naming a staged file names its final path instead
    (``error: DST/model.safetensors: No space left on device``).
    """
    created = [a for a in [dst.parent, *dst.parent.parents] if not a.exists()]  # deepest first
    dst.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent))
    try:
        try:
            yield stage
        except OSError as e:
            if e.filename and Path(e.filename).parent == stage:
                raise OSError(e.errno, e.strerror or str(e), str(dst / Path(e.filename).name)) from None
            raise
        os.chmod(stage, 0o777 & ~_umask())  # mkdtemp's 0700 would be the folder's mode
        if not dst.exists():
            os.rename(stage, dst)
            return
        for f in sorted(stage.iterdir()):
            os.replace(f, dst / f.name)
        stage.rmdir()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for a in created:
            with contextlib.suppress(OSError):
                a.rmdir()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_native(model, dst: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a loaded :class:`AudioXModel` as a native folder (config.json + model.safetensors)."""
    out = Path(dst)
    _check_out(out, ["config.json", "model.safetensors"], force)
    sd = model.state_dict()
    shared = [cid for cid, c in model.audio_conditioners().items() if c.pretransform is model.pretransform]
    drop = tuple(vae_prefix(c) for c in shared)
    kept = {k: v.detach().cpu() for k, v in sd.items() if not k.startswith(drop)}
    if not kept:
        raise CheckpointError("model has no tensors to save")
    meta_out = {FORMAT_META: NATIVE_FORMAT, SHARED_VAE_META: ",".join(shared)}
    text = config_to_json(model.config)
    with staged_folder(out) as stage:
        (stage / "config.json").write_text(text)
        write_safetensors(stage / "model.safetensors", kept, meta_out)
    return out / "model.safetensors"
