"""audiox.media.mux: video packets copied, AAC audio, -shortest length, atomic output."""

import math
from pathlib import Path

import av
import pytest
import torch

from audiox.errors import MediaError
from audiox.media.audio import load_audio
from audiox.media.mux import mux_audio_into_video

SAMPLE = Path("/work/shared/media/v2a-sample-1.mp4")  # 10 s, 30 fps, H.264, no audio
SR = 44100


def _sine(seconds: float, freq: float = 440.0) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return (0.5 * torch.sin(2 * math.pi * freq * t)).expand(2, -1).contiguous()


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def test_mux_copies_video_and_adds_aac(tmp_path):
    out = mux_audio_into_video(SAMPLE, _sine(3.0), SR, tmp_path / "out.mp4")
    assert out == tmp_path / "out.mp4"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    with av.open(str(out)) as c, av.open(str(SAMPLE)) as src:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v, a, v_in = c.streams.video[0], c.streams.audio[0], src.streams.video[0]
        assert v.codec_context.name == v_in.codec_context.name == "h264"
        assert (v.codec_context.width, v.codec_context.height) == (1280, 720)
        assert a.codec_context.name == "aac" and a.codec_context.sample_rate == SR and a.channels == 2
        # AAC works in 1024-sample frames (23 ms at 44.1 kHz) plus priming: within about two frames
        assert c.duration / av.time_base == pytest.approx(3.0, abs=0.05)
    copied, original = _video_packets(out), _video_packets(SAMPLE)
    assert len(copied) == 90  # frames shown in [0, 3) s at 30 fps
    assert copied == original[:90]  # packet bytes identical: remuxed, not re-encoded
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 90

    heard = load_audio(out, sample_rate=SR, channels=1)  # PyAV path: audio track of a video
    assert abs(heard.shape[1] - 3 * SR) < 2048
    spec = torch.fft.rfft(heard[0, 4096 : 4096 + SR].double()).abs()
    assert abs(float(spec.argmax()) - 440.0) <= 1.0


def test_shortest_is_the_video_or_duration(tmp_path):
    out = mux_audio_into_video(SAMPLE, _sine(4.0), SR, tmp_path / "tail.mp4", start=8.0)
    with av.open(str(out)) as c:
        assert c.duration / av.time_base == pytest.approx(2.0, abs=0.05)  # the video ends first
        frames = list(c.decode(video=0))
    assert len(frames) == 60 and frames[0].pts == 0
    capped = mux_audio_into_video(SAMPLE, _sine(4.0), SR, tmp_path / "cap.mp4", start=1.0, duration=1.5)
    with av.open(str(capped)) as c:
        assert c.duration / av.time_base == pytest.approx(1.5, abs=0.05)


def test_start_offset_shows_the_right_frame(tmp_path):
    out = mux_audio_into_video(SAMPLE, _sine(1.0), SR, tmp_path / "mid.mp4", start=4.3)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0))
    with av.open(str(SAMPLE)) as c:
        want = next(f for i, f in enumerate(c.decode(video=0)) if i == 129)  # 4.3 s * 30 fps
    assert first.pts == 0
    assert (first.to_ndarray(format="gray") == want.to_ndarray(format="gray")).all()


def test_errors_leave_no_output(tmp_path):
    with pytest.raises(MediaError, match="missing.mp4: file not found"):
        mux_audio_into_video(tmp_path / "missing.mp4", _sine(1.0), SR, tmp_path / "o.mp4")
    with pytest.raises(MediaError, match="past the end"):
        mux_audio_into_video(SAMPLE, _sine(1.0), SR, tmp_path / "o.mp4", start=12.0)
    with pytest.raises(MediaError, match="unknown video suffix"):
        mux_audio_into_video(SAMPLE, _sine(1.0), SR, tmp_path / "o.avi")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_previous_output(tmp_path, monkeypatch):
    from audiox.media import mux as mux_mod
    from audiox.media.video import probe_video

    target = mux_audio_into_video(SAMPLE, _sine(0.5), SR, tmp_path / "keep.mp4")
    assert probe_video(target).has_audio
    before = target.read_bytes()

    def broken(*args):
        raise av.FFmpegError(0, "encoder exploded")

    monkeypatch.setattr(mux_mod, "_encode_audio", broken)
    with pytest.raises(MediaError, match="keep.mp4: could not write"):
        mux_audio_into_video(SAMPLE, _sine(1.0), SR, target)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"] and target.read_bytes() == before
