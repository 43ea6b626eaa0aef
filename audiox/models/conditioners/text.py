"""T5 text conditioner. The T5 encoder is *not* part of model.ckpt: it loads from a local Hugging Face folder.

The folder is given by ``text_encoder_path`` (API), ``--t5-path`` (CLI) or the ``AUDIOX_T5_PATH`` environment
variable. Nothing is downloaded. The official path runs T5 in float16; ``dtype`` chooses otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from audiox.config import T5ConditionerParams
from audiox.errors import ConfigError
from audiox.models.conditioners.features import FeatureMasking, grad_enabled

T5_PATH_ENV = "AUDIOX_T5_PATH"


def resolve_t5_path(name: str, path: str | os.PathLike | None) -> Path:
    """Find the local T5 folder or raise a one-line ConfigError naming the option to set."""
    candidates = [path, os.environ.get(T5_PATH_ENV)]
    for c in candidates:
        if c:
            p = Path(c).expanduser()
            if not (p / "config.json").is_file():
                raise ConfigError(f"text encoder folder {p} has no config.json (expected a local Hugging Face "
                                  f"{name!r} folder)")
            return p
    raise ConfigError(f"text encoder {name!r} is needed but no local copy was given: pass text_encoder_path= "
                      f"(CLI: --t5-path DIR) or set {T5_PATH_ENV} to a Hugging Face {name!r} folder")


def eager_attention(model: nn.Module) -> nn.Module:
    """Run a transformers model with its plain ("eager") attention, as the official fp16 T5 numerics assume.

    transformers 5 sends T5 through SDPA by default, which in fp16 differs from the release by ~1e-3.
    """
    config = getattr(model, "config", None)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    elif config is not None:
        config._attn_implementation = "eager"
    return model


class T5Conditioner(nn.Module):
    """Text list -> tokens (B, max_length, cond_dim) with padding rows zeroed, and a bool mask (B, max_length).

    Halves (see :mod:`audiox.models.conditioners.features`): :meth:`frozen_features` (T5) and :meth:`tokens`.

    Args:
        params: conditioner config (``max_length`` tokens).
        cond_dim: output width; a ``proj_out`` Linear exists only when it differs from the T5 width.
        encoder: a transformers ``T5EncoderModel`` (kept outside the state dict, as in the release).
        tokenizer: the matching tokenizer, or None when callers pass token ids (:meth:`frozen_features`).
        dtype: T5 compute dtype (float16 = official numerics).
    """

    role = "text"
    feature_keys = ("text_hidden", "text_mask")

    def __init__(self, params: T5ConditionerParams, cond_dim: int, *, encoder: nn.Module | None = None,
                 tokenizer=None, dtype: torch.dtype = torch.float16, width: int = 768) -> None:
        super().__init__()
        self.params = params
        self.max_length = params.max_length
        self.dtype_t5 = dtype
        self.tokenizer = tokenizer
        self.__dict__["_external"] = None
        if params.t5_config is not None:
            # Inline encoder: a registered submodule (its weights are checkpoint keys), float32, byte tokenizer.
            from transformers import T5Config, T5EncoderModel

            cfg = T5Config(**params.t5_config)
            width = cfg.d_model
            self.dtype_t5 = None
            self.encoder = eager_attention(T5EncoderModel(cfg))
            if params.tokenizer == "byt5":
                from transformers import ByT5Tokenizer

                self.tokenizer = ByT5Tokenizer()
        self.proj_out = nn.Identity() if width == cond_dim and not params.project_out else nn.Linear(width, cond_dim)
        if encoder is not None:
            self.set_encoder(encoder, tokenizer)

    @property
    def encoder_model(self) -> nn.Module | None:
        """The inline (registered) encoder, else the external one (kept out of the state dict, as in the release)."""
        inline = self._modules.get("encoder")
        return inline if inline is not None else self.__dict__["_external"]

    def set_encoder(self, encoder: nn.Module, tokenizer=None) -> None:
        """Attach an external, frozen encoder (e.g. t5-base from a local folder), cast to the T5 dtype."""
        encoder = eager_attention(encoder.eval().requires_grad_(False))
        self.__dict__["_external"] = encoder.to(self.dtype_t5) if self.dtype_t5 is not None else encoder
        if tokenizer is not None:
            self.tokenizer = tokenizer

    @classmethod
    def from_local(cls, params: T5ConditionerParams, cond_dim: int, path: str | os.PathLike | None = None,
                   dtype: torch.dtype = torch.float16) -> T5Conditioner:
        """Load tokenizer and encoder from a local folder (see :func:`resolve_t5_path`)."""
        from transformers import AutoTokenizer, T5EncoderModel

        folder = resolve_t5_path(params.t5_model_name, path)
        try:
            tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            enc = T5EncoderModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ConfigError(f"text encoder folder {folder} could not be loaded: {str(e).splitlines()[0]}") from None
        return cls(params, cond_dim, encoder=enc, tokenizer=tok, dtype=dtype, width=enc.config.d_model)

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (input_ids, attention_mask), each (B, max_length) int64; right padding, eos kept."""
        if self.tokenizer is None:
            raise ConfigError("text conditioner has no tokenizer: load it with a local text encoder folder")
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding="max_length",
                             return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def frozen_features(self, texts: list[str] | dict[str, torch.Tensor], *, grad: bool = False,
                        ) -> dict[str, torch.Tensor]:
        """The frozen half: texts (or token ids) -> T5 hidden states (what pre-encoding stores).

        Args:
            texts: B strings, or pre-tokenised ``{"input_ids", "attention_mask"}`` (B, L) int64.
            grad: keep gradients when the encoder has trainable parameters (an inline encoder in training; also
                when the config sets ``enable_grad``).

        Returns:
            ``text_hidden`` (B, L, Wt) in the encoder dtype (padding rows not zeroed) and ``text_mask`` (B, L) bool.
        """
        ids, mask = (texts["input_ids"], texts["attention_mask"]) if isinstance(texts, dict) else self.tokenize(texts)
        enc = self.encoder_model
        if enc is None:
            raise ConfigError("text conditioner has no encoder: give a local T5 folder (text_encoder_path / "
                              f"--t5-path / {T5_PATH_ENV})")
        device = next(enc.parameters()).device
        mask = mask.to(device)
        with grad_enabled(enc, grad or self.params.enable_grad):
            h = enc(input_ids=ids.to(device), attention_mask=mask).last_hidden_state
        return {"text_hidden": h, "text_mask": mask.bool()}

    def tokens(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainable half (:func:`text_tokens`): hidden states -> tokens (B, L, cond_dim), mask (B, L)."""
        return text_tokens(self.proj_out, features, masking)

    def forward(self, texts: list[str] | dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens(frozen_features(texts))``: B strings -> tokens (B, L, cond_dim) float32, mask (B, L) bool."""
        return self.tokens(self.frozen_features(texts))


def masked_text(features: dict[str, torch.Tensor], masking: FeatureMasking | None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder states and valid-token mask a text conditioner uses: ``text_hidden`` (B, L, Wt) and
    ``text_mask`` (B, L) bool, with training masking applied (``keep`` drops tokens; ``dropped`` items take the
    empty caption's features from ``masking.empty``)."""
    h, mask = features["text_hidden"], features["text_mask"].bool()
    if masking is not None and masking.keep is not None:
        mask = mask & masking.keep.to(mask.device)
    if masking is not None and masking.dropped is not None:
        drop = masking.dropped.to(mask.device)[:, None]
        mask = torch.where(drop, masking.empty["text_mask"].to(mask)[None], mask)
        h = torch.where(drop[..., None], masking.empty["text_hidden"].to(h), h)
    return h, mask


def text_tokens(proj_out: nn.Module, features: dict[str, torch.Tensor], masking: FeatureMasking | None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainable half of a text conditioner (T5 or sentence encoder): projection, padding rows zeroed.

    Args:
        proj_out: the projection to the token width (a Linear, or Identity when the widths agree).
        features: ``text_hidden`` (B, L, Wt) and ``text_mask`` (B, L) bool.
        masking: training only: ``keep`` (B, L) drops tokens from the mask; ``dropped`` items take the empty
            caption's ``text_hidden`` / ``text_mask`` from ``masking.empty``.

    Returns:
        tokens (B, L, cond_dim) in the projection dtype (float32 for an Identity) and mask (B, L) bool.
    """
    h, mask = masked_text(features, masking)
    dtype = proj_out.weight.dtype if isinstance(proj_out, nn.Linear) else torch.float32
    h = proj_out(h.to(dtype))
    return h * mask[..., None].to(h.dtype), mask
