"""Loading official-format (and native) AudioX checkpoints into :class:`AudioXModel`.

Key matching is strict: missing, unexpected and mis-shaped tensors are reported in one short message (counts
and the first names; the full lists at debug level). The only
tolerated extra key is CLIP's ``position_ids`` (non-persistent in recent transformers). When the duplicated VAE
under ``conditioner.conditioners.<audio id>.pretransform.model.*`` equals ``pretransform.model.*``, one copy is
kept in memory.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import torch

from audiox.checkpoint.io import MAPPED_META, read_state_dict
from audiox.checkpoint.locate import find_weights
from audiox.config import AudioXConfig, load_config
from audiox.errors import CheckpointError
from audiox.models.audiox import AudioXModel
from audiox.models.autoencoder import AutoencoderPretransform
from audiox.models.conditioners.video import VideoConditioner

log = logging.getLogger(__name__)

IGNORED_KEY_PATTERNS = (re.compile(r".*visual_encoder_model\.vision_model\.embeddings\.position_ids$"),)
FLOAT32_KEYS = (re.compile(r".*rotary_pos_emb\.inv_freq$"),)
SHARED_VAE_META = "audiox.shared_vae"  # native-format metadata: comma-separated conditioner ids stored once


def vae_prefix(cond_id: str) -> str:
    return f"conditioner.conditioners.{cond_id}.pretransform."


def infer_clip_overrides(sd: dict[str, torch.Tensor], cfg: AudioXConfig) -> dict[str, dict]:
    """CLIP vision geometry per video conditioner id, read from the state-dict shapes (depth, MLP, width...)."""
    out = {}
    for c in cfg.model.conditioning.configs:
        if c.type != "clip":
            continue
        pre = f"conditioner.conditioners.{c.id}.visual_encoder_model."
        layer_re = re.compile(re.escape(pre) + r"vision_model\.encoder\.layers\.(\d+)\.")
        layers = {int(m.group(1)) for k in sd if (m := layer_re.match(k))}
        try:
            hidden = sd[pre + "vision_model.embeddings.class_embedding"].shape[0]
            patch = sd[pre + "vision_model.embeddings.patch_embedding.weight"].shape[-1]
            n_pos = sd[pre + "vision_model.embeddings.position_embedding.weight"].shape[0]
            inter = sd[pre + "vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
            proj = sd[pre + "visual_projection.weight"].shape[0]
        except KeyError:
            continue  # the strict key check will report what is missing
        side = math.isqrt(n_pos - 1)
        out[c.id] = dict(hidden_size=hidden, patch_size=patch, image_size=side * patch, intermediate_size=inter,
                         num_hidden_layers=len(layers), projection_dim=proj, num_attention_heads=max(hidden // 64, 1))
    return out


def build_meta_model(cfg: AudioXConfig, clip_overrides: dict | None = None) -> AudioXModel:
    """The model with every tensor on the ``meta`` device (no memory); used for key checks and fast loading."""
    overrides = next(iter((clip_overrides or {}).values()), None)
    with torch.device("meta"):
        return AudioXModel(cfg, clip_overrides=overrides)


MAX_KEYS_MESSAGE = 300  # characters of a key-mismatch message besides the file name


def check_keys(expected: dict[str, torch.Size], sd: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise one short CheckpointError naming how many tensors are missing, unexpected and mis-shaped, with the
    first of each (as many as fit :data:`MAX_KEYS_MESSAGE`); the full lists are logged at debug level
    (``audiox -v``)."""
    got = {k for k in sd if not any(p.match(k) for p in IGNORED_KEY_PATTERNS)}
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in sd if k not in expected and k in got]
    shapes = [f"{k} (file {list(sd[k].shape)} vs model {list(expected[k])})"
              for k in expected if k in got and tuple(sd[k].shape) != tuple(expected[k])]
    groups = [(n, what) for n, what in ((missing, "missing"), (unexpected, "unexpected"),
                                        (shapes, "shape mismatches")) if n]
    if not groups:
        return
    for names, what in groups:
        log.debug("%s: %d tensors %s: %s", source, len(names), what, ", ".join(names))
    parts = [f"{len(names)} {what}" for names, what in groups]

    def body(parts: list[str]) -> str:
        return f"does not match the model config: {'; '.join(parts)} (`audiox -v` lists them all)"

    for i, (names, _) in enumerate(groups):  # the first name of each group, while the message stays short
        trial = [*parts[:i], f"{parts[i]} (first: {names[0]})", *parts[i + 1:]]
        if len(body(trial)) <= MAX_KEYS_MESSAGE:
            parts = trial
    raise CheckpointError(f"{source} {body(parts)}")


