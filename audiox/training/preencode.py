"""The frozen half of a training step, and ``preencode``: running it once and storing the results in shards.

Frozen outputs per item: the VAE encoder output of the target window (mean | scale, before the posterior draw),
CLIP hidden states of every video frame before the temporal transformer, the T5 hidden states and mask, and the
audio-prompt VAE encoder output. A pre-encoded folder (``meta.json``, ``index.jsonl``, ``empty.safetensors``,
``shard-NNNNN.safetensors``) is read by :class:`audiox.data.dataset.PreEncodedDataset`; training on it never runs
the frozen encoders. Long clips become one item per ``sample_size`` window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiox.data.dataset import (
    PREENCODED_EMPTY,
    PREENCODED_FORMAT,
    PREENCODED_INDEX,
    PREENCODED_META,
    build_item,
    collate,
)
from audiox.data.manifest import read_manifest
from audiox.errors import AudioXError, ConfigError, InputError
from audiox.geometry import Geometry
from audiox.models.conditioners.audio import set_audio_channels
from audiox.utils.dtypes import torch_dtype
from audiox.utils.files import atomic_write

log = logging.getLogger(__name__)

_FROZEN_RX = re.compile(r"(^|\.)pretransform\.|^conditioner\.conditioners\.[^.]+\.(visual_encoder_model|encoder)\.")


def frozen_conditioners(model: nn.Module) -> dict[str, nn.Module]:
    """The model's conditioners by id, for training: each reads its batch key (``role``) and stores its
    features under its own names (``feature_keys``), so no two may share a feature name."""
    conds = model.conditioner.conditioners
    owner: dict[str, str] = {}
    for cid, c in conds.items():
        if c.role is None:
            raise ConfigError(f"training: conditioner {cid!r} ({model.conditioner.types[cid]}) has no input in "
                              "the training data")
        for k in c.feature_keys:
            if k in owner:
                raise ConfigError(f"training stores one {k!r} per item, but conditioners {owner[k]!r} and {cid!r} "
                                  "both make it")
            owner[k] = cid
    return dict(conds)


def tensor_fingerprint(named: list[tuple[str, torch.Tensor]]) -> str:
    """A short hash of (name, tensor) pairs: each name and the first 256 values of its tensor, in the given order."""
    h = hashlib.sha256()
    for name, t in named:
        h.update(name.encode())
        h.update(t.detach().flatten()[:256].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def frozen_fingerprint(model: nn.Module) -> str:
    """A short hash of the frozen encoders' weights (VAE, CLIP, text encoder), to match pre-encoded data."""
    named = [(n, t) for n, t in sorted(model.state_dict().items()) if _FROZEN_RX.search(n)]
    for c in model.conditioner.conditioners.values():  # an external text encoder is not in the state dict
        if c._modules.get("encoder") is None and getattr(c, "encoder_model", None) is not None:
            named += sorted(c.encoder_model.state_dict().items())[:16]
    return tensor_fingerprint(named)


def encode_frozen(model: nn.Module, batch: dict[str, Any], *, grad: bool = False) -> dict[str, torch.Tensor]:
    """Run the frozen halves on a raw batch: the main VAE encoder and each conditioner's ``frozen_features``.

    Args:
        model: the AudioXModel.
        batch: ``audio`` (B, C, S) target audio; each conditioner's input under its ``role``: ``video``
            (B, T, 3, H, W) 0..255, ``text`` list of B str, ``audio_prompt`` (B, C, P); each is encoded when present.
        grad: keep gradients for encoders that have trainable parameters (CLIP, an inline T5).

    Returns:
        ``latents_raw`` (B, 2D, N) float32, and every present conditioner's features: ``video_features``
        (B, T, Q, W) and ``video_empty`` (B,) bool; ``text_hidden`` (B, L, Wt) and ``text_mask`` (B, L) bool;
        ``prompt_raw`` (B, 2D', Np) and ``prompt_empty`` (B,) bool (an all-zero video / prompt means "absent").
    """
    out: dict[str, torch.Tensor] = {}
    if "audio" in batch:
        vae = model.pretransform.model
        w = next(vae.parameters())
        with torch.no_grad():
            out["latents_raw"] = vae.encode_raw(set_audio_channels(batch["audio"], vae.io_channels).to(w)).float()
    for c in frozen_conditioners(model).values():
        if c.role in batch:
            out.update(c.frozen_features(batch[c.role], grad=grad))
    return out


def _windows(seconds: float, geo: Geometry) -> list[int]:
    n = max(1, math.ceil(round(seconds * geo.sample_rate) / geo.sample_size))
    return [k * geo.sample_size for k in range(n)]


