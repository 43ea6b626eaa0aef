"""Is the model learning its conditions? Measured on a fixed held-out batch during training.

Every ``every`` optimizer steps (and at the first step), with the DiT being trained (the EMA copy when there is one)
in eval mode and no masking:

- **condition gap** at t = 0.5 and 0.9: the v-loss with the true conditions and with the null condition (what CFG
  dropout trains and guidance's unconditional branch uses), and their relative difference
  ``gap = (null - true) / null``. A model that ignores its prompt has a gap near 0;
- **cross-attention entropy** per layer (nats; ln M is uniform attention over M tokens) and the share of attention
  mass on each conditioner's tokens.

Each measurement is a line of ``diagnostics.jsonl`` in the run folder and is logged (``diag/*``);
``diagnostics.png`` plots the gaps and entropies against the step. Noise and times come from a fixed seed, so
the curves compare like with like.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from audiox.models.diffusion import v_target
from audiox.utils.plot import line_plot

log = logging.getLogger(__name__)

GAP_TIMES = (0.5, 0.9, 0.97)


@torch.no_grad()
def measure(module: Any, batch: dict[str, Any], *, seed: int = 0) -> dict[str, float]:
    """Condition gaps and cross-attention statistics of ``module`` (an AudioXTrainingModule) on ``batch``.

    Args:
        module: the training module (its EMA DiT is measured when it has one).
        batch: a collated batch in the training data's format.
        seed: seed of the noise draws (fixed: the same noise at every measurement).

    Returns:
        ``loss_true_t{t}``, ``loss_null_t{t}``, ``gap_t{t}`` per t in :data:`GAP_TIMES`; ``entropy_L{i}`` per
        cross-attention layer and ``entropy_max`` (ln M); ``attn_{id}`` the mean share of attention on each
        conditioner's tokens.
    """
    from audiox.models.autoencoder import vae_sample
    from audiox.training.module import context_from_features, drop_conditions

    g = torch.Generator().manual_seed(seed)
    feats, _ = module.features(batch, g, training=False)
    cond = context_from_features(module.model, feats, sample=False, generator=None)
    null = drop_conditions(cond, torch.ones(len(batch["id"]), dtype=torch.bool))
    shuffled = _rolled(cond)  # every item conditioned on its neighbour's inputs
    dit = module.ema.ema_model if module.ema is not None else module.model.dit
    x0 = vae_sample(feats["latents_raw"].float(), sample=False) / module.model.pretransform.scale
    noise = torch.randn(x0.shape, generator=g).to(x0.device)
    out: dict[str, float] = {}
    stats = _AttentionStats(dit, cond.spans)
    try:
        for t_val in GAP_TIMES:
            t = torch.full((x0.shape[0],), t_val, device=x0.device)
            x_t, v = v_target(x0, noise, t)
            losses = {}
            for name, c in (("true", cond), ("null", null), ("shuffled", shuffled)):
                stats.on = name == "true" and t_val == GAP_TIMES[0]  # attention of the true condition, once
                pred = dit(x_t, t, cross_attn_cond=c.cross_attn_cond, **c.extras())
                losses[name] = float(((pred.float() - v) ** 2).mean())
            out[f"loss_true_t{t_val}"] = losses["true"]
            out[f"loss_null_t{t_val}"] = losses["null"]
            out[f"loss_shuffled_t{t_val}"] = losses["shuffled"]
            out[f"gap_t{t_val}"] = (losses["null"] - losses["true"]) / max(losses["null"], 1e-12)
            out[f"gap_shuffled_t{t_val}"] = (losses["shuffled"] - losses["true"]) / max(losses["shuffled"], 1e-12)
    finally:
        stats.remove()
    out.update(stats.summary())
    return out


def _rolled(cond: Any) -> Any:
    """The conditioning with every tensor rolled by one item along the batch (a shuffled-condition control)."""
    import dataclasses

    roll = {f.name: torch.roll(getattr(cond, f.name), 1, dims=0) for f in dataclasses.fields(cond)
            if isinstance(getattr(cond, f.name), torch.Tensor)}
    return dataclasses.replace(cond, **roll)


class _AttentionStats:
    """Forward hooks on every block's cross-attention that record its softmax entropy and per-span mass."""

    def __init__(self, dit: torch.nn.Module, spans: dict[str, tuple[int, int]]) -> None:
        self.spans = spans
        self.on = False
        self.entropy: dict[int, float] = {}
        self.mass: dict[str, list[float]] = {k: [] for k in spans}
        self.m = 0
        self.handles = []
        for i, blk in enumerate(dit.transformer.layers):
            if getattr(blk, "has_cross", False):
                self.handles.append(blk.cross_attn.register_forward_hook(self._hook(i)))

    def _hook(self, layer: int):
        def hook(mod: torch.nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not self.on:
                return
            x, kv = args[0], args[1]
            b, n, d = x.shape
            q = mod.to_q(x).view(b, n, mod.heads, mod.head_dim).transpose(1, 2).float()
            k = kv[0].float().repeat_interleave(mod.heads // kv[0].shape[1], dim=1)
            p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(mod.head_dim), dim=-1)  # (B, H, N, M)
            self.m = p.shape[-1]
            self.entropy[layer] = float(-(p * p.clamp_min(1e-30).log()).sum(-1).mean())
            for cid, (s, e) in self.spans.items():
                self.mass[cid].append(float(p[..., s:e].sum(-1).mean()))
        return hook

    def summary(self) -> dict[str, float]:
        out = {f"entropy_L{i}": h for i, h in sorted(self.entropy.items())}
        if self.entropy:
            out["entropy_max"] = math.log(self.m)
        out.update({f"attn_{cid}": sum(v) / len(v) for cid, v in self.mass.items() if v})
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class _Periodic(pl.Callback):
    """Every ``every`` optimizer steps (and at step 1 when ``first``), on rank 0: :meth:`values` of the module,
    logged as ``{prefix}/*``, appended to ``{folder}/{name}.jsonl`` and plotted to ``{folder}/{name}.png``."""

    name = ""
    prefix = ""

    def __init__(self, folder: str | Path, every: int, *, first: bool = False) -> None:
        self.folder = Path(folder)
        self.every = every
        self.first = first
        self._done = -1

    def values(self, pl_module: pl.LightningModule) -> dict[str, float]:
        raise NotImplementedError

    def plot(self, jsonl: Path, png: Path) -> None:
        raise NotImplementedError

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        due = step % self.every == 0 or (self.first and step == 1)
        if not due or step == self._done or not trainer.is_global_zero:
            return
        self._done = step
        was_training = pl_module.training
        try:
            with torch.autocast(pl_module.device.type, enabled=False):
                values = self.values(pl_module)
        finally:
            pl_module.train(was_training)
        pl_module.log_dict({f"{self.prefix}/{k}": v for k, v in values.items()}, batch_size=1)
        self.folder.mkdir(parents=True, exist_ok=True)
        jsonl = self.folder / f"{self.name}.jsonl"
        with open(jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        self.plot(jsonl, self.folder / f"{self.name}.png")
        log.info("step %d: %s %s", step, self.name, json.dumps({k: round(v, 4) for k, v in values.items()}))


class DiagnosticsCallback(_Periodic):
    """Runs :func:`measure` on ``batch`` every ``every`` steps and at step 1; writes ``diagnostics.jsonl`` / ``.png``
    in ``folder`` and logs ``diag/*``.

    Args:
        batch: the fixed held-out batch (collated, training-data format).
        folder: the run folder.
        every: optimizer steps between measurements.
    """

    name = "diagnostics"
    prefix = "diag"

    def __init__(self, batch: dict[str, Any], folder: str | Path, every: int) -> None:
        super().__init__(folder, every, first=True)
        self.batch = batch

    def values(self, pl_module: pl.LightningModule) -> dict[str, float]:
        pl_module.eval()
        return measure(pl_module, self.batch)

    def plot(self, jsonl: Path, png: Path) -> None:
        plot_diagnostics(jsonl, png)


class BenchCallback(_Periodic):
    """A small SynthBench every ``every`` steps: ``run`` scores the EMA model (e.g. the held-out entries of a corpus,
    made by :func:`audiox.pipeline.bench.small_synthbench`). Lines of ``bench.jsonl``; logged as ``bench/*``;
    ``bench.png`` plots the accuracies and event F1s.

    Args:
        run: model (eval mode) -> flat scores (``{case}_{sfx,music}_accuracy``, ``{case}_event_f1``).
        folder: the run folder.
        every: optimizer steps between runs.
    """

    name = "bench"
    prefix = "bench"

    def __init__(self, run: Callable[[torch.nn.Module], dict[str, float]], folder: str | Path, every: int) -> None:
        super().__init__(folder, every)
        self.run = run

    def values(self, pl_module: pl.LightningModule) -> dict[str, float]:
        return self.run(pl_module.export_model(use_ema=True))

    def plot(self, jsonl: Path, png: Path) -> None:
        rows = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines() if x]
        keys = sorted({k for r in rows for k in r if k != "step"})
        acc = {k: [r.get(k, float("nan")) for r in rows] for k in keys if k.endswith("accuracy")}
        f1 = {k: [r.get(k, float("nan")) for r in rows] for k in keys if k.endswith("event_f1")}
        line_plot([r["step"] for r in rows], [p for p in (("SynthBench accuracy", acc), ("event F1", f1)) if p[1]],
                  png, xlabel="step")


def plot_diagnostics(jsonl: str | Path, png: str | Path) -> None:
    """Plot the condition gaps and the per-layer cross-attention entropy of a ``diagnostics.jsonl``."""
    rows = [json.loads(line) for line in Path(jsonl).read_text(encoding="utf-8").splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    gaps = {f"{name} t={t}": [r.get(f"{key}{t}", math.nan) for r in rows] for t in GAP_TIMES
            for name, key in (("null gap", "gap_t"), ("shuffled gap", "gap_shuffled_t"))}
    ent = {k.replace("entropy_", "entropy "): [r.get(k, float("nan")) for r in rows]
           for k in rows[-1] if k.startswith("entropy_L")}
    if ent and "entropy_max" in rows[-1]:
        ent["ln M (uniform)"] = [r.get("entropy_max", float("nan")) for r in rows]
    panels = [("condition gap (null - true) / null", gaps)]
    if ent:
        panels.append(("cross-attention entropy (nats)", ent))
    line_plot(steps, panels, png, xlabel="step")
