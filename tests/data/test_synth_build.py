"""The generated corpus: determinism, worker independence, manifest validity and label/media consistency."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiox.data.manifest import TASKS, read_manifest
from audiox.data.synth import BuildConfig, build, video

N, RATE, SECONDS, SIZE, FPS = 12, 16000, 4.0, 64, 25


def _cfg(out: Path, seed: int, workers: int) -> BuildConfig:
    return BuildConfig(out=out, n=N, seed=seed, workers=workers, sample_rate=RATE, seconds=SECONDS,
                       video_size=SIZE, fps=FPS, test_fraction=0.5)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    out = {"a": root / "a", "b": root / "b", "other": root / "other"}
    build(_cfg(out["a"], seed=7, workers=1))
    build(_cfg(out["b"], seed=7, workers=2))
    build(_cfg(out["other"], seed=8, workers=2))
    return out


def test_same_seed_is_byte_identical_across_worker_counts(corpora):
    a, b = _hashes(corpora["a"]), _hashes(corpora["b"])
    assert len(a) >= N + 2  # audio for every sample, manifest, meta, plus videos/images
    assert a == b


def test_different_seed_differs(corpora):
    a, other = _hashes(corpora["a"]), _hashes(corpora["other"])
    assert a["manifest.jsonl"] != other["manifest.jsonl"]
    shared = [k for k in a if k.startswith("audio/") and k in other]
    assert shared and all(a[k] != other[k] for k in shared)


def test_manifest_covers_every_task_and_validates(corpora):
    root = corpora["a"]
    entries = read_manifest(root / "manifest.jsonl")
    assert [e.id for e in entries] == [f"{i:06d}" for i in range(N)]
    assert set(TASKS) <= {e.task for e in entries}
    for e in entries:
        assert (root / e.audio).is_file()
        assert (e.video is not None) == (e.task in ("v2a", "v2m", "tv2a", "tv2m"))
        assert (e.image is not None) == (e.task in ("i2a", "i2m"))
        assert e.kind == ("music" if e.task.endswith("m") and e.task != "continue" else e.kind)
        if e.task in ("v2a", "i2a"):
            assert e.caption == "Generate general audio for the video"
        elif e.task in ("v2m", "i2m"):
            assert e.caption == "Generate music for the video"
        else:
            assert e.caption == e.labels["description"] and len(e.caption) > 10
        if e.audio_prompt is not None:
            spans = e.audio_prompt["spans"]
            assert all(0 <= a < b <= SECONDS for a, b in spans)
            if e.task == "continue":
                assert spans[0][1] == SECONDS and 0.25 * SECONDS <= spans[0][0] <= 0.75 * SECONDS
    meta = json.loads((root / "meta.json").read_text())
    assert meta["seed"] == 7 and meta["n"] == N and sum(meta["counts"]["task"].values()) == N
    assert {"freedesktop", "arcade", "espeak-ng", "fluidr3", "procedural"} <= set(meta["sources"])
    assert all(v["licence"] for v in meta["sources"].values())


def test_audio_files_have_requested_format(corpora):
    root = corpora["a"]
    for e in read_manifest(root / "manifest.jsonl"):
        info = sf.info(str(root / e.audio))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (RATE, 2, "PCM_16", int(SECONDS * RATE))
        data, _ = sf.read(str(root / e.audio))
        assert 0.3 < np.abs(data).max() < 1.0


def _brightness(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == int(SECONDS * FPS) and frames[0].shape == (SIZE, SIZE, 3)
    return np.array([f.astype(np.float64).mean() for f in frames])


def test_video_flashes_coincide_with_labelled_events(corpora):
    root = corpora["a"]
    checked = 0
    for e in read_manifest(root / "manifest.jsonl"):
        if e.video is None:
            continue
        times = e.labels["event_times"] if e.kind == "sfx" else e.labels["beat_times"]
        expected = {int(round(t * FPS)) for t in times if round(t * FPS) < SECONDS * FPS}
        jumps = np.diff(_brightness(root / e.video), prepend=np.inf if 0 not in expected else -np.inf)
        found = {int(i) for i in np.flatnonzero(jumps > 15)}
        assert all(any(abs(f - x) <= 1 for f in found) for x in expected), (e.id, expected, found)
        assert all(any(abs(f - x) <= 1 for x in expected) for f in found), (e.id, expected, found)
        checked += 1
    assert checked >= 4


def test_images_show_the_scene(corpora):
    from PIL import Image

    root = corpora["a"]
    images = [e for e in read_manifest(root / "manifest.jsonl") if e.image is not None]
    assert len(images) >= 2
    for e in images:
        img = np.asarray(Image.open(root / e.image).convert("RGB"))
        assert img.shape == (SIZE, SIZE, 3) and img.std() > 5  # objects/icons visible on the background
        look = e.labels["image"]
        if e.kind == "sfx":
            for obj in look["objects"]:  # the object's pixels show its class colour (at rest brightness)
                mask = video._mask(obj["shape"], look["radius"])
                k = look["radius"]
                ys, xs = np.nonzero(mask)
                i = int(np.argmin((ys - k) ** 2 + (xs - k) ** 2))  # the mask pixel nearest the centre
                pix = img[int(round(obj["y"])) + ys[i] - k, int(round(obj["x"])) + xs[i] - k].astype(float)
                # lossless PNG, but the shaded colour is rounded to uint8 and the drawing's edge anti-aliasing
                # reaches the pixel nearest the centre of small shapes: within 3 levels of 255
                assert np.allclose(pix, np.array(obj["colour"]) * 0.75, atol=3), (e.id, obj)
        else:
            hue_warm = look["palette"] == "warm"
            r, _, b = img[2, 2].astype(int)
            assert (r > b) == hue_warm and (look["palette"] == "warm") == (e.labels["mode"] == "major")


def test_failed_overwrite_keeps_the_old_corpus(corpora, tmp_path, monkeypatch):
    """--overwrite builds beside the old corpus: a build that fails midway leaves it intact and no build folder."""
    import importlib
    import shutil

    build_module = importlib.import_module("audiox.data.synth.build")  # the package exports a function of that name

    target = tmp_path / "c"
    shutil.copytree(corpora["a"], target)
    before = _hashes(target)
    real = build_module.make_sample

    def fail_at_5(cfg, index):
        if index == 5:
            raise OSError(28, "No space left on device")
        return real(cfg, index)

    monkeypatch.setattr(build_module, "make_sample", fail_at_5)
    with pytest.raises(OSError):
        build(BuildConfig(**{**_cfg(target, seed=9, workers=1).__dict__, "overwrite": True}))
    assert _hashes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    monkeypatch.setattr(build_module, "make_sample", real)
    build(BuildConfig(**{**_cfg(target, seed=8, workers=1).__dict__, "overwrite": True}))
    assert _hashes(target) == _hashes(corpora["other"])  # the same as a fresh build with that seed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
