"""The SynthBench reference classifier: sound-effect categories and music instruments from log-mel windows.

A small MLP scores summary statistics of 3 s log-mel windows for every sound-effect class and every instrument
(multi-label, sigmoid). A clip's score per label is the maximum over its windows (hop 1 s). It is trained on
*real* corpus audio only (the ``train`` split): sound-effect windows are labelled with the classes whose labelled
events overlap the window, music windows with the clip's instruments. The clip-level accuracy is the share of
clips whose top-1 label (sound-effect classes for ``sfx`` clips, melodic instruments for ``music`` clips) is one
of the true labels.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiox.data.manifest import ManifestEntry, read_manifest
from audiox.errors import ConfigError, MediaError
from audiox.evaluation.features import CLS_HOP, CLS_SAMPLE_RATE, log_mel

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "synthbench"
WEIGHTS_NAME = "classifier.safetensors"
META_NAME = "classifier.json"
FRAME_RATE = CLS_SAMPLE_RATE / CLS_HOP  # 50 frames per second
WINDOW_FRAMES = 150  # 3 s
WINDOW_HOP_FRAMES = 50  # 1 s


def default_labels() -> tuple[list[str], list[str]]:
    """``(sound-effect classes, instruments incl. "drums")`` of the corpus builder."""
    from audiox.data.synth.music import INSTRUMENTS
    from audiox.data.synth.sfx import CLASS_NAMES

    return list(CLASS_NAMES), sorted(INSTRUMENTS) + ["drums"]


def window_features(mel: torch.Tensor) -> torch.Tensor:
    """Summary statistics of one normalised log-mel window.

    Args:
        mel: ``(n_mels, frames)`` normalised log-mel.

    Returns:
        ``(5 * n_mels,)``: per-band mean, standard deviation, maximum, mean absolute frame difference and the
        10-90 % inter-quantile range.
    """
    diff = (mel[:, 1:] - mel[:, :-1]).abs().mean(1)
    q = torch.quantile(mel, torch.tensor([0.1, 0.9]), dim=1)
    return torch.cat([mel.mean(1), mel.std(1), mel.amax(1), diff, q[1] - q[0]])


class StatsMLP(nn.Module):
    """Two hidden ReLU layers over window statistics; dropout driven by an explicit generator.

    Args:
        n_in: feature size.
        n_labels: sigmoid outputs.
        hidden: hidden width.
        dropout: drop probability while training with a generator.
    """

    def __init__(self, n_in: int, n_labels: int, hidden: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(n_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, n_labels)
        self.dropout = dropout

    def _drop(self, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None or not self.training:
            return h
        keep = (torch.rand(h.shape, generator=generator) >= self.dropout).to(h.dtype)
        return h * keep / (1 - self.dropout)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x`` (B, n_in) normalised features -> (B, n_labels) logits."""
        h = self._drop(torch.relu(self.fc1(x)), generator)
        h = self._drop(torch.relu(self.fc2(h)), generator)
        return self.out(h)