def expand_shared(sd: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, torch.Tensor]:
    """Re-create the duplicate VAE keys that a native file stores once."""
    ids = [i for i in meta.get(SHARED_VAE_META, "").split(",") if i]
    if not ids:
        return sd
    out = dict(sd)
    for cid in ids:
        for k, v in sd.items():
            if k.startswith("pretransform."):
                out[vae_prefix(cid) + k[len("pretransform."):]] = v
    return out


def identical_vae_ids(sd: dict[str, torch.Tensor], cfg: AudioXConfig) -> list[str]:
    """Audio conditioner ids whose VAE copy in ``sd`` equals the main VAE tensor for tensor."""
    main = {k[len("pretransform."):]: v for k, v in sd.items() if k.startswith("pretransform.")}
    ids = []
    for c in cfg.model.conditioning.configs:
        if c.type != "audio_autoencoder":
            continue
        pre = vae_prefix(c.id)
        copy = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
        if copy.keys() == main.keys() and all(
            copy[k].shape == main[k].shape and copy[k].dtype == main[k].dtype and torch.equal(copy[k], main[k])
            for k in main
        ):
            ids.append(c.id)
    return ids


def _materialize_nonpersistent(model: AudioXModel, device: torch.device) -> None:
    from audiox.models.conditioners.video import CLIP_MEAN, CLIP_STD

    for mod in model.modules():
        if isinstance(mod, AutoencoderPretransform) and isinstance(mod.scale, torch.Tensor) and mod.scale.is_meta:
            mod.scale = mod.scale_tensor(device)
        if isinstance(mod, VideoConditioner):
            mod.clip_mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
            mod.clip_std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
        for name, buf in list(mod.named_buffers(recurse=False)):
            if buf is not None and buf.is_meta and name == "position_ids":
                setattr(mod, name, torch.arange(buf.shape[-1], device=device).expand(1, -1).contiguous())
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"internal: tensors left uninitialised after loading: {', '.join(left[:5])}")


def dtype_plan(cfg: AudioXConfig, dtype: torch.dtype, decoder_dtype: torch.dtype = torch.float32,
               ) -> Callable[[str], torch.dtype]:
    """The dtype of each checkpoint key for inference: the DiT and the video (CLIP) conditioners in ``dtype``, the
    VAE decoders in ``decoder_dtype``, the rest (VAE encoders, text projections, ...) in float32 (a bf16 encoder's
    latents differ by 1-38 dB SNR on real sounds: docs/fast_inference.md)."""
    fast = ("model.", *(f"conditioner.conditioners.{c.id}." for c in cfg.model.conditioning.configs
                        if c.type == "clip"))
    decoders = tuple(f"{pre}model.decoder." for pre in ("pretransform.", *(
        vae_prefix(c.id) for c in cfg.model.conditioning.configs if c.type == "audio_autoencoder")))

    def of(key: str) -> torch.dtype:
        return decoder_dtype if key.startswith(decoders) else dtype if key.startswith(fast) else torch.float32

    return of


