"""A compact training set: frozen encodings of audio and text, plus the raw video frames as one H.264 stream.

``audiox preencode --packed`` writes it; ``audiox train --data FOLDER`` reads it (:class:`PackedDataset`). It is
meant for moving a corpus to another machine (a GPU host) cheaply while the video encoder stays trainable: the
2,000-clip built-in corpus packs into about 45 MB, against 660 MB of media.

Folder layout (each part is a separate file, written atomically, so one part can be rebuilt alone):

- ``meta.json``: format, geometry, the item index (id, task, caption, first video frame, prompt row, real samples)
  and per-part fingerprints of the frozen weights that made them;
- ``audio.safetensors``: ``latents`` (n, D, N) fp16 posterior means of each item's window and ``prompts``
  (m, D, Np) fp16 means of the audio prompts that exist, ``silence`` (D, Np) fp32: a silent prompt;
- ``text.safetensors``: the text encoder's hidden states of the valid tokens of every caption, int8 with one
  fp32 scale per token (``tokens`` (T, W), ``scales`` (T,), ``offsets`` (n + 1,)), and the empty caption's
  ``empty_hidden`` (L, W) fp32 and ``empty_mask`` (L,);
- ``video.mp4``: the frames of every item with a video or an image (an image is repeated), at the model's fps and
  size, H.264 (yuv444p, crf 18: mean absolute error below 1/255).

Only the posterior means are stored: items carry ``latents_raw`` whose scale half is :data:`DELTA_SCALE`, i.e. a
posterior of width 1e-4, so sampled and mean targets agree. The int8 text tokens differ from the encoder output by
at most half a quantisation step (absmax / 254 per token).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from audiox.data.captions import pick_text, text_options
from audiox.data.dataset import build_item, load_with_fallback
from audiox.data.manifest import read_manifest
from audiox.errors import ConfigError, InputError
from audiox.geometry import Geometry
from audiox.training.preencode import encode_frozen, frozen_conditioners, tensor_fingerprint
from audiox.utils.files import atomic_write

log = logging.getLogger(__name__)

PACKED_FORMAT = "audiox-packed"
PARTS = ("video", "text", "audio")
DELTA_SCALE = -30.0  # softplus(-30) ~ 1e-13: the stored posterior is its mean (+ the bottleneck's 1e-4 floor)
VIDEO_CRF = 18


def is_packed(folder: str | os.PathLike) -> bool:
    p = Path(folder) / "meta.json"
    try:
        return json.loads(p.read_text()).get("format") == PACKED_FORMAT
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """The "audio" part's fingerprint of a VAE encoder (named as in the model: ``pretransform.model.encoder.*``)."""
    return tensor_fingerprint([(f"pretransform.model.encoder.{n}", t) for n, t in sorted(encoder.state_dict().items())])


def part_fingerprint(model: torch.nn.Module, part: str) -> str:
    """A short hash of the frozen weights behind one part: the VAE encoder ("audio") or the text encoder ("text").

    The VAE decoder is left out: it does not change the encodings, so it may be fine-tuned after packing.
    """
    if part == "audio":
        return encoder_fingerprint(model.pretransform.model.encoder)
    named = []
    for cid, c in model.conditioner.conditioners.items():
        if "text_hidden" in getattr(c, "feature_keys", ()):  # the conditioners whose features the text part holds
            named += [(f"{cid}.{n}", t) for n, t in sorted(c.encoder_model.state_dict().items())[:16]]
    return tensor_fingerprint(named)


