"""Build the corpus: plan tasks, generate each sample from ``(seed, index)`` alone, write media, manifest and meta.

Every random draw comes from ``numpy.random.default_rng([seed, index, stream])``, so a sample does not depend
on the other samples, on the number of workers or on the order in which workers finish. Media encoders run with
fixed, single-threaded, metadata-free settings, so two builds with the same seed are byte-identical.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from audiox.data.manifest import MANIFEST_NAME, TASKS, ManifestEntry, write_manifest
from audiox.errors import ConfigError

log = logging.getLogger(__name__)

SFX_TASKS = ("t2a", "v2a", "tv2a", "i2a")
MUSIC_TASKS = ("t2m", "v2m", "tv2m", "i2m")
VIDEO_TASKS = ("v2a", "v2m", "tv2a", "tv2m")
IMAGE_TASKS = ("i2a", "i2m")
MAX_N = 10**8  # samples (the manifest's ids have 6 digits but sort by index beyond)
# independent random streams of one sample
_AUDIO, _CAPTION, _SCENE, _PROMPT, _KIND, _WORDING = 10, 11, 12, 13, 14, 15
N_WORDINGS = 8  # training prompts per clip in everyday words (labels["captions"]), besides its description


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one corpus build.

    Args:
        out: output folder (created; its parent must exist).
        n: number of samples (1 .. MAX_N).
        seed: integer seed, 0 .. 2**64 - 1.
        workers: worker processes (>= 1); the output does not depend on it.
        sample_rate: audio rate in Hz.
        seconds: clip length in s.
        channels: 1 (mono) or 2 (stereo).
        fps: video frame rate.
        video_size: video/image side in pixels (even, 32 .. 2048).
        test_fraction: share of 10-sample blocks held out as ``"test"``.
        overwrite: replace an existing corpus in ``out``.
        progress: show a tqdm progress bar.
    """

    out: Path
    n: int
    seed: int
    workers: int = 1
    sample_rate: int = 44100
    seconds: float = 10.0
    channels: int = 2
    fps: int = 25
    video_size: int = 224
    test_fraction: float = 0.1
    overwrite: bool = False
    progress: bool = False

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting (``key: ...``); reads, never writes."""

        def integer(key: str, lo: int, hi: int) -> None:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{key}: expected an integer, got {v!r}")
            if not lo <= v <= hi:
                raise ConfigError(f"{key}: must be in [{lo}, {hi}], got {v}")

        def number(key: str, lo: float, hi: float) -> None:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{key}: expected a number, got {v!r}")
            if not lo <= v <= hi:  # also refuses nan
                raise ConfigError(f"{key}: must be in [{lo:g}, {hi:g}], got {v!r}")

        if isinstance(self.n, int) and self.n <= 0:
            raise ConfigError(f"n: must be > 0, got {self.n}")
        integer("n", 1, MAX_N)
        integer("seed", 0, 2**64 - 1)
        integer("workers", 1, 4096)
        integer("sample_rate", 8000, 192000)
        number("seconds", 1.0, 60.0)
        integer("channels", 1, 2)
        integer("fps", 1, 120)
        integer("video_size", 32, 2048)
        if self.video_size % 2:
            raise ConfigError(f"video_size: must be even, got {self.video_size}")
        number("test_fraction", 0.0, 1.0)
        out = Path(self.out)
        parent = out.resolve().parent
        if not parent.is_dir():
            raise ConfigError(f"out: parent folder {parent} does not exist")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"out: {out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not (out / MANIFEST_NAME).is_file():
                raise ConfigError(f"out: {out} is not empty and holds no corpus; choose an empty or new folder")
            if not self.overwrite:
                raise ConfigError(f"out: {out} already holds a corpus; pass --overwrite to replace it")

    def audio_bytes(self) -> int:
        """The size of the corpus's WAV files (16-bit PCM), a lower bound of the disk space a build needs."""
        return self.n * (round(self.seconds * self.sample_rate) * self.channels * 2 + 44)


def plan(seed: int, index: int, test_fraction: float) -> tuple[str, str]:
    """``(task, split)`` of a sample: each block of 10 holds every task once; whole blocks are held out.

    Args:
        seed: corpus seed.
        index: sample index.
        test_fraction: share of blocks in the test split.
    """
    block = index // len(TASKS)
    perm = np.random.default_rng([seed, block, 1]).permutation(len(TASKS))
    split = "test" if np.random.default_rng([seed, block, 2]).random() < test_fraction else "train"
    return TASKS[int(perm[index % len(TASKS)])], split


