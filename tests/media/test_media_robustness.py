"""Property tests of the media loaders: for any file content they return the documented result or raise a
one-line MediaError/InputError naming the file, never another exception.

No hypothesis package: cases come from seeded ``random.Random`` generators, so a failure names its seed and
case and reproduces. Four kinds of content: random bytes (some behind real magic numbers), WAV and PNG
headers with random fields, byte flips and cuts of small synthetic files of every kind, and a few of the
real 10-s sample video.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from audiox.errors import InputError, MediaError
from audiox.media import VideoInfo, check_video, load_audio, load_image_as_video, read_video_frames

SAMPLE = Path("/work/shared/media/v2a-sample-1.mp4")
SUFFIXES = (".wav", ".flac", ".mp3", ".mp4", ".mov", ".png", ".jpg", ".gif")
MAGIC = (
    b"",
    b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00",
    b"fLaC\x00\x00\x00\x22",
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF89a",
    b"OggS\x00\x02",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
)


def _audio(path: Path) -> torch.Tensor:
    x = load_audio(path, sample_rate=16000, channels=2)
    assert x.dtype == torch.float32 and x.dim() == 2 and x.shape[0] == 2 and x.shape[1] >= 1, x.shape
    assert torch.isfinite(x).all()
    return x


def _video(path: Path) -> torch.Tensor:
    v = read_video_frames(path, fps=5, seconds=1, size=16)
    assert v.dtype == torch.uint8 and v.shape == (5, 3, 16, 16), v.shape
    return v


def _check(path: Path) -> VideoInfo:
    info = check_video(path)
    assert info.n_frames >= 1 and info.fps > 0 and info.width >= 0 and info.height >= 0
    assert math.isfinite(info.duration) and info.frames_end is not None and math.isfinite(info.frames_end)
    return info


def _image(path: Path) -> torch.Tensor:
    v = load_image_as_video(path, n_frames=2, size=8)
    assert v.dtype == torch.uint8 and v.shape == (2, 3, 8, 8), v.shape
    return v


LOADERS: tuple[Callable[[Path], object], ...] = (_audio, _video, _check, _image)


def _run_all(path: Path, case: str, outcomes: Counter[str]) -> None:
    """Every loader on ``path``: a result that passed its checks, or a one-line error naming the file.

    Counts ``ok``, ``refused`` and each refusal's message without the path in ``outcomes``.
    """
    for load in LOADERS:
        try:
            load(path)
            outcomes["ok"] += 1
        except (MediaError, InputError) as e:
            message = str(e)
            assert "\n" not in message, f"{case}: {load.__name__}: multi-line message {message!r}"
            assert isinstance(e, InputError) or path.name in message, f"{case}: {message!r} does not name the file"
            outcomes["refused"] += 1
            outcomes[message.replace(str(path), "")] += 1
        except Exception as e:  # noqa: BLE001 - the property under test
            pytest.fail(f"{case}: {load.__name__}({path.name}) raised {e.__class__.__name__}: {e}")


def _outcomes() -> Counter[str]:
    return Counter(ok=0, refused=0)


# -- generators ---------------------------------------------------------------------------------------------


def _wav_header(rng: random.Random) -> bytes:
    """A RIFF/WAVE file with legal or random format fields, sizes and (float formats) NaN/inf/huge samples."""
    fmt, bits = rng.choice([(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 32), (3, 64), (0xFFFE, 16)])
    channels, rate = rng.choice([1, 2, 3]), rng.choice([8000, 22050, 44100])
    field = rng.randrange(6)  # one field made random (or none: 4 and 5)
    fmt = rng.randrange(65536) if field == 0 else fmt
    bits = rng.choice([0, 7, 12, 48, rng.randrange(65536)]) if field == 1 else bits
    channels = rng.choice([0, 255, rng.randrange(65536)]) if field == 2 else channels
    rate = rng.choice([0, 1, 999, 4294967295, rng.randrange(2**32)]) if field == 3 else rate
    align = (channels * bits // 8) & 0xFFFF if rng.random() < 0.8 else rng.randrange(65536)
    n = rng.randint(0, 1500)
    if fmt == 3 and bits in (32, 64):
        special = np.array([0.1, -0.7, 3e38, 1e-45] + [np.nan, np.inf, -np.inf] * (rng.random() < 0.5))
        data = np.random.default_rng(rng.randrange(2**32)).choice(special, n).astype(f"<f{bits // 8}").tobytes()
    else:
        data = rng.randbytes(2 * n)
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    size = len(data) if rng.random() < 0.7 else rng.randrange(2**32)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body) if rng.random() < 0.8 else rng.randrange(2**32)) + body


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(rng: random.Random) -> bytes:
    """A PNG with a random (mostly legal) depth/colour type, size, palette, tRNS and (cut) pixel data."""
    depth, colour = rng.choice(
        [(1, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (8, 3), (8, 4), (16, 4), (8, 6), (16, 6)]
        + [(rng.randrange(256), rng.randrange(256))]
    )
    width = rng.randint(1, 24) if rng.random() < 0.8 else rng.choice([0, 100000, rng.randrange(2**31)])
    height = rng.randint(1, 24) if rng.random() < 0.8 else rng.choice([0, 100000, rng.randrange(2**31)])
    per_pixel = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
    row = (min(width, 64) * per_pixel * depth + 7) // 8
    raw = b"".join(bytes([rng.randrange(5)]) + rng.randbytes(row) for _ in range(min(height, 64)))
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    if colour == 3 or rng.random() < 0.2:
        out += _png_chunk(b"PLTE", rng.randbytes(3 * rng.randint(0, 256)))
    if rng.random() < 0.4:
        out += _png_chunk(b"tRNS", rng.randbytes(rng.choice([1, 2, 6, rng.randint(0, 256)])))
    pixels = zlib.compress(raw)
    if rng.random() < 0.2:
        pixels = pixels[: rng.randrange(len(pixels) + 1)]
    return out + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def _mutate(data: bytes, rng: random.Random, body_from: int = 0) -> bytes:
    """Cut the file, or overwrite 1..8 bytes (near the start, where headers live, or anywhere after ``body_from``)."""
    if rng.random() < 0.3 or not data:
        return data[: rng.randint(0, len(data))]
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(min(len(out), 256)) if rng.random() < 0.5 else rng.randrange(body_from, len(out))
        out[pos] = rng.randrange(256)
    return bytes(out)


def _encode_audio(path: Path, codec: str, rate: int) -> None:
    from test_media_audio import _encode_pyav

    t = np.arange(rate // 4) / rate
    _encode_pyav(path, codec, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


def _encode_video(path: Path, codec: str, faststart: bool) -> None:
    """25 frames (1 s at 25 fps) of 32x24 moving grey, a keyframe every 5."""
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream(codec, rate=25, options={"g": "5"})
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for k in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), k * 10, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Path]:
    """Small valid files of every kind the loaders read."""
    folder = tmp_path_factory.mktemp("seeds")
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(2000) / 8000)).astype(np.float32)
    sf.write(folder / "pcm16.wav", np.stack([tone, -tone], axis=1), 8000, subtype="PCM_16")
    sf.write(folder / "float.wav", tone, 8000, subtype="FLOAT")
    sf.write(folder / "three.flac", np.stack([tone] * 3, axis=1), 8000)
    sf.write(folder / "vorbis.ogg", tone, 8000, format="OGG", subtype="VORBIS")
    _encode_audio(folder / "tone.mp3", "libmp3lame", 22050)
    _encode_audio(folder / "tone.m4a", "aac", 22050)
    _encode_video(folder / "h264.mp4", "libx264", faststart=False)
    _encode_video(folder / "faststart.mp4", "libx264", faststart=True)
    _encode_video(folder / "mpeg4.mov", "mpeg4", faststart=False)
    Image.new("RGB", (12, 10), (1, 2, 3)).save(folder / "rgb.jpg")
    Image.fromarray(np.arange(120, dtype=np.uint8).reshape(10, 12)).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray((np.arange(120, dtype=np.uint16) * 500).reshape(10, 12)).save(folder / "grey16.png")
    Image.new("P", (12, 10), 3).save(folder / "palette.gif", transparency=3)
    for path in folder.iterdir():  # every seed loads with at least one loader
        outcomes = _outcomes()
        _run_all(path, f"seed {path.name}", outcomes)
        assert outcomes["ok"] >= 1, path
    return sorted(folder.iterdir())


# -- properties ---------------------------------------------------------------------------------------------


def test_random_bytes(tmp_path):
    rng = random.Random(20240601)
    outcomes = _outcomes()
    for case in range(150):
        magic = rng.choice(MAGIC)
        data = magic + rng.randbytes(max(0, rng.randint(0, 4096) - len(magic)))
        path = tmp_path / f"random{case}{rng.choice(SUFFIXES)}"
        path.write_bytes(data)
        _run_all(path, f"random bytes, seed 20240601 case {case}", outcomes)
    assert outcomes["refused"] >= 500  # (all 600 calls are refused today)


def test_random_headers(tmp_path):
    rng = random.Random(7)
    outcomes = _outcomes()
    for case in range(80):
        kind = ".wav" if case % 2 else ".png"
        path = tmp_path / f"header{case}{kind}"
        path.write_bytes(_wav_header(rng) if kind == ".wav" else _png_header(rng))
        _run_all(path, f"random header, seed 7 case {case}", outcomes)
    assert outcomes["ok"] >= 20 and outcomes["refused"] >= 100  # both paths exercised
    refusals = " | ".join(outcomes)
    assert "NaN or infinite" in refusals and "implausible sample rate" in refusals


def test_mutated_files(seeds, tmp_path):
    rng = random.Random(11)
    outcomes = _outcomes()
    for case in range(150):
        seed = seeds[case % len(seeds)]
        data = _mutate(seed.read_bytes(), rng)
        path = tmp_path / f"mutant{case}{seed.suffix if rng.random() < 0.8 else rng.choice(SUFFIXES)}"
        path.write_bytes(data)
        _run_all(path, f"mutant of {seed.name}, seed 11 case {case}", outcomes)
    assert outcomes["ok"] >= 50 and outcomes["refused"] >= 200


def test_mutated_real_video(tmp_path):
    """The real 10-s 720p sample: its index (moov) is at the end, so cuts make it unreadable; flips land anywhere."""
    rng = random.Random(3)
    data = SAMPLE.read_bytes()
    mdat = data.find(b"mdat") + 4
    outcomes = _outcomes()
    for case in range(8):
        path = tmp_path / f"real{case}.mp4"
        path.write_bytes(_mutate(data, rng, body_from=mdat))
        _run_all(path, f"mutant of {SAMPLE.name}, seed 3 case {case}", outcomes)
    assert outcomes["ok"] >= 1 and outcomes["refused"] >= 8
