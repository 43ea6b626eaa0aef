"""Where a model's files are: its weights and its parsed ``config.json``, checked without reading any weights.

A model is a folder with ``config.json`` and ``model.safetensors`` (native) or ``model.ckpt`` (official), or a
weights file with ``config.json`` beside it. :func:`locate_model` is the one check of such an argument, used by
every command before anything heavy starts and by :func:`audiox.pipeline.source.inspect_model`. Its messages are
one line each: ``<path>: <argument> <what is wrong>``. Only the standard library and the config parser are imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.config import AudioXConfig, load_config
from audiox.errors import MediaError
from audiox.utils import checks

WEIGHT_NAMES = ("model.safetensors", "model.ckpt")  # in a model folder, in this order
SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")  # torch.save files (official checkpoints)
WEIGHT_SUFFIXES = SAFETENSORS_SUFFIXES + TORCH_SUFFIXES


@dataclass(frozen=True)
class ModelFiles:
    """A located model. ``path``: what was given; ``weights`` / ``config_path``: its files; ``config``: parsed."""

    path: Path
    weights: Path
    config_path: Path
    config: AudioXConfig

    @property
    def folder(self) -> Path:
        """The folder that holds the weights."""
        return self.weights.parent


def find_weights(folder: Path, name: str = "model") -> Path:
    """``model.safetensors`` or ``model.ckpt`` in ``folder``; ``name`` is the argument named in the message."""
    for n in WEIGHT_NAMES:
        if (folder / n).is_file():
            return folder / n
    raise MediaError(f"{folder}: {name} folder holds no {' or '.join(WEIGHT_NAMES)}")


def locate_model(value: Any, *, name: str = "--model", presets: Sequence[str] = (), config: Any = None,
                 config_flag: str | None = None) -> ModelFiles:
    """Check a model folder (or weights file) and parse its config; no weights are read.

    Args:
        value: a model folder, or a weights file (``.safetensors``, ``.ckpt``, ...) with ``config.json`` beside it.
        name: how the argument is called in messages.
        presets: preset names the argument may also take (the caller handles them; named when nothing is found).
        config: a ``config.json`` given separately (then none is needed beside the weights).
        config_flag: the option that gives ``config`` (named in messages); None when there is none.

    Raises:
        InputError / MediaError / ConfigError: one line naming the path and what is wrong.
    """
    s = checks.path_arg(name, value)
    p = Path(s)
    if not p.exists():
        if presets:
            expected = f"a preset ({', '.join(presets)}), a model folder or a weights file"
        else:
            expected = f"a model folder (config.json + {' or '.join(WEIGHT_NAMES)}) or a weights file"
            if os.sep not in s and "/" not in s and not p.suffix:
                expected += " (preset names such as 'debug' work with `audiox train` and `audiox preencode` only)"
        raise MediaError(f"{p}: {name} not found; expected {expected}")
    if p.is_dir():
        weights = find_weights(p, name)
    else:
        weights = checks.input_file(name, s)
        if weights.suffix.lower() not in WEIGHT_SUFFIXES:
            raise MediaError(f"{p}: {name} is not a model folder or a weights file ({', '.join(WEIGHT_SUFFIXES)})")
    if config is not None:
        cfg_path = checks.input_file(config_flag or "--config", config)
    else:
        cfg_path = weights.parent / "config.json"
        if not cfg_path.is_file():
            hint = f"; pass {config_flag}" if config_flag else ""
            raise MediaError(f"{p}: {name} has no config.json beside the weights{hint}")
    return ModelFiles(p, weights, cfg_path, load_config(cfg_path))