@dataclass
class ReferenceClassifier:
    """The trained network plus its label lists and input normalisation.

    Args:
        net: the window MLP.
        sfx_classes: sound-effect labels (first outputs).
        instruments: instrument labels (following outputs; ``"drums"`` included).
        mel_mean: ``(n_mels,)`` per-band mean of the training log-mels.
        mel_std: ``(n_mels,)`` per-band standard deviation.
        feat_mean: ``(n_features,)`` mean of the training window features.
        feat_std: ``(n_features,)`` their standard deviation.
        meta: training record (accuracy, command, corpus).
    """

    net: StatsMLP
    sfx_classes: list[str]
    instruments: list[str]
    mel_mean: torch.Tensor
    mel_std: torch.Tensor
    feat_mean: torch.Tensor
    feat_std: torch.Tensor
    meta: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        return self.sfx_classes + self.instruments

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised features of the sliding 3 s windows (hop 1 s) of one clip.

        Args:
            mel: ``(n_mels, frames)`` log-mel from :func:`log_mel`.

        Returns:
            ``(windows, n_features)``.
        """
        return (clip_window_features(mel, self.mel_mean, self.mel_std) - self.feat_mean) / self.feat_std

    def scores(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Clip-level label probabilities (max over windows).

        Args:
            audio: ``(C, T)`` samples at ``sample_rate`` Hz.
            sample_rate: Hz.

        Returns:
            ``(n_labels,)`` probabilities in [0, 1].
        """
        self.net.eval()
        with torch.no_grad():
            return torch.sigmoid(self.net(self.features(log_mel(audio, sample_rate))).amax(0))

    def top1(self, scores: torch.Tensor, kind: str) -> str:
        """The best sound-effect class (``kind="sfx"``) or melodic instrument (``kind="music"``)."""
        names = self.sfx_classes if kind == "sfx" else [i for i in self.instruments if i != "drums"]
        idx = [self.labels.index(n) for n in names]
        return names[int(torch.argmax(scores[idx]))]


def window_starts(n_frames: int, hop: int = WINDOW_HOP_FRAMES) -> list[int]:
    """First frames of the 3 s windows of a clip of ``n_frames`` frames (the last one ends at the clip end)."""
    if n_frames <= WINDOW_FRAMES:
        return [0]
    starts = list(range(0, n_frames - WINDOW_FRAMES + 1, hop))
    if starts[-1] != n_frames - WINDOW_FRAMES:
        starts.append(n_frames - WINDOW_FRAMES)
    return starts


def clip_window_features(mel: torch.Tensor, mel_mean: torch.Tensor, mel_std: torch.Tensor,
                         hop: int = WINDOW_HOP_FRAMES) -> torch.Tensor:
    """Un-normalised :func:`window_features` of every window: ``(windows, n_features)``."""
    x = (mel - mel_mean[:, None]) / mel_std[:, None]
    if x.shape[1] < WINDOW_FRAMES:
        x = torch.nn.functional.pad(x, (0, WINDOW_FRAMES - x.shape[1]), mode="replicate")
    return torch.stack([window_features(x[:, s:s + WINDOW_FRAMES]) for s in window_starts(x.shape[1], hop)])


def true_labels(entry: ManifestEntry) -> set[str]:
    """The clip's sound-effect classes (``sfx``) or melodic instruments (``music``, drums left out)."""
    if entry.kind == "sfx":
        return {c["class"] for c in entry.labels.get("classes", [])}
    return {i for i in entry.labels.get("instruments", []) if i != "drums"}


def window_targets(entry: ManifestEntry, labels: list[str], t0: float, t1: float) -> torch.Tensor:
    """Multi-hot targets of the window ``[t0, t1]`` s: overlapping events (sfx) or all instruments (music)."""
    y = torch.zeros(len(labels))
    if entry.kind == "sfx":
        active = {e["class"] for e in entry.labels.get("events", [])
                  if e["t"] < t1 - 0.05 and e["t"] + max(e["dur"], 0.05) > t0 + 0.02}
    else:
        active = set(entry.labels.get("instruments", []))
    for name in active:
        if name in labels:
            y[labels.index(name)] = 1.0
    return y


def load_clip(root: Path, entry: ManifestEntry) -> torch.Tensor:
    """The entry's real target audio ``(C, T)`` at its sample rate."""
    from audiox.media import load_audio

    return load_audio(root / entry.audio, sample_rate=entry.sample_rate, channels=2)


