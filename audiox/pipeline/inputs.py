"""Turning user inputs (paths, tensors, strings) into conditioning tensors of the right geometry.

Every check raises a one-line :class:`InputError` / :class:`MediaError` naming the argument or file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch

from audiox.errors import InputError
from audiox.geometry import Geometry
from audiox.models.audiox import AudioXModel

DEFAULT_VIDEO_PROMPTS = {"audio": "Generate general audio for the video", "music": "Generate music for the video"}

MediaLike = str | os.PathLike | torch.Tensor | None


class ConditionerIds(NamedTuple):
    """Ids of the model's video, audio-prompt and text conditioners (None when it has no such conditioner)."""

    video: str | None
    audio: str | None
    text: str | None


def conditioner_ids(model: AudioXModel) -> ConditionerIds:
    """Which conditioner takes the video, the audio prompt and the text: the first of each role, as each
    conditioner class declares it (``role``, the same answer training and pre-encoding use)."""
    first = {role: next(iter(model.conditioner.ids_for(role)), None) for role in ("video", "audio_prompt", "text")}
    return ConditionerIds(first["video"], first["audio_prompt"], first["text"])


def check_geometry(model: AudioXModel, geo: Geometry) -> None:
    """The loaded conditioners must agree with the config's geometry (weights can imply another CLIP size)."""
    from audiox.errors import ConfigError

    ids = conditioner_ids(model)
    conds = model.conditioner.conditioners
    if ids.video is not None:
        v = conds[ids.video]
        if (v.frames, v.image_size) != (geo.video_frames, geo.video_size):
            raise ConfigError(f"{ids.video}: the video encoder takes {v.frames} frames of {v.image_size} px, the "
                              f"config says {geo.video_frames} of {geo.video_size} px (set clip_config.image_size)")
    if ids.audio is not None and conds[ids.audio].samples != geo.prompt_samples:
        raise ConfigError(f"{ids.audio}: the audio prompt takes {conds[ids.audio].samples} samples, the config "
                          f"says {geo.prompt_samples}")


