"""Lightning plumbing: atomic and safe checkpoint files, periodic checkpoints, Ctrl-C, demo generations.

A checkpoint is written to a temporary file in the destination folder, flushed to disk, then renamed over the
target: a process killed mid-write leaves the previous checkpoint intact (the rename is atomic on POSIX), and
its temporary file is removed by the next ``--resume`` (:func:`sweep_temporaries`). Lightning reads a checkpoint
back through :meth:`AtomicCheckpointIO.load_checkpoint`, which is :func:`audiox.checkpoint.safe_load.safe_load`:
no pickle runs code. :func:`fit` runs ``trainer.fit`` so that Ctrl-C ends it as a ``KeyboardInterrupt`` (the
command line's one line and exit 130) instead of Lightning's notice and ``sys.exit(1)``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from audiox.models.diffusion import DEFAULT_CFG_SCALE
from audiox.training.checks import LAST
from audiox.utils.files import atomic_write, recover

log = logging.getLogger(__name__)

__all__ = ["LAST", "AtomicCheckpointIO", "DemoCallback", "PeriodicCheckpoint", "fit", "quiet_lightning",
           "sweep_temporaries"]
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")


def quiet_lightning(verbose: bool) -> None:
    """Lightning's INFO messages ("GPU available: ...", "`Trainer.fit` stopped ...") only with ``audiox -v``.

    Lightning sets its loggers to INFO itself, so the command line's WARNING level does not reach them; a
    refusal or Ctrl-C is then the one line on stderr.
    """
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


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

        atomic_write(path, write, parents=True)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None,
                        ) -> dict[str, Any]:
        """Lightning's resume load: :func:`~audiox.checkpoint.safe_load.safe_load`, weights only whatever the
        caller asks (a refused file is one :class:`~audiox.errors.CheckpointError` line)."""
        from audiox.checkpoint.safe_load import safe_load

        if map_location is None:  # Lightning's default: every tensor back on the device it was saved from
            map_location = _saved_device
        return safe_load(path, name="checkpoint", map_location=map_location)


def _saved_device(storage: Any, location: str) -> Any:
    return storage


def sweep_temporaries(out: str | os.PathLike) -> int:
    """Remove what a killed run left in ``out`` and ``out/checkpoints``: the temporary files of checkpoint (and
    ``vae.safetensors``) writes whose process is gone, by the writer's exact pattern
    (:func:`audiox.utils.files.recover`). Returns how many files were removed."""
    return recover(Path(out) / "checkpoints") + recover(out)


class _CtrlC(pl.Callback):
    """Records a KeyboardInterrupt that Lightning handles (it then logs a notice and calls ``sys.exit(1)``)."""

    def __init__(self) -> None:
        self.seen = False

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.seen = self.seen or isinstance(exception, KeyboardInterrupt)


class _NoInterruptNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Detected KeyboardInterrupt" not in str(record.msg)


# Lightning 2.6 under torch >= 2.10 warns about its own pytree use on the first step: not the user's concern
_LIGHTNING_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)


def fit(trainer: pl.Trainer, module: pl.LightningModule, datamodule: Any, ckpt_path: str | None = None, *,
        ignore_warnings: tuple[str, ...] = ()) -> None:
    """``trainer.fit(module, datamodule=..., ckpt_path=..., weights_only=True)``; Ctrl-C raises KeyboardInterrupt.

    Lightning catches the interrupt, shuts the run down (loggers finalised, no checkpoint), logs "Detected
    KeyboardInterrupt ..." and exits with status 1, leaving SIGINT ignored. Here the notice is dropped, the SIGINT
    handler restored and a KeyboardInterrupt raised instead, which ``audiox`` reports as one line, exit 130.

    Args:
        ignore_warnings: message patterns (regular expressions) of warnings hidden during this fit only (the
            process's warning filters are restored afterwards).
    """
    import warnings

    with warnings.catch_warnings():
        for pattern in _LIGHTNING_WARNINGS + ignore_warnings:
            warnings.filterwarnings("ignore", message=pattern)
        _fit(trainer, module, datamodule, ckpt_path)


def _fit(trainer: pl.Trainer, module: pl.LightningModule, datamodule: Any, ckpt_path: str | None) -> None:
    from lightning_utilities.core import rank_zero

    watch, notice = _CtrlC(), _NoInterruptNotice()
    trainer.callbacks.append(watch)
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    logger = rank_zero.log  # the logger rank_zero_info writes to (Lightning rebinds it on import)
    logger.addFilter(notice)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SystemExit:
        if watch.seen:
            raise KeyboardInterrupt from None
        raise
    finally:
        logger.removeFilter(notice)
        trainer.callbacks.remove(watch)
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of file ``src`` atomically (hard link when possible)."""

    def write(tmp: str) -> None:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)

    atomic_write(dst, write, parents=True)


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
            else:  # a sharded checkpoint is complete once every rank passed the barrier
                from audiox.training.sharded import link_folder

                link_folder(path, self.dirpath / LAST)
            old = sorted(self.dirpath.glob("step-*.ckpt"))
            for p in old[: max(len(old) - self.keep, 0)] if self.keep else old:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            log.info("checkpoint at step %d: %s", step, path)
        trainer.strategy.barrier("audiox_last")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every == 0 and step != self._last_step:
            self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)


