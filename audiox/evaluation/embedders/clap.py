"""LAION-CLAP through ``transformers``' ``ClapModel``, from a local folder (``save_pretrained`` layout, e.g. a
download of ``laion/clap-htsat-unfused``): audio and text embeddings in one space, for the CLAP score.

Front end: the folder's own ``ClapFeatureExtractor`` (48 kHz, 1024-point STFT every 480 samples, 64 mel bands
50-14000 Hz, windows of ``max_length_s`` = 10 s, shorter input repeated then zero-padded: ``"repeatpad"``). Audio
longer than a window is cut here into non-overlapping windows (the last one padded by the extractor), so nothing is
truncated at random; one projected embedding per window.
"""

from __future__ import annotations

from pathlib import Path

import torch

from audiox.errors import CheckpointError, InputError
from audiox.evaluation.embedders import Embedder, EmbedderOutput, Published, check_audio, file_hash

PUBLISHED = Published("clap-htsat-unfused/", "a local transformers folder of laion/clap-htsat-unfused "
                                             "(https://huggingface.co/laion/clap-htsat-unfused)")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def clap_folder(path: str | Path | None) -> Path:
    """The model folder: ``path`` itself when it holds a ``config.json``, else ``path / clap-htsat-unfused``."""
    hint = f"expected {PUBLISHED.where}"
    if path is None:
        raise InputError(f"clap weights: no folder given; {hint}")
    p = Path(path)
    if p.is_dir() and not (p / "config.json").is_file() and (p / PUBLISHED.file).is_dir():
        p = p / PUBLISHED.file
    if not (p / "config.json").is_file():
        raise InputError(f"clap weights: {p} has no config.json; {hint}")
    if not any((p / f).is_file() for f in WEIGHT_FILES):
        raise InputError(f"clap weights: {p} has no {' or '.join(WEIGHT_FILES)}; {hint}")
    return p


class ClapEmbedder(Embedder):
    """CLAP: one projected audio embedding per 10 s window; :meth:`embed_text` for captions.

    Args:
        weights: the model folder (or a folder holding ``clap-htsat-unfused/``).
    """

    name = "clap"

    def __init__(self, weights: str | Path | None) -> None:
        import logging

        from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

        folder = clap_folder(weights)
        try:
            logging.getLogger("transformers").setLevel(logging.ERROR)
            self.model = ClapModel.from_pretrained(folder, local_files_only=True).eval()
            try:
                self.processor = ClapProcessor.from_pretrained(folder, local_files_only=True)
                self.extractor, self.tokenizer = self.processor.feature_extractor, self.processor.tokenizer
            except OSError:  # no tokenizer: audio only
                self.extractor, self.tokenizer = ClapFeatureExtractor.from_pretrained(folder), None
        except Exception as e:  # any failure of transformers to read the folder: one line naming it
            raise CheckpointError(f"{folder}: not a transformers ClapModel folder ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''})") from None
        self.fusion = bool(getattr(self.model.config.audio_config, "enable_fusion", False))
        self.sample_rate = int(self.extractor.sampling_rate)
        self.window_seconds = self.hop_seconds = float(self.extractor.max_length_s)
        self.dims = int(self.model.config.projection_dim)
        weights_path = next(folder / f for f in WEIGHT_FILES if (folder / f).is_file())
        self.weights_hash, self.weights_path = file_hash(folder / "config.json", weights_path), str(folder)

    def run(self, audio: torch.Tensor) -> EmbedderOutput:
        x = check_audio(audio, self.name)
        win = int(round(self.window_seconds * self.sample_rate))
        n_win = max(1, -(-x.shape[1] // win))
        pieces = [clip[i * win:(i + 1) * win].numpy() for clip in x for i in range(n_win)]
        feats = self.extractor(pieces, sampling_rate=self.sample_rate, return_tensors="pt",
                               truncation="fusion" if self.fusion else "rand_trunc", padding="repeatpad")
        with torch.inference_mode():
            emb = self.model.get_audio_features(input_features=feats["input_features"],
                                                is_longer=feats.get("is_longer"))
        return EmbedderOutput(emb.reshape(x.shape[0], n_win, -1).float().clone())

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``(N, D)`` projected text embeddings of ``texts``."""
        if self.tokenizer is None:
            raise InputError(f"{self.weights_path}: the CLAP folder has no tokenizer; text cannot be embedded")
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            return self.model.get_text_features(input_ids=tokens["input_ids"],
                                                attention_mask=tokens.get("attention_mask")).float().clone()
