"""Audio front ends for the SynthBench metrics: mono mixdown, resampling, mel filterbanks, log-mel, onsets.

Everything is torch (plus soxr for resampling); no librosa.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

# the reference classifier's front end
CLS_SAMPLE_RATE = 16000
CLS_N_FFT = 1024
CLS_HOP = 320  # 20 ms frames
CLS_N_MELS = 64


def to_mono(audio: torch.Tensor) -> torch.Tensor:
    """Average the channels.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples.

    Returns:
        ``(T,)`` float32.
    """
    x = audio.float()
    return x.mean(0) if x.dim() == 2 else x.reshape(-1)


def resample(audio: torch.Tensor, rate_in: int, rate_out: int) -> torch.Tensor:
    """Resample with soxr (HQ).

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``rate_in`` Hz.
        rate_in: input rate in Hz.
        rate_out: output rate in Hz.

    Returns:
        Same rank as ``audio``, at ``rate_out`` Hz.
    """
    if rate_in == rate_out:
        return audio.float()
    import soxr

    x = audio.float().detach().cpu().numpy()
    if x.ndim == 1:
        return torch.from_numpy(np.ascontiguousarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), np.float32))
    y = soxr.resample(x.T, rate_in, rate_out, quality="HQ").T
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))


SLANEY_F_SP = 200.0 / 3  # Hz per mel below the break (the Auditory Toolbox / librosa default scale)
SLANEY_BREAK_HZ = 1000.0
SLANEY_LOGSTEP = math.log(6.4) / 27.0  # mel step of the log part


def hz_to_mel(f: torch.Tensor | float, *, htk: bool = True) -> torch.Tensor:
    """Hz to mel: HTK ``2595 log10(1 + f / 700)`` (``htk=True``), or Slaney's scale (``htk=False``, librosa's
    default): linear ``f / (200/3)`` below 1 kHz, then ``15 + ln(f / 1000) / (ln 6.4 / 27)``."""
    f = torch.as_tensor(f, dtype=torch.float64)
    if htk:
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    brk = SLANEY_BREAK_HZ / SLANEY_F_SP
    return torch.where(f < SLANEY_BREAK_HZ, f / SLANEY_F_SP,
                       brk + torch.log(torch.clamp(f, min=1e-12) / SLANEY_BREAK_HZ) / SLANEY_LOGSTEP)


def mel_to_hz(m: torch.Tensor, *, htk: bool = True) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel` (same ``htk`` choice)."""
    m = torch.as_tensor(m, dtype=torch.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    brk = SLANEY_BREAK_HZ / SLANEY_F_SP
    return torch.where(m < brk, m * SLANEY_F_SP, SLANEY_BREAK_HZ * torch.exp(SLANEY_LOGSTEP * (m - brk)))


@lru_cache(maxsize=8)
def mel_filterbank(n_fft: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   norm: str = "slaney", htk: bool = True) -> torch.Tensor:
    """Triangular mel filters, drawn on the Hz axis between band edges equally spaced in mel.

    Args:
        n_fft: FFT size (``n_fft // 2 + 1`` bins).
        sample_rate: Hz.
        n_mels: number of bands.
        f_min: lowest band edge in Hz.
        f_max: highest band edge in Hz (default Nyquist).
        norm: ``"slaney"`` (area 2 / bandwidth), ``"unit_sum"`` (weights of a band sum to 1) or ``"none"``.
        htk: the HTK mel scale (default) or Slaney's (``False``: librosa's default, PANNs' front end).

    Returns:
        ``(n_mels, n_fft // 2 + 1)`` float32 weights.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min, htk=htk)), float(hz_to_mel(f_max, htk=htk)), n_mels + 2,
                                     dtype=torch.float64), htk=htk)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (hi - lo))
    elif norm == "unit_sum":
        fb = fb / fb.sum(1, keepdim=True).clamp_min(1e-12)
    elif norm != "none":
        raise ValueError(f"norm: unknown {norm!r}; expected 'slaney', 'unit_sum' or 'none'")
    return fb.float()


def power_spectrogram(x: torch.Tensor, n_fft: int, hop: int, *, center: bool = True) -> torch.Tensor:
    """Power spectrogram with a periodic Hann window.

    Args:
        x: ``(T,)`` or ``(B, T)`` samples.
        n_fft: FFT and window size in samples.
        hop: hop in samples.
        center: pad ``n_fft // 2`` zeros on both sides (frame ``i`` is centred on sample ``i * hop``).

    Returns:
        ``(..., n_fft // 2 + 1, frames)`` power.
    """
    if x.shape[-1] < n_fft and not center:
        x = torch.nn.functional.pad(x, (0, n_fft - x.shape[-1]))
    spec = torch.stft(x.float(), n_fft, hop, window=torch.hann_window(n_fft), center=center, pad_mode="constant",
                      return_complex=True)
    return spec.real.square() + spec.imag.square()


def log_mel(audio: torch.Tensor, sample_rate: int, *, n_mels: int = CLS_N_MELS, n_fft: int = CLS_N_FFT,
            hop: int = CLS_HOP, target_rate: int = CLS_SAMPLE_RATE) -> torch.Tensor:
    """The reference classifier's input: log-mel energies of the mono mixdown.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
        n_mels: mel bands.
        n_fft: FFT size at ``target_rate``.
        hop: hop in samples at ``target_rate``.
        target_rate: the rate the audio is resampled to first (Hz).

    Returns:
        ``(n_mels, frames)`` float32 ``log(1e-6 + mel power)``; frames every ``hop / target_rate`` s.
    """
    x = resample(to_mono(audio), sample_rate, target_rate)
    mel = mel_filterbank(n_fft, target_rate, n_mels, 30.0, target_rate / 2) @ power_spectrogram(x, n_fft, hop)
    return torch.log(mel + 1e-6)


def onset_envelope(audio: torch.Tensor, sample_rate: int, *, hop_s: float = 0.01, n_mels: int = 64
                   ) -> tuple[torch.Tensor, float]:
    """Spectral-flux onset strength: half-wave rectified frame difference of log-mel energies, summed over bands.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.
        hop_s: frame hop in seconds.
        n_mels: mel bands.

    Returns:
        ``(envelope (frames,), frame_rate_hz)``; frame ``i`` is centred on ``i * hop_s`` seconds.
    """
    rate = 22050
    x = resample(to_mono(audio), sample_rate, rate)
    hop = int(round(hop_s * rate))
    n_fft = 1024
    mel = mel_filterbank(n_fft, rate, n_mels, 30.0, 11025.0) @ power_spectrogram(x, n_fft, hop)
    db = 10 * torch.log10(mel + 1e-10)
    db = torch.maximum(db, db.max() - 80.0)
    flux = torch.relu(db[:, 1:] - db[:, :-1]).mean(0)
    env = torch.cat([flux.new_zeros(1), flux])
    return env, rate / hop


def db(x: float) -> float:
    """``10 log10(x)`` with ``-inf`` for 0 and ``inf`` for infinity."""
    if x <= 0:
        return -math.inf
    return 10.0 * math.log10(x)
