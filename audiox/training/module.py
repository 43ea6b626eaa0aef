"""The Lightning module: v-objective training of an :class:`AudioXModel` with masking, CFG dropout and an EMA.

One step (the release's stable-audio-tools training wrapper, plus the AudioX paper's multi-modal masking):

1. mask the conditioning inputs (:func:`apply_masking`, training only): raw media, or the views of pre-encoded
   features, whose masking each conditioner's ``tokens`` applies (:class:`FeatureMasking`);
2. frozen halves (:func:`audiox.training.preencode.encode_frozen`: each conditioner's ``frozen_features``)
   unless the batch is pre-encoded;
3. trainable halves (:func:`context_from_features`: each conditioner's ``tokens``, the code generation runs):
   temporal transformer, projections, empty features; the whole context of the CFG-dropped items is zeroed
   (the official null condition);
4. target latents from the VAE posterior, t from the sampler, x_t = alpha x0 + sigma eps,
   loss = MSE(DiT(x_t, t, ctx), alpha eps - sigma x0).

Every random draw of a step comes from one CPU generator seeded by (seed, rank, micro-step), so a resumed run
draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import re
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from audiox.data.dataset import latent_mask, mix_seed
from audiox.errors import ConfigError
from audiox.models.autoencoder import vae_sample
from audiox.models.conditioners.features import FeatureMasking
from audiox.models.conditioners.multi import Conditioning
from audiox.models.diffusion import v_target
from audiox.training.config import TrainConfig, inverse_lr_factor
from audiox.training.ema import EMA
from audiox.training.masking import apply_masking
from audiox.training.preencode import encode_frozen, frozen_conditioners

log = logging.getLogger(__name__)

_C = r"^conditioner\.conditioners\.[^.]+\."
# named parameter groups for TrainConfig.trainable
PARTS: dict[str, re.Pattern] = {
    "dit": re.compile(r"^model\.model\."),
    "video_temporal": re.compile(_C + r"(Temp_transformer|Temp_pos_embedding)(\.|$)"),
    "projections": re.compile(_C + r"(proj|proj_out|frame_proj)\."),
    "empty_features": re.compile(_C + r"empty_(visual|audio)_feat$"),
    "clip": re.compile(_C + r"visual_encoder_model\."),
    "text_encoder": re.compile(_C + r"encoder\."),
    "vae": re.compile(r"(^|\.)pretransform\."),
}
FROZEN_ONLY = ("vae",)  # parts that cannot be trained with the diffusion loss


def trainable_names(model: nn.Module, parts: tuple[str, ...]) -> list[str]:
    """Parameter names selected by part names (:data:`PARTS`) or fnmatch patterns; each entry must match."""
    names = [n for n, _ in model.named_parameters()]
    chosen: set[str] = set()
    for part in parts:
        if part in FROZEN_ONLY:
            raise ConfigError(f"training.trainable: {part!r} cannot be trained by the diffusion loss")
        rx = PARTS.get(part)
        hit = [n for n in names if (rx.search(n) if rx else fnmatch.fnmatchcase(n, part))]
        if not hit and rx is None:
            raise ConfigError(f"training.trainable: {part!r} matches no parameter; parts are {', '.join(PARTS)}")
        if any(PARTS["vae"].search(n) for n in hit):
            raise ConfigError(f"training.trainable: {part!r} selects VAE parameters, which stay frozen")
        chosen.update(hit)
    return [n for n in names if n in chosen]


def sample_timesteps(b: int, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """(B,) diffusion times in [0, 1): scrambled Sobol (official "uniform") or sigmoid(N(mean, std))."""
    if cfg.timestep_sampler == "uniform":
        seed = int(torch.randint(2**62, (1,), generator=generator))
        return torch.quasirandom.SobolEngine(1, scramble=True, seed=seed).draw(b)[:, 0].float()
    z = torch.randn(b, generator=generator) * cfg.logit_normal_std + cfg.logit_normal_mean
    return torch.sigmoid(z)


def context_from_features(model: nn.Module, feats: dict[str, torch.Tensor], *, sample: bool,
                          generator: torch.Generator | None,
                          masking: dict[str, FeatureMasking] | None = None) -> Conditioning:
    """The trainable half of conditioning: frozen features -> the DiT's conditioning.

    Each conditioner's ``tokens`` runs on its stored features, through :meth:`AudioXModel.condition_features`:
    the same code that generation runs after ``frozen_features``.

    Args:
        model: the AudioXModel.
        feats: every conditioner's features under its ``feature_keys`` (as :func:`encode_frozen` returns or
            pre-encoding stored): ``video_features`` (B, T, Q, W) + ``video_empty`` (B,), ``text_hidden``
            (B, L, Wt) + ``text_mask`` (B, L), ``prompt_raw`` (B, 2D, Np) + ``prompt_empty`` (B,).
        sample: sample the audio-prompt VAE posterior (official) or take its mean.
        generator: the posterior noise source.
        masking: conditioner id -> masking of its pre-encoded features (training only).

    Returns:
        The :class:`Conditioning`: cross-attention context (B, M, Dc) and any global / prepend / input-concat
        conditions.
    """
    conds = frozen_conditioners(model)
    missing = [k for c in conds.values() for k in c.feature_keys if k not in feats]
    if missing:
        raise ConfigError(f"the training batch lacks the conditioner features {missing}")
    per_id = {cid: {k: feats[k] for k in c.feature_keys} for cid, c in conds.items()}
    return model.condition_features(per_id, masking=masking, sample_audio=sample, generator=generator)


def drop_conditions(cond: Conditioning, dropped: torch.Tensor) -> Conditioning:
    """CFG dropout: the items ``dropped`` (B,) bool get the null condition, which guidance's unconditional branch
    uses too (:func:`audiox.models.diffusion.guided_forward`): a zero context, global and input-concat condition."""

    def zero(x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None:
            return None
        return x.masked_fill(dropped.to(x.device).view(-1, *[1] * (x.dim() - 1)), 0.0)

    return dataclasses.replace(cond, cross_attn_cond=zero(cond.cross_attn_cond), global_cond=zero(cond.global_cond),
                               input_concat_cond=zero(cond.input_concat_cond))


def _mask_text_tokens(mask: torch.Tensor, ratios: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pre-encoded stand-in for word masking: drop round(ratio * n_valid) random valid tokens per item."""
    mask = mask.clone()
    for i in range(mask.shape[0]):
        valid = mask[i].nonzero().flatten()
        k = round(float(ratios[i]) * len(valid))
        if k:
            pick = torch.randperm(len(valid), generator=generator)[:k]
            mask[i, valid[pick.to(valid.device)]] = False
    return mask


