"""Procedural sound sources with a controllable parameter: tones, sirens, rain, wind, engines, footsteps, knocks.

Every function takes an explicit ``numpy.random.Generator`` and returns mono float32 ``(T,)`` peak-normalised to 1.
Filtering is done in the frequency domain (no scipy).
"""

from __future__ import annotations

import numpy as np


def _peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak).astype(np.float32) if peak > 0 else x.astype(np.float32)


def bandpass_noise(rng: np.random.Generator, n: int, sample_rate: int, lo_hz: float, hi_hz: float,
                   tilt: float = 0.0) -> np.ndarray:
    """White noise filtered to ``[lo_hz, hi_hz]`` with a spectral tilt.

    Args:
        rng: random generator.
        n: length in samples.
        sample_rate: Hz.
        lo_hz: low edge in Hz.
        hi_hz: high edge in Hz.
        tilt: power-law exponent of the magnitude (``-0.5`` pink, ``-1`` brown).
    """
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    mask = ((freqs >= lo_hz) & (freqs <= hi_hz)).astype(np.float64)
    if tilt:
        mask *= np.maximum(freqs, 1.0) ** tilt
    return _peak(np.fft.irfft(spec * mask, n))


def _fade(x: np.ndarray, sample_rate: int, seconds: float = 0.01) -> np.ndarray:
    k = min(len(x) // 2, max(1, int(seconds * sample_rate)))
    ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
    x = x.copy()
    x[:k] *= ramp
    x[len(x) - k:] *= ramp[::-1]
    return x


def tone(pitch_hz: float, seconds: float, sample_rate: int, *, timbre: str = "sine") -> np.ndarray:
    """A beep at ``pitch_hz`` (the fundamental is the strongest partial for every timbre).

    Args:
        pitch_hz: fundamental frequency in Hz.
        seconds: duration in s.
        sample_rate: Hz.
        timbre: ``"sine"``, ``"square"`` (soft odd harmonics) or ``"bell"`` (decaying partials).
    """
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * pitch_hz * t
    if timbre == "sine":
        x = np.sin(phase)
    elif timbre == "square":
        x = sum(np.sin(k * phase) / (k * k) for k in (1, 3, 5, 7) if k * pitch_hz < sample_rate / 2)
    elif timbre == "bell":
        x = np.sin(phase) + 0.4 * np.sin(2.76 * phase) * np.exp(-t * 8) + 0.2 * np.sin(5.4 * phase) * np.exp(-t * 12)
        x = x * np.exp(-t * 2.5)
    else:
        raise ValueError(f"timbre: unknown {timbre!r}")
    return _fade(_peak(np.asarray(x)), sample_rate, 0.008)


def siren(rng: np.random.Generator, seconds: float, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """A two-tone or wailing siren; returns the audio and its parameters (``lo_hz``, ``hi_hz``, ``rate_hz``).

    Args:
        rng: random generator.
        seconds: duration in s.
        sample_rate: Hz.
    """
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    lo = float(rng.uniform(450, 700))
    hi = lo * float(rng.uniform(1.3, 1.8))
    rate = float(rng.uniform(0.25, 1.2))
    if rng.random() < 0.5:  # wail: smooth sweep
        f = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * rate * t))
    else:  # hi-lo: square switching
        f = np.where(np.sin(2 * np.pi * rate * t) >= 0, hi, lo)
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    x = np.sin(phase) + 0.3 * np.sin(3 * phase)
    return _fade(_peak(x), sample_rate, 0.05), {"lo_hz": round(lo, 2), "hi_hz": round(hi, 2), "rate_hz": round(rate, 3)}


