"""audiox.media.video: official frame selection on synthetic videos, and the real sample videos."""

import re
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from audiox.errors import InputError, MediaError
from audiox.media import video as video_mod
from audiox.media.video import VideoInfo, probe_video, read_video_frames
from audiox.media.video_check import check_video

SAMPLES = Path("/work/shared/media")
STEP = 16  # each half of a synthetic frame is one of 16 grey levels 8 + 16 * j


def _encode_indexed_video(path: Path, n_frames: int, fps: int, gop: int = 12, faststart: bool = False) -> None:
    """Frame k: left half grey level ``k % 16``, right half ``k // 16`` (k < 256), 64x48, H.264.

    ``faststart`` puts the index (moov) before the frames (mdat), so a cut file still opens.
    """
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
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
def test_sample_videos(name, fps, caplog):
    path = SAMPLES / name
    info = probe_video(path)
    assert info.fps == pytest.approx(fps)  # a rational rate as a float: pytest's rel 1e-6
    assert info.duration == pytest.approx(10.0, abs=0.1)  # real clips: streams end within a few frames of 10 s
    assert (info.width, info.height, info.has_audio) == (1280, 720, False)
    assert 235 <= info.n_frames <= 301

    with caplog.at_level("WARNING", logger="audiox.media.video"):
        video = read_video_frames(path)
    # 23.976 fps sampled every 5th frame spans 10.4 s: the official padding of its last 2 frames is the
    # frame interval's rounding, not a short video, so there is no warning
    assert caplog.records == []
    assert video.shape == (50, 3, 224, 224) and video.dtype == torch.uint8
    diffs = (video[1:].float() - video[:-1].float()).abs().mean(dim=(1, 2, 3))
    assert (diffs > 0.5).sum() >= 25  # a real, moving video
    assert 10 < video.float().mean() < 245

    with caplog.at_level("WARNING", logger="audiox.media.video"):
        long = read_video_frames(path, seconds=20)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: the video has 10.0 s after the start; 10.0 s of the 20.0 s requested are filled with its last frame"
    ]
    assert long.shape == (100, 3, 224, 224)
    assert torch.equal(long[:50], video)
    assert torch.equal(long[50:], long[49:50].expand(50, -1, -1, -1))


