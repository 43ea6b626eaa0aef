"""Synthetic note clips for VAE training: harmonic and pure tones at random pitches, levels and envelopes.

The generated corpus has notes only at the pitches and levels its instruments and sound effects use, and a decoder
trained on it alone need not hold a steady tone anywhere else (issue 25: the built-in decoders lose 220-311 Hz
tones). ``VAETrainConfig.tone_clips`` adds this many clips to the training data. Each clip is a sequence of 1-4
notes that split it at random; a note is

- a pure sinusoid (one in three) or a harmonic stack with ``k ** -rolloff`` partial amplitudes below 0.45 x the
  sample rate, at a fundamental drawn log-uniformly in ``F0_RANGE`` (55-1760 Hz: A1 to A6), with a second note
  sounding at a random interval one time in four;
- shaped by a linear attack of 2-40 ms, then held or decaying exponentially (time constant 0.2-2 s), with a 10-ms
  release at its end, and peaking at a level drawn log-uniformly in ``LEVEL_RANGE``.

Phases are computed in float64 (exact over 10 s) and every draw comes from one seeded ``torch.Generator``: the
same ``seed`` gives the same clips, so a resumed run trains on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

F0_RANGE = (55.0, 1760.0)  # Hz
LEVEL_RANGE = (0.03, 0.7)  # peak amplitude of a note
PURE_PROB = 1 / 3
CHORD_PROB = 0.25
MAX_PARTIALS = 12


@dataclass(frozen=True)
class Note:
    """One note of a clip: samples ``[start, end)``, its fundamentals (Hz) and whether it is a pure sinusoid."""

    start: int
    end: int
    f0s: tuple[float, ...]
    pure: bool


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _log_uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo * (hi / lo) ** float(torch.rand((), generator=g, dtype=torch.float64))


def render_note(f0s: tuple[float, ...], length: int, sample_rate: int, g: torch.Generator, *, pure: bool
                ) -> torch.Tensor:
    """One note (length,) float64 at peak level 1 before its envelope: the sum of each fundamental's partials.

    Args:
        f0s: fundamentals in Hz (each below the Nyquist frequency).
        length: samples.
        sample_rate: Hz.
        g: source of the partials' rolloff and phases.
        pure: one sinusoid per fundamental instead of a harmonic stack.
    """
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    rolloff = _uniform(g, 0.7, 2.5)
    out = torch.zeros(length, dtype=torch.float64)
    for f0 in f0s:
        partials = 1 if pure else max(1, min(MAX_PARTIALS, int(0.45 * sample_rate // f0)))
        for k in range(1, partials + 1):
            phase = 2 * math.pi * float(torch.rand((), generator=g, dtype=torch.float64))
            out += k ** -rolloff * torch.sin(2 * math.pi * k * f0 * t + phase)
    return out / out.abs().max().clamp_min(1e-12)


def _envelope(length: int, sample_rate: int, g: torch.Generator) -> torch.Tensor:
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    attack = _uniform(g, 0.002, 0.04)
    env = (t / attack).clamp(max=1.0)
    if bool(torch.rand((), generator=g) < 0.5):  # decaying, else held
        env = env * torch.exp(-(t - attack).clamp_min(0) / _uniform(g, 0.2, 2.0))
    release = min(length, round(0.01 * sample_rate))
    env[length - release:] *= torch.linspace(1, 0, release, dtype=torch.float64)
    return env


def note_clip(length: int, sample_rate: int, g: torch.Generator) -> tuple[torch.Tensor, list[Note]]:
    """One clip (1, length) float32 of 1-4 notes, and the notes (see the module docstring)."""
    count = int(torch.randint(1, 5, (), generator=g))
    cuts = sorted(int(c) for c in torch.randint(1, length, (count - 1,), generator=g))
    bounds = [0, *cuts, length]
    audio = torch.zeros(length, dtype=torch.float64)
    notes = []
    hi = min(F0_RANGE[1], 0.45 * sample_rate / 2)  # room for a chord's upper note (up to an octave above)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < round(0.05 * sample_rate):
            continue  # shorter than 50 ms: left silent
        f0 = _log_uniform(g, F0_RANGE[0], hi)
        f0s = (f0, f0 * 2 ** (int(torch.randint(3, 13, (), generator=g)) / 12)) \
            if bool(torch.rand((), generator=g) < CHORD_PROB) else (f0,)
        pure = bool(torch.rand((), generator=g) < PURE_PROB)
        level = _log_uniform(g, *LEVEL_RANGE)
        audio[a:b] = level * render_note(f0s, b - a, sample_rate, g, pure=pure) * _envelope(b - a, sample_rate, g)
        notes.append(Note(a, b, f0s, pure))
    return audio.float()[None], notes


def note_clips(n: int, length: int, sample_rate: int, seed: int) -> torch.Tensor:
    """``n`` note clips (n, 1, length) float32 in [-0.7, 0.7], the same for the same ``seed``.

    Args:
        n: clip count.
        length: samples per clip.
        sample_rate: Hz.
        seed: seeds the one generator every draw comes from.
    """
    g = torch.Generator().manual_seed(seed)
    if n == 0:
        return torch.zeros(0, 1, length)
    return torch.stack([note_clip(length, sample_rate, g)[0] for _ in range(n)])
