"""Typed training configuration (``TrainConfig``), parsed strictly from JSON.

Defaults follow the release: the ``training`` block of its config.json (:mod:`audiox.models._official_config`:
AdamW lr 5e-5, betas (0.9, 0.999), weight decay 1e-3; ``InverseLR`` with warmup 0.99, inv_gamma 1e6, power 0.5)
and the defaults of the stable-audio-tools training wrapper it reuses (``DiffusionCondTrainingWrapper``: EMA of
the DiT with beta 0.9999, power 3/4; CFG dropout 0.1 (in ``masking``); uniform (Sobol) timesteps; no padding mask
in the loss); trainable DiT + temporal transformer + projections + empty features, frozen VAE, text encoder and
CLIP.

Example (every key optional)::

    {"lr": 1e-4, "batch_size": 4, "precision": "bf16-mixed", "warmup_steps": 500,
     "masking": {"text_word_ratio": 0.1, "cfg_dropout_prob": 0.1}, "trainable": ["dit", "empty_features"]}
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audiox.checkpoint.lora import DEFAULT_TARGETS as LORA_TARGETS
from audiox.config import from_dict as _strict_from_dict
from audiox.config import to_dict as _to_dict
from audiox.errors import ConfigError
from audiox.models.diffusion import DEFAULT_CFG_SCALE
from audiox.training.masking import MaskingConfig

TRAIN_SEED_MAX = 2**32 - 1  # a training run's seed: pytorch_lightning.seed_everything takes numpy's seed range
# (a generation seed is another thing: 0 .. audiox.utils.seeds.SEED_MAX)
MAX_MINUTES = 10**7  # far above any run; datetime.timedelta overflows not much higher
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true")
# named groups of parameters (see audiox.training.module.PARTS); other entries are fnmatch patterns over names
DEFAULT_TRAINABLE = ("dit", "video_temporal", "projections", "empty_features")


@dataclass(frozen=True)
class TrainConfig:
    """Everything the training loop needs besides the model and the data.

    Units: steps are optimizer steps (after gradient accumulation); ``batch_size`` is per device.
    """

    seed: int = 42  # base of every training RNG (steps, crops, shuffling); per-rank streams derive from it
    batch_size: int = 8  # per device (official defaults.ini: 8)
    num_workers: int = 2  # DataLoader worker processes (official: 8)
    max_steps: int = 100_000
    max_minutes: float = 0.0  # also stop after this much wall-clock training time (0 = no limit)
    # --- optimizer: torch.optim.AdamW over the trainable parameters
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-3
    eps: float = 1e-8
    # --- schedule. "inverse": official InverseLR, lr = base * (1 - warmup^(step+1)) * (1 + step/inv_gamma)^-power
    # (the power term floored at final_lr / base); "constant": base.
    # warmup_steps > 0 multiplies either by min(1, (step+1)/warmup_steps).
    schedule: Literal["inverse", "constant"] = "inverse"
    warmup: float = 0.99  # exponential warmup factor of InverseLR (0 disables it)
    inv_gamma: float = 1e6
    power: float = 0.5
    final_lr: float = 0.0
    warmup_steps: int = 0  # optional linear warmup (steps)
    # --- EMA of the DiT (ema_pytorch semantics: decay = 1 - (1 + k)^-power clamped to [0, beta], k = steps done
    # after update_after_step)
    use_ema: bool = True
    ema_beta: float = 0.9999
    ema_power: float = 0.75
    ema_update_after_step: int = 1
    ema_update_every: int = 1
    # --- loop
    gradient_clip_val: float = 0.0  # 0 = off (official default)
    accumulate_grad_batches: int = 1
    precision: str = "32-true"  # Lightning precision flag; "16-mixed"/"bf16-mixed" on GPU, "bf16-mixed" on CPU
    gradient_checkpointing: bool = False  # activation checkpointing of the DiT blocks
    # --- objective
    timestep_sampler: Literal["uniform", "logit_normal"] = "uniform"  # uniform = scrambled Sobol (official)
    logit_normal_mean: float = 0.0
    logit_normal_std: float = 1.0
    mask_padding: bool = False  # average the loss over real (non-padded) latent frames only (official: off)
    sample_posterior: bool = True  # sample the VAE posterior for targets and audio prompts (official) or take mean
    # --- data
    random_crop: bool = True  # random window offsets (aligned to the VAE hop); False = window at 0
    max_skip_tries: int = 8  # replacement items tried when a sample is unreadable, before the step fails
    # --- masking of the conditioning inputs (training only) and CFG dropout
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    # --- parameters to train: part names (module.PARTS) or fnmatch patterns over parameter names
    trainable: tuple[str, ...] = DEFAULT_TRAINABLE
    # --- LoRA (peft) instead of full fine-tuning: lora_rank > 0 freezes every base weight and trains adapters on the
    # DiT linears named by lora_targets (audiox.checkpoint.lora); alpha 0 means alpha = rank (update = B A)
    lora_rank: int = 0
    lora_alpha: float = 0.0
    lora_targets: tuple[str, ...] = LORA_TARGETS
    lora_dropout: float = 0.0
    # --- outputs
    checkpoint_every: int = 1000  # steps between checkpoints (last.ckpt always kept)
    keep_checkpoints: int = 3  # step-numbered checkpoints kept besides last.ckpt (0 = only last.ckpt)
    log_every: int = 10  # steps between logged scalars
    demo_every: int = 0  # steps between demo generations (0 = off)
    diagnostics_every: int = 0  # steps between condition-gap / attention measurements on held-out data (0 = off)
    diagnostics_items: int = 16  # held-out items measured (spread evenly over the held-out folder)
    bench_every: int = 0  # steps between small SynthBench runs on the held-out corpus entries (0 = off)
    bench_items: int = 24  # held-out corpus entries per run
    bench_steps: int = 25  # sampler steps per clip
    demo_count: int = 2  # items per demo
    demo_steps: int = 50  # sampler steps per demo
    demo_cfg_scale: float = DEFAULT_CFG_SCALE  # guidance of the demos (the generation default)
    export_official: bool = False  # also write the official layout (model.ckpt) at the end

    def validate(self, path: str = "training") -> None:
        p = (path + ".") if path else ""

        def bad(key: str, msg: str) -> None:
            raise ConfigError(f"{p}{key}: {msg}, got {getattr(self, key)!r}")

        for f in dataclasses.fields(self):  # JSON allows NaN and Infinity; no setting means them
            if f.type == "float" and not math.isfinite(getattr(self, f.name)):
                bad(f.name, "expected a finite number")
        if not 0 <= self.seed <= TRAIN_SEED_MAX:
            bad("seed", f"expected an integer in [0, {TRAIN_SEED_MAX}]")
        if self.max_minutes > MAX_MINUTES:
            bad("max_minutes", f"expected at most {MAX_MINUTES} minutes")

        for key in ("batch_size", "max_steps", "accumulate_grad_batches", "ema_update_every", "checkpoint_every",
                    "log_every", "demo_count", "demo_steps", "max_skip_tries", "diagnostics_items",
                    "bench_items", "bench_steps"):
            if getattr(self, key) < 1:
                bad(key, "expected a positive integer")
        for key in ("num_workers", "warmup_steps", "ema_update_after_step", "keep_checkpoints", "demo_every",
                    "diagnostics_every", "bench_every"):
            if getattr(self, key) < 0:
                bad(key, "expected an integer >= 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "expected a positive number")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            bad("betas", "expected [beta1, beta2] in [0, 1)")
        for key in ("weight_decay", "final_lr", "gradient_clip_val", "power", "max_minutes"):
            if getattr(self, key) < 0:
                bad(key, "expected a number >= 0")
        if not 0 <= self.warmup < 1:
            bad("warmup", "expected a number in [0, 1)")
        for key in ("inv_gamma", "eps", "logit_normal_std", "demo_cfg_scale"):
            if getattr(self, key) <= 0:
                bad(key, "expected a positive number")
        if not 0 <= self.ema_beta < 1:
            bad("ema_beta", "expected a number in [0, 1)")
        if self.ema_power <= 0:
            bad("ema_power", "expected a positive number")
        if self.precision not in PRECISIONS:
            bad("precision", f"expected one of {', '.join(PRECISIONS)}")
        if not self.trainable:
            bad("trainable", "expected at least one part")
        if self.lora_rank < 0:
            bad("lora_rank", "expected an integer >= 0 (0 = no LoRA)")
        if self.lora_alpha < 0:
            bad("lora_alpha", "expected a number >= 0 (0 = the rank)")
        if not 0 <= self.lora_dropout < 1:
            bad("lora_dropout", "expected a number in [0, 1)")
        if not self.lora_targets or not all(isinstance(t, str) and t for t in self.lora_targets):
            bad("lora_targets", "expected module names")

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, path: str = "training") -> TrainConfig:
        """Parse a JSON mapping strictly; absent keys take the defaults.

        Raises:
            ConfigError: naming the dotted key of an unknown key or a bad value.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected an object, got {type(d).__name__}")
        d = dict(d)
        masking = d.pop("masking", None)
        cfg = _strict_from_dict(cls, d, path)
        if masking is not None:
            cfg = dataclasses.replace(cfg, masking=MaskingConfig.from_dict(masking, path=f"{path}.masking"))
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a JSON file: either a TrainConfig object or a model config whose ``training`` block is one."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: training config not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{p}: is a folder, not a training config file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: training config is not UTF-8 text") from None
        except (json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"{p}: not valid JSON ({e})") from None
        try:
            if isinstance(data, dict) and "model_type" in data:
                training = data.get("training") or {}
                if not isinstance(training, dict):
                    raise ConfigError(f"training: expected an object, got {type(training).__name__}")
                return cls.from_official(training)
            return cls.from_dict(data)
        except ConfigError as e:  # name the file as well as the key
            raise ConfigError(f"{p}: {e}") from None

    @classmethod
    def from_official(cls, training: dict[str, Any]) -> TrainConfig:
        """Map the official ``training`` block of a model config (as in the release's config.json) onto a TrainConfig.

        Read: ``learning_rate``, ``use_ema``, ``cfg_dropout_prob``, ``timestep_sampler``, ``mask_padding`` and
        ``optimizer_configs.diffusion.{optimizer,scheduler}`` (AdamW + InverseLR). Other keys are ignored
        (they configure demos and logging of the official wrapper).
        """
        kw: dict[str, Any] = {}
        masking: dict[str, Any] = {}
        if "learning_rate" in training:
            kw["lr"] = training["learning_rate"]
        for key in ("use_ema", "timestep_sampler", "mask_padding"):
            if key in training:
                kw[key] = training[key]
        if "cfg_dropout_prob" in training:
            masking["cfg_dropout_prob"] = training["cfg_dropout_prob"]
        where = "training.optimizer_configs"
        opt = _block(_block(training, "optimizer_configs", "training"), "diffusion", where)
        o = _block(_block(opt, "optimizer", f"{where}.diffusion"), "config", f"{where}.diffusion.optimizer")
        for src, dst in (("lr", "lr"), ("betas", "betas"), ("weight_decay", "weight_decay"), ("eps", "eps")):
            if src in o:
                kw[dst] = o[src]
        s = _block(opt, "scheduler", f"{where}.diffusion")
        if s and s.get("type") != "InverseLR":
            raise ConfigError(f"{where}.diffusion.scheduler.type: unsupported {s.get('type')!r}; expected 'InverseLR'")
        sc = _block(s, "config", f"{where}.diffusion.scheduler")
        for key in ("inv_gamma", "power", "warmup"):
            if key in sc:
                kw[key] = sc[key]
        if masking:
            kw["masking"] = masking
        return cls.from_dict(kw, path="training")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping that :meth:`from_dict` accepts."""
        d = _to_dict(self)
        d["masking"] = self.masking.to_dict()
        return d

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        cfg = dataclasses.replace(self, **changes)
        cfg.validate()
        return cfg


def _block(d: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """``d[key]`` when it is an object, ``{}`` when absent or null; anything else is a ConfigError."""
    value = d.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}.{key}: expected an object, got {type(value).__name__}")
    return value


def inverse_lr_factor(step: int, cfg: TrainConfig) -> float:
    """LR multiplier at optimizer step ``step`` (0-based), so that lr = cfg.lr * factor.

    "inverse" is the official (k-diffusion) InverseLR: (1 - warmup^(step+1)) * max(final_lr / lr,
    (1 + step/inv_gamma)^-power). The optional linear warmup multiplies by min(1, (step+1) / warmup_steps).
    """
    if cfg.schedule == "inverse":
        f = (1 - cfg.warmup ** (step + 1)) * max(cfg.final_lr / cfg.lr, (1 + step / cfg.inv_gamma) ** -cfg.power)
    else:
        f = 1.0
    if cfg.warmup_steps > 0:
        f *= min(1.0, (step + 1) / cfg.warmup_steps)
    return f
