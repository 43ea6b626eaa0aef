"""Choosing the dataset for a ``--data`` argument and building a resumable, rank-aware DataLoader.

``--data`` may be a ``manifest.jsonl`` (raw media), a pre-encoded folder (``audiox preencode`` output), a packed
folder (``audiox preencode --packed``: encoded audio and text, raw video frames) or tar shards (a glob, brace range
or comma-separated list of ``.tar`` paths). Distribution is explicit: each rank's
sampler takes its own positions of one seeded stream, so Lightning's distributed sampler is turned off
(``use_distributed_sampler=False``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset, IterableDataset

from audiox.data.dataset import (
    PREENCODED_META,
    ManifestDataset,
    PreEncodedDataset,
    ResumableSampler,
    collate,
)
from audiox.errors import ConfigError
from audiox.geometry import Geometry
from audiox.training.config import TrainConfig

log = logging.getLogger(__name__)


def data_kind(data: str) -> str:
    """"preencoded", "packed", "manifest" or "webdataset" for a ``--data`` value."""
    from audiox.training.packed import is_packed

    p = Path(data)
    if p.is_dir():
        if (p / "manifest.jsonl").is_file():  # a corpus folder (its meta.json is the corpus's, not pre-encoded)
            return "manifest"
        if is_packed(p):
            return "packed"
        if (p / PREENCODED_META).is_file():
            return "preencoded"
        raise ConfigError(f"{data}: folder is neither pre-encoded ({PREENCODED_META}) nor holds a manifest.jsonl")
    if ".tar" in data:
        return "webdataset"
    if p.is_file():
        return "manifest"
    raise ConfigError(f"{data}: no such manifest, pre-encoded folder or tar shards")


def open_dataset(data: str, geometry: Geometry, cfg: TrainConfig, *, rank: int = 0, world: int = 1,
                 start: int = 0, split: str | None = "train") -> Dataset | IterableDataset:
    """The dataset for ``data`` (see :func:`data_kind`); ``start`` only matters for tar shards.

    Raises:
        ConfigError: unknown data, or a pre-encoded folder made for another geometry.
    """
    kind = data_kind(data)
    if kind in ("preencoded", "packed"):
        if kind == "packed":
            from audiox.training.packed import PackedDataset

            ds = PackedDataset(data, max_tries=cfg.max_skip_tries, **_text_probs(cfg))
        else:
            ds = PreEncodedDataset(data, max_tries=cfg.max_skip_tries)
        if not _fits(ds.geometry, geometry):
            raise ConfigError(f"{data}: pre-encoded for {ds.geometry}, but the model expects {geometry}")
        return ds
    if kind == "manifest":
        path = Path(data) / "manifest.jsonl" if Path(data).is_dir() else Path(data)
        return ManifestDataset(path, geometry, split=split, random_crop=cfg.random_crop, max_tries=cfg.max_skip_tries,
                               **_text_probs(cfg))
    from audiox.data.webdataset import WebDatasetStream

    return WebDatasetStream(data, geometry, seed=cfg.seed, rank=rank, world=world, start=start,
                            random_crop=cfg.random_crop)


def _fits(data: Geometry, model: Geometry) -> bool:
    """Pre-encoded data fits a model when the geometries agree on everything the model uses: a model without a
    video (or audio-prompt) conditioner ignores the data's video (or prompt) geometry."""
    import dataclasses

    ignore: dict[str, Any] = {}
    if model.video_frames == 0:
        ignore.update(video_fps=model.video_fps, video_frames=0, video_size=model.video_size)
    if model.prompt_samples == 0:
        ignore.update(prompt_samples=0)
    return dataclasses.replace(data, **ignore) == model


def _text_probs(cfg: TrainConfig) -> dict[str, float]:
    """Which text an item shows (:func:`audiox.data.captions.pick_text`)."""
    return {"task_prompt_prob": cfg.masking.task_prompt_prob, "everyday_prob": cfg.masking.everyday_prob}


def check_preencoded(ds: Any, model: Any) -> None:
    """Refuse pre-encoded (or packed) data made by other frozen weights, or a config that trains an encoded part."""
    from audiox.training.preencode import frozen_fingerprint

    packed = not isinstance(ds, PreEncodedDataset)  # packed folders keep raw video: the CLIP may train
    if packed:
        ds.check(model)
    have = None if packed else ds.meta.get("fingerprint")
    if have is not None and have != frozen_fingerprint(model):
        raise ConfigError(f"{ds.folder}: pre-encoded with other frozen encoder weights than this model's; "
                          "run `audiox preencode` with this model")
    text_ids = model.conditioner.ids_for("text")
    text = tuple(f"conditioner.conditioners.{c}.encoder." for c in text_ids)
    trained = [n for n, p in model.named_parameters() if p.requires_grad and
               (("visual_encoder_model." in n and not packed) or n.startswith(text))]
    if trained:
        raise ConfigError(f"training.trainable: {trained[0]} belongs to an encoder whose outputs are pre-encoded")


def make_dataloader(ds: Dataset | IterableDataset, cfg: TrainConfig, *, rank: int = 0, world: int = 1,
                    start: int = 0) -> DataLoader:
    """A DataLoader of ``cfg.batch_size`` items whose stream starts after ``start`` samples of this rank.

    Args:
        ds: from :func:`open_dataset`.
        rank / world: this process and the process count.
        start: samples this rank already consumed (resume: steps x batch_size x accumulate_grad_batches).
    """
    common: dict[str, Any] = dict(batch_size=cfg.batch_size, num_workers=cfg.num_workers, collate_fn=collate,
                                  persistent_workers=cfg.num_workers > 0, drop_last=True)
    if isinstance(ds, IterableDataset):
        return DataLoader(ds, **common)
    sampler = ResumableSampler(len(ds), seed=cfg.seed, rank=rank, world=world, start=start)
    return DataLoader(ds, sampler=sampler, **common)
