"""Held-out measurements of a VAE while ``audiox train-vae`` trains it: a PNG of the losses and reconstructions.

At step 1 and every ``every`` steps, on rank 0, :class:`VAEHeldoutCallback` puts fixed held-out clips (the
corpus's test split) and pure tones through the VAE being trained (in eval mode, without gradients) and writes
under the run folder:

- ``losses.jsonl``: one line per measurement: the means of the training losses since the previous one
  (``train_*``), the held-out multi-resolution STFT distance and log-mel L1, and the pure-tone round trip at
  220 / 440 / 880 Hz (``tone_{hz}_share``, ``tone_{hz}_cents`` and ``tones_passed``, how many pass), as
  :func:`audiox.evaluation.vae_check.heldout_values` measures them (the command passes it in);
- ``losses.png``: those three groups against the step;
- ``heldout/step-XXXXXXXX/{i}.wav`` and ``{i}.png`` (spectrogram): the first clips' reconstructions.

The values are also logged as ``heldout/*`` (metrics.csv).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from audiox.training.diagnostics import _Periodic
from audiox.utils.plot import line_plot

HELDOUT_CLIPS = 4  # held-out clips measured
HELDOUT_SECONDS = 4.0  # each cut to this length (rounded up to the hop)
WRITTEN_CLIPS = 2  # reconstructions written as wav + spectrogram


def heldout_set(manifest: str | os.PathLike | None, sample_rate: int, channels: int, hop: int, *,
                n: int = HELDOUT_CLIPS, seconds: float = HELDOUT_SECONDS) -> torch.Tensor:
    """The first ``n`` clips (n, C, T) of ``manifest``'s test split at the model rate, cut or padded to ``seconds``
    (rounded up to ``hop``).

    ``manifest`` None (e.g. a segments file as the training data) or no test clips: no clips (tones only).
    """
    from audiox.media import fit_length
    from audiox.training.autoencoder import load_corpus_audio

    length = math.ceil(seconds * sample_rate / hop) * hop
    clips = load_corpus_audio(manifest, sample_rate, channels, split="test")[:n] if manifest is not None else []
    return torch.stack([fit_length(c, length) for c in clips]) if clips else torch.zeros(0, channels, length)


class VAEHeldoutCallback(_Periodic):
    """Measures the VAE of a :class:`~audiox.training.autoencoder.VAETrainingModule` at step 1 and every ``every``
    steps.

    Args:
        measure: VAE (eval mode) -> ``(reconstructions (n, C, T) or None, flat values)``; ``audiox train-vae``
            passes :func:`audiox.evaluation.vae_check.heldout_values` on a :func:`heldout_set`.
        sample_rate: Hz, of the reconstructions written.
        folder: the run folder.
        every: optimizer steps between measurements.
    """

    name = "losses"
    prefix = "heldout"

    def __init__(self, measure: Callable[[torch.nn.Module], tuple[torch.Tensor | None, dict[str, float]]],
                 sample_rate: int, folder: str | Path, every: int) -> None:
        super().__init__(folder, every, first=True)
        self.measure, self.sample_rate = measure, sample_rate
        self._sums: dict[str, float] = {}
        self._count = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        for k, v in trainer.callback_metrics.items():
            if k.startswith("train/"):
                self._sums[k[6:]] = self._sums.get(k[6:], 0.0) + float(v)
        self._count += 1
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def values(self, pl_module: pl.LightningModule) -> dict[str, float]:
        from audiox.media import save_audio, save_spectrogram

        vae = pl_module.vae
        vae.eval()
        out = {f"train_{k}": v / max(self._count, 1) for k, v in self._sums.items()}
        self._sums, self._count = {}, 0
        rec, values = self.measure(vae)
        out.update(values)
        if rec is not None:
            folder = self.folder / "heldout" / f"step-{pl_module.global_step:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i, a in enumerate(rec[:WRITTEN_CLIPS]):
                save_audio(folder / f"{i}.wav", a.clamp(-1, 1), self.sample_rate)
                save_spectrogram(folder / f"{i}.png", a, self.sample_rate)
        return out

    def plot(self, jsonl: Path, png: Path) -> None:
        plot_losses(jsonl, png)


def plot_losses(jsonl: str | Path, png: str | Path) -> None:
    """Plot a ``losses.jsonl``: training losses, held-out distances and the tones' band shares against the step."""
    rows = [json.loads(line) for line in Path(jsonl).read_text(encoding="utf-8").splitlines() if line.strip()]
    keys = sorted({k for r in rows for k in r})

    def series(pred) -> dict[str, list[float]]:
        return {k: [r.get(k, math.nan) for r in rows] for k in keys if pred(k)}

    panels = [("training losses (means between measurements)",
               series(lambda k: k.startswith("train_") and k[6:] in ("loss", "stft", "l1", "kl", "adv", "fm"))),
              ("held-out distances", series(lambda k: k.startswith("heldout_"))),
              ("pure tone: share of energy within 3 % (pass >= 0.5)", series(lambda k: k.endswith("_share")))]
    line_plot([r["step"] for r in rows], [p for p in panels if p[1]], png, xlabel="step")
