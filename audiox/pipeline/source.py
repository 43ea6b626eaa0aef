"""Where a model comes from: the folder, its config and sampler defaults, read without loading any weights.

:func:`inspect_model` is what the CLI checks before anything heavy starts; :meth:`AudioXPipeline.from_pretrained`
goes through it too, so a bad ``--model`` gets the same one-line message either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from audiox.config import AudioXConfig
from audiox.errors import InputError
from audiox.pipeline.settings import SamplerSettings, read_defaults

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "assets" / "builtin"


def builtin_model_dir() -> Path | None:
    """The model folder shipped inside the package, or None while none is shipped."""
    return BUILTIN_DIR if (BUILTIN_DIR / "config.json").is_file() else None


@dataclass(frozen=True)
class ModelSource:
    """A model folder checked without loading its weights.

    Attributes:
        path: what was given (folder or weights file); weights: the weights file; config: the parsed config.json.
        defaults: sampler defaults (``generation.json`` beside the weights, else the release's).
    """

    path: Path
    weights: Path
    config: AudioXConfig
    defaults: SamplerSettings

    @property
    def window_seconds(self) -> float:
        """Length of one generated window in seconds (whole latent frames)."""
        cfg = self.config
        return cfg.latent_length * cfg.downsampling_ratio / cfg.sample_rate


def inspect_model(path: str | os.PathLike | None, *, text_encoder_path: str | os.PathLike | None = None,
                  name: str = "--model") -> ModelSource:
    """Check a model folder (or weights file) and read its config and defaults; no weights are loaded.

    Args:
        path: folder with ``config.json`` + ``model.safetensors`` / ``model.ckpt``, or the weights file itself
            (``config.json`` beside it); None: the built-in model.
        text_encoder_path: local T5 folder; checked here when the model needs one that official weights lack.
        name: how the argument is called in messages.

    Raises:
        InputError / MediaError / ConfigError: one line naming the path and what is wrong
        (:func:`audiox.checkpoint.locate.locate_model`).
    """
    from audiox.checkpoint.locate import TORCH_SUFFIXES, locate_model

    if path is None:
        path = builtin_model_dir()
        if path is None:
            raise InputError("no model given: pass a model folder (official config.json + model.ckpt, or a "
                             "native folder); a built-in model is not shipped yet")
    model = locate_model(path, name=name)
    defaults = read_defaults(model.folder)
    if model.weights.suffix.lower() in TORCH_SUFFIXES:  # official checkpoints never hold T5: its folder must be given
        from audiox.models.conditioners.text import resolve_t5_path

        for cond in model.config.model.conditioning.configs:
            if cond.type == "t5" and cond.config.t5_config is None:
                resolve_t5_path(cond.config.t5_model_name, text_encoder_path)
    return ModelSource(model.path, model.weights, model.config, defaults)
