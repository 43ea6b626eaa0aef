"""The offline default: the ``aisfx`` sound-effect network SynthBench uses, with weights from its wheel.

Front end and blocks: :mod:`audiox.evaluation.embeddings` (44.1 kHz, 96 mel bands every 1024 samples, blocks of
100 frames = 2.32 s every 100 frames); one 512-d frame per block.
"""

from __future__ import annotations

import torch

from audiox.evaluation.embedders import Embedder, EmbedderOutput, Published, check_audio, file_hash
from audiox.evaluation.embeddings import AISFX_HOP, AISFX_RATE, BLOCK, BLOCK_HOP, block_embeddings, load_aisfx

PUBLISHED = Published("aisfx/models/checkpoint.pth", "the aisfx wheel on PyPI (pip install --no-deps aisfx)")


class AisfxEmbedder(Embedder):
    """aisfx: one 512-d frame per block of 100 mel frames."""

    name = "aisfx"
    sample_rate = AISFX_RATE
    window_seconds = BLOCK * AISFX_HOP / AISFX_RATE
    hop_seconds = BLOCK_HOP * AISFX_HOP / AISFX_RATE
    dims = 512

    def __init__(self) -> None:
        load_aisfx()  # refuses, in one line, when aisfx is not installed
        from aisfx.inference import get_path_modelWeights

        path = get_path_modelWeights()
        self.weights_hash, self.weights_path = file_hash(path), "aisfx wheel: " + PUBLISHED.file

    def run(self, audio: torch.Tensor) -> EmbedderOutput:
        x = check_audio(audio, self.name)
        return EmbedderOutput(torch.stack([block_embeddings(clip, AISFX_RATE) for clip in x]))
