"""VGGish (Hershey et al., 2017): 128-d embeddings of 0.96 s examples, with its log-mel front end.

Front end (the reference ``vggish_input``): mono at 16 kHz; frames of 400 samples (25 ms) every 160 (10 ms), not
centred, so ``1 + floor((T - 400) / 160)`` frames; periodic Hann window; magnitude (not power) of a 512-point FFT
(the frame zero-padded at its end); 64 mel bands from 125 to 7500 Hz on the HTK scale
(``1127 ln(1 + f / 700)``) with triangles drawn on the mel axis, unnormalised, and the DC bin given no weight;
``log(mel + 0.01)``. Examples are 96 frames x 64 bands, every 96 frames, not padded:
``1 + floor((frames - 96) / 96)`` per clip; input shorter than one example (0.975 s) is zero-padded to one.

Network (torchvggish's port of the TF weights): four VGG stages of 3x3 convolutions with ReLU and 2x2 max
pooling (64, 128, 256x2, 512x2 channels), the ``(512, 6, 4)`` map flattened in TF's channels-last order, then
4096, 4096, 128 fully connected layers. By default the 128-d output is taken before its last ReLU and without the
PCA/quantisation postprocessing, as the FAD toolkits do; ``final_relu=True`` keeps the ReLU and ``pca=PATH``
applies the published PCA (``vggish_pca_params-970ea276.pth``), clipped to [-2, 2] and quantised to 8 bits.
"""

from __future__ import annotations

from functools import lru_cache
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
from audiox.evaluation.features import hz_to_mel

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512  # next power of two above the window
N_MELS = 64
F_MIN, F_MAX = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s
EMBED_DIM = 128
QUANT_MIN, QUANT_MAX = -2.0, 2.0
RELEASES = "https://github.com/harritaylor/torchvggish/releases (v0.1)"
PUBLISHED = Published("vggish-10086976.pth", RELEASES)
PCA_PUBLISHED = Published("vggish_pca_params-970ea276.pth", RELEASES)
_CONVS = ((0, 1, 64), (3, 64, 128), (6, 128, 256), (8, 256, 256), (11, 256, 512), (13, 512, 512))
_POOL_AFTER = (0, 3, 8, 13)  # a max pool follows the ReLU of these convolutions


@lru_cache(maxsize=1)
def vggish_mel_matrix() -> torch.Tensor:
    """``(257, 64)`` weights from FFT-bin magnitudes to mel bands (triangles on the mel axis, DC bin zero)."""
    bin_mel = hz_to_mel(torch.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1, dtype=torch.float64))
    edges = torch.linspace(float(hz_to_mel(F_MIN)), float(hz_to_mel(F_MAX)), N_MELS + 2, dtype=torch.float64)
    lo, mid, hi = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    w = torch.clamp(torch.minimum((bin_mel[:, None] - lo) / (mid - lo), (hi - bin_mel[:, None]) / (hi - mid)), min=0)
    w[0] = 0.0
    return w.float()


def vggish_log_mel(audio: torch.Tensor) -> torch.Tensor:
    """VGGish log-mel frames.

    Args:
        audio: ``(N, T)`` mono at 16 kHz, ``T >= 400``.

    Returns:
        ``(N, 1 + floor((T - 400) / 160), 64)``.
    """
    frames = audio.float().unfold(-1, WINDOW, HOP) * torch.hann_window(WINDOW, periodic=True)
    mag = torch.fft.rfft(frames, n=N_FFT).abs()
    return torch.log(mag @ vggish_mel_matrix() + LOG_OFFSET)


def vggish_examples(audio: torch.Tensor) -> torch.Tensor:
    """The network's input: ``(N, T)`` at 16 kHz -> ``(N, examples, 96, 64)`` (short input zero-padded to one)."""
    need = WINDOW + (EXAMPLE_FRAMES - 1) * HOP
    x = audio.float()
    if x.shape[-1] < need:
        x = nn.functional.pad(x, (0, need - x.shape[-1]))
    mel = vggish_log_mel(x)
    return mel.unfold(1, EXAMPLE_FRAMES, EXAMPLE_FRAMES).transpose(2, 3).contiguous()


