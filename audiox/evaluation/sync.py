"""The ``sync`` protocol: onset and beat synchronisation of each generated clip with its same-named real clip.

No network: onsets come from :func:`audiox.evaluation.metrics.detect_onsets` (spectral flux, 10 ms frames), their
strength is the flux envelope at the onset's frame, and beats from :func:`audiox.evaluation.metrics.track_beats`.
Per pair (real clip = reference, generated clip = candidate):

- ``onset_ap``: average precision of the generated onsets ranked by strength against the real onsets, within
  :data:`audiox.evaluation.metrics.ONSET_TOLERANCE_S` (:func:`audiox.evaluation.distances.onset_average_precision`);
- ``onset_f1``: one-to-one onset F1 within the same tolerance (:func:`audiox.evaluation.metrics.match_events`);
- ``beat_align``: the beat alignment score, sigma :data:`audiox.evaluation.distances.BEAT_ALIGN_SIGMA_S`, mean over
  the real beats (:func:`audiox.evaluation.distances.beat_align_score`).

The protocol's value of each is the mean over the pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiox.evaluation.distances import BEAT_ALIGN_SIGMA_S
from audiox.evaluation.metrics import ONSET_TOLERANCE_S  # 0.1 s, as SynthBench's event F1

SYNC_RATE = 22050  # the onset envelope's own rate, so clips are resampled once


@dataclass(frozen=True)
class ClipEvents:
    """One clip's events.

    Attributes:
        onsets: onset times (s), sorted.
        strength: the spectral-flux value (dB, mean over mel bands) at each onset.
        beats: beat times (s), sorted.
    """

    onsets: list[float]
    strength: list[float]
    beats: list[float]


def clip_events(audio: torch.Tensor, sample_rate: int) -> ClipEvents:
    """Onsets with their strengths, and beats.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
    """
    from audiox.evaluation.features import onset_envelope
    from audiox.evaluation.metrics import ONSET_LATENCY_S, detect_onsets, track_beats

    onsets = detect_onsets(audio, sample_rate)
    env, rate = onset_envelope(audio, sample_rate)
    env_np = env.double().numpy()
    frames = [min(env_np.size - 1, max(0, int(round((t - ONSET_LATENCY_S) * rate)))) for t in onsets]
    return ClipEvents(onsets, [float(env_np[i]) for i in frames], track_beats(audio, sample_rate))


def pair_scores(real: ClipEvents, generated: ClipEvents) -> dict[str, float]:
    """``{"onset_ap", "onset_f1", "beat_align"}`` of one generated clip against its real clip."""
    from audiox.evaluation.distances import beat_align_score, onset_average_precision
    from audiox.evaluation.metrics import match_events

    return {"onset_ap": onset_average_precision(generated.onsets, generated.strength, real.onsets,
                                                tolerance=ONSET_TOLERANCE_S),
            "onset_f1": match_events(generated.onsets, real.onsets, ONSET_TOLERANCE_S)["f1"],
            "beat_align": beat_align_score(real.beats, generated.beats)}


ABOUT = {"onset_ap": f"onset AP of each generated clip against its real clip (tolerance {ONSET_TOLERANCE_S:g} s)",
         "onset_f1": f"onset F1 of each generated clip against its real clip (tolerance {ONSET_TOLERANCE_S:g} s)",
         "beat_align": f"beat alignment score of each pair (sigma {BEAT_ALIGN_SIGMA_S:g} s, over the real clip's "
                       "beats)"}


def sync_scores(real: Mapping[str, Path], generated: Mapping[str, Path], seconds: float, label: str, *,
                progress: Callable[[int], None] | None = None
                ) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """Score every same-named pair (names checked by the caller).

    Args:
        real: reference clips by name.
        generated: generated clips by name (the same names).
        seconds: each clip's first ``seconds``, zero-padded.
        label: the second half of each metric key (``"onset_ap:<label>"``).
        progress: called with 1 after each pair.

    Returns:
        ``(metrics, per_clip)`` as :func:`audiox.evaluation.protocols.score` returns them.
    """
    from audiox.errors import InputError
    from audiox.evaluation.scoring import load_clip

    missing = sorted(set(generated) - set(real))
    if missing:
        raise InputError(f"sync: {missing[0]!r} has no same-named real clip ({len(missing)} generated clips lack one)")
    per: dict[str, dict[str, float]] = {k: {} for k in ABOUT}
    for name in sorted(generated):
        ev = [clip_events(load_clip(files[name], SYNC_RATE, seconds), SYNC_RATE) for files in (real, generated)]
        for k, v in pair_scores(*ev).items():
            per[k][name] = v
        if progress is not None:
            progress(1)
    metrics: dict[str, float | None] = {f"{k}:{label}": float(np.mean(list(v.values()))) if v else None
                                        for k, v in per.items()}
    per_clip = {f"{k}:{label}": {"about": ABOUT[k], "generated": v} for k, v in per.items()}
    return metrics, per_clip
