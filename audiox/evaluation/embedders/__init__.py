"""Audio embedding networks behind one interface, each loading its published weights from a local path.

Every embedder states its sample rate, the length and hop of the windows it sees, its output width and the hash of
its weights, and maps ``(N, samples)`` mono audio at its own rate to ``(N, frames, D)`` embeddings (one frame per
window; a clip-level network gives one) and, where the network has a classifier head, ``(N, K)`` logits.

- ``aisfx``: the offline sound-effect network SynthBench uses (weights from its wheel), :mod:`.aisfx`
- ``panns-cnn14`` / ``panns-cnn14-16k``: PANNs CNN14 at 32 / 16 kHz, :mod:`.panns`
- ``vggish``: VGGish (torchvggish's port of the TF weights), :mod:`.vggish`
- ``clap``: LAION-CLAP through ``transformers``' ``ClapModel`` from a local folder, :mod:`.clap`

Nothing is downloaded: a missing file is one line naming the published file and where it is published.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiox.errors import CheckpointError, InputError
from audiox.utils.files import file_sha256

HASH_CHARS = 16  # hex digits of the weights hash kept in reports and cache keys


@dataclass(frozen=True)
class Published:
    """Where an embedder's weights come from.

    Attributes:
        file: the published file (or folder) name, e.g. ``Cnn14_mAP=0.431.pth``.
        where: where it is published (a URL or record), for the message when it is missing.
    """

    file: str
    where: str


@dataclass(frozen=True)
class EmbedderOutput:
    """What one pass of an embedder gives.

    Attributes:
        embeddings: ``(N, frames, D)`` float32.
        logits: ``(N, K)`` class logits (pre-sigmoid / pre-softmax), or None when the network has no classifier.
    """

    embeddings: torch.Tensor
    logits: torch.Tensor | None = None


class Embedder(ABC):
    """An embedding network with its exact front end.

    Attributes:
        name: registry name (``panns-cnn14``, ...).
        sample_rate: Hz of the audio :meth:`run` takes.
        window_seconds: length of the audio one output frame sees (s).
        hop_seconds: hop between output frames (s); equal to ``window_seconds`` for non-overlapping windows.
        dims: ``D``, the embedding width.
        classes: ``K``, the classifier width (0 when there is none).
        weights_hash: the first :data:`HASH_CHARS` hex digits of the SHA-256 of the weights file(s).
        weights_path: where the weights were read.
    """

    name: str = ""
    sample_rate: int = 0
    window_seconds: float = 0.0
    hop_seconds: float = 0.0
    dims: int = 0
    classes: int = 0
    weights_hash: str = ""
    weights_path: str = ""

    @abstractmethod
    def run(self, audio: torch.Tensor) -> EmbedderOutput:
        """Embed a batch of clips.

        Args:
            audio: ``(N, samples)`` mono float audio at :attr:`sample_rate`, all of one length.

        Returns:
            The embeddings ``(N, frames, D)`` and, where the network has them, the logits ``(N, K)``.
        """

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """``(N, samples)`` at :attr:`sample_rate` -> ``(N, frames, D)`` embeddings (see :meth:`run`)."""
        return self.run(audio).embeddings

    def describe(self) -> dict[str, Any]:
        """The record a report keeps: name, rate, windows, widths, weights hash and path."""
        return {"name": self.name, "sample_rate": self.sample_rate, "window_seconds": self.window_seconds,
                "hop_seconds": self.hop_seconds, "dims": self.dims, "classes": self.classes,
                "weights_hash": self.weights_hash, "weights": self.weights_path}


def check_audio(audio: torch.Tensor, name: str) -> torch.Tensor:
    """``audio`` as float32 ``(N, samples)``; one line when it is not two-dimensional."""
    if audio.dim() != 2 or audio.shape[0] == 0:
        raise InputError(f"{name}: expected audio of shape (N, samples), got {tuple(audio.shape)}")
    return audio.float()


def file_hash(*paths: Path) -> str:
    """The first :data:`HASH_CHARS` hex digits of the SHA-256 over the bytes of ``paths`` (in order)."""
    return file_sha256(*paths)[:HASH_CHARS]


def weights_file(path: str | Path | None, published: Published, what: str) -> Path:
    """The weights file at ``path`` (or ``path / published.file`` when ``path`` is a folder).

    Raises:
        InputError: one line naming the expected published file and where it is published, when it is missing.
    """
    hint = f"the published {published.file} ({published.where})"
    if path is None:
        raise InputError(f"{what}: no weights given; expected {hint}")
    p = Path(path)
    if p.is_dir():
        p = p / published.file
    if not p.exists():
        raise InputError(f"{what}: {p} not found; expected {hint}")
    return p


def state_dict_of(obj: Any, path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: the object itself or its ``"model"`` / ``"state_dict"`` entry."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise CheckpointError(f"{path}: not a {what} checkpoint (no tensors found)")


def check_layout(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], path: Path,
                 what: str) -> None:
    """Refuse, in one line, a checkpoint whose key names or shapes differ from the published layout.

    Args:
        state: the checkpoint's tensors.
        expected: published key -> shape.
        path: the file, for the message.
        what: the network's name, for the message.
    """
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = ([f"missing {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")]
                 if missing else []) + ([f"unexpected {extra[0]!r}" + (f" and {len(extra) - 1} more"
                                                                      if len(extra) > 1 else "")] if extra else [])
        raise CheckpointError(f"{path}: not a {what} checkpoint ({', '.join(parts)})")
    for k, shape in expected.items():
        if tuple(state[k].shape) != tuple(shape):
            raise CheckpointError(f"{path}: not a {what} checkpoint ({k!r} has shape {tuple(state[k].shape)}, "
                                  f"expected {tuple(shape)})")


EMBEDDERS = ("aisfx", "panns-cnn14", "panns-cnn14-16k", "vggish", "clap")


def published(name: str) -> Published:
    """Where the weights of embedder ``name`` are published."""
    from audiox.evaluation.embedders import aisfx, clap, panns, vggish

    table = {"aisfx": aisfx.PUBLISHED, "panns-cnn14": panns.VARIANTS["panns-cnn14"].published,
             "panns-cnn14-16k": panns.VARIANTS["panns-cnn14-16k"].published, "vggish": vggish.PUBLISHED,
             "clap": clap.PUBLISHED}
    if name not in table:
        raise InputError(f"embedder: unknown {name!r}; expected one of {', '.join(EMBEDDERS)}")
    return table[name]


def load_embedder(name: str, weights: str | Path | None = None) -> Embedder:
    """Load embedder ``name`` from ``weights``: its file, or a folder holding the published file by its name.

    Args:
        name: one of :data:`EMBEDDERS`.
        weights: path (ignored by ``aisfx``, whose weights come with its wheel).
    """
    if name == "aisfx":
        from audiox.evaluation.embedders.aisfx import AisfxEmbedder

        return AisfxEmbedder()
    if name in ("panns-cnn14", "panns-cnn14-16k"):
        from audiox.evaluation.embedders.panns import Cnn14Embedder

        return Cnn14Embedder(weights, variant=name)
    if name == "vggish":
        from audiox.evaluation.embedders.vggish import VggishEmbedder

        return VggishEmbedder(weights)
    if name == "clap":
        from audiox.evaluation.embedders.clap import ClapEmbedder

        return ClapEmbedder(weights)
    raise InputError(f"embedder: unknown {name!r}; expected one of {', '.join(EMBEDDERS)}")
