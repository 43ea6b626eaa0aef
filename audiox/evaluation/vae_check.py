"""Does a VAE keep a pure tone? The pitch and band-share measurements of issue 25 (no network beyond the VAE).

A decoder that cannot hold a steady tone (the built-in spectral decoder of v1-v3 emits waveforms that repeat at
the 15.625-Hz latent frame rate) moves the tone's energy onto harmonics of the frame rate. Two numbers catch it:

- the **band share**: the share of the signal's spectral energy within ``TONE_BAND`` (3 %) of the tone frequency;
- the **pitch estimate**: the frequency of the strongest spectral peak, refined by a parabola through the log
  power of the peak bin and its neighbours, and its distance from the tone in cents.

A round trip passes when the estimate is within ``TONE_CENTS`` (50) cents and the band share is at least
``TONE_SHARE`` (0.5): issue 25's acceptance test for 220-880 Hz tones. ``scripts/vae_check.py`` reports the
same band share for the corpus's pitched held-out clips.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

TONE_BAND = 0.03  # relative half-width of the band around the tone
HELDOUT_TONE_SECONDS = 2.048  # tones measured during VAE training (heldout_values)
TONE_CENTS = 50.0  # largest pitch error of a passing round trip
TONE_SHARE = 0.5  # smallest band share of a passing round trip
TONE_FREQS = (220.0, 440.0, 880.0)  # the range, one per octave
EDGE = 0.1  # share of the signal dropped at each end before measuring (padding and edge transients)


def band_share(x: torch.Tensor, sample_rate: int, hz: float, band: float = TONE_BAND) -> tuple[float, float]:
    """Share of the energy of a mono signal within ``band`` (relative) of ``hz``, and its strongest bin.

    Args:
        x: (T,) samples.
        sample_rate: Hz.
        hz: the tone frequency.
        band: relative half-width of the band (0.03: within 3 %).

    Returns:
        ``(share in [0, 1], frequency of the strongest rfft bin in Hz)``.
    """
    power = torch.fft.rfft(x.double()).abs().pow(2)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / sample_rate, dtype=torch.float64)
    inside = (freqs > hz * (1 - band)) & (freqs < hz * (1 + band))
    return float(power[inside].sum() / power.sum().clamp_min(1e-30)), float(freqs[power.argmax()])


def peak_frequency(x: torch.Tensor, sample_rate: int) -> float:
    """Frequency (Hz) of the strongest spectral peak of a mono signal (T,), refined between bins.

    A Hann window, then a parabola through the log power of the peak bin and its two neighbours (the main lobe of
    a Hann-windowed sinusoid is close to a Gaussian, so the vertex lands within a few hundredths of a bin: for a
    1-s signal at 16 kHz, under 0.05 Hz, i.e. well under a cent at 220 Hz).
    """
    n = x.shape[-1]
    power = torch.fft.rfft(x.double() * torch.hann_window(n, periodic=False, dtype=torch.float64)).abs().pow(2)
    power[0] = 0.0  # DC is no pitch
    k = int(power.argmax())
    if 0 < k < power.shape[-1] - 1:
        a, b, c = (float(power[i].clamp_min(1e-300).log()) for i in (k - 1, k, k + 1))
        den = a - 2 * b + c
        k = k + (0.5 * (a - c) / den if den < 0 else 0.0)
    return k * sample_rate / n


def cents(hz: float, ref: float) -> float:
    """Signed distance of ``hz`` from ``ref`` in cents (inf for a non-positive ``hz``)."""
    return 1200.0 * math.log2(hz / ref) if hz > 0 else math.inf


def pure_tone(hz: float, sample_rate: int, length: int, amplitude: float = 0.5) -> torch.Tensor:
    """A sinusoid (T,) of ``length`` samples, computed in float64 (exact phase) and returned as float32."""
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    return (amplitude * torch.sin(2 * math.pi * hz * t)).float()


@dataclass(frozen=True)
class ToneCheck:
    """One tone measured: its frequency, the pitch estimate, the error in cents, the band share, the verdict."""

    hz: float
    estimate_hz: float
    cents: float
    share: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def check_tone(x: torch.Tensor, sample_rate: int, hz: float) -> ToneCheck:
    """Measure a mono signal (T,) that should be a pure tone of ``hz`` (its central part: ``EDGE`` off each end)."""
    edge = int(x.shape[-1] * EDGE)
    mid = x[edge:x.shape[-1] - edge] if edge else x
    est = peak_frequency(mid, sample_rate)
    share, _ = band_share(mid, sample_rate, hz)
    err = cents(est, hz)
    return ToneCheck(hz=hz, estimate_hz=est, cents=err, share=share,
                     passed=abs(err) <= TONE_CENTS and share >= TONE_SHARE)


def tone_roundtrip(vae: Any, hz: float, sample_rate: int, length: int, channels: int = 1,
                   amplitude: float = 0.5) -> ToneCheck:
    """Encode and decode a pure tone with ``vae`` (an :class:`AudioAutoencoder`) and measure what comes back.

    Args:
        vae: has ``encode(audio (B, C, T)) -> latents`` and ``decode(latents) -> audio (B, C, T')``.
        hz: the tone.
        sample_rate: the VAE's rate (Hz).
        length: samples (a multiple of the VAE hop, e.g. the model window).
        channels: the VAE's audio channels (the tone is copied to each; the mean is measured).
        amplitude: peak amplitude of the tone.
    """
    x = pure_tone(hz, sample_rate, length, amplitude).expand(1, channels, length).contiguous()
    with torch.inference_mode():
        y = vae.decode(vae.encode(x))[..., :length].float()
    return check_tone(y.mean(dim=1)[0], sample_rate, hz)


def tone_report(vae: Any, sample_rate: int, length: int, channels: int = 1,
                freqs: tuple[float, ...] = TONE_FREQS) -> dict[str, Any]:
    """:func:`tone_roundtrip` for each of ``freqs``: ``{"passed": all passed, "tones": [ToneCheck dicts]}``."""
    checks = [tone_roundtrip(vae, hz, sample_rate, length, channels) for hz in freqs]
    return {"passed": all(c.passed for c in checks), "tones": [c.as_dict() for c in checks]}


def latent_stats(vae: Any, clips: torch.Tensor, batch: int = 4) -> dict[str, Any]:
    """Posterior statistics of ``clips`` (B, C, T) under a Gaussian VAE: what the DiT will see (issue 25, item 3).

    Returns:
        ``channel_mean`` / ``channel_std``: per latent channel, over clips and frames, of the posterior means (the
        stds are what ``pretransform.scale`` should hold); ``global_std``; ``posterior_std``: the mean of the
        posterior std (softplus(scale) + 1e-4, as sampled in training): how much noise the latents tolerate;
        ``mean_to_posterior``: ``global_std / posterior_std`` (large means sharp, possibly unsmooth latents).
    """
    means, stds = [], []
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            mean, scale = vae.encode_raw(clips[i:i + batch]).float().chunk(2, dim=1)
            means.append(mean)
            stds.append(torch.nn.functional.softplus(scale) + 1e-4)
    m = torch.cat(means).transpose(0, 1).reshape(means[0].shape[1], -1)  # (D, clips * frames)
    post = float(torch.cat(stds).mean())
    glob = float(m.std())
    return {"channel_mean": [round(float(v), 3) for v in m.mean(dim=1)],
            "channel_std": [round(float(v), 3) for v in m.std(dim=1)],
            "global_std": round(glob, 4), "posterior_std": round(post, 4),
            "mean_to_posterior": round(glob / post, 2)}


@torch.no_grad()
def reconstruction_distances(vae: Any, clips: torch.Tensor, sample_rate: int, *, batch: int = 4,
                             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Encode and decode ``clips`` (n, C, T) with ``vae`` (posterior means): ``(reconstructions, distances)``.

    Distances: ``stft``, the multi-resolution STFT term of the VAE training loss at its default sizes (2048, 512,
    128; spectral convergence + log-magnitude L1), and ``logmel_l1``, the mean absolute log-mel difference of the
    SynthBench classifier's features, averaged over the clips.
    """
    from audiox.evaluation.features import log_mel
    from audiox.nn.losses import DEFAULT_FFT_SIZES, stft_loss

    length = clips.shape[-1]
    rec = torch.cat([vae.decode(vae.encode(clips[i:i + batch]))[..., :length].float()
                     for i in range(0, len(clips), batch)])
    mel = sum(float((log_mel(r, sample_rate) - log_mel(c, sample_rate)).abs().mean()) for r, c in zip(rec, clips))
    return rec, {"stft": float(stft_loss(rec, clips, DEFAULT_FFT_SIZES)), "logmel_l1": mel / len(clips)}


def heldout_values(vae: Any, clips: torch.Tensor, sample_rate: int, tone_seconds: float = HELDOUT_TONE_SECONDS,
                   ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """What ``audiox train-vae --eval-every`` logs: ``(reconstructions or None, flat values)``.

    Values: ``heldout_stft`` and ``heldout_logmel_l1`` (:func:`reconstruction_distances`, when there are clips),
    ``tone_{hz}_share`` / ``tone_{hz}_cents`` for each of ``TONE_FREQS`` (:func:`tone_report` on ``tone_seconds``
    rounded up to the VAE hop) and ``tones_passed``, how many pass.
    """
    out: dict[str, float] = {}
    rec = None
    if len(clips):
        rec, dist = reconstruction_distances(vae, clips, sample_rate)
        out.update({f"heldout_{k}": v for k, v in dist.items()})
    hop = vae.downsampling_ratio
    tone_length = math.ceil(tone_seconds * sample_rate / hop) * hop
    tones = tone_report(vae, sample_rate, tone_length, channels=clips.shape[1])["tones"]
    for t in tones:
        out[f"tone_{t['hz']:g}_share"] = t["share"]
        out[f"tone_{t['hz']:g}_cents"] = t["cents"]
    out["tones_passed"] = float(sum(t["passed"] for t in tones))
    return rec, out