class AudioXTrainingModule(pl.LightningModule):
    """Trains ``model`` (an AudioXModel) with ``cfg``; the EMA of its DiT lives in ``self.ema``.

    Args:
        model: the model; parameters outside ``cfg.trainable`` are frozen (and their modules kept in eval mode).
        cfg: the training configuration.
        empty: for pre-encoded data, the folder's empty-text and silent-prompt encodings (see
            :meth:`audiox.data.dataset.PreEncodedDataset.empty_features`).
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig, *, empty: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.lora_config, self.lora_probe = None, None
        if cfg.lora_rank:  # every base weight frozen; the adapters on the DiT linears train
            from audiox.checkpoint.lora import attach, base_probe, lora_config

            self.lora_probe = base_probe(model)
            self.lora_config = lora_config(cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets, cfg.lora_dropout)
            model.requires_grad_(False)
            attach(model.dit, self.lora_config, generator=torch.Generator().manual_seed(mix_seed(cfg.seed, 11)))
            names = {n for n, _ in model.named_parameters() if ".lora_" in n}
            self.strict_loading = False  # checkpoints hold the adapters, not the frozen base (checkpoint_keys)
        else:
            names = set(trainable_names(model, cfg.trainable))
        for n, p in model.named_parameters():
            p.requires_grad_(n in names)
        self.trainable = [n for n, _ in model.named_parameters() if n in names]
        self.frozen_modules = [m for m in self._encoder_modules() if not any(p.requires_grad for p in m.parameters())]
        self.ema = EMA(model.dit, beta=cfg.ema_beta, power=cfg.ema_power, update_after_step=cfg.ema_update_after_step,
                       update_every=cfg.ema_update_every) if cfg.use_ema else None
        self.empty = {k: v.clone() for k, v in (empty or {}).items()}
        self.micro_step = 0  # training_step calls so far (saved in checkpoints)
        self.skipped_total = 0  # unreadable samples replaced so far
        self.trainable_count = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.total_count = sum(p.numel() for p in model.parameters())
        log.info("trainable: %d tensors, %.3f M of %.3f M parameters (%.3f%%)%s", len(names),
                 self.trainable_count / 1e6, self.total_count / 1e6, 100 * self.trainable_count / self.total_count,
                 f", LoRA rank {cfg.lora_rank}" if cfg.lora_rank else "")

    def _encoder_modules(self) -> list[nn.Module]:
        mods: list[nn.Module] = [self.model.pretransform]
        for c in self.model.conditioner.conditioners.values():
            for attr in ("visual_encoder_model", "pretransform", "encoder"):
                m = c._modules.get(attr)
                if m is not None:
                    mods.append(m)
        return mods

    def train(self, mode: bool = True) -> AudioXTrainingModule:
        super().train(mode)
        for m in self.frozen_modules:
            m.eval()
        return self

    # ----------------------------------------------------------------------------------------------- step
    def step_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(mix_seed(self.cfg.seed, self.global_rank, self.micro_step, 7))

    def features(self, batch: dict[str, Any], generator: torch.Generator, *, training: bool,
                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Frozen-encoder features of a raw, pre-encoded or packed batch, and the mask info ({} at eval).

        A conditioner whose features the batch holds (pre-encoded) is masked through its ``tokens``: the info
        then carries ``feature_masking`` (id -> :class:`FeatureMasking`) for :func:`context_from_features`. Raw
        inputs (media, captions; the video of a packed folder) are masked before their frozen half runs here.
        """
        cfg = self.cfg.masking
        conds = frozen_conditioners(self.model)
        stored = [cid for cid, c in conds.items() if all(k in batch for k in c.feature_keys)]
        feats = {k: batch[k] for k in ("latents_raw", *(k for cid in stored for k in conds[cid].feature_keys))
                 if k in batch}
        inputs = {c.role: batch[c.role] for cid, c in conds.items() if cid not in stored
                  and c.role in batch}
        masking: dict[str, FeatureMasking] = {}
        info: dict[str, Any] = {}
        if training and cfg.enabled:
            views = self._masking_views(feats, [conds[cid].role for cid in stored], batch)
            masked = apply_masking({**views, **inputs}, cfg, generator, training=True)
            info = masked["mask_info"]
            inputs = {k: masked[k] for k in inputs}
            masking = {cid: self._feature_masking(conds[cid], feats, info, generator) for cid in stored}
        todo = dict(inputs)
        if "latents_raw" not in batch:
            todo["audio"] = batch["audio"]
        if todo:
            with torch.autocast(self.device.type, enabled=False):
                feats.update(encode_frozen(self.model, todo, grad=training))
        return feats, ({**info, "feature_masking": masking} if masking else info)

    def _masking_views(self, feats: dict[str, torch.Tensor], keys: list[str], batch: dict[str, Any],
                       ) -> dict[str, Any]:
        """What :func:`apply_masking` masks for each pre-encoded modality: the CLIP tokens (B, T x Q, W), the
        captions (for the word ratio) and the prompt's latent frames (B, 2D, Np)."""
        views: dict[str, Any] = {}
        if "video" in keys:
            if self.cfg.masking.video_token_mode == "drop" and self.cfg.masking.video_token_ratio > 0:
                raise ConfigError("training.masking.video_token_mode: 'drop' changes the token count; use 'zero'")
            f = feats["video_features"]
            views["video_tokens"] = f.reshape(f.shape[0], -1, f.shape[-1])
        if "text" in keys:
            views["text"] = list(batch["text"])
        if "audio_prompt" in keys:
            views["audio_prompt"] = feats["prompt_raw"]
        return views

    def _feature_masking(self, cond: nn.Module, feats: dict[str, torch.Tensor], info: dict[str, Any],
                         generator: torch.Generator) -> FeatureMasking:
        """Masking of one conditioner's pre-encoded features, from :func:`apply_masking`'s info on its view."""
        key = cond.role
        if key == "video":
            keep = info["video_token_keep"]
        elif key == "text":  # drop as many valid tokens as the word masking dropped words
            keep = _mask_text_tokens(feats["text_mask"], info["text_word_ratio"], generator)
        else:
            keep = ~info["audio_span_mask"]
        empty = {k: self.empty[k] for k in cond.feature_keys if k in self.empty}
        return FeatureMasking(dropped=info["dropped"][key], keep=keep, empty=empty)

    def loss(self, batch: dict[str, Any], generator: torch.Generator, *, training: bool = True,
             ) -> tuple[torch.Tensor, dict[str, Any]]:
        """v-objective MSE of one batch (masked when ``training``) and the mask info."""
        feats, info = self.features(batch, generator, training=training)
        cond = context_from_features(self.model, feats, sample=self.cfg.sample_posterior, generator=generator,
                                     masking=info.get("feature_masking"))
        if "cfg_dropped" in info:
            cond = drop_conditions(cond, info["cfg_dropped"])
        raw = feats["latents_raw"]
        x0 = vae_sample(raw.float(), sample=self.cfg.sample_posterior, generator=generator).to(raw.device)
        x0 = x0 / self.model.pretransform.scale
        b = x0.shape[0]
        t = sample_timesteps(b, self.cfg, generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t, v = v_target(x0, noise, t)
        out = self.model.dit(x_t, t, cross_attn_cond=cond.cross_attn_cond,
                             checkpointing=self.cfg.gradient_checkpointing, **cond.extras())
        err = F.mse_loss(out.float(), v, reduction="none")  # (B, C, N)
        if self.cfg.mask_padding and "padding_mask" in batch:
            m = latent_mask(batch["padding_mask"], self.model.config.downsampling_ratio)[:, None, : err.shape[2]]
            m = m.to(err.dtype).expand_as(err)
            return (err * m).sum() / m.sum().clamp_min(1.0), info
        return err.mean(), info

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        gen = self.step_generator()
        self.micro_step += 1
        if batch.get("skipped"):
            self.skipped_total += len(batch["skipped"])
            log.warning("step %d: %d unreadable samples replaced: %s", self.global_step, len(batch["skipped"]),
                        ", ".join(batch["skipped"]))
        if self.cfg.lora_rank and self.cfg.lora_dropout > 0:  # peft's dropout draws from the global RNG: seed it
            # from the step's generator, so that a resumed run drops what the uninterrupted one did
            cuda = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
                loss, _ = self.loss(batch, gen, training=True)
        else:
            loss, _ = self.loss(batch, gen, training=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.global_step}")
        b = len(batch["id"])
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/skipped", float(self.skipped_total), batch_size=b)
        return loss

    # ------------------------------------------------------------------------------------- sharding (FSDP2)
    def configure_model(self) -> None:
        """Under ``ModelParallelStrategy`` (``--strategy fsdp``): shard the DiT and its EMA per block
        (:func:`audiox.training.sharded.shard_dit`); otherwise nothing."""
        if self.device_mesh is None or getattr(self, "_sharded", False):
            return
        from audiox.training.sharded import shard_dit

        mesh = self.device_mesh["data_parallel"]
        shard_dit(self.model.dit, mesh)
        if self.ema is not None:
            shard_dit(self.ema.ema_model, mesh)
        self._sharded = True

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        if getattr(self, "_sharded", False):  # the whole (unsharded) trainable parameters: DDP's average
            from audiox.training.sharded import average_replicated_grads

            average_replicated_grads([p for p in self.model.parameters() if p.requires_grad])

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Any = None) -> None:
        if getattr(self, "_sharded", False) and gradient_clip_val:
            from audiox.training.sharded import clip_grad_norm

            clip_grad_norm([p for p in self.model.parameters() if p.requires_grad], float(gradient_clip_val))
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimizer step, then the EMA update (before any end-of-batch hook can save a checkpoint)."""
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.update(self.model.dit)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        sched = self.lr_schedulers()
        if sched is not None and self.global_step % self.cfg.log_every == 0:
            self.log("train/lr", sched.get_last_lr()[0], batch_size=1)

    # ------------------------------------------------------------------------------------------ optimizer
    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, betas=tuple(self.cfg.betas), eps=self.cfg.eps,
                                weight_decay=self.cfg.weight_decay)
        cfg = self.cfg
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: inverse_lr_factor(step, cfg))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # --------------------------------------------------------------------------------------- checkpoints
    def checkpoint_keys(self) -> list[str]:
        """The state-dict names a checkpoint holds: all, or with LoRA the adapters, their EMA and its counter."""
        keys = list(self.state_dict())
        return [k for k in keys if ".lora_" in k or k == "ema.step"] if self.cfg.lora_rank else keys

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["audiox"] = {"micro_step": self.micro_step, "skipped_total": self.skipped_total,
                                "train_config": self.cfg.to_dict(), "model_config": _config_dict(self.model)}
        if self.cfg.lora_rank:  # the frozen base is the model the run starts from: not saved again
            keep = set(self.checkpoint_keys())
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
            checkpoint["audiox"]["lora_probe"] = self.lora_probe

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get("audiox", {})
        if self.cfg.lora_rank:
            from audiox.checkpoint.lora import probe_mismatch

            bad = probe_mismatch(extra.get("lora_probe") or {}, self.lora_probe)
            if bad is not None or not extra.get("lora_probe"):
                raise ConfigError(f"--resume: the checkpoint's LoRA was trained on another base model ({bad})")
        self.micro_step = int(extra.get("micro_step", 0))
        self.skipped_total = int(extra.get("skipped_total", 0))

    def export_adapter(self, folder: Any, *, use_ema: bool = True) -> Any:
        """Write the LoRA adapter (the EMA's values when ``use_ema``) in peft's format with the base probe."""
        from audiox.checkpoint.lora import adapter_state, save_adapter

        values = dict(self.ema.ema_model.named_parameters()) if use_ema and self.ema is not None else None
        return save_adapter(folder, self.lora_config, adapter_state(self.model.dit, values=values), self.lora_probe)

    def export_model(self, *, use_ema: bool = True) -> nn.Module:
        """A copy of the model for inference (eval mode), with the EMA DiT weights when ``use_ema``."""
        import copy

        model = copy.deepcopy(self.model).eval()
        if use_ema and self.ema is not None:
            model.dit.load_state_dict(self.ema.ema_model.state_dict())
        return model


def _config_dict(model: nn.Module) -> dict[str, Any]:
    import json

    from audiox.config import config_to_json

    return json.loads(config_to_json(model.config))