@torch.no_grad()
def pack(model: torch.nn.Module, manifest: str | os.PathLike, out: str | os.PathLike, *, split: str | None = "train",
         parts: tuple[str, ...] = PARTS, batch_size: int = 8, progress: bool = False) -> dict[str, Any]:
    """Write (or rewrite) ``parts`` of a packed folder for the ``split`` entries of ``manifest``.

    Args:
        model: the AudioXModel whose frozen VAE and text encoder encode the items (the model you will train).
        manifest: corpus ``manifest.jsonl``; every entry must fit one window (longer clips: use ``preencode``).
        out: the folder; parts not named are kept, but must describe the same items.
        parts: any of "video", "text", "audio".

    Returns:
        ``items``, ``parts`` and the folder.
    """
    from tqdm import tqdm

    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise InputError(f"parts: expected some of {', '.join(PARTS)}, got {list(parts)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a folder")
    model = model.eval()
    geo = model.config.geometry
    if {c.role for c in frozen_conditioners(model).values()} != {"video", "text", "audio_prompt"}:
        raise ConfigError("a packed folder needs a model with text, video and audio-prompt conditioners")
    root = Path(manifest).parent
    entries = [e for e in read_manifest(manifest) if split is None or e.split == split]
    if not entries:
        raise InputError(f"{manifest}: no entries of split {split!r}")
    long = [e.id for e in entries if round(e.seconds * geo.sample_rate) > geo.sample_size]
    if long:
        raise InputError(f"{manifest}: {len(long)} entries are longer than one window (e.g. {long[0]}); "
                         "use `audiox preencode` for long clips")
    meta_path = out / "meta.json"
    old = json.loads(meta_path.read_text()) if is_packed(out) else None  # another folder's meta.json is replaced
    items = [{"id": e.id, "task": e.task, "text": e.caption, "texts": text_options(e.caption, e.labels),
              "frame": -1, "prompt": -1, "samples": min(round(e.seconds * geo.sample_rate), geo.sample_size)}
             for e in entries]
    if old is not None:
        if [i["id"] for i in old["items"]] != [i["id"] for i in items] or old["geometry"] != geo.to_dict():
            raise InputError(f"{out}: holds other items or another geometry; pack into a new folder")
        # a text part that is kept keeps its texts (a folder packed before text options: the captions only)
        items = [{**o, "texts": n["texts"]} for o, n in zip(old["items"], items)] if "text" in parts else old["items"]
    fingerprints = dict(old["fingerprints"]) if old else {}
    out.mkdir(parents=True, exist_ok=True)  # only once the manifest and the folder's items are known to fit

    writer = _VideoWriter(out / "video.mp4", geo) if "video" in parts else None
    lat, prm, tok_rows = [], [], []
    frame = 0
    bar = tqdm(total=len(entries), desc="packing", unit="clip", disable=not progress)
    for s in range(0, len(entries), batch_size):
        chunk = entries[s:s + batch_size]
        loaded = [build_item(e, root, geo, 0, offset=0) for e in chunk]
        for k, (e, it) in enumerate(zip(chunk, loaded)):
            rec = items[s + k]
            if writer is not None:
                has = e.video is not None or e.image is not None
                rec["frame"] = frame if has else -1
                if has:
                    writer.add(it["video"])
                    frame += it["video"].shape[0]
        if "audio" in parts:
            f = encode_frozen(model, {"audio": torch.stack([it["audio"] for it in loaded])})
            d = f["latents_raw"].shape[1] // 2
            has = [k for k, it in enumerate(loaded) if bool(it["audio_prompt"].any())]  # silent = no prompt
            if has:
                p = encode_frozen(model, {"audio_prompt": torch.stack([loaded[k]["audio_prompt"] for k in has])})
            for k in range(len(loaded)):
                lat.append(f["latents_raw"][k, :d].half().cpu())
                items[s + k]["prompt"] = -1
            for j, k in enumerate(has):
                items[s + k]["prompt"] = len(prm)
                prm.append(p["prompt_raw"][j, :d].half().cpu())
        if "text" in parts:  # every text option of every item: [caption, description, *everyday prompts]
            texts = [t for k in range(len(loaded)) for t in items[s + k]["texts"]]
            f = encode_frozen(model, {"text": texts})
            pos = 0
            for k in range(len(loaded)):
                count = len(items[s + k]["texts"])
                items[s + k]["text_rows"] = [len(tok_rows), count]
                for j in range(pos, pos + count):
                    m = f["text_mask"][j].cpu()
                    n = int(m.sum())
                    if not bool(m[:n].all()):
                        raise ConfigError("text encoder mask is not a prefix of valid tokens; cannot pack")
                    tok_rows.append(f["text_hidden"][j, :n].float().cpu())
                pos += count
        bar.update(len(chunk))
    bar.close()

    from safetensors.torch import save_file

    if writer is not None:
        writer.close()
        fingerprints["video"] = None
    if "audio" in parts:
        d = lat[0].shape[0]
        silent = encode_frozen(model, {"audio_prompt": torch.zeros(1, geo.channels, geo.prompt_samples)})
        prompts = torch.stack(prm) if prm else torch.zeros(0, d, silent["prompt_raw"].shape[2], dtype=torch.float16)
        tensors = {"latents": torch.stack(lat).contiguous(), "prompts": prompts.contiguous(),
                   "silence": silent["prompt_raw"][0, :d].float().cpu().contiguous()}
        atomic_write(out / "audio.safetensors", lambda tmp: save_file(tensors, tmp))
        fingerprints["audio"] = part_fingerprint(model, "audio")
    if "text" in parts:
        rows = torch.cat(tok_rows)
        scales = rows.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        offsets = torch.tensor([0] + [len(r) for r in tok_rows]).cumsum(0)
        empty = encode_frozen(model, {"text": [""]})
        tensors = {"tokens": torch.round(rows / scales[:, None]).to(torch.int8).contiguous(),
                   "scales": scales.float().contiguous(), "offsets": offsets.contiguous(),
                   "empty_hidden": empty["text_hidden"][0].float().cpu().contiguous(),
                   "empty_mask": empty["text_mask"][0].cpu().contiguous()}
        atomic_write(out / "text.safetensors", lambda tmp: save_file(tensors, tmp))
        fingerprints["text"] = part_fingerprint(model, "text")
    meta = {"format": PACKED_FORMAT, "version": 1, "geometry": geo.to_dict(), "items": items,
            "fingerprints": fingerprints, "source": str(Path(manifest).resolve()), "video_crf": VIDEO_CRF}
    atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta)))
    log.info("packed %s of %d items into %s", ", ".join(parts), len(items), out)
    return {"items": len(items), "parts": list(parts), "folder": str(out)}


