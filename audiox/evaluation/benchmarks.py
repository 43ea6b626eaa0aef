"""The paper's benchmarks read from the layout their public releases use (``docs/evaluation.md``).

Each benchmark folder (``--data``) holds the release's metadata file and the clips downloaded for it:

- ``audiocaps``: ``test.csv`` (``audiocap_id,youtube_id,start_time,caption``; five captions per clip), reference
  audio ``audio/<youtube_id>.wav`` (or ``audio/<audiocap_id>.wav``; ``.flac`` too). One item per clip, prompted
  with its first caption in file order.
- ``musiccaps``: ``musiccaps-public.csv`` (``ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,
  ...``), reference ``audio/<ytid>.wav``. Prompted with the caption.
- ``vggsound``: ``vggsound.csv`` without a header (``youtube_id,start_seconds,label,split``), rows of split
  ``test``; video ``video/<youtube_id>_<start:06d>.mp4``, reference ``audio/<same name>.wav`` or else the video's
  own soundtrack. Video to audio, with the official V2A prompt.
- ``v2m-bench``: the 300 test pairs of V2M; ``video/<name>.mp4`` with reference music ``audio/<name>.wav``.
  Video to music, with the official V2M prompt.

Items whose reference (or video) file is missing are left out and counted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from audiox.errors import InputError

BENCHMARKS = ("audiocaps", "vggsound", "musiccaps", "v2m-bench")
V2A_PROMPT = "Generate general audio for the video"  # the official task table (docs/spec: paper section 6)
V2M_PROMPT = "Generate music for the video"
_AUDIO = (".wav", ".flac")


@dataclass(frozen=True)
class BenchItem:
    """One benchmark clip.

    Attributes:
        name: output and pairing name.
        text: text prompt (also the caption of the CLAP protocol).
        video: video prompt, or None.
        reference: the real audio (a file, or the video whose soundtrack is the reference).
    """

    name: str
    text: str
    video: Path | None
    reference: Path


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's items and how many rows were left out for a missing file."""

    name: str
    items: list[BenchItem]
    missing: int


def _rows(path: Path, *, header: bool, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"--data: {path} not found (the {path.name} of the public release)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f) if header else csv.DictReader(f, fieldnames=list(columns))
            rows = [dict(r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"--data: cannot read {path} ({type(e).__name__}: {e})") from None
    if rows and any(c not in rows[0] or rows[0][c] is None for c in columns):
        raise InputError(f"--data: {path} needs the columns {', '.join(columns)}")
    return rows


def _first(folder: Path, *stems: str) -> Path | None:
    for stem in stems:
        for suffix in _AUDIO:
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def read_benchmark(name: str, data: Path, *, n: int | None = None) -> Benchmark:
    """The items of benchmark ``name`` under ``data``, in release order, the first ``n`` kept (after leaving out
    those with missing files).

    Raises:
        InputError: unknown name, missing or malformed metadata file, or no usable item.
    """
    items: list[BenchItem] = []
    missing = 0
    audio = data / "audio"
    if name == "audiocaps":
        seen: set[str] = set()
        for r in _rows(data / "test.csv", header=True, columns=("audiocap_id", "youtube_id", "start_time", "caption")):
            if r["youtube_id"] in seen:
                continue
            seen.add(r["youtube_id"])
            ref = _first(audio, r["youtube_id"], r["audiocap_id"])
            if ref is None:
                missing += 1
                continue
            items.append(BenchItem(r["youtube_id"], r["caption"].strip(), None, ref))
    elif name == "musiccaps":
        for r in _rows(data / "musiccaps-public.csv", header=True, columns=("ytid", "start_s", "end_s", "caption")):
            ref = _first(audio, r["ytid"])
            if ref is None:
                missing += 1
                continue
            items.append(BenchItem(r["ytid"], r["caption"].strip(), None, ref))
    elif name == "vggsound":
        for r in _rows(data / "vggsound.csv", header=False, columns=("youtube_id", "start_seconds", "label", "split")):
            if r["split"].strip() != "test":
                continue
            try:
                stem = f"{r['youtube_id']}_{int(float(r['start_seconds'])):06d}"
            except ValueError:
                raise InputError(f"--data: vggsound.csv: bad start_seconds {r['start_seconds']!r}") from None
            video = data / "video" / f"{stem}.mp4"
            if not video.is_file():
                missing += 1
                continue
            items.append(BenchItem(stem, V2A_PROMPT, video, _first(audio, stem) or video))
    elif name == "v2m-bench":
        videos = sorted((data / "video").glob("*.mp4")) if (data / "video").is_dir() else []
        if not videos:
            raise InputError(f"--data: {data / 'video'} holds no .mp4 files (the V2M-bench videos)")
        for video in videos:
            ref = _first(audio, video.stem)
            if ref is None:
                missing += 1
                continue
            items.append(BenchItem(video.stem, V2M_PROMPT, video, ref))
    else:
        raise InputError(f"benchmark: unknown {name!r}; expected one of {', '.join(BENCHMARKS)}")
    if n is not None:
        items = items[:n]
    if not items:
        raise InputError(f"--data: {data} has no {name} item with its files ({missing} left out for a missing file)")
    return Benchmark(name, items, missing)
