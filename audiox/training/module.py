"""The Lightning module: v-objective training of an :class:`AudioXModel` with masking, CFG dropout and an EMA.

One step (official-audiox.md 6.1 and 3.7, plus the masking of paper.md section 2):

1. mask the conditioning inputs (:func:`apply_masking`, training only), raw media or pre-encoded features;
2. frozen encoders (:func:`audiox.training.preencode.encode_frozen`) unless the batch is pre-encoded;
3. trainable conditioning (:func:`context_from_features`): temporal transformer, projections, empty features;
   the whole context of the CFG-dropped items is zeroed (the official null condition);
4. target latents from the VAE posterior, t from the sampler, x_t = alpha x0 + sigma eps,
   loss = MSE(DiT(x_t, t, ctx), alpha eps - sigma x0).

Every random draw of a step comes from one CPU generator seeded by (seed, rank, micro-step), so a resumed run
draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

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
from audiox.models.diffusion import v_target
from audiox.training.config import TrainConfig, inverse_lr_factor
from audiox.training.ema import EMA
from audiox.training.masking import apply_masking
from audiox.training.preencode import conditioner_ids, encode_frozen

log = logging.getLogger(__name__)

_C = r"^conditioner\.conditioners\.[^.]+\."
# named parameter groups for TrainConfig.trainable
PARTS: dict[str, re.Pattern] = {
    "dit": re.compile(r"^model\.model\."),
    "video_temporal": re.compile(_C + r"(Temp_transformer|Temp_pos_embedding)(\.|$)"),
    "projections": re.compile(_C + r"(proj|proj_out)\."),
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
                          generator: torch.Generator | None) -> torch.Tensor:
    """The trainable half of the conditioners: frozen-encoder outputs -> cross-attention context (B, M, Dc).

    Args:
        model: the AudioXModel.
        feats: ``video_features`` (B, T, Q, W) + ``video_empty`` (B,), ``text_hidden`` (B, L, Wt) + ``text_mask``
            (B, L), ``prompt_raw`` (B, 2D, Np) + ``prompt_empty`` (B,), for the conditioners the model has.
        sample: sample the audio-prompt VAE posterior (official) or take its mean.
    """
    ids = conditioner_ids(model)
    conds = model.conditioner.conditioners
    diff = model.config.model.diffusion
    other = [c for k in ("global_cond_ids", "prepend_cond_ids", "input_concat_ids") for c in getattr(diff, k, ())]
    if other:
        raise ConfigError(f"training supports cross-attention conditioning only; the model also routes {other}")
    out: dict[str, torch.Tensor] = {}
    if "clip" in ids:
        out[ids["clip"]] = conds[ids["clip"]].tokens_from_features(feats["video_features"], feats["video_empty"])
    if "t5" in ids:
        c = conds[ids["t5"]]
        h = c.proj_out(feats["text_hidden"].float())
        out[ids["t5"]] = h * feats["text_mask"][..., None].to(h.dtype)
    if "audio_autoencoder" in ids:
        c = conds[ids["audio_autoencoder"]]
        raw = feats["prompt_raw"]
        lat = vae_sample(raw, sample=sample, generator=generator).to(raw.device) / c.pretransform.scale
        y = c.proj_out(lat.transpose(1, 2).to(c.empty_audio_feat.dtype))
        b = y.shape[0]
        out[ids["audio_autoencoder"]] = torch.where(feats["prompt_empty"].view(b, 1, 1),
                                                    c.empty_audio_feat.to(y.dtype), y)
    order = model.config.model.diffusion.cross_attention_cond_ids
    missing = [i for i in order if i not in out]
    if missing:
        raise ConfigError(f"training supports clip, t5 and audio_autoencoder conditioners; cannot build {missing}")
    return torch.cat([out[i] for i in order], dim=1)


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
        names = set(trainable_names(model, cfg.trainable))
        for n, p in model.named_parameters():
            p.requires_grad_(n in names)
        self.trainable = [n for n, _ in model.named_parameters() if n in names]
        self.frozen_modules = [m for m in self._encoder_modules() if not any(p.requires_grad for p in m.parameters())]
        model.dit.gradient_checkpointing = cfg.gradient_checkpointing
        self.ema = EMA(model.dit, beta=cfg.ema_beta, power=cfg.ema_power, update_after_step=cfg.ema_update_after_step,
                       update_every=cfg.ema_update_every) if cfg.use_ema else None
        self.empty = {k: v.clone() for k, v in (empty or {}).items()}
        self.micro_step = 0  # training_step calls so far (saved in checkpoints)
        self.skipped_total = 0  # unreadable samples replaced so far
        log.info("trainable: %d tensors, %.3f M parameters", len(names),
                 sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)

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
        """Masked frozen-encoder features of a raw or pre-encoded batch, and the mask info ({} at eval)."""
        cfg = self.cfg.masking
        if "latents_raw" not in batch:  # raw media: mask the inputs, then run the frozen encoders
            inputs = {k: batch[k] for k in ("video", "text", "audio_prompt") if k in batch}
            masked = apply_masking(inputs, cfg, generator, training=training)
            with torch.autocast(self.device.type, enabled=False):
                feats = encode_frozen(self.model, {**batch, **masked}, grad=training)
            return feats, masked.get("mask_info", {})
        feats = {k: batch[k] for k in ("latents_raw", "video_features", "video_empty", "text_hidden", "text_mask",
                                       "prompt_raw", "prompt_empty") if k in batch}
        video = batch.get("video")  # packed data: raw frames, the (trainable) video encoder runs in the step
        info: dict[str, Any] = {}
        if training and cfg.enabled:
            inputs: dict[str, Any] = {"text": list(batch["text"])}
            if video is not None:
                inputs["video"] = video
            elif "video_features" in feats:
                if cfg.video_token_mode == "drop" and cfg.video_token_ratio > 0:
                    raise ConfigError("training.masking.video_token_mode: 'drop' changes the token count; use 'zero'")
                f = feats["video_features"]
                inputs["video_tokens"] = f.reshape(f.shape[0], -1, f.shape[-1])
            if "prompt_raw" in feats:
                inputs["audio_prompt"] = feats["prompt_raw"]
            masked = apply_masking(inputs, cfg, generator, training=True)
            info = masked["mask_info"]
            dropped = info["dropped"]
            if video is not None:
                video = masked["video"]  # a dropped video is all zeros: encode_frozen marks it empty
            elif "video_features" in feats:
                feats["video_features"] = masked["video_tokens"].reshape(feats["video_features"].shape)
                feats["video_empty"] = feats["video_empty"] | dropped["video"].to(self.device)
            if "prompt_raw" in feats:
                silence = self.empty["prompt_raw"].to(feats["prompt_raw"])
                span = info["audio_span_mask"].to(self.device)[:, None, :]
                feats["prompt_raw"] = torch.where(span, silence, feats["prompt_raw"])
                feats["prompt_empty"] = feats["prompt_empty"] | dropped["audio_prompt"].to(self.device)
            if "text_hidden" in feats:
                tmask = _mask_text_tokens(feats["text_mask"], info["text_word_ratio"], generator)
                drop = dropped["text"].to(self.device)[:, None]
                feats["text_mask"] = torch.where(drop, self.empty["text_mask"].to(tmask)[None], tmask)
                feats["text_hidden"] = torch.where(drop[..., None],
                                                   self.empty["text_hidden"].to(feats["text_hidden"]),
                                                   feats["text_hidden"])
        if video is not None:
            with torch.autocast(self.device.type, enabled=False):
                v = encode_frozen(self.model, {"video": video}, grad=training)
            feats["video_features"], feats["video_empty"] = v["video_features"], v["video_empty"]
        return feats, info

    def loss(self, batch: dict[str, Any], generator: torch.Generator, *, training: bool = True,
             ) -> tuple[torch.Tensor, dict[str, Any]]:
        """v-objective MSE of one batch (masked when ``training``) and the mask info."""
        feats, info = self.features(batch, generator, training=training)
        ctx = context_from_features(self.model, feats, sample=self.cfg.sample_posterior, generator=generator)
        if "cfg_dropped" in info:
            ctx = ctx.masked_fill(info["cfg_dropped"].to(ctx.device)[:, None, None], 0.0)
        raw = feats["latents_raw"]
        x0 = vae_sample(raw.float(), sample=self.cfg.sample_posterior, generator=generator).to(raw.device)
        x0 = x0 / self.model.pretransform.scale
        b = x0.shape[0]
        t = sample_timesteps(b, self.cfg, generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        x_t, v = v_target(x0, noise, t)
        out = self.model.dit(x_t, t, cross_attn_cond=ctx)
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
        loss, _ = self.loss(batch, gen, training=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.global_step}")
        b = len(batch["id"])
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/skipped", float(self.skipped_total), batch_size=b)
        return loss

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
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["audiox"] = {"micro_step": self.micro_step, "skipped_total": self.skipped_total,
                                "train_config": self.cfg.to_dict(), "model_config": _config_dict(self.model)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get("audiox", {})
        self.micro_step = int(extra.get("micro_step", 0))
        self.skipped_total = int(extra.get("skipped_total", 0))

    def export_model(self, *, use_ema: bool = True) -> nn.Module:
        """A copy of the model for inference (eval mode), with the EMA DiT weights when ``use_ema``."""
        import copy

        model = copy.deepcopy(self.model).eval()
        if use_ema and self.ema is not None:
            model.dit.load_state_dict(self.ema.ema_model.state_dict())
        model.dit.gradient_checkpointing = False
        return model


def _config_dict(model: nn.Module) -> dict[str, Any]:
    import json

    from audiox.config import config_to_json

    return json.loads(config_to_json(model.config))