def _remux_faststart(src: Path, dst: Path) -> None:
    """Copy the video packets of ``src`` into an MP4 whose index (moov) precedes the frames (no re-encoding)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="module")
def truncated_sample(tmp_path_factory):
    """The real 10-s 30-fps sample, remuxed with its index first and cut in the middle of its frame data."""
    folder = tmp_path_factory.mktemp("truncated")
    _remux_faststart(SAMPLES / "v2a-sample-1.mp4", folder / "whole.mp4")
    return _cut(folder / "whole.mp4", folder / "half.mp4", 0.5)


def test_truncated_real_mp4_is_refused(truncated_sample, tmp_path, caplog):
    assert probe_video(truncated_sample).duration == pytest.approx(10.0)  # the index still states 10 s
    truncated = r"half.mp4: only (\d\.\d) s of its 10.0 s decode \(the file is truncated or damaged\)$"
    with pytest.raises(MediaError, match=truncated) as checked:
        check_video(truncated_sample)
    with pytest.raises(MediaError, match=truncated) as read:
        read_video_frames(truncated_sample, size=32)
    # about 134 of the 300 frames are left (4.5 s); the check counts packets, the read decoded frames
    for error in (checked, read):
        assert 4.0 <= float(re.search(truncated, str(error.value)).group(1)) <= 5.0
    with pytest.raises(MediaError, match=truncated):  # the start is inside the missing part
        read_video_frames(truncated_sample, start=6.0, seconds=2, size=32)
    with caplog.at_level("WARNING", logger="audiox.media.video"):
        head = read_video_frames(truncated_sample, seconds=4, size=32)  # the clip needs only the intact part
    assert head.shape == (20, 3, 32, 32) and caplog.records == []
    # the original file keeps its index after the frames: cut, it has no index and does not open
    cut = _cut(SAMPLES / "v2a-sample-1.mp4", tmp_path / "cut.mp4", 0.5)
    for load in (check_video, read_video_frames, probe_video):
        with pytest.raises(MediaError, match=r"cut.mp4: not a decodable media file \(InvalidDataError\)$"):
            load(cut)


def test_truncated_synthetic_mp4(tmp_path):
    whole = tmp_path / "whole.mp4"
    _encode_indexed_video(whole, n_frames=250, fps=25, gop=25, faststart=True)  # 10 s
    info = check_video(whole)
    assert (info.duration, info.n_frames, info.frames_end) == (10.0, 250, 10.0)
    for fraction in (0.3, 0.6):
        cut = _cut(whole, tmp_path / f"cut{fraction}.mp4", fraction)
        with pytest.raises(MediaError, match=r"only \d\.\d s of its 10.0 s decode \(the file is truncated"):
            check_video(cut)
        with pytest.raises(MediaError, match=r"only \d\.\d s of its 10.0 s decode \(the file is truncated"):
            read_video_frames(cut, fps=5, seconds=10, size=32)
    # cut just before the end: 9.x s of 10 s is within the tolerance, so it is padded (with a warning)
    near = _cut(whole, tmp_path / "near.mp4", 0.97)
    assert check_video(near).frames_end > 9.0
    video = read_video_frames(near, fps=25, seconds=10, size=64)
    found = _indices(video)
    assert found[: found.index(found[-1]) + 1] == list(range(found.index(found[-1]) + 1))  # 0, 1, ... then the last


def test_truncation_tolerance():
    p = Path("v.mp4")
    assert video_mod._truncation_error(p, 9.01, 10.0) is None  # max(1 s, 10 %) = 1 s
    assert "only 8.9 s of its 10.0 s" in str(video_mod._truncation_error(p, 8.9, 10.0))
    assert video_mod._truncation_error(p, 54.5, 60.0) is None  # 10 % of 60 s = 6 s
    assert "only 53.0 s of its 60.0 s" in str(video_mod._truncation_error(p, 53.0, 60.0))
    assert video_mod._truncation_error(p, 0.0, 0.9) is None  # a sub-second clip can never be judged truncated
    assert video_mod._truncation_error(p, 0.0, None) is None  # nothing stated, nothing to compare


def test_short_valid_video_warns_and_pads(video_25fps, caplog):
    with caplog.at_level("WARNING", logger="audiox.media.video"):
        video = read_video_frames(video_25fps, fps=5, seconds=4, size=32)
        late = read_video_frames(video_25fps, fps=5, seconds=4, start=1.0, size=32)
        read_video_frames(video_25fps, fps=5, seconds=2, size=32)  # covered: no warning
    assert _indices(video) == list(range(0, 50, 5)) + [45] * 10
    assert _indices(late) == [25, 30, 35, 40, 45] + [45] * 15
    assert [r.getMessage() for r in caplog.records] == [
        f"{video_25fps}: the video has 2.0 s after the start; 2.0 s of the 4.0 s requested are filled with its last "
        "frame",
        f"{video_25fps}: the video has 1.0 s after the start; 3.0 s of the 4.0 s requested are filled with its last "
        "frame",
    ]


def test_padding_warning_counts_the_requested_seconds(video_25fps, caplog):
    """Generation decodes a window of context past the output; the warning counts only the output (``cover``):
    a 2-s output of a 2-s video used to warn that 10 s were filled."""
    with caplog.at_level("WARNING", logger="audiox.media.video"):
        clip = read_video_frames(video_25fps, fps=5, seconds=12, size=32, cover=2)
        assert caplog.records == [] and clip.shape[0] == 60
        read_video_frames(video_25fps, fps=5, seconds=13, size=32, cover=3)
    assert [r.getMessage() for r in caplog.records] == [
        f"{video_25fps}: the video has 2.0 s after the start; 1.0 s of the 3.0 s requested are filled with its last "
        "frame"
    ]


def test_check_video(video_25fps, tmp_path):
    info = check_video(video_25fps)
    assert (info.fps, info.n_frames, info.width, info.height, info.has_audio) == (25.0, 50, 64, 48, False)
    assert info.frames_end == pytest.approx(2.0) and info.duration == pytest.approx(2.0, abs=0.05)
    start = time.perf_counter()
    real = check_video(SAMPLES / "v2a-sample-1.mp4")  # 10 s of 1280x720 at 30 fps, 3 keyframes
    elapsed = time.perf_counter() - start
    assert (real.n_frames, real.frames_end, real.duration) == (300, 10.0, 10.0)
    assert elapsed < 1.0  # about 0.06 s here: packets are read, two frames decoded
    with pytest.raises(MediaError, match="nope.mp4: file not found"):
        check_video(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError, match=r"junk.mp4: not a decodable media file \(InvalidDataError\)$"):
        check_video(junk)
    wav = tmp_path / "audio_only.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(800, np.float32), 8000)
    with pytest.raises(MediaError, match="audio_only.wav: no video stream$"):
        check_video(wav)


def test_zero_frames_and_undecodable_frames(tmp_path):
    empty = tmp_path / "empty_track.mkv"  # a video stream without a single frame, and a little audio
    with av.open(str(empty), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in [*audio.encode(frame), *audio.encode(None), *video.encode(None)]:
            out.mux(packet)
    for load in (check_video, read_video_frames):
        with pytest.raises(MediaError, match=r"empty_track.mkv: video stream has zero frames$"):
            load(empty)
    good = tmp_path / "good.mp4"
    _encode_indexed_video(good, n_frames=25, fps=25, faststart=True)
    data = bytearray(good.read_bytes())
    mdat = data.find(b"mdat") + 4
    data[mdat:] = bytes(len(data) - mdat)  # the index is intact, every frame is zeros
    zeroed = tmp_path / "zeroed.mp4"
    zeroed.write_bytes(bytes(data))
    for load in (check_video, read_video_frames):
        with pytest.raises(MediaError, match=r"zeroed.mp4: video stream is not decodable \(InvalidDataError\)$"):
            load(zeroed)


def test_huge_frames_are_refused_before_decoding(tmp_path):
    """A damaged GIF header can state a 20000 x 10000 canvas: 800 MB per frame, refused up front."""
    import struct

    gif = tmp_path / "huge.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HHBBB", 20000, 10000, 0, 0, 0))  # the logical screen only
    message = r"huge.gif: video frames are too large \(20000x10000 pixels; the limit is 89478485\)$"
    for load in (probe_video, check_video, read_video_frames):
        with pytest.raises(MediaError, match=message):
            load(gif)


def test_longer_audio_track_is_not_truncation(tmp_path, caplog):
    """2 s of video and 5 s of audio in Matroska: the video's own DURATION tag is its stated length, not the
    container's 5 s, so the file is valid and a 5-s clip is padded (with a warning), not refused."""
    path = tmp_path / "av.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=8000, layout="mono")
        for i in range(0, 40000, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i
            for packet in audio.encode(frame):
                out.mux(packet)
        for k in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 25)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in [*audio.encode(None), *video.encode(None)]:
            out.mux(packet)
    info = check_video(path)
    assert info.has_audio and info.duration == pytest.approx(2.0) and info.frames_end == pytest.approx(2.0)
    with caplog.at_level("WARNING", logger="audiox.media.video"):
        clip = read_video_frames(path, fps=5, seconds=5, size=16)
    assert clip.shape == (25, 3, 16, 16)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: the video has 2.0 s after the start; 3.0 s of the 5.0 s requested are filled with its last frame"
    ]
