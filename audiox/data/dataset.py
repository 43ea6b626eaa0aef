"""Training datasets over a manifest (raw media) or a pre-encoded folder, a resumable sampler, and the collate.

Raw items (:class:`ManifestDataset`, also built from WebDataset samples by :mod:`audiox.data.webdataset`):

- ``audio`` (C, S) float32: a window of ``sample_size`` samples (random offset aligned to the VAE hop, zero-padded
  at the end) and ``padding_mask`` (S,) bool, True on real samples;
- ``video`` (T, 3, H, W) uint8: the video frames of that window at the model's fps, an image repeated, or all
  zeros (the "no video" input) when the entry has neither;
- ``text``: the caption;
- ``audio_prompt`` (C, P) float32 per task: ``inpaint`` -> the window with the regions to regenerate zeroed;
  ``continue`` -> the kept head of the clip (its last P samples, left-padded); other tasks -> zeros ("no audio").

Unreadable items are never fatal: the failure is logged with its path and a replacement (the next index) is
tried; the paths of the failures ride along in the item's ``skipped`` list so the trainer can count them.
Randomness comes only from the ``draw`` seed the sampler attaches to each index, so a batch is a pure function of
(seed, position) whatever the worker layout.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler, default_collate

from audiox.data.manifest import ManifestEntry, read_manifest
from audiox.errors import AudioXError, ConfigError, InputError
from audiox.geometry import Geometry

log = logging.getLogger(__name__)

PREENCODED_FORMAT = "audiox-preencoded"
PREENCODED_META = "meta.json"
PREENCODED_INDEX = "index.jsonl"
PREENCODED_EMPTY = "empty.safetensors"
# per-item tensors in the shards, stored as "<n>/<name>"
PREENCODED_TENSORS = ("latents_raw", "padding_mask", "video_features", "text_hidden", "text_mask", "prompt_raw")
_MIX = 0x9E3779B97F4A7C15


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix-style), for per-position generators."""
    h = 0
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * _MIX & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def build_item(entry: ManifestEntry, root: Path, geo: Geometry, draw: int, *, random_crop: bool = True,
               offset: int | None = None) -> dict[str, Any]:
    """Load one raw training item (see the module docstring for the keys and shapes).

    Args:
        entry: the manifest entry; its paths are relative to ``root``.
        draw: seed of this draw (crop offset).
        random_crop: draw the window offset; False takes the window at 0.
        offset: a fixed window offset in samples (overrides ``random_crop``).

    Raises:
        MediaError / InputError: unreadable or inconsistent media.
    """
    from audiox.media import fit_length, load_audio, load_image_as_video, read_video_frames

    sr, s = geo.sample_rate, geo.sample_size
    audio = load_audio(root / entry.audio, sample_rate=sr, channels=geo.channels)  # (C, L)
    length = audio.shape[1]
    if offset is not None:
        if not 0 <= offset < length:
            raise InputError(f"{entry.audio}: window offset {offset} outside the clip ({length} samples)")
    elif random_crop and length > s:
        g = torch.Generator().manual_seed(draw)
        offset = int(torch.randint((length - s) // geo.hop + 1, (1,), generator=g)) * geo.hop
    else:
        offset = 0
    window = fit_length(audio[:, offset:offset + s], s)
    padding_mask = torch.arange(s) < (length - offset)
    item: dict[str, Any] = {"id": entry.id, "path": str(root / entry.audio), "task": entry.task,
                            "text": entry.caption, "audio": window, "padding_mask": padding_mask,
                            "offset": offset / sr}
    if geo.video_frames:
        seconds = geo.video_frames / geo.video_fps
        if entry.video is not None:
            video = read_video_frames(root / entry.video, fps=geo.video_fps, seconds=seconds, start=offset / sr,
                                      size=geo.video_size)
        elif entry.image is not None:
            video = load_image_as_video(root / entry.image, n_frames=geo.video_frames, size=geo.video_size)
        else:
            video = torch.zeros(geo.video_frames, 3, geo.video_size, geo.video_size, dtype=torch.uint8)
        item["video"] = video
    if geo.prompt_samples:
        p = geo.prompt_samples
        prompt = torch.zeros(geo.channels, p)
        if entry.audio_prompt is not None and entry.audio_prompt["mode"] == "inpaint":
            holes = window.clone()
            for a, b in entry.audio_prompt["spans"]:
                lo, hi = max(round(a * sr) - offset, 0), min(round(b * sr) - offset, s)
                if hi > lo:
                    holes[:, lo:hi] = 0
            prompt = fit_length(holes, p)
        elif entry.audio_prompt is not None:  # continue: the kept head [0, first span start)
            head = audio[:, :round(entry.audio_prompt["spans"][0][0] * sr)]
            prompt = fit_length(head, p, align="right")
        item["audio_prompt"] = prompt
    return item


class ManifestDataset(Dataset):
    """Raw items from a ``manifest.jsonl`` (paths relative to its folder).

    Args:
        manifest: the manifest file.
        geometry: what the model expects.
        split: keep only entries of this split (None = all).
        random_crop: random window offsets (False: offset 0).
        max_tries: replacements tried after an unreadable item before raising.
        task_prompt_prob / everyday_prob: which text an item shows (:func:`audiox.data.captions.pick_text`);
            the defaults (1, 0) show the manifest caption.
    """

    def __init__(self, manifest: str | os.PathLike, geometry: Geometry, *, split: str | None = "train",
                 random_crop: bool = True, max_tries: int = 8, task_prompt_prob: float = 1.0,
                 everyday_prob: float = 0.0) -> None:
        self.root = Path(manifest).parent
        entries = read_manifest(manifest)
        self.entries = [e for e in entries if split is None or e.split == split]
        if not self.entries:
            raise ConfigError(f"{manifest}: no entries with split {split!r}")
        self.geometry = geometry
        self.random_crop = random_crop
        self.max_tries = max_tries
        self.text_probs = {"task_prompt_prob": task_prompt_prob, "everyday_prob": everyday_prob}

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int, draw: int) -> dict[str, Any]:
        from audiox.data.captions import pick_text, text_options

        entry = self.entries[index]
        item = build_item(entry, self.root, self.geometry, draw, random_crop=self.random_crop)
        texts = text_options(entry.caption, entry.labels)
        item["text"] = texts[pick_text(texts, draw, index, **self.text_probs)]
        return item

    def describe(self, index: int) -> str:
        return str(self.root / self.entries[index].audio)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return load_with_fallback(self, key, self.max_tries)


def load_with_fallback(ds: Any, key: int | tuple[int, int], max_tries: int) -> dict[str, Any]:
    """``ds.load(index, draw)``, moving on to the next index when an item is unreadable (logged, recorded)."""
    index, draw = (key, mix_seed(key)) if isinstance(key, int) else key
    skipped: list[str] = []
    for k in range(max_tries + 1):
        i = (index + k) % len(ds)
        try:
            item = ds.load(i, draw)
        except (AudioXError, OSError, RuntimeError, ValueError, KeyError) as e:
            where = ds.describe(i)
            log.warning("skipping unreadable sample %s (%s: %s)", where, type(e).__name__, str(e)[:200])
            skipped.append(where)
            continue
        item["skipped"] = skipped
        return item
    raise ConfigError(f"{max_tries + 1} consecutive unreadable samples (last: {skipped[-1]}); check the data")


class PreEncodedDataset(Dataset):
    """Items written by ``audiox preencode``: frozen-encoder outputs instead of media.

    Keys: ``latents_raw`` (2D, N) VAE encoder output of the window (mean | scale), ``padding_mask`` (S,),
    ``video_features`` (T, Q, W) CLIP hidden states before the temporal transformer and ``video_empty`` (bool),
    ``text_hidden`` (L, Wt) and ``text_mask`` (L,), ``prompt_raw`` (2D, Np) and ``prompt_empty`` (bool),
    plus ``id``, ``path``, ``task``, ``text``. The folder's ``empty.safetensors`` holds the encodings of the empty
    text and of a silent prompt (for modality dropout and prompt masking); see :meth:`empty_features`.
    """

    def __init__(self, folder: str | os.PathLike, *, max_tries: int = 8) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / PREENCODED_META
        try:
            self.meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{meta_path}: not a pre-encoded folder ({type(e).__name__})") from None
        if self.meta.get("format") != PREENCODED_FORMAT:
            raise ConfigError(f"{meta_path}: format is {self.meta.get('format')!r}, expected {PREENCODED_FORMAT!r}")
        lines = (self.folder / PREENCODED_INDEX).read_text().splitlines()
        self.index = [json.loads(line) for line in lines if line.strip()]
        if not self.index:
            raise ConfigError(f"{self.folder}: pre-encoded folder has no items")
        self.geometry = Geometry(**self.meta["geometry"])
        self.max_tries = max_tries
        self._handles: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.index)

    def describe(self, index: int) -> str:
        rec = self.index[index]
        return f"{self.folder / rec['shard']}#{rec['key']} ({rec['path']})"

    def empty_features(self) -> dict[str, torch.Tensor]:
        """``text_hidden`` (L, Wt), ``text_mask`` (L,) of the empty text; ``prompt_raw`` (2D, Np) of silence."""
        from safetensors.torch import load_file

        return load_file(str(self.folder / PREENCODED_EMPTY))

    def load(self, index: int, draw: int) -> dict[str, Any]:
        from safetensors import safe_open

        rec = self.index[index]
        f = self._handles.get(rec["shard"])
        if f is None:
            f = safe_open(str(self.folder / rec["shard"]), framework="pt")
            self._handles[rec["shard"]] = f
        item: dict[str, Any] = {k: f.get_tensor(f"{rec['key']}/{k}") for k in self.meta["tensors"]}
        for k in ("padding_mask", "text_mask"):
            if k in item:
                item[k] = item[k].bool()
        if "video_features" in item and item["video_features"].numel() == 0:  # empty video: stored as nothing
            item["video_features"] = torch.zeros(self.meta["video_features_shape"], dtype=item["video_features"].dtype)
        item.update(id=rec["id"], path=rec["path"], task=rec["task"], text=rec["text"],
                    video_empty=bool(rec["video_empty"]), prompt_empty=bool(rec["prompt_empty"]))
        return item

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return load_with_fallback(self, key, self.max_tries)

    def __getstate__(self) -> dict[str, Any]:  # file handles stay in the process that opened them
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state


