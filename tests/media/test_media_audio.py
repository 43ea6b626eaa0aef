"""audiox.media.audio: decoding (soundfile and PyAV), resampling, channels, slicing, saving."""

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from tolerances import PCM24_STEP

from audiox.errors import MediaError
from audiox.media import audio as audio_mod
from audiox.media.audio import fit_length, load_audio, peak_normalize, save_audio


def _sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)


def _peak_hz(x: torch.Tensor, sr: int) -> float:
    spec = torch.fft.rfft(x.double()).abs()
    return float(spec.argmax()) * sr / x.shape[-1]


def _encode_pyav(path: Path, codec: str, samples: np.ndarray, sr: int) -> None:
    """Encode mono float32 ``samples`` with an FFmpeg codec into ``path``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=sr, layout="mono")
        fmt = stream.codec_context.codec.audio_formats[0].name
        for i in range(0, len(samples), 1152):
            chunk = samples[None, i : i + 1152]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sr, i, Fraction(1, sr)
            if fmt != "fltp":
                frame = av.AudioResampler(format=fmt, layout="mono", rate=sr).resample(frame)[0]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_resample_and_upmix_preserve_frequency(tmp_path):
    path = tmp_path / "sine48k.wav"
    sf.write(path, _sine(1000.0, 48000, 1.0), 48000, subtype="FLOAT")
    x = load_audio(path, sample_rate=44100, channels=2)
    assert x.shape == (2, 44100) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1])
    assert abs(_peak_hz(x[0], 44100) - 1000.0) <= 1.0
    assert abs(float(x[0, 1000:-1000].abs().max()) - 0.5) < 0.01


def test_flac_and_downmix_average(tmp_path):
    left, right = _sine(300.0, 16000, 0.5), _sine(700.0, 16000, 0.5, amp=0.25)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_24")
    mono = load_audio(path, sample_rate=16000, channels=1)
    assert mono.shape == (1, 8000)
    # 24-bit FLAC: each channel within one step of its source, so their mean too (+ an fp32 rounding, < a step)
    torch.testing.assert_close(mono[0], torch.from_numpy((left + right) / 2), atol=2 * PCM24_STEP, rtol=0)
    stereo = load_audio(path, sample_rate=16000, channels=2)
    torch.testing.assert_close(stereo[1], torch.from_numpy(right), atol=PCM24_STEP, rtol=0)


@pytest.mark.parametrize(
    ("suffix", "codec", "sr"), [(".m4a", "aac", 44100), (".mp3", "libmp3lame", 44100), (".opus", "libopus", 48000)]
)
def test_compressed_formats_load(tmp_path, suffix, codec, sr):
    path = tmp_path / f"tone{suffix}"
    _encode_pyav(path, codec, _sine(440.0, sr, 1.0), sr)
    x = load_audio(path, sample_rate=22050, channels=2)
    assert x.shape[0] == 2 and abs(x.shape[1] - 22050) < 0.1 * 22050
    assert abs(_peak_hz(x[0, 2000:20000], 22050) - 440.0) <= 2.0


def test_ogg_vorbis_loads(tmp_path):
    path = tmp_path / "tone.ogg"
    sf.write(path, _sine(440.0, 44100, 1.0), 44100, format="OGG", subtype="VORBIS")
    x = load_audio(path, sample_rate=44100, channels=1)
    assert x.shape == (1, 44100)
    assert abs(_peak_hz(x[0], 44100) - 440.0) <= 1.0


def test_pyav_fallback_used_for_m4a(tmp_path, monkeypatch):
    path = tmp_path / "tone.m4a"
    _encode_pyav(path, "aac", _sine(440.0, 44100, 0.5), 44100)
    calls = []
    real = audio_mod._decode_pyav
    monkeypatch.setattr(audio_mod, "_decode_pyav", lambda *a: calls.append(a) or real(*a))
    load_audio(path, sample_rate=44100, channels=1)
    assert len(calls) == 1


def test_slice_in_seconds_after_resampling(tmp_path):
    ramp = np.linspace(-1, 1, 16000, dtype=np.float32)
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, 16000, subtype="FLOAT")
    x = load_audio(path, sample_rate=16000, channels=1, start=0.5, duration=0.25)
    assert torch.equal(x[0], torch.from_numpy(ramp[8000:12000]))
    tail = load_audio(path, sample_rate=16000, channels=1, start=0.9, duration=1.0)
    assert tail.shape == (1, 1600)  # the file ends first
    y = load_audio(path, sample_rate=44100, channels=1, start=0.25, duration=0.5)
    assert y.shape == (1, 22050)
    full = load_audio(path, sample_rate=44100, channels=1)
    assert torch.equal(y, full[:, 11025:33075])  # resampled whole, then sliced: a copy


def test_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(MediaError, match="missing.wav: file not found"):
        load_audio(missing, sample_rate=44100, channels=2)
    empty_bytes = tmp_path / "empty.wav"
    empty_bytes.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav"):
        load_audio(empty_bytes, sample_rate=44100, channels=2)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 1), np.float32), 44100)
    with pytest.raises(MediaError, match="zero.wav.*zero samples"):
        load_audio(zero, sample_rate=44100, channels=2)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="corrupt.mp3"):
        load_audio(corrupt, sample_rate=44100, channels=2)
    with pytest.raises(MediaError, match="v2a-sample-1.mp4: no audio stream"):
        load_audio("/work/shared/media/v2a-sample-1.mp4", sample_rate=44100, channels=2)
    short = tmp_path / "short.wav"
    sf.write(short, _sine(100.0, 8000, 0.5), 8000)
    with pytest.raises(MediaError, match="short.wav: start 1.000 s is past the end"):
        load_audio(short, sample_rate=8000, channels=1, start=1.0)


def test_peak_normalize_and_fit_length():
    x = torch.tensor([[0.1, -0.4], [0.2, 0.0]])
    assert torch.equal(peak_normalize(x), x / 0.4)  # the same division by the same float
    assert torch.equal(peak_normalize(torch.zeros(2, 3)), torch.zeros(2, 3))
    y = torch.arange(1.0, 6.0).expand(2, 5)
    assert fit_length(y, 3).tolist() == [[1, 2, 3]] * 2
    assert fit_length(y, 3, align="right").tolist() == [[3, 4, 5]] * 2
    assert fit_length(y, 7).tolist() == [[1, 2, 3, 4, 5, 0, 0]] * 2
    assert fit_length(y, 7, align="right").tolist() == [[0, 0, 1, 2, 3, 4, 5]] * 2


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_save_round_trip_pcm16(tmp_path, suffix):
    x = torch.from_numpy(np.stack([_sine(440.0, 8000, 0.25), _sine(880.0, 8000, 0.25, amp=0.9)]))
    path = save_audio(tmp_path / f"out{suffix}", x, 8000)
    assert path == tmp_path / f"out{suffix}"
    data, sr = sf.read(path, dtype="int16", always_2d=True)
    assert sr == 8000 and data.shape == (2000, 2)
    assert np.array_equal(data.T, (x * 32767).to(torch.int16).numpy())  # official conversion (truncation)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]


def test_save_float_and_normalize(tmp_path):
    x = torch.tensor([[0.25, -0.5, 0.125]])
    path = save_audio(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    assert np.array_equal(sf.read(path, dtype="float32", always_2d=True)[0].T, x.numpy())
    path = save_audio(tmp_path / "n.wav", x, 16000, normalize=True, subtype="FLOAT")
    assert np.array_equal(sf.read(path, dtype="float32", always_2d=True)[0].T, (x / 0.5).numpy())


def test_save_errors_leave_no_file(tmp_path, monkeypatch):
    x = torch.zeros(1, 100)
    with pytest.raises(MediaError, match=r"out.mp3: unknown audio suffix"):
        save_audio(tmp_path / "out.mp3", x, 8000)
    target = tmp_path / "keep.wav"
    target.write_bytes(b"old")

    def failing_write(file, *args, **kwargs):
        Path(file).write_bytes(b"RIFF partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(audio_mod.sf, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        save_audio(target, x, 8000)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"] and target.read_bytes() == b"old"


def test_saved_files_get_umask_permissions(tmp_path):
    """Atomic writes must not leave mkstemp's private 0600 mode on the final file."""
    import os

    old = os.umask(0o022)
    try:
        path = save_audio(tmp_path / "perm.wav", torch.zeros(1, 100), 8000)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_non_finite_samples_are_refused(tmp_path):
    """A float WAV can hold NaN/inf: refused with the count and the first time, before resampling smears them."""
    x = np.zeros((16000, 2), np.float32)
    x[1234 : 1234 + 36, 0] = np.nan  # 36 NaNs from sample 1234 (0.077 s), and one inf later
    x[5000, 1] = -np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(MediaError, match=r"^\S*nan.wav: 37 samples are NaN or infinite \(first at 0.077 s\)$"):
        load_audio(path, sample_rate=44100, channels=2)
    one = tmp_path / "one.wav"
    y = np.zeros(8000, np.float32)
    y[4000] = np.inf
    sf.write(one, y, 8000, subtype="FLOAT")
    with pytest.raises(MediaError, match=r"one.wav: 1 sample is NaN or infinite \(first at 0.500 s\)"):
        load_audio(one, sample_rate=8000, channels=1)
    with pytest.raises(MediaError, match="NaN or infinite"):  # also when a slice would not reach them
        load_audio(one, sample_rate=8000, channels=1, start=0.0, duration=0.25)


