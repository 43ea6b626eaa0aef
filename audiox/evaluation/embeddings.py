"""Clip embeddings from the ``aisfx`` sound-effect network (512-d), with our own Essentia-style mel front end.

``aisfx`` computes its input with Essentia (or librosa); neither is needed here. :func:`aisfx_mel` re-implements
the Essentia chain its checkpoint was trained on (``aisfx.spectrogram.spectrogram_essentia``): 44.1 kHz mono,
2048-sample Hann frames every 1024 samples (first frame centred on sample 0), magnitude spectrum squared, 96
HTK-mel bands from 0 to 22050 Hz with triangles drawn on the mel axis ("warping" weighting) and unit-sum
weights, ``log10(1e4 x + 1)``, then the paper's min-max normalisation (``/ 9.4578``). The network sees blocks of
100 frames (2.3 s) every 100 frames (the paper hops 50; we halve the cost); a clip's embedding is the mean of its
block embeddings. The front end is a close re-implementation, not bit-exact Essentia, so distances are comparable
within SynthBench only.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from audiox.errors import ConfigError
from audiox.evaluation.features import hz_to_mel, resample, to_mono

AISFX_RATE = 44100
AISFX_N_FFT = 2048
AISFX_HOP = 1024
AISFX_MELS = 96
AISFX_MAX = 9.457798957824707  # aisfx.preprocessing.spectrogram_normalize('original')
BLOCK = 100
BLOCK_HOP = 100  # non-overlapping blocks (the paper used 50); halves the cost, same mean embedding in spirit


@lru_cache(maxsize=1)
def _essentia_filterbank() -> torch.Tensor:
    """``(96, 1025)`` unit-sum triangles on the HTK mel axis (Essentia ``MelBands``, weighting="warping")."""
    n_bins = AISFX_N_FFT // 2 + 1
    bin_mel = hz_to_mel(torch.linspace(0, AISFX_RATE / 2, n_bins, dtype=torch.float64))
    edges = torch.linspace(0.0, float(hz_to_mel(AISFX_RATE / 2)), AISFX_MELS + 2, dtype=torch.float64)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = torch.clamp(torch.minimum((bin_mel[None] - lo) / (mid - lo), (hi - bin_mel[None]) / (hi - mid)), min=0.0)
    empty = fb.sum(1) <= 0
    if bool(empty.any()):  # bands narrower than a bin: take the nearest bin
        centre_bins = torch.argmin((bin_mel[None] - mid).abs(), dim=1)
        fb[empty, centre_bins[empty]] = 1.0
    return (fb / fb.sum(1, keepdim=True)).float()


def aisfx_mel(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The normalised mel spectrogram the aisfx network expects.

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.

    Returns:
        ``(frames, 96)`` float32 (23.2 ms hop).
    """
    x = resample(to_mono(audio), sample_rate, AISFX_RATE)
    if x.shape[0] < AISFX_N_FFT:
        x = torch.nn.functional.pad(x, (0, AISFX_N_FFT - x.shape[0]))
    window = torch.hann_window(AISFX_N_FFT, periodic=False)
    spec = torch.stft(x, AISFX_N_FFT, AISFX_HOP, window=window, center=True, pad_mode="constant",
                      return_complex=True).abs().square()
    mel = _essentia_filterbank() @ spec  # (96, frames)
    return (torch.log10(1e4 * mel + 1.0) / AISFX_MAX).T.contiguous()


@lru_cache(maxsize=1)
def load_aisfx() -> torch.nn.Module:
    """The aisfx embedding network (``EmbeddingNet`` of the X-Sequential-CE checkpoint), CPU, eval mode."""
    try:
        from aisfx.inference import get_path_modelWeights
        from aisfx.models.cnn2d import CrossNet, EmbeddingNet
    except ImportError:
        raise ConfigError("Frechet distance: the 'aisfx' package is not installed (pip install --no-deps aisfx)"
                          ) from None
    from audiox.checkpoint.safe_load import safe_load

    weights, ds_dict = safe_load(get_path_modelWeights(), name="aisfx weights")  # numpy scalars: safe_globals()
    model = CrossNet(EmbeddingNet("max", 3, 1, 64), ds_dict, "cpu")
    model.load_state_dict(weights, strict=True)
    net = model.embedding_net
    net.eval()
    return net


def block_embeddings(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """aisfx embeddings of a clip's blocks of :data:`BLOCK` frames (every :data:`BLOCK_HOP`; a clip shorter
    than one block is zero-padded to one).

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.

    Returns:
        ``(blocks, 512)`` float32.
    """
    mel = aisfx_mel(audio, sample_rate)
    if mel.shape[0] < BLOCK:
        mel = torch.nn.functional.pad(mel, (0, 0, 0, BLOCK - mel.shape[0]))
    blocks = mel.unfold(0, BLOCK, BLOCK_HOP).permute(0, 2, 1)  # (N, 100, 96)
    with torch.no_grad():
        return load_aisfx()(blocks)


def embed_clip(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Mean aisfx embedding of a clip (the mean of :func:`block_embeddings`).

    Args:
        audio: ``(C, T)`` or ``(T,)`` samples at ``sample_rate`` Hz.
        sample_rate: Hz.

    Returns:
        ``(512,)`` float32.
    """
    return block_embeddings(audio, sample_rate).mean(0)
