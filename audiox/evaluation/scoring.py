"""Scoring two folders of audio with a protocol: listing and pairing files, captions, the feature cache.

The cache keeps each set's features on disk (one safetensors file per set), keyed by the protocol (name, version,
clip length), the weights hash of each embedder and the SHA-256 of every file's bytes with its name, so scoring the
same reference set again reads the file back and runs no network.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiox.errors import InputError
from audiox.evaluation.embedders import Embedder
from audiox.evaluation.protocols import PROTOCOL_VERSION, FeatureSet, Protocol
from audiox.utils.files import file_sha256

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
BATCH = 8  # clips embedded together


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/audiox/eval`` (default ``~/.cache/audiox/eval``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "audiox" / "eval"


def list_audio(folder: Path, flag: str) -> dict[str, Path]:
    """Audio files under ``folder`` (recursively) by name: the path relative to it without its suffix.

    Raises:
        InputError: no audio files, or two files of one name (``a.wav`` and ``a.flac``).
    """
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.suffix.lower() not in AUDIO_SUFFIXES or any(s.startswith(".") for s in rel.parts) or not p.is_file():
            continue  # hidden files and folders (and our temporary files) are not clips
        name = rel.with_suffix("").as_posix()
        if name in found:
            raise InputError(f"{flag}: {found[name].name} and {p.name} share the name {name!r}")
        found[name] = p
    if not found:
        raise InputError(f"{flag}: {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return found


def check_pairs(real: Mapping[str, Path], generated: Mapping[str, Path], proto: Protocol) -> None:
    """For a paired protocol, both folders must hold the same names; one line naming the first difference."""
    if not proto.paired:
        return
    only_real, only_gen = sorted(set(real) - set(generated)), sorted(set(generated) - set(real))
    if only_real or only_gen:
        first = (f"{only_real[0]!r} is only in --real" if only_real else f"{only_gen[0]!r} is only in --generated")
        raise InputError(f"--protocol {proto.name} pairs files by name: {first} "
                         f"({len(only_real)} only in --real, {len(only_gen)} only in --generated)")


def read_captions(path: Path, names: Sequence[str], flag: str = "--captions") -> dict[str, str]:
    """Captions by clip name from a JSON object ``{name: caption}`` or a CSV with a ``caption`` column and a name
    column (``name``, ``file``, ``id`` or the first column; a file suffix is dropped).

    Raises:
        InputError: unreadable file, or a name of ``names`` without a caption.
    """
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
                raise InputError(f"{flag}: {path} must be a JSON object of name -> caption")
            table = {str(k): v for k, v in raw.items()}
        else:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if not rows or "caption" not in rows[0]:
                raise InputError(f"{flag}: {path} needs a 'caption' column")
            key = next((k for k in ("name", "file", "id") if k in rows[0]), next(iter(rows[0])))
            table = {Path(r[key]).with_suffix("").as_posix() if Path(r[key]).suffix.lower() in AUDIO_SUFFIXES
                     else r[key]: r["caption"] for r in rows}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise InputError(f"{flag}: cannot read {path} ({type(e).__name__}: {e})") from None
    missing = [n for n in names if n not in table]
    if missing:
        raise InputError(f"{flag}: no caption for {missing[0]!r} ({len(missing)} of {len(names)} clips lack one)")
    return {n: table[n] for n in names}


def cache_key(proto: Protocol, embedders: Mapping[str, Embedder], files: Mapping[str, Path]) -> str:
    """SHA-256 over the protocol, each embedder's weights hash and every ``(name, file SHA-256)``."""
    record = {"protocol": proto.name, "version": PROTOCOL_VERSION, "seconds": proto.seconds,
              "weights": {k: e.weights_hash for k, e in sorted(embedders.items())},
              "files": [[n, file_sha256(files[n])] for n in sorted(files)]}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def load_clip(path: Path, rate: int, seconds: float) -> torch.Tensor:
    """The first ``seconds`` of ``path`` at ``rate`` Hz, mono, zero-padded to exactly ``seconds``: ``(T,)``."""
    from audiox.media import fit_length, load_audio

    x = load_audio(path, sample_rate=rate, channels=1, duration=seconds)
    return fit_length(x, int(round(seconds * rate)))[0]


def embed_files(proto: Protocol, embedders: Mapping[str, Embedder], files: Mapping[str, Path], *,
                progress: Callable[[int], None] | None = None) -> FeatureSet:
    """Run every embedder of the protocol over ``files`` (in name order), :data:`BATCH` clips at a time."""
    names = sorted(files)
    embeddings: dict[str, np.ndarray] = {}
    logits: dict[str, np.ndarray] = {}
    for key in proto.embedders:
        emb = embedders[key]
        outs = []
        for i in range(0, len(names), BATCH):
            batch = torch.stack([load_clip(files[n], emb.sample_rate, proto.seconds) for n in names[i:i + BATCH]])
            outs.append(emb.run(batch))
            if progress is not None:
                progress(len(batch))
        embeddings[key] = torch.cat([o.embeddings for o in outs]).numpy().astype(np.float32)
        if outs[0].logits is not None:
            logits[key] = torch.cat([o.logits for o in outs]).numpy().astype(np.float32)  # type: ignore[misc]
    return FeatureSet(names, embeddings, logits)


def _save(path: Path, fs: FeatureSet, meta: dict[str, Any]) -> None:
    from safetensors.numpy import save_file

    from audiox.utils.files import atomic_write

    tensors = {f"emb/{k}": np.ascontiguousarray(v) for k, v in fs.embeddings.items()}
    tensors.update({f"logits/{k}": np.ascontiguousarray(v) for k, v in fs.logits.items()})
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"names": json.dumps(fs.names),
                                                                      "meta": json.dumps(meta)}), parents=True)


def _load(path: Path) -> FeatureSet | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            names = json.loads(f.metadata()["names"])
            emb = {k[4:]: f.get_tensor(k) for k in f.keys() if k.startswith("emb/")}
            logits = {k[7:]: f.get_tensor(k) for k in f.keys() if k.startswith("logits/")}
    except Exception as e:  # a damaged cache entry is recomputed, never trusted
        log.warning("feature cache %s unreadable (%s); recomputing", path, e)
        return None
    return FeatureSet(names, emb, logits)


def features(proto: Protocol, embedders: Mapping[str, Embedder], files: Mapping[str, Path], *,
             cache_dir: Path | None, progress: Callable[[int], None] | None = None) -> tuple[FeatureSet, str]:
    """A set's features, from the cache when its key matches, else embedded (and cached when ``cache_dir``).

    Returns:
        ``(features, how)`` with ``how`` one of ``"cache hit"``, ``"computed"`` (and cached), ``"computed (no
        cache)"``.
    """
    if cache_dir is None:
        return embed_files(proto, embedders, files, progress=progress), "computed (no cache)"
    key = cache_key(proto, embedders, files)
    path = cache_dir / f"{proto.name}-{key[:32]}.safetensors"
    if path.is_file():
        cached = _load(path)
        if cached is not None and cached.names == sorted(files) and set(cached.embeddings) == set(proto.embedders):
            return cached, "cache hit"
    fs = embed_files(proto, embedders, files, progress=progress)
    _save(path, fs, {"protocol": proto.name, "key": key})
    return fs, "computed"