def load_state_dict_into(model: AudioXModel, sd: dict[str, torch.Tensor], *,
                         dtype: torch.dtype | Callable[[str], torch.dtype] | None = None,
                         device: str | torch.device = "cpu", source: str = "checkpoint",
                         share_vae: bool = True, mapped: bool = False) -> list[str]:
    """Strictly load ``sd`` into a (meta or real) model, casting floats to ``dtype``; returns shared VAE ids.

    A tensor with NaN or infinite values is refused, naming it (:func:`audiox.checkpoint.io.check_finite`).

    ``dtype`` is one dtype or a function of the key (:func:`dtype_plan`). Tensors are cast one at a time and
    removed from ``sd`` as they go, so no second full-precision copy of the model is held while loading.
    ``mapped``: ``sd`` is a file mapping (:data:`audiox.checkpoint.io.MAPPED_META`); the pages of every tensor that
    was cast or skipped are released as soon as it is done (:func:`audiox.checkpoint.io.release_pages`).
    """
    from audiox.checkpoint.io import check_finite, release_pages

    check_keys({k: v.shape for k, v in model.state_dict().items()}, sd, source)
    device = torch.device(device)
    shared = identical_vae_ids(sd, model.config) if share_vae else []
    if shared:
        for cid in shared:
            model.conditioner.conditioners[cid].pretransform = model.pretransform
    target = {}
    skip = {k for k in sd if any(k.startswith(vae_prefix(cid)) for cid in shared)}  # replaced by the main VAE below
    for k in list(sd):
        src = sd.pop(k)
        if k in skip or any(p.match(k) for p in IGNORED_KEY_PATTERNS):
            if mapped:
                release_pages(src)
            continue
        check_finite(k, src, source)
        if src.is_floating_point():
            want = dtype(k) if callable(dtype) else (dtype or src.dtype)
            keep32 = any(p.match(k) for p in FLOAT32_KEYS)
            v = src.to(device=device, dtype=torch.float32 if keep32 else want)
        else:
            v = src.to(device)
        if mapped and v.data_ptr() != src.data_ptr():
            release_pages(src)
        target[k] = v
    for cid in shared:  # the tied module receives the main VAE's tensors under both prefixes
        pre = vae_prefix(cid)
        for k in [k for k in target if k.startswith("pretransform.")]:
            target[pre + k[len("pretransform."):]] = target[k]
    model.load_state_dict(target, strict=True, assign=True)
    # Parameters must own a float dtype that autograd accepts; keep requires_grad as built.
    _materialize_nonpersistent(model, device)
    return shared


def load_model(path: str | os.PathLike, *, config: str | os.PathLike | None = None,
               dtype: torch.dtype | Callable[[AudioXConfig], Callable[[str], torch.dtype]] | None = None,
               device: str | torch.device = "cpu", text_encoder_path: str | os.PathLike | None = None,
               require_text_encoder: bool = False, t5_dtype: torch.dtype = torch.float16) -> AudioXModel:
    """Load an official (``config.json`` + ``model.ckpt``) or native (``config.json`` + ``model.safetensors``) model.

    Args:
        path: a model folder, or a weights file (then ``config`` or a ``config.json`` beside it is used).
        dtype: parameter dtype (default: float32; official weights are stored in float32), or a function of the
            config giving each key's dtype (e.g. ``lambda cfg: dtype_plan(cfg, torch.bfloat16)``).
        device: target device.
        text_encoder_path: local Hugging Face T5 folder for ``t5`` conditioners (or env ``AUDIOX_T5_PATH``).
        require_text_encoder: fail when a T5 conditioner has no encoder (generation needs it; conversion not).
    """
    p = Path(path)
    weights = find_weights(p) if p.is_dir() else p
    cfg_path = Path(config) if config else (p if p.is_dir() else p.parent) / "config.json"
    cfg = load_config(cfg_path)
    sd, meta = read_state_dict(weights)
    sd = expand_shared(sd, meta)
    model = build_meta_model(cfg, infer_clip_overrides(sd, cfg))
    plan = dtype(cfg) if callable(dtype) else (dtype or torch.float32)
    shared = load_state_dict_into(model, sd, dtype=plan, device=device, source=str(weights),
                                  mapped=meta.get(MAPPED_META) == "1")
    del sd
    if shared:
        log.info("VAE copy of %s equals the main VAE: one copy kept in memory", ", ".join(shared))
    attach_text_encoders(model, text_encoder_path, required=require_text_encoder, dtype=t5_dtype, device=device)
    return model.eval()


def attach_text_encoders(model: AudioXModel, path: str | os.PathLike | None, *, required: bool,
                         dtype: torch.dtype = torch.float16, device: str | torch.device = "cpu") -> None:
    """Load the local T5 of every ``t5`` conditioner; raise the ConfigError from :func:`resolve_t5_path` if required."""
    from audiox.errors import ConfigError
    from audiox.models.conditioners.text import T5Conditioner

    for cid in model.conditioner.ids_of_type("t5"):
        cond: T5Conditioner = model.conditioner.conditioners[cid]
        if cond.encoder_model is not None:
            continue
        try:
            loaded = T5Conditioner.from_local(cond.params, model.conditioner.cond_dim, path, dtype=dtype)
        except ConfigError:
            if required:
                raise
            continue
        cond.set_encoder(loaded.encoder_model.to(device), loaded.tokenizer)
