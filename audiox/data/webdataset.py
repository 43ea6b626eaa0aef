"""WebDataset-style tar shards for data that does not fit on one disk, streamed without extra dependencies.

A shard is a plain tar; the files of one sample share a key (the name up to its first dot), as in WebDataset:
``000042.flac`` (or wav/mp3/ogg/opus), optionally ``000042.mp4`` (or mkv/webm/mov/avi) or ``000042.png`` (or
jpg/jpeg/webp), and ``000042.json`` with manifest fields (``caption``, ``task``, ``audio_prompt``, ``seconds``;
all optional). Items are those of :func:`audiox.data.dataset.build_item`.

Shards are split across (rank, worker) when there are enough of them, otherwise samples are (every process then
reads every shard). Each epoch reshuffles the shard order with ``(seed, epoch)``. ``start`` skips the first
samples of this rank's stream without decoding them (resuming); with several workers per rank the skip is split
evenly, so resumption is exact only with ``num_workers=0`` or 1.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from audiox.data.dataset import build_item, mix_seed
from audiox.data.manifest import ManifestEntry
from audiox.errors import AudioXError, ConfigError
from audiox.geometry import Geometry

log = logging.getLogger(__name__)

AUDIO_EXT = (".flac", ".wav", ".mp3", ".ogg", ".opus")
VIDEO_EXT = (".mp4", ".mkv", ".webm", ".mov", ".avi")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


def expand_urls(spec: str | list[str]) -> list[str]:
    """Shard paths from a list, a comma-separated string, a glob, or a ``{000..009}`` brace range."""
    if isinstance(spec, (list, tuple)):
        return [u for s in spec for u in expand_urls(s)]
    if "," in spec:
        return expand_urls(spec.split(","))
    if "{" in spec and ".." in spec:
        head, rest = spec.split("{", 1)
        rng, tail = rest.split("}", 1)
        a, b = rng.split("..")
        return [u for i in range(int(a), int(b) + 1) for u in expand_urls(f"{head}{i:0{len(a)}d}{tail}")]
    found = sorted(glob.glob(spec))
    if not found:
        raise ConfigError(f"{spec}: no tar shards found")
    return found


def iter_tar_samples(path: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {".ext": bytes}) groups of consecutive members sharing a key, in tar order."""
    key, group = None, {}
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = os.path.basename(member.name)
            if "." not in name:
                continue
            k = os.path.join(os.path.dirname(member.name), name.split(".", 1)[0])
            ext = "." + name.split(".", 1)[1].lower()
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if key is not None and k != key:
                yield key, group
                group = {}
            key = k
            group[ext] = data
    if key is not None:
        yield key, group


def decode_sample(key: str, files: dict[str, bytes], geo: Geometry, draw: int, *, random_crop: bool,
                  ) -> dict[str, Any]:
    """One tar sample -> a training item (media go through a temporary folder)."""
    meta = json.loads(files[".json"]) if ".json" in files else {}
    audio = next((e for e in AUDIO_EXT if e in files), None)
    if audio is None:
        raise ConfigError(f"{key}: sample has no audio file ({', '.join(AUDIO_EXT)})")
    video = next((e for e in VIDEO_EXT if e in files), None)
    image = next((e for e in IMAGE_EXT if e in files), None)
    with tempfile.TemporaryDirectory(prefix="audiox-wds-") as tmp:
        root = Path(tmp)
        for ext in filter(None, (audio, video, image)):
            (root / f"s{ext}").write_bytes(files[ext])
        entry = ManifestEntry(
            id=str(meta.get("id", os.path.basename(key))), split="train", kind=meta.get("kind", "sfx"),
            task=meta.get("task", "t2a"), audio=f"s{audio}", video=f"s{video}" if video else None,
            image=f"s{image}" if image and not video else None, caption=meta.get("caption", ""),
            audio_prompt=meta.get("audio_prompt"), sample_rate=int(meta.get("sample_rate", geo.sample_rate)),
            seconds=float(meta.get("seconds", 1e6)), labels={})
        item = build_item(entry, root, geo, draw, random_crop=random_crop)
    item["path"] = key
    return item


class WebDatasetStream(IterableDataset):
    """Endless stream of training items from tar shards (see the module docstring).

    Args:
        urls: shard paths (list, comma-separated, glob or brace range).
        geometry: what the model expects.
        seed: shuffling and crop seed. rank / world: this process and the process count.
        start: samples of this rank's stream to skip (resume). random_crop: random window offsets.
    """

    def __init__(self, urls: str | list[str], geometry: Geometry, *, seed: int, rank: int = 0, world: int = 1,
                 start: int = 0, random_crop: bool = True) -> None:
        self.urls = expand_urls(urls)
        self.geometry, self.seed, self.rank, self.world = geometry, seed, rank, world
        self.start, self.random_crop = start, random_crop

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        slots, slot = self.world * nw, self.rank * nw + wid
        by_shard = len(self.urls) >= slots
        skip = self.start // nw + (1 if wid < self.start % nw else 0)
        skipped: list[str] = []
        epoch, count = 0, 0
        while True:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            order = [self.urls[i] for i in torch.randperm(len(self.urls), generator=g).tolist()]
            q = 0  # sample counter within the epoch (sample-level split)
            tried, yielded = 0, 0
            for j, url in enumerate(order):
                if by_shard and j % slots != slot:
                    continue
                try:
                    for key, files in iter_tar_samples(url):
                        q += 1
                        if not by_shard and (q - 1) % slots != slot:
                            continue
                        count += 1
                        if count <= skip:
                            continue
                        tried += 1
                        try:
                            item = decode_sample(key, files, self.geometry, mix_seed(self.seed, epoch, slot, count),
                                                 random_crop=self.random_crop)
                        except (AudioXError, OSError, RuntimeError, ValueError, KeyError) as e:
                            log.warning("skipping unreadable sample %s:%s (%s: %s)", url, key, type(e).__name__,
                                        str(e)[:200])
                            skipped.append(f"{url}:{key}")
                            continue
                        item["skipped"], skipped = skipped, []
                        yielded += 1
                        yield item
                except (tarfile.TarError, OSError) as e:
                    log.warning("skipping the rest of unreadable shard %s (%s)", url, e)
                    skipped.append(url)
            if tried and not yielded:
                raise ConfigError(f"no readable sample in a whole pass over {len(order)} shards ({skipped[-1]})")
            epoch += 1
