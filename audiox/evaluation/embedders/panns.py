"""PANNs CNN14 (Kong et al., 2020): 2048-d clip embeddings and 527 AudioSet logits, with its log-mel front end.

Front end (torchlibrosa's, which the checkpoint was trained on): mono at the variant's rate; STFT with a periodic
Hann window of ``n_fft`` samples every ``hop`` samples, centred (``n_fft // 2`` samples of reflection padding on
each side, so ``1 + floor(T / hop)`` frames); power spectrum; 64 Slaney-scale mel bands from 50 Hz to ``f_max``
with Slaney area normalisation (librosa's default filters); ``10 log10(max(mel, 1e-10))`` (reference 1, no top_db).

Network: batch norm over the 64 mel bins (``bn0``), six blocks of two 3x3 convolutions (no bias) with batch norm
and ReLU, 2x2 average pooling after blocks 1-5 (none after 6), channels 64..2048; mean over frequency; max plus
mean over time; ``fc1`` (2048 -> 2048, ReLU) is the embedding; ``fc_audioset`` (2048 -> 527) the logits (the
published model applies a sigmoid to them). Dropout is inactive at evaluation and left out.

The checkpoint (``{"model": state_dict, ...}``) also stores the front end as tensors (the STFT as convolution
kernels, ``logmel_extractor.melW``); their shapes are checked, the stored mel filters are compared with the ones
computed here (a warning when they differ), and the front end is computed here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from audiox.evaluation.embedders import (
    Embedder,
    EmbedderOutput,
    Published,
    check_audio,
    check_layout,
    file_hash,
    state_dict_of,
    weights_file,
)
from audiox.evaluation.features import mel_filterbank

log = logging.getLogger(__name__)

N_MELS = 64
F_MIN = 50.0
CLASSES = 527  # AudioSet
EMBED_DIM = 2048
CHANNELS = (64, 128, 256, 512, 1024, 2048)
AMIN = 1e-10
ZENODO = "Zenodo record 3987831, https://zenodo.org/record/3987831"


@dataclass(frozen=True)
class Cnn14Variant:
    """One published CNN14 front end.

    Attributes:
        sample_rate: Hz.
        n_fft: STFT size and window length in samples.
        hop: STFT hop in samples.
        f_max: top mel band edge in Hz.
        published: the checkpoint file and where it is.
    """

    sample_rate: int
    n_fft: int
    hop: int
    f_max: float
    published: Published


VARIANTS = {
    "panns-cnn14": Cnn14Variant(32000, 1024, 320, 14000.0, Published("Cnn14_mAP=0.431.pth", ZENODO)),
    "panns-cnn14-16k": Cnn14Variant(16000, 512, 160, 8000.0, Published("Cnn14_16k_mAP=0.438.pth", ZENODO)),
}


def cnn14_log_mel(audio: torch.Tensor, variant: Cnn14Variant) -> torch.Tensor:
    """CNN14's log-mel input.

    Args:
        audio: ``(N, T)`` mono at ``variant.sample_rate``.
        variant: the front end.

    Returns:
        ``(N, 1 + floor(T' / hop), 64)`` dB values, with ``T' = max(T, n_fft)`` (shorter input is zero-padded).
    """
    x = audio.float()
    if x.shape[-1] < variant.n_fft:  # reflection padding needs more samples than half a window
        x = nn.functional.pad(x, (0, variant.n_fft - x.shape[-1]))
    spec = torch.stft(x, variant.n_fft, variant.hop, window=torch.hann_window(variant.n_fft), center=True,
                      pad_mode="reflect", return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (N, bins, frames)
    fb = mel_filterbank(variant.n_fft, variant.sample_rate, N_MELS, F_MIN, variant.f_max, norm="slaney", htk=False)
    mel = torch.einsum("mf,nft->ntm", fb, power)
    return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))


class _ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, pool: bool) -> torch.Tensor:
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return nn.functional.avg_pool2d(x, 2) if pool else x


class Cnn14(nn.Module):
    """CNN14 from log-mel frames to (embedding, logits); parameter names as in the published checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(N_MELS)
        for i, (c_in, c_out) in enumerate(zip((1,) + CHANNELS[:-1], CHANNELS, strict=True), start=1):
            setattr(self, f"conv_block{i}", _ConvBlock(c_in, c_out))
        self.fc1 = nn.Linear(EMBED_DIM, EMBED_DIM)
        self.fc_audioset = nn.Linear(EMBED_DIM, CLASSES)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: mel ``(N, frames, 64)``. Returns ``(embedding (N, 2048), logits (N, 527))``."""
        x = self.bn0(mel[:, None].transpose(1, 3)).transpose(1, 3)  # batch norm over the mel bins
        for i in range(1, len(CHANNELS) + 1):
            x = getattr(self, f"conv_block{i}")(x, pool=i < len(CHANNELS))
        x = x.mean(3)  # (N, 2048, frames')
        x = x.amax(2) + x.mean(2)
        emb = torch.relu(self.fc1(x))
        return emb, self.fc_audioset(emb)


def front_end_layout(variant: Cnn14Variant) -> dict[str, tuple[int, ...]]:
    """The front-end tensors the published checkpoint carries (not used: computed by :func:`cnn14_log_mel`)."""
    bins = variant.n_fft // 2 + 1
    return {"spectrogram_extractor.stft.conv_real.weight": (bins, 1, variant.n_fft),
            "spectrogram_extractor.stft.conv_imag.weight": (bins, 1, variant.n_fft),
            "logmel_extractor.melW": (bins, N_MELS)}


def published_layout(variant: Cnn14Variant) -> dict[str, tuple[int, ...]]:
    """Every key of the published checkpoint's ``model`` entry and its shape."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        net = {k: tuple(v.shape) for k, v in Cnn14().state_dict().items()}
    return {**front_end_layout(variant), **net}


MEL_TOLERANCE = 1e-4  # relative to the largest weight: float32 rounding of librosa's filters is ~1e-7


def check_mel_filters(mel_w: torch.Tensor, variant: Cnn14Variant, path: Path) -> bool:
    """Compare the checkpoint's stored mel filters (``(bins, 64)``) with the ones computed here; a warning if they
    differ (a published checkpoint stores librosa's filters, which :func:`cnn14_log_mel` reproduces).

    Returns:
        Whether they agree within :data:`MEL_TOLERANCE`.
    """
    ours = mel_filterbank(variant.n_fft, variant.sample_rate, N_MELS, F_MIN, variant.f_max, norm="slaney", htk=False)
    diff = float((mel_w.float().T - ours).abs().max())
    ok = diff <= MEL_TOLERANCE * float(ours.abs().max())
    if not ok:
        log.warning("%s: the checkpoint's mel filters differ from the front end computed here (max |diff| %.3g); "
                    "it was trained on another front end, or is not the published file", path, diff)
    return ok


class Cnn14Embedder(Embedder):
    """PANNs CNN14: one 2048-d frame per clip, and 527 logits.

    Args:
        weights: the published checkpoint, or a folder holding it by its published name.
        variant: ``"panns-cnn14"`` (32 kHz) or ``"panns-cnn14-16k"``.
    """

    dims = EMBED_DIM
    classes = CLASSES
    window_seconds = 0.0  # clip-level: one frame for the whole input
    hop_seconds = 0.0

    def __init__(self, weights: str | Path | None, *, variant: str = "panns-cnn14") -> None:
        from audiox.checkpoint.safe_load import safe_load

        self.name, self.variant = variant, VARIANTS[variant]
        self.sample_rate = self.variant.sample_rate
        what = f"PANNs CNN14 ({variant})"
        path = weights_file(weights, self.variant.published, f"{variant} weights")
        state = state_dict_of(safe_load(path, name=f"{what} checkpoint"), path, what)
        check_layout(state, published_layout(self.variant), path, what)
        self.front_end_matches = check_mel_filters(state["logmel_extractor.melW"], self.variant, path)
        self.net = Cnn14()
        self.net.load_state_dict({k: v for k, v in state.items() if k not in front_end_layout(self.variant)})
        self.net.eval()
        self.weights_hash, self.weights_path = file_hash(path), str(path)

    def run(self, audio: torch.Tensor) -> EmbedderOutput:
        x = check_audio(audio, self.name)
        with torch.inference_mode():
            emb, logits = self.net(cnn14_log_mel(x, self.variant))
        return EmbedderOutput(emb[:, None].clone(), logits.clone())