class _VideoWriter:
    """Appends (T, 3, H, W) uint8 frames to one H.264 stream (written atomically on close; no file without frames)."""

    def __init__(self, path: Path, geo: Geometry) -> None:
        from audiox.media.h264 import H264Writer, quality

        self.writer = H264Writer(path, fps=round(geo.video_fps), width=geo.video_size, height=geo.video_size,
                                 settings=quality(VIDEO_CRF), atomic=True)

    def add(self, frames: torch.Tensor) -> None:
        for frame in frames.permute(0, 2, 3, 1).contiguous().numpy():
            self.writer.add(frame)

    def close(self) -> None:
        self.writer.close()


def decode_frames(path: Path) -> torch.Tensor:
    """All frames of ``video.mp4`` as (F, 3, H, W) uint8, with PyAV, or OpenCV where PyAV is missing."""
    import numpy as np

    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    else:
        import cv2

        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f[..., ::-1])
        cap.release()
    if not frames:
        raise InputError(f"{path}: no video frames could be decoded")
    return torch.from_numpy(np.ascontiguousarray(np.stack(frames))).permute(0, 3, 1, 2).contiguous()


class PackedDataset(Dataset):
    """Items of a packed folder, all held in memory (see the module docstring).

    Keys: ``latents_raw`` (2D, N), ``padding_mask`` (S,), ``text_hidden`` (L, W) / ``text_mask`` (L,),
    ``prompt_raw`` (2D, Np) / ``prompt_empty``, ``video`` (T, 3, H, W) uint8 (zeros when the item has none), and
    ``id``, ``path``, ``task``, ``text``.
    """

    def __init__(self, folder: str | os.PathLike, *, max_tries: int = 8, task_prompt_prob: float = 1.0,
                 everyday_prob: float = 0.0) -> None:
        from safetensors.torch import load_file

        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{self.folder}: not a packed folder ({type(e).__name__})") from None
        if self.meta.get("format") != PACKED_FORMAT:
            raise ConfigError(f"{self.folder}: format is {self.meta.get('format')!r}, expected {PACKED_FORMAT!r}")
        missing = [p for p in ("audio.safetensors", "text.safetensors") if not (self.folder / p).is_file()]
        if missing:
            raise ConfigError(f"{self.folder}: packed folder lacks {', '.join(missing)}")
        self.geometry = Geometry(**self.meta["geometry"])
        self.items = self.meta["items"]
        self.max_tries = max_tries
        self.text_probs = {"task_prompt_prob": task_prompt_prob, "everyday_prob": everyday_prob}
        audio = load_file(str(self.folder / "audio.safetensors"))
        self.latents, self.prompts, self.silence = audio["latents"], audio["prompts"], audio["silence"]
        text = load_file(str(self.folder / "text.safetensors"))
        self.tokens, self.scales, self.offsets = text["tokens"], text["scales"], text["offsets"]
        self.empty_hidden, self.empty_mask = text["empty_hidden"], text["empty_mask"].bool()
        rows = sum(i["text_rows"][1] if "text_rows" in i else 1 for i in self.items)
        if len(self.latents) != len(self.items) or len(self.offsets) != rows + 1:
            raise ConfigError(f"{self.folder}: audio / text parts do not match the item index")
        need_video = any(i["frame"] >= 0 for i in self.items)
        self.frames = decode_frames(self.folder / "video.mp4") if need_video else None
        g = self.geometry
        if self.frames is not None and (self.frames.shape[2] != g.video_size or
                                        max(i["frame"] for i in self.items) + g.video_frames > len(self.frames)):
            raise ConfigError(f"{self.folder}: video.mp4 does not match the item index")

    def __len__(self) -> int:
        return len(self.items)

    def check(self, model: torch.nn.Module) -> None:
        """Refuse a model whose VAE or text encoder differs from the weights that encoded this folder."""
        for part, what in (("audio", "VAE"), ("text", "text encoder")):
            have = self.meta["fingerprints"].get(part)
            try:
                now = part_fingerprint(model, part)
            except ConfigError as e:  # an external text encoder that is not installed here: nothing to compare
                log.warning("%s: cannot check the %s part against this model (%s)", self.folder, part, e)
                continue
            if have is not None and have != now:
                raise ConfigError(f"{self.folder}: its {part} part was encoded by another {what} than this model's; "
                                  f"run `audiox preencode --packed --parts {part}` with this model")

    def describe(self, index: int) -> str:
        return f"{self.folder}#{self.items[index]['id']}"

    def empty_features(self) -> dict[str, torch.Tensor]:
        """``text_hidden`` (L, W) / ``text_mask`` (L,) of the empty text; ``prompt_raw`` (2D, Np) of silence."""
        return {"text_hidden": self.empty_hidden, "text_mask": self.empty_mask,
                "prompt_raw": _raw(self.silence)}

    def load(self, index: int, draw: int) -> dict[str, Any]:
        rec, g = self.items[index], self.geometry
        first, count = rec.get("text_rows", [index, 1])  # folders packed before text options: the caption only
        texts = rec["texts"] if count > 1 else [rec["text"]]
        pick = pick_text(texts, draw, index, **self.text_probs)
        a, b = int(self.offsets[first + pick]), int(self.offsets[first + pick + 1])
        hidden = torch.zeros_like(self.empty_hidden)
        hidden[: b - a] = self.tokens[a:b].float() * self.scales[a:b, None]
        mask = torch.zeros_like(self.empty_mask)
        mask[: b - a] = True
        p = rec["prompt"]
        item = {"id": rec["id"], "path": self.describe(index), "task": rec["task"], "text": texts[pick],
                "latents_raw": _raw(self.latents[index].float()),
                "padding_mask": torch.arange(g.sample_size) < rec["samples"],
                "text_hidden": hidden, "text_mask": mask,
                "prompt_raw": _raw(self.prompts[p].float() if p >= 0 else self.silence),
                "prompt_empty": p < 0}
        if self.frames is not None and rec["frame"] >= 0:
            item["video"] = self.frames[rec["frame"]: rec["frame"] + g.video_frames]
        else:
            item["video"] = torch.zeros(g.video_frames, 3, g.video_size, g.video_size, dtype=torch.uint8)
        return item

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        return load_with_fallback(self, key, self.max_tries)


def _raw(mean: torch.Tensor) -> torch.Tensor:
    """A posterior mean (D, N) -> encoder output (2D, N) whose posterior is that mean."""
    return torch.cat([mean, torch.full_like(mean, DELTA_SCALE)])