def test_huge_finite_samples_are_refused(tmp_path):
    """Finite samples far above full scale (3e38 would overflow the mean of two channels, 1e30 used to run the
    model and then blame the guidance scale) are refused when decoded, naming the file, the peak and its time."""
    x = np.full((800, 2), 0.5, np.float32)
    x[400, 1] = 3e38
    path = tmp_path / "loud.wav"
    sf.write(path, x, 8000, subtype="FLOAT")
    for channels in (1, 2):
        with pytest.raises(MediaError, match=r"loud.wav: samples reach 3e\+38 at 0.050 s, 770 dB above full scale"):
            load_audio(path, sample_rate=8000, channels=channels)
    x[400, 1] = 1000.0  # the bound itself (+60 dB) is accepted
    sf.write(path, x, 8000, subtype="FLOAT")
    assert load_audio(path, sample_rate=8000, channels=2).abs().max() == 1000.0


def test_channel_layouts(tmp_path, caplog):
    t = np.arange(800, dtype=np.float32)
    six = np.stack([t * (k + 1) / 8000 for k in range(6)], axis=1)  # channel k is a ramp of slope k + 1
    path6 = tmp_path / "six.wav"
    sf.write(path6, six, 8000, subtype="FLOAT")
    with caplog.at_level("WARNING", logger="audiox.media.audio"):
        front = load_audio(path6, sample_rate=8000, channels=2)
    assert torch.equal(front, torch.from_numpy(six[:, :2].T.copy()))  # the first two, as the official code
    assert [r.getMessage() for r in caplog.records] == [
        f"{path6}: the audio has 6 channels; keeping the first 2 and dropping 4"
    ]
    caplog.clear()
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, six[:, :2], 8000, subtype="FLOAT")
    with caplog.at_level("WARNING", logger="audiox.media.audio"):
        assert load_audio(stereo, sample_rate=8000, channels=2).shape == (2, 800)
        assert load_audio(stereo, sample_rate=8000, channels=1).shape == (1, 800)
        assert torch.equal(load_audio(tmp_path / "six.wav", sample_rate=8000, channels=1)[0],
                           torch.from_numpy(six.mean(axis=1)))
        mono = tmp_path / "mono.wav"
        sf.write(mono, six[:, 0], 8000, subtype="FLOAT")
        assert torch.equal(load_audio(mono, sample_rate=8000, channels=3), torch.from_numpy(six[:, [0] * 3].T.copy()))
    assert caplog.records == []  # stereo, downmix and mono upmix are silent
    with pytest.raises(MediaError, match=r"stereo.wav: cannot make 3 channels from 2$"):
        load_audio(stereo, sample_rate=8000, channels=3)
    three = tmp_path / "three.flac"
    sf.write(three, six[:, :3] / 1000, 8000)
    with pytest.raises(MediaError, match=r"three.flac: cannot make 4 channels from 3$"):
        load_audio(three, sample_rate=8000, channels=4)
    with pytest.raises(MediaError, match=r"x.wav: cannot make 2 channels from 0$"):
        audio_mod._convert_channels(np.zeros((0, 10), np.float32), 2, Path("x.wav"))


