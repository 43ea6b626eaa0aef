"""audiox.media.video: official frame selection on synthetic videos, and the real sample videos."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from audiox.errors import InputError, MediaError
from audiox.media import video as video_mod
from audiox.media.video import VideoInfo, probe_video, read_video_frames

SAMPLES = Path("/work/shared/media")
STEP = 16  # each half of a synthetic frame is one of 16 grey levels 8 + 16 * j


def _encode_indexed_video(path: Path, n_frames: int, fps: int, gop: int = 12) -> None:
    """Frame k: left half grey level ``k % 16``, right half ``k // 16`` (k < 256), 64x48, H.264."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "1", "g": str(gop), "bf": "2"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(n_frames):
            img = np.empty((48, 64, 3), np.uint8)
            img[:, :32] = 8 + STEP * (k % 16)
            img[:, 32:] = 8 + STEP * (k // 16)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _indices(video: torch.Tensor) -> list[int]:
    """Recover the synthetic frame index from each (3, H, W) frame."""
    w = video.shape[-1]
    left = video[:, :, 4:-4, 4 : w // 2 - 4].float().mean(dim=(1, 2, 3))
    right = video[:, :, 4:-4, w // 2 + 4 : -4].float().mean(dim=(1, 2, 3))
    lo = torch.round((left - 8) / STEP).long()
    hi = torch.round((right - 8) / STEP).long()
    return (hi * 16 + lo).tolist()


@pytest.fixture(scope="module")
def video_25fps(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "indexed25.mp4"
    _encode_indexed_video(path, n_frames=50, fps=25)  # 2 s
    return path


@pytest.fixture(scope="module")
def video_long(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "indexed_long.mp4"
    _encode_indexed_video(path, n_frames=240, fps=24, gop=24)  # 10 s, a keyframe every second
    return path


def test_frame_selection_indices(video_25fps):
    assert _indices(read_video_frames(video_25fps, fps=25, seconds=2, size=64)) == list(range(50))
    video = read_video_frames(video_25fps, fps=5, seconds=4, size=32)  # interval ceil(25 / 5) = 5
    assert video.shape == (20, 3, 32, 32) and video.dtype == torch.uint8
    assert _indices(video) == list(range(0, 50, 5)) + [45] * 10  # padded with the last frame
    assert torch.equal(video[10:], video[9:10].expand(10, -1, -1, -1))
    # seek_frame = int(0.5 * 25) = 12; fps 7 -> interval ceil(25 / 7) = 4
    assert _indices(read_video_frames(video_25fps, fps=7, seconds=1, start=0.5, size=32)) == [
        12,
        16,
        20,
        24,
        28,
        32,
        36,
    ]


def test_seek_far_ahead_matches_counting(video_long, monkeypatch):
    def no_fallback(*args):
        raise AssertionError("the seek should not fall back to decoding from the start")

    monkeypatch.setattr(video_mod, "_select_frames_from_start", no_fallback)
    # 24 fps, fps=5: interval 5; start 6.3 s -> seek_frame int(6.3 * 24) = 151 (beyond the seek threshold)
    video = read_video_frames(video_long, fps=5, seconds=3, start=6.3, size=32)
    assert _indices(video) == [151 + 5 * k for k in range(15)]
    tail = read_video_frames(video_long, fps=5, seconds=2, start=9.5, size=32)
    assert _indices(tail) == [228, 233, 238] + [238] * 7


def test_probe_and_errors(video_25fps, tmp_path):
    info = probe_video(video_25fps)
    assert isinstance(info, VideoInfo)
    assert (info.fps, info.n_frames, info.width, info.height, info.has_audio) == (25.0, 50, 64, 48, False)
    assert info.duration == pytest.approx(2.0, abs=0.05)  # container duration: within about a frame (0.04 s)
    with pytest.raises(MediaError, match="start 5.000 s is past the end"):
        read_video_frames(video_25fps, start=5.0)
    with pytest.raises(MediaError, match="nope.mp4: file not found"):
        read_video_frames(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError, match="junk.mp4: not a decodable"):
        read_video_frames(junk)
    wav = tmp_path / "audio_only.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(800, np.float32), 8000)
    with pytest.raises(MediaError, match="audio_only.wav: no video stream"):
        probe_video(wav)
    with pytest.raises(InputError, match="fps"):
        read_video_frames(video_25fps, fps=0)


@pytest.mark.parametrize(("name", "fps"), [("v2a-sample-1.mp4", 30.0), ("v2m-sample-2.mp4", 24000 / 1001)])
def test_sample_videos(name, fps):
    path = SAMPLES / name
    info = probe_video(path)
    assert info.fps == pytest.approx(fps)  # a rational rate as a float: pytest's rel 1e-6
    assert info.duration == pytest.approx(10.0, abs=0.1)  # real clips: streams end within a few frames of 10 s
    assert (info.width, info.height, info.has_audio) == (1280, 720, False)
    assert 235 <= info.n_frames <= 301

    video = read_video_frames(path)
    assert video.shape == (50, 3, 224, 224) and video.dtype == torch.uint8
    diffs = (video[1:].float() - video[:-1].float()).abs().mean(dim=(1, 2, 3))
    assert (diffs > 0.5).sum() >= 25  # a real, moving video
    assert 10 < video.float().mean() < 245

    long = read_video_frames(path, seconds=20)
    assert long.shape == (100, 3, 224, 224)
    assert torch.equal(long[:50], video)
    assert torch.equal(long[50:], long[49:50].expand(50, -1, -1, -1))
