"""Helpers shared by the training tests: a tiny generated corpus (8 kHz clips, an MP4, a PNG) and run settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SR = 8000
N = 8192  # the debug preset's window (samples)

# distinct captions, so that a tiny model can tell the clips apart by their text
CAPTIONS = ("a low steady hum", "BRIGHT WHISTLE, HIGH!", "noise bursts", "a rising chirp")

# fast settings for the debug preset on 2 CPU cores
FAST = {"batch_size": 2, "num_workers": 0, "schedule": "constant", "lr": 1e-3, "log_every": 1,
        "checkpoint_every": 1000, "use_ema": True, "masking": {"video_patch_size": 8}}


def clip(kind: int, n: int = N) -> np.ndarray:
    """Deterministic mono test clips. Kinds 0 and 1 are sines whose period divides the VAE hop (64 samples), so
    every latent frame sees the same waveform (stationary latents); 2: noise bursts; 3: a chirp; 4+: gated sines."""
    t = np.arange(n) / SR
    if kind == 0:
        x = 0.5 * np.sin(2 * math.pi * 250 * t)
    elif kind == 1:
        x = 0.3 * np.sin(2 * math.pi * 500 * t + 1.0)
    elif kind == 2:
        rng = np.random.default_rng(kind)
        x = 0.3 * rng.standard_normal(n) * ((t % 0.25) < 0.08)
    elif kind == 3:
        x = 0.5 * np.sin(2 * math.pi * (200 + 600 * t) * t)
    else:
        x = 0.4 * np.sin(2 * math.pi * 110 * kind * t) * (np.sin(2 * math.pi * 3 * t) > 0)
    return np.clip(x, -0.9, 0.9).astype(np.float32)


def write_mp4(path: Path, frames: np.ndarray, fps: int = 5) -> None:
    """(T, H, W, 3) uint8 -> MP4 (mpeg4 codec)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def entry(i: int, task: str, audio: str, *, video: str | None = None, image: str | None = None,
          prompt: dict | None = None, seconds: float = N / SR, caption: str | None = None) -> dict:
    return {"id": f"{i:04d}", "split": "train", "kind": "sfx", "task": task, "audio": audio, "video": video,
            "image": image, "caption": caption if caption is not None else CAPTIONS[i % len(CAPTIONS)] + f" ({i})",
            "audio_prompt": prompt, "sample_rate": SR, "seconds": seconds, "labels": {}}


def make_corpus(folder: Path, *, n_text: int = 2, media: bool = False, corrupt: int = 0,
                long_clip: bool = False, kinds: tuple[int, ...] | None = None) -> Path:
    """Write clips and ``manifest.jsonl``; returns the manifest path.

    Args:
        n_text: t2a clips. media: add v2a (MP4), i2a (PNG), inpaint and continue items.
        corrupt: extra entries whose audio file is garbage. long_clip: one 3-window clip (random crops).
        kinds: clip kinds of the t2a items (default 0, 1, ...).
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_text):
        sf.write(folder / f"a{i}.wav", clip(kinds[i] if kinds else i), SR)
        lines.append(entry(i, "t2a", f"a{i}.wav"))
    if media:
        rng = np.random.default_rng(0)
        frames = rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
        frames[:, :16] = 0
        write_mp4(folder / "v.mp4", frames)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "i.png")
        for j, task in enumerate(("v2a", "i2a", "inpaint", "continue")):
            i = 100 + j
            sf.write(folder / f"a{i}.wav", clip(i), SR)
            prompt = {"inpaint": {"mode": "inpaint", "spans": [[0.2, 0.5]]},
                      "continue": {"mode": "continue", "spans": [[0.6, N / SR]]}}.get(task)
            lines.append(entry(i, task, f"a{i}.wav", video="v.mp4" if task == "v2a" else None,
                               image="i.png" if task == "i2a" else None, prompt=prompt))
    if long_clip:
        sf.write(folder / "long.wav", clip(3, 3 * N), SR)
        lines.append(entry(500, "t2a", "long.wav", seconds=3 * N / SR))
    for k in range(corrupt):
        (folder / f"bad{k}.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
        lines.append(entry(900 + k, "t2a", f"bad{k}.wav"))
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def train_config(**changes):
    from audiox.training.config import TrainConfig

    d = json.loads(json.dumps(FAST))
    d.update(changes)
    return TrainConfig.from_dict(d)


def read_losses(run: Path) -> list[float]:
    """Per-step ``train/loss`` values from the run's CSV logs (one folder per start or resume)."""
    import csv

    out = []
    for path in sorted((run / "logs").glob("from-step-*/metrics.csv")):
        with open(path) as f:
            out += [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]
    return out


def dit_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.dit.state_dict().items()}


def test_corpus_reads_back(tmp_path: Path) -> None:
    from audiox.data.manifest import read_manifest

    path = make_corpus(tmp_path, media=True, corrupt=1)
    entries = read_manifest(path)
    assert [e.task for e in entries] == ["t2a", "t2a", "v2a", "i2a", "inpaint", "continue", "t2a"]
    assert sf.info(tmp_path / "a0.wav").frames == N