def rain(rng: np.random.Generator, seconds: float, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """Rain: broadband hiss plus random droplet clicks; parameter ``drops_per_s``.

    Args:
        rng: random generator.
        seconds: duration in s.
        sample_rate: Hz.
    """
    n = int(seconds * sample_rate)
    hiss = bandpass_noise(rng, n, sample_rate, 400, min(12000, sample_rate / 2), tilt=-0.3)
    density = float(rng.uniform(20, 120))
    drops = np.zeros(n)
    idx = rng.integers(0, n, size=max(1, int(density * seconds)))
    drops[idx] = rng.uniform(0.3, 1.0, size=len(idx)) * rng.choice([-1, 1], size=len(idx))
    kernel = np.exp(-np.arange(int(0.004 * sample_rate)) / (0.0008 * sample_rate))
    drops = np.convolve(drops, kernel)[:n]
    drops = np.fft.irfft(np.fft.rfft(drops) * (np.fft.rfftfreq(n, 1 / sample_rate) > 1500), n)
    x = 0.6 * hiss + 0.4 * _peak(drops)
    return _fade(_peak(x), sample_rate, 0.3), {"drops_per_s": round(density, 1)}


def wind(rng: np.random.Generator, seconds: float, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """Wind: low-passed noise with slow gusts; parameter ``gusts_per_s``.

    Args:
        rng: random generator.
        seconds: duration in s.
        sample_rate: Hz.
    """
    n = int(seconds * sample_rate)
    base = bandpass_noise(rng, n, sample_rate, 40, float(rng.uniform(600, 1500)), tilt=-0.8)
    gust_rate = float(rng.uniform(0.15, 0.6))
    t = np.arange(n) / sample_rate
    env = 0.55 + 0.45 * np.sin(2 * np.pi * gust_rate * t + rng.uniform(0, 2 * np.pi))
    # a whistle that follows the gusts
    f = float(rng.uniform(300, 700)) * (1 + 0.3 * env)
    whistle = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * 0.08
    return _fade(_peak(base * env + whistle * env), sample_rate, 0.5), {"gusts_per_s": round(gust_rate, 3)}


def engine(rng: np.random.Generator, seconds: float, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """Engine hum: harmonics of the firing frequency with jitter plus rumble; parameter ``firing_hz``.

    Args:
        rng: random generator.
        seconds: duration in s.
        sample_rate: Hz.
    """
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = float(rng.uniform(25, 70))
    drift = 1 + 0.05 * np.sin(2 * np.pi * float(rng.uniform(0.05, 0.3)) * t)
    phase = 2 * np.pi * np.cumsum(f0 * drift) / sample_rate
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** 0.8 for k in range(1, 12))
    rumble = bandpass_noise(rng, n, sample_rate, 20, 400, tilt=-0.5)
    x = _peak(np.asarray(x)) * (1 + 0.3 * np.sin(phase / 2)) + 0.4 * rumble
    return _fade(_peak(x), sample_rate, 0.3), {"firing_hz": round(f0, 2)}


def footstep(rng: np.random.Generator, sample_rate: int, surface: str) -> np.ndarray:
    """One footstep: a low thump plus a surface-dependent scuff, about 0.15 s.

    Args:
        rng: random generator.
        sample_rate: Hz.
        surface: ``"wood"``, ``"gravel"`` or ``"concrete"``.
    """
    n = int(0.18 * sample_rate)
    t = np.arange(n) / sample_rate
    thump = np.sin(2 * np.pi * rng.uniform(70, 110) * t) * np.exp(-t * 40)
    lo, hi, decay = {"wood": (300, 2500, 35), "gravel": (1500, 9000, 18), "concrete": (600, 5000, 45)}[surface]
    scuff = bandpass_noise(rng, n, sample_rate, lo, min(hi, sample_rate / 2 - 1)) * np.exp(-t * decay)
    return _fade(_peak(thump + 0.7 * scuff), sample_rate, 0.002)


def knock(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """One knock on wood: a few damped resonant modes, about 0.12 s.

    Args:
        rng: random generator.
        sample_rate: Hz.
    """
    n = int(0.12 * sample_rate)
    t = np.arange(n) / sample_rate
    base = float(rng.uniform(180, 320))
    x = sum(a * np.sin(2 * np.pi * base * m * t) * np.exp(-t * d)
            for a, m, d in ((1.0, 1.0, 45), (0.6, 2.3, 70), (0.35, 3.9, 110)))
    click = bandpass_noise(rng, n, sample_rate, 1000, min(6000, sample_rate / 2 - 1)) * np.exp(-t * 300)
    return _fade(_peak(np.asarray(x) + 0.5 * click), sample_rate, 0.001)


def room_tone(rng: np.random.Generator, seconds: float, sample_rate: int, style: str) -> np.ndarray:
    """A quiet background bed.

    Args:
        rng: random generator.
        seconds: duration in s.
        sample_rate: Hz.
        style: ``"hiss"`` (pink noise), ``"hum"`` (50/60 Hz mains hum) or ``"room"`` (brown noise).
    """
    n = int(seconds * sample_rate)
    if style == "hiss":
        return bandpass_noise(rng, n, sample_rate, 100, sample_rate / 2, tilt=-0.5)
    if style == "room":
        return bandpass_noise(rng, n, sample_rate, 20, 2000, tilt=-1.0)
    if style == "hum":
        t = np.arange(n) / sample_rate
        f = 50.0 if rng.random() < 0.5 else 60.0
        x = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t) + 0.25 * np.sin(6 * np.pi * f * t)
        return _peak(x + 0.2 * bandpass_noise(rng, n, sample_rate, 100, 4000))
    raise ValueError(f"style: unknown {style!r}")