class Vggish(nn.Module):
    """VGGish from ``(B, 1, 96, 64)`` examples to ``(B, 128)``; parameter names as torchvggish's."""

    def __init__(self, final_relu: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for idx, c_in, c_out in _CONVS:
            while len(layers) < idx:  # keep torchvggish's indices: ReLU / MaxPool in between
                layers.append(nn.MaxPool2d(2) if len(layers) - 2 in _POOL_AFTER else nn.ReLU())
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                                        nn.Linear(4096, EMBED_DIM))
        self.final_relu = final_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 512, 6, 4)
        x = self.embeddings(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))  # TF's channels-last flattening
        return torch.relu(x) if self.final_relu else x


def published_layout() -> dict[str, tuple[int, ...]]:
    """Every key of ``vggish-10086976.pth`` and its shape."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return {k: tuple(v.shape) for k, v in Vggish().state_dict().items()}


class VggishEmbedder(Embedder):
    """VGGish: one 128-d frame per 0.96 s example.

    Args:
        weights: ``vggish-10086976.pth``, or a folder holding it by that name.
        final_relu: keep the last ReLU (default off, as the FAD toolkits).
        pca: ``vggish_pca_params-970ea276.pth`` to apply the published PCA and 8-bit quantisation.
    """

    name = "vggish"
    sample_rate = SAMPLE_RATE
    window_seconds = hop_seconds = EXAMPLE_FRAMES * HOP / SAMPLE_RATE
    dims = EMBED_DIM

    def __init__(self, weights: str | Path | None, *, final_relu: bool = False, pca: str | Path | None = None
                 ) -> None:
        from audiox.checkpoint.safe_load import safe_load

        path = weights_file(weights, PUBLISHED, "vggish weights")
        state = state_dict_of(safe_load(path, name="VGGish checkpoint"), path, "VGGish")
        check_layout(state, published_layout(), path, "VGGish")
        self.net = Vggish(final_relu)
        self.net.load_state_dict(state)
        self.net.eval()
        paths = [path]
        self.pca: tuple[torch.Tensor, torch.Tensor] | None = None
        if pca is not None:
            pca_path = weights_file(pca, PCA_PUBLISHED, "vggish PCA parameters")
            obj = safe_load(pca_path, name="VGGish PCA parameters")
            tensors = {k: torch.as_tensor(v) for k, v in (obj.items() if isinstance(obj, dict) else [])}
            if "pca_eigen_vectors" not in tensors or "pca_means" not in tensors:
                from audiox.errors import CheckpointError

                raise CheckpointError(f"{pca_path}: not the VGGish PCA parameters (needs 'pca_eigen_vectors' and "
                                      "'pca_means')")
            self.pca = tensors["pca_eigen_vectors"].float(), tensors["pca_means"].float().reshape(-1)
            paths.append(pca_path)
        self.weights_hash, self.weights_path = file_hash(*paths), str(path)

    def postprocess(self, emb: torch.Tensor) -> torch.Tensor:
        """The published PCA, clipping to [-2, 2] and 8-bit quantisation (values 0..255 as float)."""
        assert self.pca is not None
        vectors, means = self.pca
        x = (emb - means) @ vectors.T
        x = torch.clamp(x, QUANT_MIN, QUANT_MAX)
        return torch.round((x - QUANT_MIN) * (255.0 / (QUANT_MAX - QUANT_MIN)))

    def run(self, audio: torch.Tensor) -> EmbedderOutput:
        ex = vggish_examples(check_audio(audio, self.name))  # (N, E, 96, 64)
        n, e = ex.shape[:2]
        with torch.inference_mode():
            emb = self.net(ex.reshape(n * e, 1, EXAMPLE_FRAMES, N_MELS)).reshape(n, e, EMBED_DIM)
        if self.pca is not None:
            emb = self.postprocess(emb)
        return EmbedderOutput(emb.clone())
