"""Training throughput (samples/s) on raw media and on pre-encoded features, in one run; prints one JSON line.

    python benchmarks/bench_train.py                                   # debug model on CPU
    python benchmarks/bench_train.py --accelerator gpu --batch-size 16 --steps 40 --precision bf16-mixed

A generated corpus (sines and noise at the model's rate, half of the items with an MP4 video, a quarter with an
audio prompt) is trained on twice with the same settings: once from ``manifest.jsonl`` (media decoding and the
frozen VAE, CLIP and T5 run every step) and once from the ``audiox preencode`` output. Throughput counts the
optimizer steps after ``--warmup`` steps: ``samples_per_s = (steps - warmup) * batch_size / seconds``.
``ratio = preencoded / raw``. ``preencode_s`` is the one-off cost of pre-encoding the corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import soundfile as sf
import torch

from audiox.training.config import TrainConfig
from audiox.training.preencode import preencode
from audiox.training.run import load_model_spec, train


class StepTimer(pl.Callback):
    """Wall-clock time at the end of every optimizer step."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self._step:
            self._step = trainer.global_step
            if trainer.strategy.root_device.type == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())


def make_corpus(folder: Path, geo, n: int) -> Path:
    """``n`` clips of one window each, half with a video, a quarter with an inpainting prompt."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sr, size, seconds = geo.sample_rate, geo.video_size or 32, geo.sample_size / geo.sample_rate
    lines = []
    for i in range(n):
        t = np.arange(geo.sample_size) / sr
        x = 0.4 * np.sin(2 * math.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"{i}.wav", np.clip(x, -1, 1).astype(np.float32), sr)
        video = None
        if geo.video_frames and i % 2 == 0:
            video = f"{i}.mp4"
            with av.open(str(folder / video), "w") as c:
                s = c.add_stream("mpeg4", rate=5)
                s.width = s.height = size
                s.pix_fmt = "yuv420p"
                for _ in range(max(1, int(5 * seconds))):
                    frame = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                    for pkt in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        c.mux(pkt)
                for pkt in s.encode():
                    c.mux(pkt)
        task, prompt = ("v2a" if video else "t2a"), None
        if i % 4 == 1:
            task, prompt = "inpaint", {"mode": "inpaint", "spans": [[0.25 * seconds, 0.5 * seconds]]}
        lines.append({"id": str(i), "split": "train", "kind": "sfx", "task": task, "audio": f"{i}.wav",
                      "video": video, "image": None, "caption": f"a tone number {i}", "audio_prompt": prompt,
                      "sample_rate": sr, "seconds": seconds, "labels": {}})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def throughput(model, data: str, out: Path, cfg: TrainConfig, args) -> float:
    timer = StepTimer()
    train(model, data, out, cfg, accelerator=args.accelerator, devices=1, progress=False, export=False,
          callbacks=[timer])
    t = timer.times
    return (len(t) - 1 - args.warmup) * cfg.batch_size / (t[-1] - t[args.warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="debug", help="preset name or model folder")
    parser.add_argument("--items", type=int, default=32, help="clips in the generated corpus")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="steps not timed")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(batch_size=args.batch_size, max_steps=args.steps, num_workers=args.num_workers,
                      precision=args.precision, checkpoint_every=10**9, log_every=args.steps)
    device = "cuda" if args.accelerator in ("gpu", "cuda") else "cpu"
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        model = load_model_spec(args.model)
        manifest = make_corpus(tmp / "data", model.config.geometry, args.items)
        start = time.perf_counter()
        preencode(model.to(device), manifest, tmp / "pre", batch_size=args.batch_size)
        pre_s = time.perf_counter() - start
        raw = throughput(load_model_spec(args.model), str(manifest), tmp / "raw", cfg, args)
        pre = throughput(load_model_spec(args.model), str(tmp / "pre"), tmp / "pre_run", cfg, args)
    print(json.dumps({
        "bench": "train", "model": args.model, "accelerator": args.accelerator, "precision": args.precision,
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "batch_size": args.batch_size, "timed_steps": args.steps - args.warmup,
        "num_workers": args.num_workers, "raw_samples_per_s": round(raw, 3), "preencoded_samples_per_s": round(pre, 3),
        "ratio": round(pre / raw, 3), "preencode_s": round(pre_s, 3), "items": args.items}))


if __name__ == "__main__":
    main()