def train_classifier(data_dir: str | Path, *, epochs: int = 40, seed: int = 0, hidden: int = 256,
                     progress: bool = False) -> ReferenceClassifier:
    """Train the reference classifier on the ``train`` split of a corpus (real audio only).

    Every clip gives its 3 s windows at a 0.5 s hop; the MLP is trained with binary cross-entropy on the window
    targets of :func:`window_targets`, with Gaussian feature noise (0.1) and dropout (0.3).

    Args:
        data_dir: corpus folder holding ``manifest.jsonl``.
        epochs: passes over the windows.
        seed: seeds the initialisation, dropout, noise and batch order (explicit generators only).
        hidden: MLP width.
        progress: log the loss every 10 epochs at INFO.

    Returns:
        The trained classifier (``meta`` holds the training record; the held-out accuracy is added by the caller).
    """
    root = Path(data_dir)
    entries = [e for e in read_manifest(root / "manifest.jsonl") if e.split == "train"]
    if not entries:
        raise ConfigError(f"{root}: no train-split entries")
    sfx_classes, instruments = default_labels()
    labels = sfx_classes + instruments
    t_start = time.time()
    mels = [log_mel(load_clip(root, e), e.sample_rate) for e in entries]
    cat = torch.cat(mels, dim=1)
    mel_mean, mel_std = cat.mean(1), cat.std(1).clamp_min(1e-3)
    xs, ys = [], []
    for mel, entry in zip(mels, entries):
        xs.append(clip_window_features(mel, mel_mean, mel_std, hop=WINDOW_HOP_FRAMES // 2))
        starts = window_starts(max(mel.shape[1], WINDOW_FRAMES), WINDOW_HOP_FRAMES // 2)
        ys += [window_targets(entry, labels, s / FRAME_RATE, (s + WINDOW_FRAMES) / FRAME_RATE) for s in starts]
    x, y = torch.cat(xs), torch.stack(ys)
    feat_mean, feat_std = x.mean(0), x.std(0) + 1e-3
    x = (x - feat_mean) / feat_std
    log.info("classifier: %d windows from %d clips (%.0f s)", len(x), len(entries), time.time() - t_start)
    gen = torch.Generator().manual_seed(seed)
    net = StatsMLP(x.shape[1], len(labels), hidden=hidden)
    with torch.no_grad():  # explicit, seeded initialisation
        for layer in (net.fc1, net.fc2, net.out):
            bound = 1.0 / layer.in_features ** 0.5
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen) * 2 - 1) * bound)
            layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen) * 2 - 1) * bound)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            noisy = x[idx] + 0.1 * torch.randn(x[idx].shape, generator=gen)
            loss = nn.functional.binary_cross_entropy_with_logits(net(noisy, gen), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if progress and (epoch + 1) % 10 == 0:
            log.info("epoch %d/%d loss %.4f (%.0f s)", epoch + 1, epochs, total / len(order), time.time() - t_start)
    net.eval()
    meta = {"train_clips": len(entries), "train_windows": len(x), "epochs": epochs, "seed": seed, "hidden": hidden,
            "train_seconds": round(time.time() - t_start, 1)}
    return ReferenceClassifier(net, sfx_classes, instruments, mel_mean, mel_std, feat_mean, feat_std, meta)


def evaluate_classifier(clf: ReferenceClassifier, data_dir: str | Path, *, split: str = "test") -> dict[str, Any]:
    """Top-1 accuracy of the classifier on the real audio of one split.

    Args:
        clf: the classifier.
        data_dir: corpus folder.
        split: ``"test"`` (held out) or ``"train"``.

    Returns:
        ``{"accuracy", "sfx_accuracy", "music_accuracy", "n", "n_sfx", "n_music"}``.
    """
    root = Path(data_dir)
    entries = [e for e in read_manifest(root / "manifest.jsonl") if e.split == split]
    if not entries:
        raise ConfigError(f"{root}: no {split}-split entries")
    hits: dict[str, list[bool]] = {"sfx": [], "music": []}
    for e in entries:
        pred = clf.top1(clf.scores(load_clip(root, e), e.sample_rate), e.kind)
        hits[e.kind].append(pred in true_labels(e))
    allhits = hits["sfx"] + hits["music"]

    def acc(h: list[bool]) -> float | None:
        return round(float(np.mean(h)), 4) if h else None

    return {"accuracy": acc(allhits), "sfx_accuracy": acc(hits["sfx"]), "music_accuracy": acc(hits["music"]),
            "n": len(allhits), "n_sfx": len(hits["sfx"]), "n_music": len(hits["music"])}


def training_record(data_dir: str | Path, out_dir: str | Path, *, epochs: int, seed: int) -> dict[str, Any]:
    """The record saved with a classifier: the commands that rebuild the corpus and retrain it, the corpus facts.

    Args:
        data_dir: the corpus folder (its ``meta.json``, when readable, names how it was built).
        out_dir: the classifier's output folder.
        epochs / seed: the training arguments.

    Returns:
        ``command``, ``corpus_command`` (None when the corpus meta.json lacks n, seed or test_fraction) and
        ``corpus`` (its seed, n, sample_rate, seconds, channels, test_fraction).
    """
    import shlex

    corpus_meta = Path(data_dir) / "meta.json"
    try:
        corpus = json.loads(corpus_meta.read_text(encoding="utf-8")) if corpus_meta.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        corpus = {}  # the record only: an unreadable corpus meta.json is left out
    corpus = corpus if isinstance(corpus, dict) else {}
    command = shlex.join(["audiox", "evaluate", "classifier", "--data", str(data_dir), "--out", str(out_dir),
                          "--epochs", str(epochs), "--seed", str(seed)])
    corpus_command = None
    if {"n", "seed", "test_fraction"} <= set(corpus):
        corpus_command = shlex.join(["audiox", "synth", "build", "--out", str(data_dir), "--n", str(corpus["n"]),
                                     "--seed", str(corpus["seed"]), "--test-fraction", str(corpus["test_fraction"])])
    kept = ("seed", "n", "sample_rate", "seconds", "channels", "test_fraction")
    return {"command": command, "corpus_command": corpus_command,
            "corpus": {k: corpus.get(k) for k in kept if k in corpus}}


def save_classifier(clf: ReferenceClassifier, out_dir: str | Path) -> Path:
    """Write ``classifier.safetensors`` (weights + normalisation) and ``classifier.json`` (labels, record)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.contiguous() for k, v in clf.net.state_dict().items()}
    for name in ("mel_mean", "mel_std", "feat_mean", "feat_std"):
        tensors[name] = getattr(clf, name).contiguous()
    save_file(tensors, str(out / WEIGHTS_NAME))
    meta = {"sfx_classes": clf.sfx_classes, "instruments": clf.instruments, **clf.meta}
    (out / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out / WEIGHTS_NAME


def load_classifier(path: str | Path | None = None) -> ReferenceClassifier:
    """Load a saved classifier (default: the committed one in ``audiox/assets/synthbench``).

    Args:
        path: folder holding ``classifier.safetensors`` and ``classifier.json``.
    """
    from safetensors.torch import load_file

    folder = Path(path) if path is not None else ASSET_DIR
    if not (folder / WEIGHTS_NAME).is_file() or not (folder / META_NAME).is_file():
        raise MediaError(f"{folder}: no {WEIGHTS_NAME} + {META_NAME}")
    meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    tensors = load_file(str(folder / WEIGHTS_NAME))
    labels = meta["sfx_classes"] + meta["instruments"]
    net = StatsMLP(tensors["feat_mean"].shape[0], len(labels), hidden=int(meta["hidden"]))
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    net.load_state_dict(state, strict=True)
    net.eval()
    rest = {k: v for k, v in meta.items() if k not in ("sfx_classes", "instruments")}
    return ReferenceClassifier(net, meta["sfx_classes"], meta["instruments"], tensors["mel_mean"],
                               tensors["mel_std"], tensors["feat_mean"], tensors["feat_std"], rest)
