"""The corpus manifest: one JSON object per line in ``DIR/manifest.jsonl``.

Each line describes one 10 s (by default) clip and the inputs of one task. Paths are relative to the folder that
holds the manifest::

    {"id": "000042", "split": "train", "kind": "sfx", "task": "tv2a",
     "audio": "audio/000042.wav", "video": "video/000042.mp4", "image": null,
     "caption": "A dog barks twice, then a bell rings.",
     "audio_prompt": null, "sample_rate": 44100, "seconds": 10.0, "labels": {...}}

``audio_prompt`` is ``null`` or ``{"mode": "inpaint" | "continue", "spans": [[start_s, end_s], ...]}``. ``spans``
are always the regions to *regenerate* (seconds): for ``inpaint`` the holes, for ``continue`` the tail after the
prompt, so the kept prompt is ``[0, spans[0][0]]``. The audio prompt itself is the clip's own ``audio`` file.
``labels`` holds the ground truth (classes, instruments, tempo, key, pitch, event and beat times, sources).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError, MediaError
from audiox.utils.files import atomic_write
from audiox.utils.jsonl import parse_jsonl

SPLITS = ("train", "test")
KINDS = ("sfx", "music")
TASKS = ("t2a", "t2m", "v2a", "v2m", "tv2a", "tv2m", "i2a", "i2m", "inpaint", "continue")
PROMPT_MODES = ("inpaint", "continue")
MANIFEST_NAME = "manifest.jsonl"
_KEYS = ("id", "split", "kind", "task", "audio", "video", "image", "caption", "audio_prompt", "sample_rate",
         "seconds", "labels")


@dataclass(frozen=True)
class ManifestEntry:
    """One corpus clip.

    Args:
        id: unique clip id (also the file stem of its media).
        split: ``"train"`` or ``"test"``.
        kind: ``"sfx"`` (general audio) or ``"music"``.
        task: one of :data:`TASKS`.
        audio: path of the target WAV, relative to the manifest's folder.
        video: path of the MP4 (25 fps) or ``None``.
        image: path of the PNG still or ``None``.
        caption: the text prompt of the task.
        audio_prompt: ``None`` or ``{"mode": ..., "spans": [[start_s, end_s], ...]}`` (regions to regenerate, s).
        sample_rate: audio sample rate in Hz.
        seconds: clip duration in seconds.
        labels: ground truth (free-form JSON object).
    """

    id: str
    split: str
    kind: str
    task: str
    audio: str
    video: str | None
    image: str | None
    caption: str
    audio_prompt: dict[str, Any] | None
    sample_rate: int
    seconds: float
    labels: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_entry(asdict(self))

    def to_json(self) -> str:
        """One manifest line (no newline), keys in the documented order."""
        return json.dumps({k: getattr(self, k) for k in _KEYS}, ensure_ascii=False, separators=(", ", ": "))


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate_entry(obj: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first bad field of a manifest object.

    Args:
        obj: the decoded JSON object of one manifest line.
    """
    missing = [k for k in _KEYS if k not in obj]
    _check(not missing, f"missing keys {missing}")
    extra = sorted(set(obj) - set(_KEYS))
    _check(not extra, f"unknown keys {extra}")
    _check(isinstance(obj["id"], str) and obj["id"] != "", "id: expected a non-empty string")
    _check(obj["split"] in SPLITS, f"split: {obj['split']!r} not one of {SPLITS}")
    _check(obj["kind"] in KINDS, f"kind: {obj['kind']!r} not one of {KINDS}")
    _check(obj["task"] in TASKS, f"task: {obj['task']!r} not one of {TASKS}")
    for key in ("audio", "video", "image"):
        val = obj[key]
        _check(val is None or (isinstance(val, str) and val != ""), f"{key}: expected a relative path or null")
        if isinstance(val, str):
            inside = not os.path.isabs(val) and ".." not in Path(val).parts
            _check(inside, f"{key}: {val!r} must stay inside the folder")
    _check(obj["audio"] is not None, "audio: required")
    _check(isinstance(obj["caption"], str), "caption: expected a string")
    rate, secs = obj["sample_rate"], obj["seconds"]
    _check(isinstance(rate, int) and not isinstance(rate, bool) and rate > 0, "sample_rate: expected a positive int")
    _check(isinstance(secs, (int, float)) and not isinstance(secs, bool) and secs > 0, "seconds: expected > 0")
    _check(isinstance(obj["labels"], dict), "labels: expected an object")
    prompt = obj["audio_prompt"]
    if prompt is not None:
        _check(isinstance(prompt, dict) and set(prompt) == {"mode", "spans"}, "audio_prompt: expected {mode, spans}")
        _check(prompt["mode"] in PROMPT_MODES, f"audio_prompt.mode: {prompt['mode']!r} not one of {PROMPT_MODES}")
        spans = prompt["spans"]
        _check(isinstance(spans, list) and len(spans) > 0, "audio_prompt.spans: expected a non-empty list")
        for span in spans:
            ok = isinstance(span, list) and len(span) == 2 and all(isinstance(x, (int, float)) for x in span)
            _check(ok and 0 <= span[0] < span[1] <= secs + 1e-6, f"audio_prompt.spans: bad span {span!r}")
    task_needs = {"v2a": "video", "v2m": "video", "tv2a": "video", "tv2m": "video", "i2a": "image", "i2m": "image"}
    need = task_needs.get(obj["task"])
    _check(need is None or obj[need] is not None, f"{need}: required by task {obj['task']!r}")
    if obj["task"] in PROMPT_MODES:
        _check(prompt is not None and prompt["mode"] == obj["task"], "audio_prompt: required with mode == task")


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read and validate a ``manifest.jsonl``.

    Args:
        path: the manifest file.

    Returns:
        The entries in file order.

    Raises:
        MediaError: the file is missing or unreadable.
        ConfigError: a line is not UTF-8, not valid JSON or not a valid entry (the message names ``FILE:LINE``).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MediaError(f"{path}: manifest not found") from None
    except OSError as e:
        raise MediaError(f"{path}: unreadable manifest ({e.__class__.__name__})") from None
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for lineno, obj in parse_jsonl(data, str(path)):
        try:
            validate_entry(obj)
            entry = ManifestEntry(**obj)
        except ConfigError as e:
            raise ConfigError(f"{path}:{lineno}: {e}") from None
        if entry.id in seen:
            raise ConfigError(f"{path}:{lineno}: duplicate id {entry.id!r}")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def write_manifest(path: str | os.PathLike[str], entries: Iterable[ManifestEntry]) -> None:
    """Write entries atomically (temporary file in the same folder, then rename).

    Args:
        path: the manifest file to create or replace.
        entries: the entries, written in the given order.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise MediaError(f"{path.parent}: folder does not exist")
    lines = [e.to_json() + "\n" for e in entries]
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(lines)

    atomic_write(path, write)