# ------------------------------------------------------------------------------------------------- demos
class DemoCallback(pl.Callback):
    """Every ``every`` steps, rank 0 generates audio for the first ``count`` items of the first training batch.

    Uses the EMA DiT when there is one, unmasked conditioning, Euler over log-linear sigmas (0.03 .. 500) and CFG.
    Writes ``demos/step-XXXXXXXX/{i}.wav`` and ``{i}.png`` (spectrogram) under ``dirpath``.
    """

    def __init__(self, dirpath: str | os.PathLike, *, every: int, count: int = 2, steps: int = 50,
                 cfg_scale: float = DEFAULT_CFG_SCALE, seed: int = 0) -> None:
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
        # a sharded DiT runs only when every rank runs it: then all generate and rank 0 writes
        everyone = getattr(pl_module, "_sharded", False)
        if step > 0 and step % self.every == 0 and (trainer.is_global_zero or everyone) \
                and getattr(self, "_done", -1) != step:
            self._done = step
            self.generate(pl_module, self.dirpath / f"step-{step:08d}", write=trainer.is_global_zero)

    @torch.no_grad()
    def generate(self, module: Any, folder: Path, *, write: bool = True) -> list[Path]:
        """Generate and (``write``) write the demos; returns the written wav paths."""
        from audiox.media import save_audio, save_spectrogram
        from audiox.models.diffusion import make_denoiser
        from audiox.sampling.samplers import sample_euler
        from audiox.sampling.schedules import get_sigmas_loglinear
        from audiox.training.module import context_from_features

        if self.batch is None:
            return []
        was_training = module.training
        module.eval()
        try:
            g = torch.Generator().manual_seed(self.seed)
            feats, _ = module.features(self.batch, g, training=False)
            cond = context_from_features(module.model, feats, sample=False, generator=None)
            dit = module.ema.ema_model if module.ema is not None else module.model.dit
            raw = feats["latents_raw"]
            shape = (raw.shape[0], raw.shape[1] // 2, raw.shape[2])
            sigmas = get_sigmas_loglinear(self.steps, 0.03, 500.0, device=raw.device)
            x = torch.randn(shape, generator=g).to(raw.device) * sigmas[0]
            denoise = make_denoiser(dit, cond.cross_attn_cond, cfg_scale=self.cfg_scale, extra=cond.extras())
            audio = module.model.decode(sample_euler(denoise, x, sigmas)).cpu()
        finally:
            module.train(was_training)
            if getattr(module, "_sharded", False):  # FSDP2 leaves a root it ran gathered; averaging needs shards
                from audiox.training.sharded import reshard

                reshard(module.ema.ema_model if module.ema is not None else module.model.dit)
        sr = module.model.config.sample_rate
        if not write:
            return []
        paths = []
        for i, a in enumerate(audio):
            wav = folder / f"{i}.wav"
            folder.mkdir(parents=True, exist_ok=True)
            save_audio(wav, a.clamp(-1, 1), sr)
            save_spectrogram(folder / f"{i}.png", a, sr)
            paths.append(wav)
        log.info("demos written to %s", folder)
        return paths