def _spans(rng: np.random.Generator, mode: str, seconds: float) -> list[list[float]]:
    """Regions to regenerate (s): 1-2 holes for inpainting, the tail after a 30-70 % prompt for continuation."""
    if mode == "continue":
        return [[round(float(rng.uniform(0.3, 0.7)) * seconds, 3), float(seconds)]]
    holes: list[list[float]] = []
    for _ in range(int(rng.integers(1, 3))):
        length = float(rng.uniform(0.1, 0.3)) * seconds
        start = float(rng.uniform(0.05 * seconds, 0.95 * seconds - length))
        if all(start + length < a or start > b for a, b in holes):
            holes.append([round(start, 3), round(start + length, 3)])
    return sorted(holes)


def make_sample(cfg: BuildConfig, index: int) -> ManifestEntry:
    """Generate sample ``index``, write its media under ``cfg.out`` and return its manifest entry.

    Args:
        cfg: build settings.
        index: sample index in ``[0, cfg.n)``.
    """
    import soundfile as sf

    from audiox.data.synth import captions, music, sfx, video, wording

    task, split = plan(cfg.seed, index, cfg.test_fraction)
    sid = f"{index:06d}"
    if task in SFX_TASKS or task in MUSIC_TASKS:
        kind = "sfx" if task in SFX_TASKS else "music"
    else:  # inpaint / continue: either kind
        kind = str(np.random.default_rng([cfg.seed, index, _KIND]).choice(["sfx", "music"]))
    rng_audio = np.random.default_rng([cfg.seed, index, _AUDIO])
    rng_text = np.random.default_rng([cfg.seed, index, _CAPTION])
    rng_scene = np.random.default_rng([cfg.seed, index, _SCENE])
    common = {"sample_rate": cfg.sample_rate, "seconds": cfg.seconds, "channels": cfg.channels}
    if kind == "sfx":
        audio, labels = sfx.make_sfx(rng_audio, **common)
        description = captions.sfx_caption(labels, rng_text, cfg.seconds)
        scene = video.sfx_scene(labels, rng_scene, size=cfg.video_size)
    else:
        audio, labels = music.make_music(rng_audio, **common)
        description = captions.music_caption(labels, rng_text)
        scene = video.music_scene(labels, rng_scene, size=cfg.video_size)
    labels = {"kind": kind, "description": description, **labels}
    rng_words = np.random.default_rng([cfg.seed, index, _WORDING])
    labels["captions"] = [wording.describe(labels, rng_words, wording.TRAIN) for _ in range(N_WORDINGS)]
    out = Path(cfg.out)
    audio_rel = f"audio/{sid}.wav"
    sf.write(str(out / audio_rel), audio.T, cfg.sample_rate, subtype="PCM_16", format="WAV")
    video_rel = image_rel = None
    render = video.render_sfx if kind == "sfx" else video.render_music
    if task in VIDEO_TASKS:
        video_rel = f"video/{sid}.mp4"
        frames = render(labels, scene, size=cfg.video_size, fps=cfg.fps, seconds=cfg.seconds, fmt="yuv420p")
        video.write_mp4(out / video_rel, frames, cfg.fps)
        labels["video"] = {"fps": cfg.fps, "size": [cfg.video_size, cfg.video_size], **scene}
    if task in IMAGE_TASKS:
        image_rel = f"image/{sid}.png"
        rest = {"events": [], "beat_times": []}  # a still at rest: no flash, no pulse
        still = render(rest, scene, size=cfg.video_size, fps=cfg.fps, seconds=1.0 / cfg.fps)[0]
        video.write_png(out / image_rel, still)
        labels["image"] = {"size": [cfg.video_size, cfg.video_size], **scene}
    prompt = None
    if task in ("inpaint", "continue"):
        prompt = {"mode": task, "spans": _spans(np.random.default_rng([cfg.seed, index, _PROMPT]), task, cfg.seconds)}
    if task in ("v2a", "i2a"):
        caption = captions.V2A_PROMPT
    elif task in ("v2m", "i2m"):
        caption = captions.V2M_PROMPT
    else:
        caption = description
    return ManifestEntry(id=sid, split=split, kind=kind, task=task, audio=audio_rel, video=video_rel,
                         image=image_rel, caption=caption, audio_prompt=prompt, sample_rate=cfg.sample_rate,
                         seconds=float(cfg.seconds), labels=labels)


