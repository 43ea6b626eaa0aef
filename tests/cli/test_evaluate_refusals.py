"""``audiox evaluate folder`` / ``benchmark``: bad input is one ``error:`` line, exit 2, before any work, and leaves
the working folder unchanged (no report, no cache entry, no generated file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from harness import assert_refused


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    import soundfile as sf

    for side, names in (("real", ("a", "b")), ("gen", ("a", "c"))):
        (tmp_path / side).mkdir()
        for n in names:
            sf.write(tmp_path / side / f"{n}.wav", np.zeros(1600, dtype=np.float32), 16000)
    (tmp_path / "empty").mkdir()
    (tmp_path / "weights").mkdir()
    (tmp_path / "bench").mkdir()
    return tmp_path


def _folder(root: Path, *extra: str) -> list[str]:
    return ["evaluate", "folder", "--real", str(root / "real"), "--generated", str(root / "gen"),
            "--out", str(root / "report"), "--cache", str(root / "cache"), *extra]


CASES = [
    (["--protocol", "fid"], "unknown protocol 'fid'; expected one of offline, audioldm-eval"),
    (["--protocol", "audioldm-eval"], "pairs files by name: 'b' is only in --real"),
    (["--protocol", "clap"], "--protocol clap: needs --captions"),
    (["--no-cache"], "--cache: not used with --no-cache"),
    (["--threads", "0"], "--threads"),
]


@pytest.mark.parametrize(("extra", "expect"), CASES)
def test_folder_refusals(folders: Path, extra: list[str], expect: str) -> None:
    assert_refused(_folder(folders, *extra), expect, folders)


def test_folder_missing_weights_names_the_published_file(folders: Path) -> None:
    (folders / "gen" / "c.wav").rename(folders / "gen" / "b.wav")  # now paired
    assert_refused(_folder(folders, "--protocol", "audioldm-eval", "--weights", str(folders / "weights")),
                   "Cnn14_16k_mAP=0.438.pth (Zenodo record 3987831", folders)


def test_folder_without_audio(folders: Path) -> None:
    argv = ["evaluate", "folder", "--real", str(folders / "empty"), "--generated", str(folders / "gen")]
    assert_refused(argv, "holds no audio files", folders)


def test_captions_missing_a_clip(folders: Path) -> None:
    (folders / "caps.json").write_text('{"a": "a dog"}')
    assert_refused(_folder(folders, "--protocol", "clap", "--captions", str(folders / "caps.json")),
                   "--captions: no caption for 'c'", folders)


@pytest.mark.parametrize(("layout", "expect"), [
    ({}, "test.csv not found"),
    ({"test.csv": "id,caption\n1,x\n"}, "needs the columns audiocap_id, youtube_id, start_time, caption"),
    ({"test.csv": "audiocap_id,youtube_id,start_time,caption\n1,yt,0,a dog\n"}, "has no audiocaps item"),
])
def test_benchmark_refusals(folders: Path, layout: dict[str, str], expect: str) -> None:
    for name, text in layout.items():
        (folders / "bench" / name).write_text(text)
    argv = ["evaluate", "benchmark", "audiocaps", "--data", str(folders / "bench"), "--out", str(folders / "out"),
            "--steps", "2"]
    assert_refused(argv, expect, folders)


def test_benchmark_bad_steps_before_reading(folders: Path) -> None:
    argv = ["evaluate", "benchmark", "musiccaps", "--data", str(folders / "bench"), "--out", str(folders / "out"),
            "--steps", "0"]
    assert_refused(argv, "--steps", folders)


def test_benchmark_bad_video_refused_before_anything_is_created(folders: Path) -> None:
    bench = folders / "bench"
    (bench / "vggsound.csv").write_text("yt1,5,dog barking,test\n")
    (bench / "video").mkdir()
    (bench / "video" / "yt1_000005.mp4").write_bytes(b"not a video")
    argv = ["evaluate", "benchmark", "vggsound", "--data", str(bench), "--out", str(folders / "out" / "run"),
            "--steps", "2"]
    assert_refused(argv, "yt1_000005.mp4", folders)