@torch.no_grad()
def preencode(model: nn.Module, manifest: str | os.PathLike, out: str | os.PathLike, *, split: str | None = "train",
              batch_size: int = 8, shard_items: int = 256, dtype: str = "fp32", force: bool = False,
              progress: bool = False) -> dict[str, Any]:
    """Encode every window of every manifest entry with the frozen encoders and write shards to ``out``.

    Args:
        model: the AudioXModel whose frozen encoders to run (the one you will train).
        manifest: ``manifest.jsonl``; entries of ``split`` (None = all).
        out: output folder (must be empty unless ``force``).
        batch_size: items per encoder call. shard_items: items per shard file.
        dtype: storage dtype of the CLIP and T5 features ("fp32", "fp16", "bf16"); VAE outputs stay float32.

    Returns:
        Summary: ``items``, ``shards``, ``skipped`` (unreadable entries, logged by path), ``folder``.
    """
    from safetensors.torch import save_file

    fdt = torch_dtype(dtype)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError(f"{out}: folder is not empty; pass --force to overwrite")
    model = model.eval()
    geo = model.config.geometry
    root = Path(manifest).parent
    entries = [e for e in read_manifest(manifest) if split is None or e.split == split]
    if not entries:
        raise InputError(f"{manifest}: no {split or 'manifest'} entries to pre-encode")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(e, off) for e in entries for off in _windows(e.seconds, geo)]
    index: list[dict[str, Any]] = []
    shard: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    n_shards = 0
    video_shape: list[int] | None = None

    def flush() -> None:
        nonlocal shard, n_shards
        if shard:
            name = f"shard-{n_shards:05d}.safetensors"
            tensors = dict(shard)
            atomic_write(out / name, lambda tmp: save_file(tensors, tmp))
            n_shards += 1
            shard = {}

    for start in range(0, len(jobs), batch_size):
        items = []
        for e, off in jobs[start:start + batch_size]:
            try:
                items.append(build_item(e, root, geo, 0, offset=off))
            except (AudioXError, OSError, RuntimeError, ValueError) as err:
                log.warning("skipping unreadable sample %s (%s: %s)", root / e.audio, type(err).__name__, err)
                skipped.append(str(root / e.audio))
        if not items:
            continue
        feats = encode_frozen(model, collate(items))
        for i, it in enumerate(items):
            key = str(len(index))
            shard_name = f"shard-{n_shards:05d}.safetensors"
            rec = {"id": it["id"], "shard": shard_name, "key": key, "path": it["path"], "task": it["task"],
                   "text": it["text"], "offset": it["offset"], "video_empty": False, "prompt_empty": False}
            shard[f"{key}/latents_raw"] = feats["latents_raw"][i].float().contiguous()
            shard[f"{key}/padding_mask"] = it["padding_mask"].contiguous()
            if "video_features" in feats:
                video_shape = list(feats["video_features"].shape[1:])
                rec["video_empty"] = bool(feats["video_empty"][i])
                v = feats["video_features"][i].to(fdt)
                shard[f"{key}/video_features"] = (v[:0].reshape(0) if rec["video_empty"] else v).contiguous()
            if "text_hidden" in feats:
                shard[f"{key}/text_hidden"] = feats["text_hidden"][i].to(fdt).contiguous()
                shard[f"{key}/text_mask"] = feats["text_mask"][i].cpu().contiguous()
            if "prompt_raw" in feats:
                rec["prompt_empty"] = bool(feats["prompt_empty"][i])
                shard[f"{key}/prompt_raw"] = feats["prompt_raw"][i].float().contiguous()
            shard = {k: v.cpu() for k, v in shard.items()}
            index.append(rec)
            if len(index) % shard_items == 0:
                flush()
        if progress:
            log.info("pre-encoded %d / %d windows", min(start + batch_size, len(jobs)), len(jobs))
    flush()
    if not index:
        if created and not any(out.iterdir()):
            out.rmdir()  # refused: leave no empty output folder behind
        raise InputError(f"{manifest}: no readable entries to pre-encode")
    _write_empty(model, geo, out, fdt)
    tensors = sorted({k.split("/", 1)[1] for k in _first_shard_keys(out, index)})
    lines = "".join(json.dumps(r) + "\n" for r in index)
    atomic_write(out / PREENCODED_INDEX, lambda tmp: Path(tmp).write_text(lines))
    meta = {"format": PREENCODED_FORMAT, "version": 1, "geometry": geo.to_dict(), "tensors": tensors,
            "video_features_shape": video_shape, "feature_dtype": dtype, "items": len(index), "shards": n_shards,
            "skipped": skipped, "source": str(Path(manifest).resolve()), "fingerprint": frozen_fingerprint(model)}
    atomic_write(out / PREENCODED_META, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
    log.info("pre-encoded %d windows into %d shards in %s (%d unreadable skipped)", len(index), n_shards, out,
             len(skipped))
    return {"items": len(index), "shards": n_shards, "skipped": skipped, "folder": str(out)}


def _first_shard_keys(out: Path, index: list[dict[str, Any]]) -> list[str]:
    from safetensors import safe_open

    rec = index[0]
    with safe_open(str(out / rec["shard"]), framework="pt") as f:
        return [k for k in f.keys() if k.startswith(rec["key"] + "/")]


def _write_empty(model: nn.Module, geo: Geometry, out: Path, fdt: torch.dtype) -> None:
    """Encodings of the empty text and of a silent audio prompt (modality dropout, prompt masking)."""
    from safetensors.torch import save_file

    batch: dict[str, Any] = {"text": [""]}
    if geo.prompt_samples:
        batch["audio_prompt"] = torch.zeros(1, geo.channels, geo.prompt_samples)
    if geo.video_frames:
        batch["video"] = torch.zeros(1, geo.video_frames, 3, geo.video_size, geo.video_size, dtype=torch.uint8)
    feats = encode_frozen(model, batch)
    tensors = {}
    if "text_hidden" in feats:
        tensors["text_hidden"] = feats["text_hidden"][0].to(fdt).cpu().contiguous()
        tensors["text_mask"] = feats["text_mask"][0].cpu().contiguous()
    if "prompt_raw" in feats:
        tensors["prompt_raw"] = feats["prompt_raw"][0].float().cpu().contiguous()
    atomic_write(out / PREENCODED_EMPTY, lambda tmp: save_file(tensors, tmp))