def _worker(args: tuple[BuildConfig, int]) -> ManifestEntry:
    return make_sample(*args)


def _prepare(work: Path) -> None:
    """A fresh build folder with its media sub-folders."""
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("audio", "video", "image"):
        (work / sub).mkdir(parents=True)


def _publish(work: Path, out: Path) -> None:
    """Put the finished build in place of ``out`` (an empty folder or a corpus that ``--overwrite`` replaces).

    The old corpus is renamed aside, the new one renamed in, then the old one deleted; Ctrl-C and SIGTERM are held
    back between the renames.
    """
    from audiox.utils.files import signals_held

    old = out.parent / f".{out.name}.{os.getpid()}.old"
    with signals_held():
        if out.exists():
            os.rename(out, old)
        os.rename(work, out)
    shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict[str, str]:
    import subprocess
    from importlib.metadata import version

    import av
    import soundfile as sf

    import audiox

    def first_line(cmd: list[str]) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr) else ""

    return {"audiox": getattr(audiox, "__version__", "unknown"), "numpy": np.__version__, "av": av.__version__,
            "libsndfile": sf.__libsndfile_version__, "mido": version("mido"),
            "fluidsynth": first_line(["fluidsynth", "--version"]), "espeak-ng": first_line(["espeak-ng", "--version"])}


def _meta(cfg: BuildConfig, entries: list[ManifestEntry], assets: dict[str, str]) -> dict[str, Any]:
    from audiox.data.synth import sources

    sfx_classes = Counter(c["class"] for e in entries if e.kind == "sfx" for c in e.labels["classes"])
    instruments = Counter(i for e in entries if e.kind == "music" for i in e.labels["instruments"])
    cfg_dict = {k: v for k, v in asdict(cfg).items() if k not in ("out", "workers", "overwrite", "progress")}
    return {
        **cfg_dict,
        "versions": _versions(),
        "counts": {
            "task": dict(sorted(Counter(e.task for e in entries).items())),
            "kind": dict(sorted(Counter(e.kind for e in entries).items())),
            "split": dict(sorted(Counter(e.split for e in entries).items())),
            "sfx_class": dict(sorted(sfx_classes.items())),
            "instrument": dict(sorted(instruments.items())),
        },
        "assets": assets,
        "sources": {name: {"origin": o, "licence": lic} for name, (o, lic) in sources.LICENCES.items()},
    }


def build(cfg: BuildConfig) -> list[ManifestEntry]:
    """Build the whole corpus into ``cfg.out``: media folders, ``manifest.jsonl`` and ``meta.json``.

    Args:
        cfg: build settings.

    Returns:
        The manifest entries in index order.

    Raises:
        ConfigError: bad settings or output folder.
        MediaError: a needed Debian/pip package is missing (the message names it).

    Workers are started with the ``spawn`` method, so a script that calls this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    from audiox.data.synth import sources

    cfg.check()
    assets = sources.check_all()
    final = Path(cfg.out)
    # built beside the target and renamed in at the end: a failed or interrupted build leaves the old corpus
    out = final.parent / f".{final.name}.{os.getpid()}.building"
    try:
        _prepare(out)
        entries = _build_into(replace(cfg, out=out), assets)
        _publish(out, final)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    log.debug("built %d samples in %s", len(entries), final)
    return entries


def _build_into(cfg: BuildConfig, assets: dict[str, str]) -> list[ManifestEntry]:
    out = Path(cfg.out)
    jobs = [(cfg, i) for i in range(cfg.n)]
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.n, desc="synth", unit="clip")
    entries: list[ManifestEntry] = []
    try:
        if cfg.workers == 1:
            for job in jobs:
                entries.append(_worker(job))
                if bar is not None:
                    bar.update(1)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(processes=min(cfg.workers, cfg.n)) as pool:
                for entry in pool.imap(_worker, jobs, chunksize=1):
                    entries.append(entry)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    write_manifest(out / MANIFEST_NAME, entries)
    meta = json.dumps(_meta(cfg, entries, assets), indent=2, sort_keys=True)
    tmp = out / ".meta.json.tmp"
    tmp.write_text(meta + "\n", encoding="utf-8")
    os.replace(tmp, out / "meta.json")
    return entries