def test_damaged_headers(tmp_path):
    x = _sine(440.0, 8000, 0.1)
    good = tmp_path / "good.wav"
    sf.write(good, x, 8000, subtype="PCM_16")
    data = bytearray(good.read_bytes())
    size_at = data.find(b"data") + 4
    data[size_at : size_at + 4] = (0xFFFFFFF0).to_bytes(4, "little")  # states ~4 G bytes of samples
    lying = tmp_path / "lying.wav"
    lying.write_bytes(bytes(data))
    y = load_audio(lying, sample_rate=8000, channels=1)  # read in blocks: the real 800 samples, no huge buffer
    assert torch.equal(y, load_audio(good, sample_rate=8000, channels=1)) and y.shape == (1, 800)
    data = bytearray(good.read_bytes())
    rate_at = data.find(b"fmt ") + 12
    data[rate_at : rate_at + 4] = (3).to_bytes(4, "little")  # 3 Hz
    slow = tmp_path / "slow.wav"
    slow.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"slow.wav: implausible sample rate 3 Hz \(expected 1000..1000000\)"):
        load_audio(slow, sample_rate=44100, channels=1)
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.zeros(1, np.float32), 48000)
    with pytest.raises(MediaError, match=r"tiny.wav: audio is too short to resample \(1 samples at 48000 Hz\)"):
        load_audio(tiny, sample_rate=8000, channels=1)
