"""Lightning plumbing: atomic checkpoint files, periodic checkpoints, demo generations with spectrograms.

A checkpoint is written to a temporary file in the destination folder, flushed to disk, then renamed over the
target: a process killed mid-write leaves the previous checkpoint intact (the rename is atomic on POSIX).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from audiox.checkpoint.io import atomic_write

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic (temporary file + fsync + ``os.replace``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None,
                        ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())

        atomic_write(path, write)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of file ``src`` atomically (hard link when possible)."""

    def write(tmp: str) -> None:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)

    atomic_write(dst, write)


class PeriodicCheckpoint(pl.Callback):
    """Every ``every`` optimizer steps: ``step-XXXXXXXX.ckpt`` and ``last.ckpt``; keeps the newest ``keep`` step files.

    Also saves at the end of training. All ranks call ``trainer.save_checkpoint`` (sharded strategies need it);
    the strategy decides who writes.
    """

    def __init__(self, dirpath: str | os.PathLike, *, every: int, keep: int = 3) -> None:
        self.dirpath = Path(dirpath)
        self.every = every
        self.keep = keep
        self._last_step = -1

    def _save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step == self._last_step:
            return
        self._last_step = step
        path = self.dirpath / f"step-{step:08d}.ckpt"
        trainer.save_checkpoint(path)
        trainer.strategy.barrier("audiox_checkpoint")
        single_file = trainer.strategy.broadcast(path.is_file() if trainer.is_global_zero else None, src=0)
        if trainer.is_global_zero:
            if single_file:
                _link_or_copy(path, self.dirpath / LAST)
            old = sorted(self.dirpath.glob("step-*.ckpt"))
            for p in old[: max(len(old) - self.keep, 0)] if self.keep else old:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            log.info("checkpoint at step %d: %s", step, path)
        if not single_file:  # sharded (folder) checkpoints: every rank saves last separately
            trainer.save_checkpoint(self.dirpath / LAST)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every == 0 and step != self._last_step:
            self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)


# ------------------------------------------------------------------------------------------------- demos
def loglinear_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """n noise levels from sigma_max down to sigma_min, log-spaced, then a final 0: (n + 1,)."""
    s = torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp()
    return torch.cat([s, s.new_zeros(1)])


@torch.no_grad()
def euler_sample(denoise: Any, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Deterministic Euler steps of the probability-flow ODE: x (B, C, T) at sigmas[0] -> x at sigmas[-1]."""
    for i in range(len(sigmas) - 1):
        s = sigmas[i].expand(x.shape[0])
        d = (x - denoise(x, s)) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


def spectrogram_db(audio: np.ndarray, *, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Mono audio (T,) -> log-magnitude spectrogram in dB (freq, frames), low frequencies first."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] < n_fft:
        audio = np.pad(audio, (0, n_fft - audio.shape[0]))
    frames = 1 + (audio.shape[0] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(audio[idx] * np.hanning(n_fft)[None, :], axis=1)).T
    return 20 * np.log10(np.maximum(spec, 1e-5))


def save_spectrogram_png(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write a spectrogram image of mono audio (T,): matplotlib when installed, else a PIL grayscale image."""
    spec = spectrogram_db(audio)
    path = Path(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from PIL import Image

        top = spec.max()
        img = np.clip((spec - (top - 80.0)) / 80.0, 0, 1)[::-1]  # 80 dB range, high frequencies on top
        atomic_write(path, lambda tmp: Image.fromarray((img * 255).astype(np.uint8)).save(tmp, format="PNG"))
        return path
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.imshow(spec, origin="lower", aspect="auto", vmin=spec.max() - 80, vmax=spec.max(),
              extent=(0, len(audio) / sample_rate, 0, sample_rate / 2))
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


class DemoCallback(pl.Callback):
    """Every ``every`` steps, rank 0 generates audio for the first ``count`` items of the first training batch.

    Uses the EMA DiT when there is one, unmasked conditioning, Euler over log-linear sigmas (0.03 .. 500) and CFG.
    Writes ``demos/step-XXXXXXXX/{i}.wav`` and ``{i}.png`` (spectrogram) under ``dirpath``.
    """

    def __init__(self, dirpath: str | os.PathLike, *, every: int, count: int = 2, steps: int = 50,
                 cfg_scale: float = 6.0, seed: int = 0) -> None:
        self.dirpath = Path(dirpath)
        self.every, self.count, self.steps, self.cfg_scale, self.seed = every, count, steps, cfg_scale, seed
        self.batch: dict[str, Any] | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.batch is None:
            n = self.count
            self.batch = {k: (v[:n].clone() if isinstance(v, torch.Tensor) else list(v[:n]) if k != "skipped" else [])
                          for k, v in batch.items()}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every == 0 and trainer.is_global_zero and getattr(self, "_done", -1) != step:
            self._done = step
            self.generate(pl_module, self.dirpath / f"step-{step:08d}")

    @torch.no_grad()
    def generate(self, module: Any, folder: Path) -> list[Path]:
        """Generate and write the demos; returns the written wav paths."""
        from audiox.media import save_audio
        from audiox.models.diffusion import make_denoiser
        from audiox.training.module import context_from_features

        if self.batch is None:
            return []
        was_training = module.training
        module.eval()
        try:
            g = torch.Generator().manual_seed(self.seed)
            feats, _ = module.features(self.batch, g, training=False)
            ctx = context_from_features(module.model, feats, sample=False, generator=None)
            dit = module.ema.ema_model if module.ema is not None else module.model.dit
            raw = feats["latents_raw"]
            shape = (raw.shape[0], raw.shape[1] // 2, raw.shape[2])
            sigmas = loglinear_sigmas(self.steps, 0.03, 500.0).to(ctx.device)
            x = torch.randn(shape, generator=g).to(ctx.device) * sigmas[0]
            denoise = make_denoiser(dit, ctx, cfg_scale=self.cfg_scale)
            audio = module.model.decode(euler_sample(denoise, x, sigmas)).cpu()
        finally:
            module.train(was_training)
        sr = module.model.config.sample_rate
        paths = []
        for i, a in enumerate(audio):
            wav = folder / f"{i}.wav"
            folder.mkdir(parents=True, exist_ok=True)
            save_audio(wav, a.clamp(-1, 1), sr)
            save_spectrogram_png(folder / f"{i}.png", a.mean(0).numpy(), sr)
            paths.append(wav)
        log.info("demos written to %s", folder)
        return paths
