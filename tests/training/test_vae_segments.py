"""Mu-law segment files for VAE training, and decoder-only VAE training from one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_vae_training import _corpus

from audiox.data.segments import MU, mulaw_decode, mulaw_encode, read_segments, write_segments
from audiox.errors import InputError


def test_mulaw_round_trip_is_about_38_db() -> None:
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * math.pi * 440 * t) * np.exp(-3 * t)).astype(np.float32)
    y = mulaw_decode(mulaw_encode(x))
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert 33 < snr < 45, snr


def test_segments_pick_the_loud_part_and_check_the_rate(tmp_path: Path) -> None:
    quiet = torch.zeros(1, 8000)
    quiet[:, 6000:7000] = 0.5 * torch.sin(torch.arange(1000) * 0.3)
    short = 0.3 * torch.ones(1, 300)
    path = write_segments([quiet, short], tmp_path / "s.mulaw.xz", sample_rate=8000, length=2000, candidates=64)
    segs = read_segments(path, sample_rate=8000, channels=1)
    assert [s.shape for s in segs] == [(1, 2000), (1, 2000)]
    assert segs[0].abs().max() > 0.4  # the burst, not the silence
    # 8-bit mu-law: within half a code of 0.3, i.e. (1 + MU * 0.3) * ((1 + MU) ** (1 / 254) - 1) / MU = 0.0067;
    # the zero padding is code 128, exact silence
    half_code = (1 + MU * 0.3) * ((1 + MU) ** (1 / 254) - 1) / MU
    assert torch.allclose(segs[1][:, :300], short, atol=half_code, rtol=0) and not segs[1][:, 300:].any()
    with pytest.raises(InputError, match="8000 Hz x 1 ch, the model needs 16000 Hz"):
        read_segments(path, sample_rate=16000, channels=1)
    bad = tmp_path / "bad.mulaw.xz"
    bad.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(InputError, match="corrupt segments file"):
        read_segments(bad, sample_rate=8000, channels=1)
    (tmp_path / "x.mulaw.xz").write_bytes(b"hello")
    with pytest.raises(InputError, match="not an audio segments file"):
        read_segments(tmp_path / "x.mulaw.xz", sample_rate=8000, channels=1)


def test_train_vae_decoder_only_from_segments_keeps_the_encoder(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from audiox.cli import main

    manifest = _corpus(tmp_path)
    seg = tmp_path / "seg.mulaw.xz"
    assert main(["train-vae", "--model", "debug", "--data", manifest, "--out", str(tmp_path / "w"),
                 "--write-segments", str(seg), "--segment-seconds", "0.5"]) == 0
    common = ["--model", "debug", "--crop", "1024", "--batch-size", "2", "--lr", "1e-3", "--accelerator", "cpu"]
    assert main(["train-vae", "--data", str(seg), "--out", str(tmp_path / "a"), "--max-steps", "2", *common]) == 0
    first = load_file(str(tmp_path / "a" / "vae.safetensors"))
    assert main(["train-vae", "--data", str(seg), "--out", str(tmp_path / "b"), "--max-steps", "3", "--decoder-only",
                 "--init", str(tmp_path / "a" / "vae.safetensors"), *common]) == 0
    second = load_file(str(tmp_path / "b" / "vae.safetensors"))
    enc = [k for k in first if ".encoder." in k]
    dec = [k for k in first if ".decoder." in k]
    assert enc and dec
    assert all(torch.equal(first[k], second[k]) for k in enc)
    assert any(not torch.equal(first[k], second[k]) for k in dec)
