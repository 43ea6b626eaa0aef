"""LoRA adapters of the DiT through ``peft``: attach, save and load in peft's format, check the base, merge.

An adapter folder is what ``PeftModel.save_pretrained`` writes for a model whose base is the DiT:
``adapter_config.json`` (a :class:`peft.LoraConfig`) and ``adapter_model.safetensors`` (keys
``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight``). Its safetensors metadata also holds the base
model's probe (:func:`base_probe`: the first values of every base tensor), so that an adapter is applied only to
the model it was trained on, in any dtype. ``peft`` is imported only inside the functions that use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiox.errors import CheckpointError, ConfigError, InputError

log = logging.getLogger(__name__)

# the DiT block linears: self-attention qkv/out, cross-attention q/kv/out, feed-forward in (GLU) and out
DEFAULT_TARGETS = ("to_qkv", "to_out", "to_q", "to_kv", "ff.ff.0.proj", "ff.ff.2")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."  # PeftModel's key prefix: the DiT is the base model
META_PROBE = "audiox.base_probe"
META_FINGERPRINT = "audiox.base_fingerprint"
PROBE_VALUES = 4  # first values of each base tensor kept in the probe
# A probe value read from a copy of the base cast to bf16 (8 significant bits, relative rounding <= 2^-8) or fp16
# differs from the fp32 one by at most 2^-8 relative; 2^-7 leaves room for a second rounding (fp32 -> fp16 ->
# bf16). 1e-6 absolute covers fp16's subnormal spacing (6e-8) near zero.
PROBE_REL, PROBE_ABS = 2.0**-7, 1e-6


@dataclass(frozen=True)
class LoraSpec:
    """One adapter to apply: its folder and the scale of its update (1 = as trained)."""

    folder: Path
    scale: float = 1.0


def parse_spec(text: str, flag: str = "--lora") -> LoraSpec:
    """``DIR`` or ``DIR:SCALE`` (the part after the last colon is the scale when it reads as a number).

    Raises:
        InputError: a scale that is not a finite number.
    """
    head, sep, tail = str(text).rpartition(":")
    if sep and head and tail and _is_number(tail):
        scale = float(tail)
        if not math.isfinite(scale):
            raise InputError(f"{flag} {text}: the scale must be a finite number")
        return LoraSpec(Path(head), scale)
    return LoraSpec(Path(text), 1.0)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def lora_config(rank: int, alpha: float | None = None, targets: Sequence[str] = DEFAULT_TARGETS,
                dropout: float = 0.0) -> Any:
    """The :class:`peft.LoraConfig` of an adapter: update = (alpha / rank) B A on each targeted linear.

    Args:
        rank: r, the inner width of A (r, in) and B (out, r).
        alpha: scale numerator (default: rank, so the update is B A).
        targets: module names or name suffixes inside the DiT (peft's list semantics).
        dropout: dropout on the adapter's input while training.
    """
    from peft import LoraConfig

    return LoraConfig(r=int(rank), lora_alpha=float(alpha if alpha else rank), target_modules=list(targets),
                      lora_dropout=float(dropout), bias="none")


def check_targets(dit: nn.Module, targets: Sequence[str]) -> list[str]:
    """The DiT's linear modules that ``targets`` select; each pattern must select one at least.

    Raises:
        ConfigError: a pattern that selects nothing or selects a module that is not ``nn.Linear``.
    """
    names = [n for n, _ in dit.named_modules() if n]
    chosen: list[str] = []
    for pat in targets:
        hit = [n for n in names if n == pat or n.endswith("." + pat)]
        if not hit:
            raise ConfigError(f"training.lora_targets: {pat!r} selects no DiT module; the defaults are "
                              f"{', '.join(DEFAULT_TARGETS)}")
        bad = [n for n in hit if not isinstance(dit.get_submodule(n), nn.Linear)]
        if bad:
            raise ConfigError(f"training.lora_targets: {pat!r} selects {bad[0]}, which is not a linear layer")
        chosen += hit
    return sorted(set(chosen))


def attach(dit: nn.Module, config: Any, *, name: str = "default", generator: torch.Generator | None = None,
           ) -> list[str]:
    """Inject adapter ``name`` into the DiT in place (peft's ``inject_adapter_in_model``).

    B starts at zero, so the model computes what the base does. A is drawn from ``generator`` (uniform in
    +-1/sqrt(in), peft's Kaiming bound) rather than from the global RNG, so a run is reproducible.

    Returns:
        The names of the adapter's parameters in ``dit``.
    """
    from peft import inject_adapter_in_model

    check_targets(dit, list(config.target_modules))
    inject_adapter_in_model(config, dit, adapter_name=name)
    names = [n for n, _ in dit.named_parameters() if f".lora_A.{name}." in n or f".lora_B.{name}." in n]
    if generator is not None:
        with torch.no_grad():
            for n, p in dit.named_parameters():
                if f".lora_A.{name}." in n:
                    bound = 1.0 / math.sqrt(p.shape[1])
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
    return names


def base_name(name: str) -> str | None:
    """A state-dict name as the model had it before any adapter (None for adapter tensors)."""
    if ".lora_" in name:
        return None
    return name.replace(".base_layer.", ".")


def base_probe(model: nn.Module) -> dict[str, list[float]]:
    """The first :data:`PROBE_VALUES` values of every floating base tensor of ``model``, by base name."""
    out: dict[str, list[float]] = {}
    for n, t in model.state_dict().items():
        b = base_name(n)
        if b is not None and t.is_floating_point() and t.numel():
            out[b] = [float(v) for v in t.detach().flatten()[:PROBE_VALUES].float().cpu()]
    return out


def probe_fingerprint(probe: dict[str, list[float]]) -> str:
    """A short id of a probe, for messages: its names and values rounded to 3 significant digits."""
    h = hashlib.sha256()
    for k in sorted(probe):
        h.update(k.encode())
        h.update(",".join(f"{v:.2e}" for v in probe[k]).encode())
    return h.hexdigest()[:16]


def probe_mismatch(want: dict[str, list[float]], have: dict[str, list[float]]) -> str | None:
    """The first base tensor whose probe differs beyond a dtype cast (:data:`PROBE_REL`), or None."""
    for k, vals in want.items():
        got = have.get(k)
        if got is None or len(got) != len(vals):
            return k
        for a, b in zip(vals, got):
            if abs(a - b) > PROBE_REL * max(abs(a), abs(b)) + PROBE_ABS:
                return k
    return None


def adapter_state(dit: nn.Module, name: str = "default", values: dict[str, torch.Tensor] | None = None,
                  ) -> dict[str, torch.Tensor]:
    """The adapter's tensors under peft's saved names (``base_model.model.<module>.lora_A.weight``).

    Args:
        values: the DiT's parameters by name to take instead of the live ones (an EMA copy).
    """
    out: dict[str, torch.Tensor] = {}
    for n, p in dit.named_parameters():
        if f".lora_A.{name}." in n or f".lora_B.{name}." in n:
            t = (values or {}).get(n, p)
            out[KEY_PREFIX + n.replace(f".{name}.", ".")] = t.detach().float().cpu().contiguous()
    return out


def save_adapter(folder: str | os.PathLike, config: Any, state: dict[str, torch.Tensor],
                 probe: dict[str, list[float]], *, force: bool = True) -> Path:
    """Write an adapter folder (atomically): peft's ``adapter_config.json`` and ``adapter_model.safetensors``
    with the base probe in the metadata.

    Args:
        config: its :class:`peft.LoraConfig`.
        state: :func:`adapter_state`.
        probe: :func:`base_probe` of the base model it was trained on.
    """
    from audiox.checkpoint.io import write_safetensors
    from audiox.checkpoint.native import _check_out, staged_folder

    out = Path(folder)
    _check_out(out, [ADAPTER_CONFIG, ADAPTER_WEIGHTS], force)
    cfg = config.to_dict()
    cfg["target_modules"] = sorted(cfg["target_modules"])
    meta = {"format": "pt", META_PROBE: json.dumps(probe, separators=(",", ":")),
            META_FINGERPRINT: probe_fingerprint(probe)}
    with staged_folder(out) as stage:
        (stage / ADAPTER_CONFIG).write_text(json.dumps(cfg, indent=2, default=str, sort_keys=True))
        write_safetensors(stage / ADAPTER_WEIGHTS, state, meta)
    return out


def check_adapter_folder(folder: str | os.PathLike, flag: str = "--lora") -> Path:
    """An adapter folder with both files and a LoRA config, checked without reading the weights.

    Raises:
        InputError: naming the flag and what is missing or wrong.
    """
    from safetensors import safe_open

    p = Path(folder)
    if not p.is_dir():
        raise InputError(f"{flag} {p}: not a folder (expected an adapter folder with {ADAPTER_CONFIG})")
    for f in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (p / f).is_file():
            raise InputError(f"{flag} {p}: no {f} (expected a LoRA adapter folder)")
    try:
        cfg = json.loads((p / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{flag} {p / ADAPTER_CONFIG}: not readable JSON ({e})") from None
    if not isinstance(cfg, dict) or str(cfg.get("peft_type", "")).upper() != "LORA":
        raise InputError(f"{flag} {p / ADAPTER_CONFIG}: not a LoRA adapter config (peft_type {cfg.get('peft_type')!r})"
                         if isinstance(cfg, dict) else f"{flag} {p / ADAPTER_CONFIG}: expected a JSON object")
    try:
        with safe_open(str(p / ADAPTER_WEIGHTS), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise InputError(f"{flag} {p / ADAPTER_WEIGHTS}: not a readable safetensors file ({e})") from None
    if META_PROBE not in meta:
        raise InputError(f"{flag} {p}: the adapter names no base model (no {META_PROBE} in its metadata); "
                         "audiox train --lora writes it")
    return p


def read_adapter(folder: Path, flag: str = "--lora") -> tuple[Any, dict[str, torch.Tensor], dict[str, list[float]]]:
    """The adapter's LoraConfig, its tensors by peft's saved names less the prefix, and the base probe."""
    from peft import LoraConfig
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = check_adapter_folder(folder, flag)
    config = LoraConfig.from_pretrained(str(p))
    with safe_open(str(p / ADAPTER_WEIGHTS), framework="pt") as f:
        meta = f.metadata() or {}
    sd = {k.removeprefix(KEY_PREFIX): v for k, v in load_file(str(p / ADAPTER_WEIGHTS)).items()}
    return config, sd, json.loads(meta[META_PROBE])


def load_adapters(model: nn.Module, specs: Sequence[LoraSpec], flag: str = "--lora") -> list[str]:
    """Apply adapters to ``model.dit`` (unmerged, all active, each with its scale) after checking their base.

    Args:
        model: the AudioXModel the adapters were trained on (any dtype).
        specs: the adapter folders and scales, summed in this order.

    Returns:
        The adapter names in the DiT (``lora0``, ``lora1``, ...).

    Raises:
        InputError: an adapter trained on another base model, or whose tensors do not fit.
    """
    from peft.tuners.lora import LoraLayer

    have = base_probe(model)
    names = []
    for i, spec in enumerate(specs):
        config, sd, want = read_adapter(spec.folder, flag)
        bad = probe_mismatch(want, have)
        if bad is not None:
            raise InputError(f"{flag} {spec.folder}: trained on another base model (fingerprint "
                             f"{probe_fingerprint(want)}, this model {probe_fingerprint(have)}; first difference "
                             f"in {bad})")
        name = f"lora{i}"
        try:
            attach(model.dit, config, name=name)
        except ConfigError as e:
            raise InputError(f"{flag} {spec.folder}: {e}") from None
        own = {n: p for n, p in model.dit.named_parameters() if f".{name}." in n}
        expected = {n.replace(f".{name}.", "."): p for n, p in own.items()}
        if set(expected) != set(sd) or any(expected[k].shape != v.shape for k, v in sd.items()):
            raise InputError(f"{flag} {spec.folder}: its tensors do not fit this model's DiT")
        with torch.no_grad():
            for k, v in sd.items():
                expected[k].copy_(v)
        for m in model.dit.modules():
            if isinstance(m, LoraLayer) and name in m.scaling:
                m.set_scale(name, spec.scale)
        names.append(name)
    for m in model.dit.modules():
        if isinstance(m, LoraLayer):
            m.set_adapter([n for n in names if n in m.scaling])
            m.requires_grad_(False)
    model.dit.requires_grad_(False)
    if names:
        log.info("LoRA: %s applied", ", ".join(f"{s.folder} x {s.scale:g}" for s in specs))
    return names


def merge_adapters(dit: nn.Module) -> int:
    """Fold every active adapter into its base linear (peft's ``merge``) and put the plain linear back.

    Returns:
        The number of linears changed.
    """
    from peft.tuners.lora import LoraLayer

    count = 0
    for name, m in list(dit.named_modules()):
        if isinstance(m, LoraLayer):
            m.merge(adapter_names=list(m.active_adapters))
            parent_name, _, child = name.rpartition(".")
            setattr(dit.get_submodule(parent_name) if parent_name else dit, child, m.get_base_layer())
            count += 1
    if not count:
        raise CheckpointError("no LoRA adapter to merge")
    return count


def write_merged(src: str | os.PathLike, dst: str | os.PathLike, specs: Sequence[LoraSpec], *,
                 to: str = "native", dtype: str | None = None, config: str | os.PathLike | None = None,
                 force: bool = False, flag: str = "--merge-lora") -> Path:
    """Load the model at ``src``, apply the adapters (their base checked), merge them and write ``dst``.

    Args:
        to: "native" or "official" layout; dtype: cast floating tensors ("fp16", ...; None keeps float32).

    Returns:
        The written weights file.
    """
    import tempfile

    from audiox.checkpoint.native import GENERATION_DEFAULTS, _check_out, convert, save_native
    from audiox.checkpoint.official import load_model

    out = Path(dst)
    # the model's sampler defaults belong to the merged model too
    defaults = (Path(src) if Path(src).is_dir() else Path(src).parent) / GENERATION_DEFAULTS
    _check_out(out, ["config.json", "model.safetensors" if to == "native" else "model.ckpt"]
               + [GENERATION_DEFAULTS] * defaults.is_file(), force)
    model = load_model(src, config=config)
    load_adapters(model, specs, flag=flag)
    n = merge_adapters(model.dit)
    log.info("merged %d adapter(s) into %d linears", len(specs), n)
    if to == "native" and dtype is None:
        path = save_native(model, out, force=force)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.merge.") as tmp:
            save_native(model, Path(tmp) / "native", force=True)
            path = convert(Path(tmp) / "native", out, to=to, dtype=dtype, force=force)
    if defaults.is_file():
        shutil.copyfile(defaults, out / GENERATION_DEFAULTS)
    return path
