"""Named evaluation protocols: each fixes its embedders, their rates, the clip length and the metrics.

| protocol | embedders (rate) | clip | metrics | pairs by name | text |
|---|---|---|---|---|---|
| ``offline`` (default) | aisfx (44.1 kHz) | first 10 s | FD, KAD on clip-mean embeddings | no | no |
| ``audioldm-eval`` | CNN14 16 kHz, VGGish | first 10 s | FD, KL soft/sigmoid, IS, FAD | yes | no |
| ``audioldm-eval-32k`` | PANNs CNN14 32 kHz, VGGish | first 10 s | as ``audioldm-eval`` | yes | no |
| ``clap`` | LAION-CLAP (48 kHz) | first 10 s | CLAP score (generated audio against its caption) | no | yes |
| ``sync`` | none (spectral flux, 22.05 kHz) | first 10 s | onset AP, onset F1, beat alignment per pair | yes | no |

FD (PANNs) is on the 2048-d ``fc1`` output; IS (10 splits, or N when fewer) on the generated clips' softmax of
the 527 logits; FAD pools every 0.96 s VGGish frame of a set. Every clip is decoded at the embedder's rate, mixed
to mono, cut to its first ``seconds`` and zero-padded to exactly ``seconds``, so all clips of a set are embedded
as one length. The metric math is :mod:`audiox.evaluation.distances`; ``sync`` is :mod:`audiox.evaluation.sync`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiox.errors import InputError

PROTOCOL_VERSION = 1  # bump when a protocol's audio handling changes: old cache entries stop matching
KL_EPS = 1e-6
SIGNAL = "spectral-flux"  # the "embedder" of the sync protocol's metric keys: the onset detector's front end


@dataclass(frozen=True)
class Protocol:
    """One named protocol.

    Attributes:
        name: its name.
        embedders: the embedders it runs (:data:`audiox.evaluation.embedders.EMBEDDERS`); none for ``sync``.
        seconds: clip length in seconds (first ``seconds``, zero-padded).
        metrics: ``(metric, embedder)`` pairs: ``fd`` / ``kad`` on clip-mean embeddings, ``fad`` on all frames,
            ``kl_softmax`` / ``kl_sigmoid`` (paired by name), ``is`` (softmax of the logits), ``clap`` (text);
            ``onset_ap`` / ``onset_f1`` / ``beat_align`` with :data:`SIGNAL` (paired, :mod:`audiox.evaluation.sync`).
        paired: the two folders must hold the same file names.
        needs_text: a caption per generated file is needed.
        signal: the metrics come from the decoded audio itself (:mod:`audiox.evaluation.sync`), no embedder.
        about: one line for reports.
    """

    name: str
    embedders: tuple[str, ...]
    seconds: float
    metrics: tuple[tuple[str, str], ...]
    paired: bool = False
    needs_text: bool = False
    signal: bool = False
    about: str = ""


def _audioldm(name: str, panns: str, rate: str) -> Protocol:
    return Protocol(name, (panns, "vggish"), 10.0,
                    (("fd", panns), ("kl_softmax", panns), ("kl_sigmoid", panns), ("is", panns), ("fad", "vggish")),
                    paired=True, about=f"AudioLDM-eval style: PANNs CNN14 at {rate} (FD, KL, IS), VGGish (FAD)")


PROTOCOLS: dict[str, Protocol] = {
    "offline": Protocol("offline", ("aisfx",), 10.0, (("fd", "aisfx"), ("kad", "aisfx")),
                        about="offline default: aisfx embeddings (weights from its wheel), FD and KAD"),
    "audioldm-eval": _audioldm("audioldm-eval", "panns-cnn14-16k", "16 kHz"),
    "audioldm-eval-32k": _audioldm("audioldm-eval-32k", "panns-cnn14", "32 kHz"),
    "clap": Protocol("clap", ("clap",), 10.0, (("clap", "clap"),), needs_text=True,
                     about="LAION-CLAP score: cosine of each generated clip with its caption"),
    "sync": Protocol("sync", (), 10.0, tuple((m, SIGNAL) for m in ("onset_ap", "onset_f1", "beat_align")),
                     paired=True, signal=True,
                     about="onset and beat synchronisation of each generated clip with its same-named real clip: "
                           "onset AP and F1 (0.1 s tolerance), beat alignment score (sigma 0.05 s); no network"),
}
METRIC_LABELS = {"fd": "FD", "kad": "KAD (MMD^2, RBF, pooled median bandwidth)", "fad": "FAD",
                 "kl_softmax": "KL (softmax, paired)", "kl_sigmoid": "KL (sigmoid, paired)", "is": "IS",
                 "clap": "CLAP score", "onset_ap": "onset AP (0.1 s)", "onset_f1": "onset F1 (0.1 s)",
                 "beat_align": "beat alignment score (sigma 0.05 s)"}
LOWER_IS_BETTER = {"fd", "kad", "fad", "kl_softmax", "kl_sigmoid"}


def protocol(name: str, flag: str = "--protocol") -> Protocol:
    """The protocol called ``name``; one line naming the choices otherwise."""
    if name not in PROTOCOLS:
        raise InputError(f"{flag}: unknown protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


@dataclass
class FeatureSet:
    """What a protocol's embedders give for a set of clips.

    Attributes:
        names: clip names (file names without suffix, relative to the folder), in order.
        embeddings: embedder -> ``(N, frames, D)`` float32.
        logits: embedder -> ``(N, K)`` float32, for the embedders with a classifier.
    """

    names: list[str]
    embeddings: dict[str, np.ndarray]
    logits: dict[str, np.ndarray]

    def clip_means(self, embedder: str) -> np.ndarray:
        """``(N, D)`` mean over each clip's frames."""
        return self.embeddings[embedder].mean(1)

    def frames(self, embedder: str) -> np.ndarray:
        """``(N * frames, D)``: every frame of every clip."""
        e = self.embeddings[embedder]
        return e.reshape(-1, e.shape[-1])


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def score(proto: Protocol, real: FeatureSet, generated: FeatureSet, *,
          text: Mapping[str, np.ndarray] | None = None) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """The protocol's metrics, and per-clip scores for the distribution plots.

    Args:
        proto: the protocol.
        real: features of the reference clips.
        generated: features of the generated clips.
        text: for ``clap``: generated clip name -> ``(D,)`` caption embedding.

    Returns:
        ``(metrics, per_clip)``: ``{"fd:panns-cnn14-16k": value, ...}`` (``is`` also gives ``is_std``), and
        ``{score: {"about": str, "real": {name: value}, "generated": {name: value}}}``.
    """
    from audiox.evaluation import distances as dist

    metrics: dict[str, float | None] = {}
    per_clip: dict[str, dict[str, Any]] = {}
    for metric, emb in proto.metrics:
        key = f"{metric}:{emb}"
        if metric in ("fd", "kad"):
            a, b = real.clip_means(emb), generated.clip_means(emb)
            enough = min(len(a), len(b)) >= 2
            fn = dist.frechet_distance if metric == "fd" else dist.kernel_distance
            metrics[key] = fn(a, b) if enough else None
        elif metric == "fad":
            a, b = real.frames(emb), generated.frames(emb)
            metrics[key] = dist.frechet_distance(a, b, method="eig") if min(len(a), len(b)) >= 2 else None
        elif metric in ("kl_softmax", "kl_sigmoid"):
            ref = dict(zip(real.names, real.logits[emb], strict=True))
            gen = dict(zip(generated.names, generated.logits[emb], strict=True))
            variant = metric.split("_")[1]
            metrics[key] = dist.paired_kl(ref, gen, variant=variant)  # type: ignore[arg-type]
            if variant == "softmax":
                per_clip[key] = {"about": "KL(p_ref || p_gen) of each pair (softmax of the PANNs logits), nats",
                                 "generated": {n: dist.paired_kl({n: ref[n]}, {n: gen[n]}) for n in sorted(gen)}}
        elif metric == "is":
            probs = _softmax(generated.logits[emb].astype(np.float64))
            splits = min(10, len(probs))
            metrics[key], metrics[f"is_std:{emb}"] = dist.inception_score(probs, splits=splits)
        elif metric == "clap":
            if text is None:
                raise InputError("clap: needs a caption per generated clip")
            a = generated.clip_means(emb)
            t = np.stack([text[n] for n in generated.names])
            metrics[key] = dist.clap_score(a, t)
            cos = np.sum(a * t, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(t, axis=1))
            per_clip[key] = {"about": "cosine of each generated clip with its caption",
                             "generated": dict(zip(generated.names, map(float, cos), strict=True))}
    for emb in proto.embedders:
        if emb == "clap":
            continue
        centre = real.clip_means(emb).mean(0)

        def dists(fs: FeatureSet, e: str = emb, c: np.ndarray = centre) -> dict[str, float]:
            d = np.linalg.norm(fs.clip_means(e) - c, axis=1)
            return dict(zip(fs.names, map(float, d), strict=True))

        per_clip[f"dist_to_real_mean:{emb}"] = {
            "about": f"Euclidean distance of each clip's mean {emb} embedding to the mean of the real set",
            "real": dists(real), "generated": dists(generated)}
    return metrics, per_clip