def as_list(value: Any, n: int, name: str) -> list[Any]:
    """Broadcast a single value to ``n`` items, or check a list has ``n`` items."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise InputError(f"{name}: got {len(value)} items for a batch of {n}")
        return list(value)
    return [value] * n


def batch_size_of(text: Any, video: Any, image: Any, audio: Any) -> int:
    sizes = {len(v) for v in (text, video, image, audio) if isinstance(v, (list, tuple))}
    if len(sizes) > 1:
        raise InputError(f"batched inputs disagree on the batch size: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def check_text(text: Any, name: str = "text") -> str:
    if text is None:
        return ""
    from audiox.utils.checks import text as valid_text

    return valid_text(name, text).strip()


def load_video_prompt(video: MediaLike, image: MediaLike, geo: Geometry, *, start: float = 0.0,
                      seconds: float | None = None, cover: float | None = None) -> torch.Tensor:
    """One video prompt (T', 3, S, S) uint8 covering ``seconds`` (default: the conditioner's window).

    A path is decoded at the model's fps; an image becomes a still video; None gives all zeros ("no video").

    Args:
        seconds: frames to return, in seconds.
        cover: the requested output length; a video shorter than this gets the padding warning, one that
            covers it but not the extra context in ``seconds`` does not (default: ``seconds``).
    """
    from audiox.media import load_image_as_video, read_video_frames

    secs = geo.video_seconds if seconds is None else seconds
    n = max(int(round(secs * geo.video_fps)), geo.video_frames)
    if video is not None and image is not None:
        raise InputError("give either video or image, not both")
    if video is None and image is None:
        return torch.zeros(n, 3, geo.video_size, geo.video_size, dtype=torch.uint8)
    if not geo.video_frames:
        raise InputError("this model has no video/image conditioner")
    if image is not None:
        if isinstance(image, torch.Tensor):
            img = _check_frames(image[None] if image.dim() == 3 else image, geo, "image")[:1]
            return img.expand(n, -1, -1, -1).clone()
        return load_image_as_video(_existing(image, "image"), n_frames=n, size=geo.video_size)
    if isinstance(video, torch.Tensor):
        frames = _check_frames(video, geo, "video")
        if frames.shape[0] < n:  # pad by repeating the last frame, as the official reader does
            frames = torch.cat([frames, frames[-1:].expand(n - frames.shape[0], -1, -1, -1)])
        return frames[:n]
    return read_video_frames(_existing(video, "video"), fps=geo.video_fps, seconds=n / geo.video_fps, start=start,
                             size=geo.video_size, cover=cover)


def _existing(path: Any, name: str) -> Path:
    from audiox.errors import MediaError

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{p}: {name} file not found")
    return p


def _check_frames(frames: torch.Tensor, geo: Geometry, name: str) -> torch.Tensor:
    if frames.dim() != 4 or frames.shape[1] != 3 or tuple(frames.shape[2:]) != (geo.video_size, geo.video_size):
        raise InputError(f"{name}: expected frames (T, 3, {geo.video_size}, {geo.video_size}) with values 0..255, "
                         f"got {tuple(frames.shape)}")
    return frames


def load_audio_clip(audio: MediaLike, geo: Geometry, name: str = "audio") -> torch.Tensor | None:
    """An audio clip (C, L) at the model rate and channel count; a tensor must already be at the model rate."""
    from audiox.media import load_audio
    from audiox.media.audio import check_peak

    if audio is None:
        return None
    if isinstance(audio, torch.Tensor):
        a = audio[None] if audio.dim() == 1 else audio
        if a.dim() != 2:
            raise InputError(f"{name}: expected a (channels, samples) tensor, got {tuple(audio.shape)}")
        if a.shape[0] == 1 and geo.channels > 1:
            a = a.repeat(geo.channels, 1)
        a = a[: geo.channels].float()
    else:
        a = load_audio(_existing(audio, name), sample_rate=geo.sample_rate, channels=geo.channels)
    if a.shape[-1] == 0:
        raise InputError(f"{name}: the clip is empty")
    if not bool(torch.isfinite(a).all()):
        raise InputError(f"{name}: the clip has NaN or infinite samples")
    check_peak(float(a.abs().max()), name)
    return a


def audio_prompt_tensor(clip: torch.Tensor | None, geo: Geometry, *, end: int | None = None) -> torch.Tensor:
    """The audio-prompt input (C, audio_samples): the clip's start, or the ``audio_samples`` before ``end``.

    From the start (``end`` None, inpainting and plain prompts), shorter material is zero-padded at the end.
    Before ``end`` (continuation: the material just before the new part), it is right-aligned and zero-padded
    at the start, as in training (``data/dataset.py``) and in the official code. None gives zeros ("no audio").
    """
    out = torch.zeros(geo.channels, geo.prompt_samples)
    if clip is None or not geo.prompt_samples:
        return out
    if end is None:
        seg = clip[:, : geo.prompt_samples]
        out[:, : seg.shape[1]] = seg
    else:
        seg = clip[:, max(0, end - geo.prompt_samples): end]
        out[:, geo.prompt_samples - seg.shape[1]:] = seg
    return out


def parse_ranges(ranges: Any, clip_seconds: float = math.inf, name: str = "inpaint") -> list[tuple[float, float]]:
    """Validate ranges in seconds inside the clip; sorted, merged.

    Args:
        ranges: ``"2-4.5"``, or a list of such strings and/or (start, end) pairs; None gives [].
        clip_seconds: the clip's length (default: not known yet, only the values are checked).
    """
    from audiox.utils import checks

    if ranges is None:
        return []
    items = [ranges] if isinstance(ranges, str) else ranges
    if not isinstance(items, (list, tuple)) or not items:
        raise InputError(f"{name}: expected START-END ranges in seconds, got {ranges!r}")
    out = []
    for r in items:
        if isinstance(r, str):
            r = parse_range_text(checks.text(name, r), name)
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise InputError(f"{name}: expected START-END in seconds (e.g. 2.0-4.5), got {r!r}")
        s, e = checks.number(name, r[0], lo=0), checks.number(name, r[1], lo=0)
        if not s < e:
            raise InputError(f"{name}: range {s:g}-{e:g} s is empty")
        if e > clip_seconds + 1e-6:
            raise InputError(f"{name}: range {s:g}-{e:g} s ends after the clip ({clip_seconds:.2f} s)")
        out.append((s, e))
    out.sort()
    merged: list[tuple[float, float]] = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def output_samples(clip_samples: int, seconds: float | None, *, inpaint: bool, continue_audio: bool, geo: Geometry,
                   name: Any = str) -> int:
    """Samples to generate: ``seconds``, or by default the clip (inpainting), the clip plus half a window
    (continuation) or one window; at least one latent frame.

    Args:
        clip_samples: length of the clip to inpaint or continue (0 without one).
        name: how settings are called in messages (the CLI passes flag names).
    """
    sr = geo.sample_rate
    if inpaint:
        total = clip_samples if seconds is None else int(round(seconds * sr))
        if total < clip_samples:
            raise InputError(f"{name('seconds')}: {seconds:g} is shorter than the clip to inpaint "
                             f"({clip_samples / sr:.2f} s)")
    elif continue_audio:
        total = int(round((seconds if seconds is not None else clip_samples / sr + geo.window_seconds / 2) * sr))
        if total <= clip_samples:
            raise InputError(f"{name('seconds')}: {total / sr:.2f} must be longer than the clip to continue "
                             f"({clip_samples / sr:.2f} s)")
    else:
        total = geo.sample_size if seconds is None else int(round(seconds * sr))
    if total < geo.hop:
        raise InputError(f"{name('seconds')}: {total / sr:g} is shorter than one latent frame "
                         f"({geo.hop / sr:g} s)")
    return total


def parse_range_text(text: str, name: str = "inpaint") -> tuple[float, float]:
    """'2.0-4.5' -> (2.0, 4.5); each bound is read strictly (:func:`audiox.utils.checks.parse_number`: no ``1_0``).

    Args:
        text: ``START-END`` (or ``START:END``) in seconds.
        name: the flag or key in messages.
    """
    from audiox.utils.checks import parse_number

    parts = text.replace(":", "-").split("-")
    if len(parts) != 2:
        raise InputError(f"{name}: expected START-END in seconds (e.g. 2.0-4.5), got {text!r}")
    try:
        return parse_number(name, parts[0]), parse_number(name, parts[1])
    except InputError:
        raise InputError(f"{name}: expected START-END in seconds (e.g. 2.0-4.5), got {text!r}"
                         + (" ('_' digit separators are not accepted)" if "_" in text else "")) from None