class ResumableSampler(Sampler):
    """An endless, rank-partitioned stream of ``(index, draw_seed)`` pairs that can start at any position.

    Global position ``q`` of the stream maps to epoch ``q // n`` (a permutation seeded by ``(seed, epoch)``) and a
    draw seed ``mix(seed, q)``; rank ``r`` of ``world`` takes positions ``k * world + r`` for ``k = start, ...``.
    Resuming after ``m`` consumed samples per rank is ``start=m``: the same items and crops as an uninterrupted run.

    Args:
        n: dataset length. seed: stream seed. rank / world: this process and the process count.
        start: samples already consumed by this rank. shuffle: permute each epoch (False: 0..n-1 in order).
    """

    def __init__(self, n: int, *, seed: int, rank: int = 0, world: int = 1, start: int = 0, shuffle: bool = True,
                 ) -> None:
        self.n, self.seed, self.rank, self.world, self.start, self.shuffle = n, seed, rank, world, start, shuffle

    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = self.start
        perm_epoch, perm = -1, None
        while True:
            q = k * self.world + self.rank
            epoch, i = divmod(q, self.n)
            if self.shuffle:
                if epoch != perm_epoch:
                    perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch)))
                    perm_epoch = epoch
                i = int(perm[i])
            yield i, mix_seed(self.seed, q, 1)
            k += 1


_LIST_KEYS = ("id", "path", "task", "text", "skipped")


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors and bools; keep ``id``/``path``/``task``/``text`` as lists; flatten ``skipped`` paths."""
    batch: dict[str, Any] = {k: [it[k] for it in items] for k in _LIST_KEYS if k in items[0] and k != "skipped"}
    batch["skipped"] = [p for it in items for p in it.get("skipped", [])]
    rest = [{k: v for k, v in it.items() if k not in _LIST_KEYS} for it in items]
    batch.update(default_collate(rest))
    return batch


def latent_mask(padding_mask: torch.Tensor, hop: int) -> torch.Tensor:
    """(B, S) sample mask -> (B, S // hop) latent-frame mask (a frame is real when its first sample is)."""
    return padding_mask[:, ::hop][:, : math.ceil(padding_mask.shape[1] / hop)]
